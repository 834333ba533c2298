"""`metasignal models ...`, `submit`, `starter` and `submissions ...`: getting signals into the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from metasignal.cli.context import db_path, open_store
from metasignal.cli.display import optional_columns, out
from metasignal.data.calendar import read_day
from metasignal.signals.submission import DEFAULT_MAX_BYTES, DEFAULT_MIN_TICKERS

models_app = typer.Typer(help="Models that submit signals: create and list.", no_args_is_help=True)
submissions_app = typer.Typer(help="Stored submissions (every version).", no_args_is_help=True)
console = out  # tables on stdout, wide when piped (metasignal.cli.display)
SHOWN_DROPPED = 10


@models_app.command("create")
def models_create_command(
    name: str = typer.Argument(..., help="Model name: letters, digits, '_', '.', '-' (max 64)."),
    owner: Optional[str] = typer.Option(None, "--owner", help="Who runs the model."),
) -> None:
    """Register a model so it can submit signals."""
    from metasignal.signals.storage import create_model

    with open_store() as store:
        record = create_model(store, name, owner=owner)
    console.print(f"[green]created[/] model {record.name}" + (f" (owner {escape(record.owner)})" if record.owner else ""))


@models_app.command("list")
def models_list_command() -> None:
    """Every model with its number of submitted dates and the last one."""
    from metasignal.signals.storage import list_models

    with open_store() as store:
        models = list_models(store)
    if models.empty:
        console.print("no models yet: create one with `metasignal models create NAME`")
        return
    table = Table(title="models")
    for column in ("name", "owner", "created (UTC)", "dates", "last date"):
        table.add_column(column)
    for row in models.itertuples(index=False):
        table.add_row(
            row.name,
            "-" if _missing(row.owner) else escape(str(row.owner)),
            f"{row.created_at:%Y-%m-%d %H:%M}",
            str(row.n_dates),
            "-" if _missing(row.last_date) else f"{row.last_date:%Y-%m-%d}",
        )
    console.print(table)


def submit_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Signal file: CSV or Parquet (id column, signal column, optional date)."),
    model: str = typer.Option(..., "--model", help="The model submitting."),
    date: Optional[str] = typer.Option(
        None, "--date", help="Data date (YYYY-MM-DD) of a file without a date column; default: the open round at the "
        "store clock (or, when none is open, the last closed one: a late upload). With --backfill: the store's last "
        "trading day."
    ),
    backfill: bool = typer.Option(
        False, "--backfill", help="Store research history (any stored dates, several per file): never staked or paid."),
    min_tickers: int = typer.Option(DEFAULT_MIN_TICKERS, "--min-tickers", min=1, help="Tickers that must match each date's universe (local only)."),
    max_mb: float = typer.Option(DEFAULT_MAX_BYTES / 2**20, "--max-mb", min=0.001, help="Largest accepted file, in MiB (local only)."),
    server: Optional[str] = typer.Option(
        None, "--server", metavar="URL",
        help="Upload to this metasignal server (`metasignal serve`) instead of the local store, as the model's "
        "owner. Without it, $METASIGNAL_SERVER selects the server only when no store is named (no --db, no "
        "$METASIGNAL_DB); otherwise the upload is local. The API key is $METASIGNAL_API_KEY, else api_key in "
        "[client] of $METASIGNAL_CONFIG or ~/.config/metasignal/client.toml (chmod 600), never an argument."),
    as_json: bool = typer.Option(False, "--json", help="Print the receipt as JSON."),
) -> None:
    """Validate a signal file, map its tickers and store it as the model's submission for a round
    (stamped at the store clock: on time until the round's deadline, late after it); with --server,
    the server does this and its receipt is printed."""
    import os

    named_store = ctx.find_root().params.get("db") is not None or bool(os.environ.get("METASIGNAL_DB"))
    remote = server or (None if named_store else os.environ.get("METASIGNAL_SERVER"))
    if remote:
        from metasignal.client import SignalsClient, receipt_from_json
        from metasignal.errors import ConfigurationError

        if min_tickers != DEFAULT_MIN_TICKERS or max_mb != DEFAULT_MAX_BYTES / 2**20:
            raise ConfigurationError("--min-tickers and --max-mb are rules of a local submit; the server applies its own")
        with SignalsClient.from_environment(remote) as client:
            body = client.upload(model, file, date=date, backfill=backfill)
        if as_json:
            typer.echo(json.dumps(body, indent=2))
            return
        console.print(f"uploaded to {escape(client.server_url)}", highlight=False)
        print_receipt(receipt_from_json(body))
        return
    from metasignal.signals.storage import submit

    with open_store() as store:
        receipt = submit(
            store, model, file, date=date, filename=file.name, min_tickers=min_tickers,
            max_bytes=int(max_mb * 2**20), backfill=backfill,
        )
    if as_json:
        typer.echo(json.dumps(receipt.to_dict(), indent=2))
        return
    print_receipt(receipt)


def print_receipt(receipt) -> None:
    """Warnings, the per-date outcome (one line or a table), its status, and the dropped ids."""
    for warning in receipt.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    entries = receipt.entries
    if len(entries) == 1:
        e = entries[0]
        version = f"version {e.version}" + ("" if e.new_version else " (unchanged: identical to the current version)")
        console.print(
            f"[green]accepted[/] {e.n_accepted} tickers, [yellow]dropped[/] {e.n_dropped} for model "
            f"{receipt.model} on {e.date:%Y-%m-%d}: {version}"
        )
        console.print(status_line(e), highlight=False)
    else:
        table = Table(title=f"{receipt.model}: {len(entries)} dates")
        for column in ("date", "accepted", "dropped", "version", "new", "status", "deadline (UTC)"):
            table.add_column(column)
        for e in entries:
            table.add_row(f"{e.date:%Y-%m-%d}", str(e.n_accepted), str(e.n_dropped), str(e.version),
                          "yes" if e.new_version else "no", e.status.replace("_", " "), _deadline(e.deadline))
        console.print(table)
        console.print(f"[green]accepted[/] {receipt.n_accepted} rows, [yellow]dropped[/] {receipt.n_dropped}")
    if receipt.dropped_ids:
        shown = ", ".join(receipt.dropped_ids[:SHOWN_DROPPED])
        more = len(receipt.dropped_ids) - SHOWN_DROPPED
        console.print(
            f"dropped ids (unknown or outside the universe): {shown}" + (f" and {more} more" if more > 0 else "")
        )


def status_line(entry) -> str:
    """What the upload counts as for its round (rich markup)."""
    if entry.status == "on_time":
        return f"[green]on time for round {entry.date:%Y-%m-%d} (deadline {_deadline(entry.deadline)} UTC)[/]"
    if entry.status == "late":
        queued = "-" if entry.queued_for is None else f"{entry.queued_for:%Y-%m-%d}"
        return (f"[yellow]late for round {entry.date:%Y-%m-%d} (deadline {_deadline(entry.deadline)} UTC passed): "
                f"scored without stake; queued as your submission for the next round (expected {queued})[/]")
    return "backfill (research data: never staked or paid)"


def _deadline(stamp) -> str:
    return "-" if _missing(stamp) else f"{stamp:%Y-%m-%d %H:%M}"


@submissions_app.command("list")
def submissions_list_command(
    model: Optional[str] = typer.Option(None, "--model", help="Only this model."),
    current: bool = typer.Option(False, "--current", help="Only the current version of each date."),
    wide: bool = typer.Option(False, "--wide", help="Every column (deadline, id column, dropped, source), even "
                              "when the terminal is too narrow for them; default: what fits."),
) -> None:
    """Stored submissions: one row per (model, date, version); * marks the current version.
    The table fits the terminal (columns left out are named under it; --wide shows them all)."""
    from metasignal.signals.storage import list_submissions

    with open_store() as store:
        listed = list_submissions(store, model, current_only=current)
    if listed.empty:
        console.print("no submissions yet")
        return
    table = Table(title="submissions")
    for column in ("model", "date", "version", "uploaded (UTC)", "status", "deadline (UTC)", "id column", "accepted",
                   "dropped", "source"):
        table.add_column(column)
    for row in listed.itertuples(index=False):
        table.add_row(
            row.model, f"{row.date:%Y-%m-%d}", f"{row.version}{' *' if row.current else ''}",
            f"{row.uploaded_at:%Y-%m-%d %H:%M:%S}", row.status.replace("_", " "), _deadline(row.deadline),
            row.id_column, str(row.n_accepted), str(row.n_dropped),
            "-" if _missing(row.source) else str(row.source),
        )
    console.print(optional_columns(table, "model", "deadline (UTC)", "dropped", "id column", "source"), wide=wide)


def _missing(value) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def starter_command(
    file: Path = typer.Argument(..., help="CSV file to write (submission format)."),
    date: Optional[str] = typer.Option(
        None, "--date", help="Data date of the signal (default: the round an upload made now goes to)."
    ),
    history: int = typer.Option(
        0, "--history", min=0,
        help="Instead, the signals of the last N rounds that have closed (a multi-date file, e.g. for diagnostics).",
    ),
) -> None:
    """Write the starter model's signal (residual momentum from the store's prices) to upload as yours."""
    from metasignal.signals import RoundCalendar
    from metasignal.signals.storage import current_round
    from metasignal.starter import write_starter_file

    with open_store() as store:
        if history:
            closed = RoundCalendar.of(store).rounds(store, status="closed")
            dates = [r.data_date for r in closed[-history:]]
        else:
            dates = [current_round(store).data_date if date is None else read_day(date, what="--date")]
        path = write_starter_file(store, file, dates)
    span = f"{dates[0]:%Y-%m-%d}" if len(dates) == 1 else f"{len(dates)} rounds, {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}"
    console.print(f"[green]wrote[/] the starter signal for {span} to {path}")


def register(app: typer.Typer) -> None:
    """Add ``models``, ``submit``, ``starter`` and ``submissions`` to the root app."""
    app.add_typer(models_app, name="models")
    app.command("submit")(submit_command)
    app.command("starter")(starter_command)
    app.add_typer(submissions_app, name="submissions")

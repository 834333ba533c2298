"""`metasignal data ...`: generate the synthetic market, inspect, fetch from Yahoo, import files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from metasignal.cli.context import db_path, open_store
from metasignal.cli.display import out as console
from metasignal.cli.display import steps
from metasignal.data.clock import Clock
from metasignal.errors import DataValidationError

DEFAULT_TAIL_WEEKS = 26
INFO_LABELS = {"last_date": "last stored date", "now": "now (UTC)", "visible_through": "data known through"}

data_app = typer.Typer(help="Market data: synthetic generation, info, yfinance fetch, file import.", no_args_is_help=True)


@data_app.command("generate")
def generate_command(
    tickers: int = typer.Option(3000, "--tickers", min=10, help="Number of securities."),
    years: float = typer.Option(5.0, "--years", min=0.2, help="Years of trading days (252 a year)."),
    seed: int = typer.Option(42, "--seed", help="Random seed; the same seed gives the same market."),
    start: str = typer.Option("2020-01-02", "--start", help="First trading day."),
    tail_weeks: Optional[int] = typer.Option(
        None, "--tail-weeks", min=0,
        help=f"Weeks of market data kept hidden ahead of a replay clock set at the opening of the weekly round "
        f"that many weeks before the last day (revealed by `metasignal clock advance`); 0: no replay clock (a live "
        f"store). Default {DEFAULT_TAIL_WEEKS}, or half the weeks of a shorter market.",
    ),
) -> None:
    """Fill the store with the synthetic market (offline, deterministic), derive everything and set
    the replay clock (see --tail-weeks)."""
    from metasignal.data.generate import generate_store
    from metasignal.data.synthetic import SyntheticConfig

    config = SyntheticConfig(n_tickers=tickers, years=years, seed=seed, start=start)
    if tail_weeks is None:
        tail_weeks = min(DEFAULT_TAIL_WEEKS, config.n_days // 10)
    elif tail_weeks and tail_weeks >= config.n_days // 5:
        raise DataValidationError(f"--tail-weeks {tail_weeks} leaves no past: the market has about "
                                  f"{config.n_days // 5} weeks (lower it, or add --years)")
    began = time.perf_counter()
    with open_store(create=True) as store, steps(6, "generate") as say:
        store.set_clock(Clock("live"))  # generation writes and derives every day
        counts = generate_store(store, config, progress=say)
        opens = set_tail_clock(store, tail_weeks)
    size = db_path().stat().st_size / 2**20
    console.print(
        f"[green]generated[/] {counts['securities']} tickers, {counts['bars']:,} bars, "
        f"{counts['targets']:,} target rows into {db_path()} ({size:.0f} MB) in {time.perf_counter() - began:.1f} s"
    )
    if opens is None:
        console.print("live clock (the wall clock): every generated day is known")
    else:
        console.print(f"replay clock at {opens:%Y-%m-%d %H:%M} UTC: {tail_weeks} weeks of market data ahead stay "
                      "hidden until `metasignal clock advance`")


def set_tail_clock(store, tail_weeks: int):
    """A replay clock at the opening of the weekly round ``tail_weeks`` rounds before the last one
    (that round's opening time), or the live clock for 0 (returns None)."""
    from metasignal.signals.round_calendar import RoundCalendar

    if tail_weeks == 0:
        store.set_clock(Clock("live"))
        return None
    calendar = RoundCalendar.of(store)
    dates = calendar.data_dates(store.stored_days())
    if tail_weeks >= len(dates):
        raise DataValidationError(f"--tail-weeks {tail_weeks}: the store has only {len(dates)} weekly rounds")
    opens = calendar.round_of(dates[-tail_weeks - 1]).opens
    store.set_clock(Clock("replay", opens))
    return opens


@data_app.command("info")
def info_command() -> None:
    """What the store holds: date range, tickers, countries, sectors, last derived date, and the clock
    (mode, now, the last date whose data are known)."""
    with open_store() as store:
        info = store.info()
    table = Table(title=f"store {info.pop('path')}", show_header=False)
    for key, value in info.items():
        table.add_row(INFO_LABELS.get(key, key.replace("_", " ")), "-" if value is None else str(value))
    console.print(table)


@data_app.command("fetch")
def fetch_command(
    tickers: str = typer.Option(..., "--tickers", help="Comma-separated Yahoo symbols, e.g. AAPL,VOD.L,7203.T"),
    start: str = typer.Option(..., "--start", help="First date (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--end", help="Last date (YYYY-MM-DD)."),
) -> None:
    """Download daily bars and classifications from Yahoo Finance into the store (cached)."""
    from metasignal.data.yfinance_loader import fetch

    symbols = [s for s in tickers.split(",") if s.strip()]
    start_date, end_date = _date(start, "--start"), _date(end, "--end")
    with open_store(create=True) as store, steps(4, "fetch") as say:
        report = fetch(store, symbols, start_date, end_date, progress=say)
    console.print(
        f"[green]fetched[/] {len(report.downloaded)} symbol(s), {report.rows:,} bars; "
        f"{len(report.cached)} already cached; {len(report.empty)} returned nothing"
        + (f" ({', '.join(report.empty)})" if report.empty else "")
    )


@data_app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="A bars file (long, or wide date x ticker closes) or a securities file "
                                          "(CSV or Parquet)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write the check report to this .json or "
                                                                 ".csv file."),
) -> None:
    """Import bars (long ``date,ticker,close[,volume,...]`` or wide ``date,<ticker>,...`` closes) or a
    securities file; validated first, written, derived and checked atomically, then the check report
    is printed. An import whose universe is empty on every date is refused and writes nothing."""
    from metasignal.data.file_loader import import_file

    if report is not None and report.suffix.lower() not in (".json", ".csv"):
        raise DataValidationError(f"--report {report}: use a .json or .csv file name")
    with open_store(create=True) as store, steps(5, "import") as say:
        result = import_file(store, file, progress=say)
        modes = store.degraded_modes()
    console.print("[green]imported[/] " + ", ".join(f"{v:,} {k} rows" for k, v in result.counts.items()))
    if result.report is None:
        return
    print_check_report(result.report, modes)
    if report is not None:
        console.print(f"[green]wrote[/] the check report to {escape(str(result.report.write(report)))}")


def _names(names: list[str], total: int, shown: int = 6) -> str:
    if not names:
        return "-"
    listed = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
    return ("all: " if len(names) == total else "") + listed


def _rows(frame, render, shown: int = 5) -> str:
    """The first ``shown`` rows of a finding frame, each through ``render``, then how many more."""
    if frame.empty:
        return "-"
    lines = [render(row) for row in frame.head(shown).itertuples(index=False)]  # at most 5 rows printed
    return "; ".join(lines) + (f"; and {len(frame) - shown} more" if len(frame) > shown else "")


def print_check_report(report, modes: dict[str, str]) -> None:
    """The import check report (:class:`metasignal.data.import_checks.ImportReport`) as a rich table,
    then the store's degraded modes and notes, one yellow line each."""
    from metasignal.data.import_checks import EXTREME_RETURN, STALE_DAYS

    universe = report.universe_summary()
    table = Table(title=f"check report: {report.names} names, {report.dates} dates")
    table.add_column("check")
    table.add_column("count", justify="right")
    table.add_column("details")
    table.add_row("universe per date", str(universe["max"]),
                  "empty on every date" if universe["first_date"] is None else
                  f"from {universe['first_date']}: min {universe['min']}, median {universe['median']:g}, "
                  f"max {universe['max']}")
    for label, names in (("names without volume", report.without_volume),
                         ("names without shares outstanding", report.without_shares),
                         ("names without sector", report.without_sector)):
        table.add_row(label, str(len(names)), escape(_names(names, report.names)))
    table.add_row("gaps (missing bars inside a name's life)", str(len(report.gaps)), escape(_rows(
        report.gaps, lambda r: f"{r.ticker} {r.missing_bars} bar(s), first {r.first_missing:%Y-%m-%d}")))
    table.add_row(f"stale prices (>= {STALE_DAYS} bars unchanged)", str(len(report.stale)), escape(_rows(
        report.stale, lambda r: f"{r.ticker} {r.bars} bars {r.first_date:%Y-%m-%d}..{r.last_date:%Y-%m-%d}")))
    table.add_row(f"extreme daily returns (|ret| > {EXTREME_RETURN:.0%})", str(len(report.extreme_returns)),
                  escape(_rows(report.extreme_returns, lambda r: f"{r.ticker} {r.date:%Y-%m-%d} {r.ret:+.1%}")))
    table.add_row("suspected unadjusted splits", str(len(report.suspected_splits)), escape(_rows(
        report.suspected_splits,
        lambda r: f"{r.ticker} {r.date:%Y-%m-%d} close x{r.close_ratio:.3f} adj x{r.adj_ratio:.3f} (near x{r.factor:.3g})")))
    table.add_row("target rows", f"{report.target_rows:,}", "")
    console.print(table)
    for field, state in modes.items():
        what = f"no {field} in the store" if state == "none" else f"{state} without {field}"
        console.print(f"[yellow]degraded mode: {escape(what)} (what derive does instead: docs/data.md)[/]")
    for note in report.notes:
        console.print(f"[yellow]{escape(note)}[/]")


def _date(text: str, option: str):
    import pandas as pd

    try:
        return pd.Timestamp(text).normalize()
    except (ValueError, TypeError):
        raise DataValidationError(f"{option}: {text!r} is not a date (use YYYY-MM-DD)") from None


def register(app: typer.Typer) -> None:
    """Add the ``data`` group to the root app."""
    app.add_typer(data_app, name="data")

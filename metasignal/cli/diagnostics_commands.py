"""`metasignal diagnostics FILE`: per-era scores and summaries of a historical signal file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import typer

from metasignal.cli.context import open_store
from metasignal.cli.display import bar, frame_table, out
from metasignal.data.targets import DEFAULT_WINDOW
from metasignal.errors import DataValidationError
from metasignal.signals.submission import DEFAULT_MAX_BYTES, DEFAULT_MIN_TICKERS

DEFAULT_OUT = Path("diagnostics_out")
SHOWN_ERAS = 5  # rows of the per-era table shown at each end


def _stored_history(store, model: str):
    """A stored model's history (backfills included) as a validated submission."""
    from metasignal.signals import ValidatedSubmission, stored_history

    frame = stored_history(store, model)
    dropped = pd.DataFrame({"line": [], "id": [], "date": [], "reason": []})
    return ValidatedSubmission(frame=frame, dropped=dropped, id_column="ticker", signal_column="signal",
                               date_column="date")


def diagnostics_command(
    file: Optional[Path] = typer.Argument(
        None, help="Signal file: CSV or Parquet with an id column, a signal column and a date column "
                   "(default with --model: the model's stored history, backfills included).",
    ),
    model: Optional[str] = typer.Option(
        None, "--model",
        help="The stored model the signals are: its own stored submissions leave the meta-model.",
    ),
    out_dir: Path = typer.Option(
        DEFAULT_OUT, "--out",
        help="Folder for diagnostics_per_era.csv, diagnostics_summary.csv and diagnostics.html.",
    ),
    date: Optional[str] = typer.Option(
        None, "--date",
        help="Data date (YYYY-MM-DD) of a file without a date column (default: the store's last trading day).",
    ),
    window: str = typer.Option(DEFAULT_WINDOW, "--window", help="Target window the eras are scored on."),
    min_tickers: int = typer.Option(
        DEFAULT_MIN_TICKERS, "--min-tickers", min=1, help="Tickers that must match each date's universe."
    ),
    max_mb: float = typer.Option(
        DEFAULT_MAX_BYTES / 2**20, "--max-mb", min=0.001, help="Largest accepted file, in MiB."
    ),
) -> None:
    """Score every date of a signal file whose targets are known: per-era table, summary, HTML report."""
    from metasignal.backtest.diagnostics import diagnose, write_diagnostics
    from metasignal.reports.diagnostics import write_diagnostics_report
    from metasignal.signals import storage
    from metasignal.signals.submission import parse_submission, validate_for_store

    with open_store() as store:
        if model is not None and model not in set(storage.list_models(store)["name"]):
            raise storage.UnknownModelError(
                f"unknown model {model!r}: --model names a stored model (see `metasignal models list`)"
            )
        if file is None:
            if model is None:
                raise DataValidationError("give a signal FILE, or --model NAME to diagnose a stored model's history")
            validated = _stored_history(store, model)
        else:
            parsed = parse_submission(file, max_bytes=int(max_mb * 2**20))
            validated = validate_for_store(store, parsed, date=date, min_tickers=min_tickers)
        with bar(len(validated.dates), "scoring eras") as advance:
            diagnostics = diagnose(store, validated, model_name=model or "file", window=window, progress=advance)
    paths = write_diagnostics(diagnostics, out_dir)
    paths["diagnostics.html"] = write_diagnostics_report(diagnostics, Path(out_dir) / "diagnostics.html")

    for warning in validated.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    if validated.n_dropped:
        out.print(f"{validated.n_dropped} row(s) dropped (unknown ids or outside the universe)")
    dates = diagnostics.dates
    out.print(
        f"model {diagnostics.model}: {len(dates)} era(s) scored, {dates[0].date()} to {dates[-1].date()}, "
        f"{len(diagnostics.skipped)} skipped; max style exposure {diagnostics.max_style_exposure:.3f} "
        f"({diagnostics.max_style_factor})"
    )
    summary = diagnostics.summary.reset_index()
    summary["n_eras"] = summary["n_eras"].astype("Int64")
    out.print(frame_table(summary, "summary per metric (sharpe = mean / std per era; drawdown of the cumulative score)"))
    if diagnostics.inference is not None and len(diagnostics.inference):
        inference = diagnostics.inference
        shown = pd.DataFrame({
            "metric": inference.index, "mean": inference["mean"], "95% interval": [
                "n/a" if pd.isna(lo) else f"[{lo:.4f}, {hi:.4f}]" for lo, hi in zip(inference["ci_low"], inference["ci_high"])],
            "t (HAC)": inference["t"], "n_eff": inference["n_effective"].round(1),
            "vs 0": ["~0" if not sig else ("> 0" if m > 0 else "< 0") for sig, m in zip(inference["significant"], inference["mean"])],
        })
        lag = int(inference["lag"].max())
        out.print(frame_table(shown, "mean score per era with its HAC 95 % interval (~0: not distinguishable from zero)"))
        out.print(f"Newey-West over the eras, {diagnostics.window} targets overlapping: truncation {lag} eras "
                  "(max(2 x overlap, 1.3 sqrt(eras))), fixed-b critical values; n_eff: independent eras the "
                  "variance amounts to", highlight=False)
    style = diagnostics.style_summary.reset_index()
    out.print(frame_table(style, "style exposure (Pearson of the cleaned signal with each factor, over eras)"))
    per_era = diagnostics.per_era.reset_index()
    per_era["date"] = per_era["date"].dt.strftime("%Y-%m-%d")
    if len(per_era) > 2 * SHOWN_ERAS:
        out.print(frame_table(per_era.head(SHOWN_ERAS), f"per era: first {SHOWN_ERAS} of {len(per_era)}"))
        out.print(frame_table(per_era.tail(SHOWN_ERAS), f"per era: last {SHOWN_ERAS} of {len(per_era)}"))
    else:
        out.print(frame_table(per_era, "per era"))
    for note in diagnostics.notes:
        out.print(f"note: {note}")
    for path in paths.values():
        out.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add the ``diagnostics`` command to the root app."""
    app.command("diagnostics")(diagnostics_command)

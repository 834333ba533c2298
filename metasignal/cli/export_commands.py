"""`metasignal universe` and `metasignal targets`: what a participant needs to build a valid file
and to train, exported from the store as CSV or Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import typer

from metasignal.cli.context import open_store
from metasignal.cli.display import out
from metasignal.cli.table_files import write_table
from metasignal.data.calendar import read_day
from metasignal.data.targets import DEFAULT_WINDOW
from metasignal.errors import DataValidationError

ID_COLUMNS = ("bloomberg_ticker", "yahoo_symbol", "composite_figi", "sedol")


def universe_command(
    date: Optional[str] = typer.Option(
        None, "--date", help="Data date (default: the round an upload made now goes to)."),
    out_file: Path = typer.Option(..., "--out", help="File to write: .csv or .parquet."),
) -> None:
    """Export the universe of a round's data date: one row per ticker that a submission may
    name, with its other ids, country and sector."""
    from metasignal.signals.storage import current_round

    with open_store() as store:
        day = current_round(store).data_date if date is None else store.as_of(read_day(date, what="--date"))
        tickers = store.universe(day)
        securities = store.securities().reindex(tickers)
    ids = [c for c in ID_COLUMNS if c in securities.columns]
    table = securities[ids + ["country", "sector"]].reset_index()
    table.insert(0, "date", day.date().isoformat())
    write_table(table, out_file)
    out.print(f"[green]wrote[/] the universe of {day:%Y-%m-%d}: {len(table):,} tickers to {out_file}")


def targets_command(
    start: str = typer.Option(..., "--start", help="First date (YYYY-MM-DD)."),
    end: Optional[str] = typer.Option(None, "--end", help="Last date (default: the last with known targets)."),
    window: str = typer.Option(DEFAULT_WINDOW, "--window", help="Target window, e.g. 20D2L or 60D2L."),
    out_file: Path = typer.Option(..., "--out", help="File to write: .csv or .parquet."),
) -> None:
    """Export the binned targets (raw and factor-neutral) known at the store clock, one row per
    date and ticker: historical targets to train on."""
    first = read_day(start, what="--start")
    last = None if end is None else read_day(end, what="--end")
    if last is not None and last < first:
        raise DataValidationError(f"--end {last.date()} is before --start {first.date()}")
    with open_store() as store:
        known = store.target_dates(window)
        dates = known[(known >= first) & ((known <= last) if last is not None else True)]
        if len(dates) == 0:
            span = f"{known[0].date()} to {known[-1].date()}" if len(known) else "none yet"
            raise DataValidationError(f"no {window} targets known at the clock between {first.date()} and "
                                      f"{'the last' if last is None else last.date()} (known: {span})")
        frames = [store.targets(day, window).reset_index().assign(date=day.date().isoformat()) for day in dates]
    table = pd.concat(frames, ignore_index=True)[["date", "ticker", "raw", "factor_neutral"]]
    write_table(table, out_file)
    out.print(f"[green]wrote[/] {window} targets of {len(dates)} dates ({dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}), "
              f"{len(table):,} rows, to {out_file}")


def register(app: typer.Typer) -> None:
    """Add ``universe`` and ``targets`` to the root app."""
    app.command("universe")(universe_command)
    app.command("targets")(targets_command)

"""`metasignal backtest`: walk-forward backtest of the stored submissions (or a signal file)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.markup import escape

from metasignal.cli.context import open_store
from metasignal.cli.display import bar, frame_table, out
from metasignal.errors import DataValidationError


def _signal_file(store, path: Path):
    """A multi-date signal file (submission format) -> the signal source of the backtest."""
    from metasignal.backtest.walk_forward import signal_history
    from metasignal.signals.submission import parse_submission, validate_for_store

    if not path.exists():
        raise DataValidationError(f"signal file {path} does not exist")
    parsed = parse_submission(path)
    if parsed.date_column is None:
        raise DataValidationError(f"signal file {path} has no date column (date or friday_date): "
                                  "a backtest needs the date each signal was known")
    validated = validate_for_store(store, parsed, min_tickers=1)
    return signal_history(validated.frame), validated


def _model_history(store, model: str):
    """A stored model's whole history (backfills included) -> the signal source of a research backtest."""
    from metasignal.backtest.walk_forward import signal_history
    from metasignal.signals import stored_history

    history = stored_history(store, model)
    dates = history["date"].nunique()
    return signal_history(history), f"model {model}'s stored history ({dates} dates, backfills included)"


def backtest_command(
    start: str = typer.Option(..., "--start", help="First day of the backtest (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--end", help="Last day of the backtest (YYYY-MM-DD)."),
    rebalance: Optional[str] = typer.Option(
        None, "--rebalance", help=r"weekly, daily or monthly (default: the \[backtest] rebalance, else weekly)."
    ),
    lag: Optional[int] = typer.Option(
        None, "--lag", help=r"Trading days between decision and trade (default: the \[backtest] lag, else 1)."
    ),
    config: Optional[Path] = typer.Option(
        None, "--config", help=r"TOML file with \[portfolio] and \[backtest] tables (see metasignal.example.toml)."
    ),
    out_dir: Path = typer.Option(Path("backtest_out"), "--out", help="Folder for the outputs."),
    signals_file: Optional[Path] = typer.Option(
        None, "--signals", help="Multi-date signal file (submission format) instead of the stored submissions."
    ),
    model: Optional[str] = typer.Option(
        None, "--model",
        help="Research backtest of one stored model's history (backfills included) instead of the meta-signal.",
    ),
    vectorbt_check: bool = typer.Option(
        False, "--vectorbt-check",
        help="Replay the targets with zero costs through vectorbt and print the largest equity difference.",
    ),
) -> None:
    """Walk-forward backtest over START..END: signals known at each rebalance -> optimized
    neutral book -> trades with an execution lag -> returns net of spread, impact and borrow."""
    from metasignal.backtest.walk_forward import (
        backtest_days,
        run_walk_forward,
        save_walk_forward,
        vectorbt_difference,
    )
    from metasignal.cli.portfolio_commands import print_feasibility
    from metasignal.config import portfolio_settings, read_toml, walk_forward_settings
    from metasignal.portfolio.data_requirements import require_trading_inputs
    from metasignal.portfolio.feasibility import store_feasibility_warnings
    from metasignal.reports.fund_sections import fund_views
    from metasignal.reports.walk_forward import write_walk_forward_report

    values = read_toml(config)
    settings = portfolio_settings(values)
    schedule = walk_forward_settings(values)
    overrides = {key: value for key, value in (("rebalance", rebalance), ("lag", lag)) if value is not None}
    schedule = dataclasses.replace(schedule, **overrides)
    with open_store() as store:
        signal, source = None, f"meta-signal ({settings.meta_method}) of the stored submissions"
        if signals_file is not None and model is not None:
            raise DataValidationError("give either --signals FILE or --model NAME, not both")
        if signals_file is not None:
            signal, validated = _signal_file(store, signals_file)
            source = f"{signals_file} ({len(validated.dates)} dates, {validated.n_accepted} rows)"
        if model is not None:
            signal, source = _model_history(store, model)
        days, dates = backtest_days(store, start, end, schedule)
        smallest, small_universe = store_feasibility_warnings(store, settings, days[0], days[-1])
        if small_universe:
            out.print(f"[yellow]smallest universe of the backtest ({smallest.date()}):[/]")
            print_feasibility(small_universe)
        require_trading_inputs(store, "metasignal backtest", settings)
        named = schedule.rebalance if isinstance(schedule.rebalance, str) else "given dates"
        with bar(len(dates), f"backtest ({named}, {len(dates)} rebalances)") as advance:
            result = run_walk_forward(store, days[0], days[-1], settings, schedule, signal=signal,
                                      progress=advance)
        # the report's factor split, participation and IC read the store as the walk-forward did
        views = fund_views(result, store, settings, meta_signal_ic=signal is None)
    title = f"metasignal backtest {days[0].date()} to {days[-1].date()}"
    paths = save_walk_forward(result, out_dir)
    paths["report.html"] = write_walk_forward_report(result, Path(out_dir) / "report.html", title=title, views=views)
    _print_summary(result, source, paths)
    if vectorbt_check:
        gap = vectorbt_difference(result)
        out.print(f"vectorbt check (zero costs, capital 1): max |equity difference| {gap:.2e}")


def _print_summary(result, source: str, paths: dict) -> None:
    from metasignal.backtest import describe_lag
    from metasignal.backtest.metrics import sharpe_uncertainty

    simulation, solves = result.simulation, result.solves
    days = simulation.equity.index
    out.print(f"[bold]backtest {days[0].date()} to {days[-1].date()}[/]: {len(days)} trading days, "
              f"{len(solves)} rebalances, lag {describe_lag(simulation.lag)}, signal: {escape(source)}")
    fallbacks = int(solves["fallback"].notna().sum())
    out.print(f"solves: {', '.join(f'{k} {v}' for k, v in solves['status'].value_counts().items())}"
              + (f", [yellow]{fallbacks} with the turnover limit lifted[/]" if fallbacks else "")
              + f"; largest |net| {solves['net'].abs().max():.1e}; "
              f"time {result.timings['total']:.1f} s (solver {result.timings['solver']:.1f} s)")
    metrics = pd.DataFrame(list(simulation.metrics().items()), columns=["metric", "value"])
    out.print(frame_table(metrics, "metrics (net of costs; gross_* before costs)"))
    spread = sharpe_uncertainty(simulation.net_returns, simulation.periods_per_year)
    out.print(f"net Sharpe {spread['sharpe']:.2f}, 95 % interval {spread['sharpe_ci_low']:.2f} to "
              f"{spread['sharpe_ci_high']:.2f} (Newey-West, {spread['sharpe_lag']:.0f} lags), "
              f"P(true Sharpe > 0) {spread['sharpe_psr']:.2f}")
    folder = Path(next(iter(paths.values()))).parent
    out.print(f"[green]wrote[/] {', '.join(sorted(paths))} to {escape(str(folder))}")


def register(app: typer.Typer) -> None:
    """Add the ``backtest`` command to the root app."""
    app.command("backtest")(backtest_command)

"""`metasignal demo` and `metasignal examples`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from metasignal.cli.context import open_store
from metasignal.cli.display import bar, console, frame_table, out
from metasignal.data.calendar import read_day


def demo_command(
    out_dir: Path = typer.Option(Path("demo"), "--out", help="Folder for the demo store, report and outputs."),
    tickers: int = typer.Option(2000, "--tickers", min=200, help="Synthetic universe size."),
    years: float = typer.Option(4.0, "--years", min=1.5, help="Years of synthetic history."),
    seed: int = typer.Option(42, "--seed"),
    fund_job: bool = typer.Option(False, "--fund-job", help="Also run the fund's job at every round deadline of the replay."),
) -> None:
    """Run the whole loop offline on a replay clock: market, example models uploading at each round's
    opening, rounds resolving as their windows end, payouts, fund backtest, report."""
    from metasignal.data.synthetic import SyntheticConfig
    from metasignal.demo import DemoConfig, run_demo

    began = time.perf_counter()
    config = DemoConfig(out=out_dir, market=SyntheticConfig(n_tickers=tickers, years=years, seed=seed), fund_job=fund_job)
    result = run_demo(config, bar=bar, say=lambda msg: console.print(f"[bold]demo[/] {msg}"))
    board = result.leaderboard
    columns = ["model", "stake", "cumulative_payout", "return_on_stake", "eligible_rounds", "rounds",
               "corr", "fnc", "mmc", "alpha", "mpc", "churn", "turnover"]
    out.print(frame_table(board[columns], "leaderboard"))
    metrics = result.metrics
    out.print(
        f"fund: annualized return {metrics['annualized_return']:.2%}, volatility {metrics['annualized_volatility']:.2%}, "
        f"Sharpe {metrics['sharpe']:.2f} (95 % HAC interval {metrics['sharpe_ci_low']:.2f} to "
        f"{metrics['sharpe_ci_high']:.2f}), max drawdown {metrics['max_drawdown']:.2%}, "
        f"cost drag {metrics['cost_drag_bp_per_year']:.0f} bp/year"
    )
    out.print(f"tournament: the example models uploaded on time to {result.rounds_opened} round(s); "
              f"{result.rounds_resolved} resolved (the rest wait for their target windows)")
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in result.timings.items())
    out.print(f"[green]wrote[/] {result.report} in {time.perf_counter() - began:.0f} s ({steps})")


def examples_command(
    history: bool = typer.Option(False, "--history", help="Also store their past signals as research data (backfill: never staked, scored in rounds or paid)."),
    start: Optional[str] = typer.Option(None, "--start", help="With --history: the first round stored (default: a year into the store)."),
) -> None:
    """Create the example models (stakes at the store clock's date), upload their signals to the
    open round and turn on their automation: each `clock advance` has them upload at every round opening."""
    import pandas as pd

    from metasignal.errors import StoreError
    from metasignal.examples import create_example_models, start_example_models, submit_example_history
    from metasignal.signals import RoundCalendar

    with open_store() as store:
        created = create_example_models(store)
        stored = 0
        if history:
            days = store.trading_days()
            if len(days) == 0:
                raise StoreError("the store holds no days known at its clock: no example history to store")
            calendar = RoundCalendar.of(store)
            open_now = calendar.open_round(store)
            dates = calendar.data_dates(days)
            dates = dates[dates >= (days[min(260, len(days) - 1)] if start is None else read_day(start, what="--start"))]
            if open_now is not None:
                dates = dates[dates < open_now.data_date]  # the open round gets a live upload
            if len(dates):
                with bar(len(dates), "example history (backfill)") as tick:
                    submit_example_history(store, dates, advance=tick)
                stored = len(dates)
        started = start_example_models(store)  # the models exist: it uploads and turns the automation on
    names = ", ".join(created) if created else "none (all exist)"
    out.print(f"[green]created[/] {len(created)} example model(s) with their stakes: {names}")
    if history:
        out.print(f"stored {stored} past round(s) of example signals as research history (backfill)")
    if started.round is not None:
        rows = ", ".join(f"{k} {v:,}" for k, v in started.accepted.items())
        out.print(f"uploaded to the open round {started.round.data_date.date()} (deadline "
                  f"{started.round.deadline:%Y-%m-%d %H:%M} UTC): {rows} rows")
    else:
        out.print(started.note)
    out.print("automation on: the example models upload at every round opening of `metasignal clock advance`")


def register(app: typer.Typer) -> None:
    """Add ``demo`` and ``examples`` to the root app."""
    app.command("demo")(demo_command)
    app.command("examples")(examples_command)

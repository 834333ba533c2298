"""`metasignal demo` and `metasignal examples`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from metasignal.cli.context import open_store
from metasignal.cli.display import bar, console, frame_table, out


def demo_command(
    out_dir: Path = typer.Option(Path("demo"), "--out", help="Folder for the demo store, report and outputs."),
    tickers: int = typer.Option(2000, "--tickers", min=200, help="Synthetic universe size."),
    years: float = typer.Option(4.0, "--years", min=1.5, help="Years of synthetic history."),
    seed: int = typer.Option(42, "--seed"),
) -> None:
    """Run the whole loop offline: market, example models, rounds, payouts, fund backtest, report."""
    from metasignal.data.synthetic import SyntheticConfig
    from metasignal.demo import DemoConfig, run_demo

    began = time.perf_counter()
    config = DemoConfig(out=out_dir, market=SyntheticConfig(n_tickers=tickers, years=years, seed=seed))
    result = run_demo(config, bar=bar, say=lambda msg: console.print(f"[bold]demo[/] {msg}"))
    board = result.leaderboard
    columns = ["model", "stake", "cumulative_payout", "return_on_stake", "eligible_rounds", "rounds",
               "corr", "fnc", "mmc", "alpha", "mpc", "churn", "turnover"]
    out.print(frame_table(board[columns], "leaderboard"))
    metrics = result.metrics
    out.print(
        f"fund: annualized return {metrics['annualized_return']:.2%}, volatility {metrics['annualized_volatility']:.2%}, "
        f"Sharpe {metrics['sharpe']:.2f}, max drawdown {metrics['max_drawdown']:.2%}, "
        f"cost drag {metrics['cost_drag_bp_per_year']:.0f} bp/year"
    )
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in result.timings.items())
    out.print(f"[green]wrote[/] {result.report} in {time.perf_counter() - began:.0f} s ({steps})")


def examples_command(
    start: Optional[str] = typer.Option(None, "--start", help="First round (default: a year into the store)."),
    end: Optional[str] = typer.Option(None, "--end", help="Last round (default: the store's last day)."),
) -> None:
    """Create the example models (with stakes) and submit their weekly signals on the synthetic store."""
    from metasignal.examples import (
        create_example_models,
        submit_example_history,
        weekly_round_dates,
    )

    with open_store() as store:
        days = store.trading_days()
        first = start or days[min(260, len(days) - 1)]
        dates = weekly_round_dates(store, start=first, end=end or days[-1])
        created = create_example_models(store, dates[0])
        with bar(len(dates), "example models submit") as advance:
            accepted = submit_example_history(store, dates, advance=advance)
    out.print(f"[green]created[/] {len(created)} model(s); submitted {len(dates)} weekly rounds: "
              + ", ".join(f"{k} {v:,} rows" for k, v in accepted.items()))


def register(app: typer.Typer) -> None:
    """Add ``demo`` and ``examples`` to the root app."""
    app.command("demo")(demo_command)
    app.command("examples")(examples_command)

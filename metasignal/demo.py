"""The end-to-end demo: the whole tournament and fund loop on the synthetic market, offline.

generate market -> example models with stakes -> weekly submissions through the CSV path
-> resolve every round (scores, eligibility, payouts, compounding) -> walk-forward fund
backtest on the meta-signal -> ``report.html`` and a printed leaderboard.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager

import pandas as pd

from metasignal.backtest import rounds
from metasignal.backtest.exposure import net_exposure_by_group
from metasignal.backtest.outputs import write_outputs
from metasignal.backtest.walk_forward import WalkForwardSettings, run_walk_forward
from metasignal.data.generate import generate_store
from metasignal.data.store import Store
from metasignal.data.synthetic import SyntheticConfig
from metasignal.examples import create_example_models, submit_example_history, weekly_round_dates
from metasignal.portfolio.settings import PortfolioSettings
from metasignal.reports.backtest import write_report
from metasignal.reports.tournament import (
    cumulative_payout_figure,
    leaderboard_html,
    score_distribution_figure,
    stake_figure,
)
from metasignal.signals import stakes

FIRST_ROUND_DAY = 260  # momentum needs a year of history


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo market and where it writes."""

    out: Path = Path("demo")
    market: SyntheticConfig = SyntheticConfig(n_tickers=2000, years=4.0, seed=42)
    portfolio: PortfolioSettings = PortfolioSettings()
    backtest: WalkForwardSettings = WalkForwardSettings(rebalance="weekly", lag=1)


@dataclass
class DemoResult:
    leaderboard: pd.DataFrame
    metrics: dict[str, float]
    report: Path
    timings: dict[str, float] = field(default_factory=dict)


Bar = Callable[[int, str], ContextManager[Callable[[int], None]]]


def run_demo(config: DemoConfig, *, db: Path | None = None, bar: Bar | None = None,
             say: Callable[[str], None] = lambda _msg: None) -> DemoResult:
    """Run the demo into ``config.out`` (a fresh store unless ``db`` is given)."""
    from contextlib import nullcontext

    bar = bar or (lambda total, title: nullcontext(lambda n=1: None))
    config.out.mkdir(parents=True, exist_ok=True)
    path = db or config.out / "metasignal.duckdb"
    if db is None and path.exists():
        path.unlink()  # the demo always starts from a fresh store of its own
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now

    with Store.open(path, create=True) as store:
        say(f"generating {config.market.n_tickers} tickers x {config.market.n_days} days")
        generate_store(store, config.market)
        lap("generate")
        days = store.trading_days()
        dates = weekly_round_dates(store, start=days[min(FIRST_ROUND_DAY, len(days) - 1)], end=days[-1])
        create_example_models(store, dates[0])
        with bar(len(dates), "example models submit") as advance:
            submit_example_history(store, dates, advance=advance)
        lap("submit")
        resolvable = dates[dates.isin(store.target_dates())]
        with bar(len(resolvable), "resolving rounds") as advance:
            rounds.resolve_rounds(store, progress=advance)
        lap("resolve")
        with bar(len(dates), "walk-forward backtest") as advance:
            fund = run_walk_forward(store, dates[0], days[-1], config.portfolio, config.backtest, progress=advance)
        lap("backtest")
        board = rounds.leaderboard(store)
        results = rounds.round_results(store)
        history = stakes.stake_history(store)
    board.to_csv(config.out / "leaderboard.csv", index=False)
    write_outputs(fund.simulation, config.out / "backtest")
    sectors = net_exposure_by_group(fund.simulation.weights, fund.groups["sector"])
    countries = net_exposure_by_group(fund.simulation.weights, fund.groups["country"])
    report = write_report(
        fund.simulation, config.out / "report.html", title="metasignal demo: the fund and its tournament",
        sector_exposure=sectors, country_exposure=countries,
        extra_sections=[
            ("Leaderboard (all resolved rounds)", leaderboard_html(board)),
            ("Cumulative payouts", cumulative_payout_figure(results)),
            ("Stake evolution", stake_figure(history)),
            ("Score distributions per round", score_distribution_figure(results)),
        ],
    )
    lap("report")
    return DemoResult(board, fund.simulation.metrics(), report, timings)

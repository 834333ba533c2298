"""The end-to-end demo: the whole tournament and fund loop on the synthetic market, offline.

generate the market -> a replay clock at the opening of the first round (a year of prices
in) -> the example models with their stakes, uploading to that round -> the clock advanced
to the end of the market (:func:`metasignal.tournament.advance`): the example models upload
through the CSV path at each round's opening, stamped at the clock, and each round resolves
(scores, eligibility, payouts, compounding) once its target window has ended -> the
walk-forward fund backtest on the meta-signal of the on-time uploads -> ``report.html`` and
a printed leaderboard. With ``DemoConfig(fund_job=True)`` the fund's job also runs at every
deadline (the round's target book and per-market executions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager

import pandas as pd

from metasignal.backtest import rounds
from metasignal.backtest.exposure import net_exposure_by_group
from metasignal.backtest.metrics import equal_weight_market, sharpe_uncertainty
from metasignal.backtest.outputs import write_outputs
from metasignal.backtest.replay import clock_events
from metasignal.backtest.walk_forward import WalkForwardSettings, run_walk_forward
from metasignal.data.clock import Clock
from metasignal.data.generate import generate_store
from metasignal.data.markets import data_known_at
from metasignal.data.store import Store
from metasignal.data.synthetic import SyntheticConfig
from metasignal.examples import start_example_models
from metasignal.portfolio.settings import PortfolioSettings
from metasignal.reports.backtest import write_report
from metasignal.reports.tournament import (
    cumulative_payout_figure,
    leaderboard_html,
    score_distribution_figure,
    stake_figure,
)
from metasignal.signals import stakes
from metasignal.signals.round_calendar import RoundCalendar
from metasignal.tournament import FUND_JOB_KEY, advance

FIRST_ROUND_DAY = 260  # momentum needs a year of history


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo market and where it writes."""

    out: Path = Path("demo")
    market: SyntheticConfig = SyntheticConfig(n_tickers=2000, years=4.0, seed=42)
    portfolio: PortfolioSettings = PortfolioSettings()
    backtest: WalkForwardSettings = WalkForwardSettings(rebalance="weekly", lag=1)
    fund_job: bool = False  # run the fund's job at every deadline of the replay too


@dataclass
class DemoResult:
    leaderboard: pd.DataFrame
    metrics: dict[str, float]
    report: Path
    timings: dict[str, float] = field(default_factory=dict)
    rounds_resolved: int = 0  # rounds resolved during the replay
    rounds_opened: int = 0  # rounds the example models uploaded to (the first one included)


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
        store.set_clock(Clock("live"))  # generation writes and derives every day
        generate_store(store, config.market)
        lap("generate")
        days = store.stored_days()
        calendar = RoundCalendar.of(store)
        dates = calendar.data_dates(days)
        first = calendar.round_of(dates[dates >= days[min(FIRST_ROUND_DAY, len(days) - 1)]][0])
        store.set_clock(Clock("replay", first.opens))
        if config.fund_job:
            store.set_meta(FUND_JOB_KEY, "on")
        start_example_models(store)
        lap("examples")
        end = data_known_at(days[-1])  # every stored day revealed
        say(f"replaying the tournament from {first.opens:%Y-%m-%d %H:%M} UTC to {end:%Y-%m-%d %H:%M} UTC")
        with bar(len(clock_events(store, end)), "replaying rounds") as tick:
            replay = advance(store, end, progress=tick)
        lap("replay")
        with bar(len(dates[dates >= first.data_date]), "walk-forward backtest") as tick:
            fund = run_walk_forward(store, first.data_date, days[-1], config.portfolio, config.backtest, progress=tick)
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
        benchmark=equal_weight_market(fund.returns),
    )
    lap("report")
    metrics = fund.simulation.metrics()  # and the Sharpe's HAC standard error, interval, PSR
    metrics.update(sharpe_uncertainty(fund.simulation.net_returns, fund.simulation.periods_per_year))
    return DemoResult(board, metrics, report, timings,
                      rounds_resolved=len(replay.resolved), rounds_opened=1 + len(replay.opened))

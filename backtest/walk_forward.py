"""Walk-forward backtest: at each rebalance date, only data known then -> weights -> simulation.

For each rebalance date ``t`` on the schedule:

1. the signal known at ``t`` (by default the stored submissions' meta-signal of the latest
   round on or before ``t``, with the stakes of that round);
2. ``alpha = ic * sigma * sqrt(H) * z`` over the universe of ``t`` (names without a view get
   the median signal);
3. the risk model of ``t`` from the factor-return history up to ``t``;
4. the optimizer (built once over every name of the backtest) against the previous target
   drifted with the returns up to ``t``;

then :func:`backtest.simulate.simulate` trades the targets with the execution lag and the
same cost models. Market panels are read once; each date reads rows ``<= t`` only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from backtest.simulate import SimulationResult, simulate
from data.errors import DataValidationError, StoreError
from data.schema import STYLE_FACTORS
from data.store import Store
from portfolio.optimizer import PortfolioInputs, alpha_from_signal
from portfolio.risk_history import factor_return_history
from portfolio.risk_model import factor_exposure_matrix
from portfolio.settings import PortfolioSettings, build_optimizer
from signals.meta_signal import meta_signal

SignalSource = Callable[[pd.Timestamp], pd.Series]
SCHEDULES = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class WalkForwardSettings:
    """Schedule and simulation settings (portfolio settings are separate).

    rebalance: "daily", "weekly" (last trading day of each week) or "monthly"; lag: trading
    days between decision and execution (see :func:`backtest.simulate.simulate`).
    """

    rebalance: str = "weekly"
    lag: int = 1

    @classmethod
    def from_mapping(cls, values: dict) -> "WalkForwardSettings":
        unknown = sorted(set(values) - {"rebalance", "lag"})
        if unknown:
            raise DataValidationError(f"unknown backtest setting(s) {', '.join(unknown)}: known are lag, rebalance")
        return cls(**values)


@dataclass
class WalkForwardResult:
    """Targets per rebalance date, the simulation, and per-date optimizer diagnostics."""

    targets: pd.DataFrame  # rebalance date x ticker, fractions of capital
    simulation: SimulationResult
    solves: pd.DataFrame  # per rebalance date: status, fallback, seconds, gross, net, turnover, risk
    groups: pd.DataFrame  # ticker -> country, sector
    timings: dict[str, float] = field(default_factory=dict)


def rebalance_dates(days: pd.DatetimeIndex, schedule: str | pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Rebalance dates among trading ``days``: a named schedule or explicit dates."""
    if not isinstance(schedule, str):
        chosen = pd.DatetimeIndex(schedule)
        missing = chosen.difference(days)
        if len(missing):
            raise DataValidationError(f"rebalance date {missing[0].date()} is not a trading day")
        return chosen
    if schedule not in SCHEDULES:
        raise DataValidationError(f"unknown rebalance schedule {schedule!r}: choose from {', '.join(SCHEDULES)} or give dates")
    if schedule == "daily":
        return days
    period = days.to_period("W-FRI" if schedule == "weekly" else "M")
    last = pd.Series(days, index=days).groupby(period).max()
    return pd.DatetimeIndex(last.to_numpy(), name="date")


class MarketPanels:
    """The store's daily panels for a backtest window (read once)."""

    def __init__(self, store: Store, start: pd.Timestamp, end: pd.Timestamp, lookback: int):
        days = store.trading_days(end=end)
        first = days[max(0, int(days.searchsorted(start)) - lookback - 1)]
        self.returns = store.returns(first, end)
        tickers = self.returns.columns
        read = lambda field: store.panel(field, first, end).reindex(index=self.returns.index, columns=tickers)  # noqa: E731
        self.universe = read("in_universe").fillna(False).astype(bool)
        self.styles = {name: read(name) for name in STYLE_FACTORS}
        self.sigma = read("sigma")
        self.adv = read("adv_20d")
        self.dollar_volume = read("dollar_volume")
        self.market_cap = read("market_cap")
        self.securities = store.securities().reindex(tickers)

    def exposures(self, date: pd.Timestamp) -> pd.DataFrame:
        """The universe of ``date`` with country, sector, styles, sigma and ADV."""
        inside = self.universe.loc[date]
        names = inside.index[inside.to_numpy()]
        frame = self.securities.loc[names, ["country", "sector"]].copy()
        for name, wide in self.styles.items():
            frame[name] = wide.loc[date, names].fillna(0.0).to_numpy()
        frame["sigma"] = self.sigma.loc[date, names].to_numpy()
        frame["adv_20d"] = self.adv.loc[date, names].to_numpy()
        return frame


def submissions_signal(store: Store, settings: PortfolioSettings) -> SignalSource:
    """Signal source: the meta-signal of the stored submissions known at each date."""
    return lambda date: meta_signal(store, date, method=settings.meta_method, min_stake=settings.min_stake)


def _drift(weights: pd.Series, growth: pd.Series) -> pd.Series:
    """Weights after each name grew by ``growth`` (1 + cumulative return) and equity moved accordingly."""
    grown = weights * growth.reindex(weights.index).fillna(1.0)
    equity = 1.0 + float((grown - weights).sum())
    return grown / equity


def run_walk_forward(
    store: Store, start, end, portfolio: PortfolioSettings = PortfolioSettings(),
    settings: WalkForwardSettings = WalkForwardSettings(), *, signal: SignalSource | None = None,
    progress: Callable[[int], None] | None = None,
) -> WalkForwardResult:
    """Run the walk-forward backtest over ``[start, end]`` (see the module docstring)."""
    clock = {"started": time.perf_counter()}
    days = store.trading_days(start, end)
    if len(days) < 2:
        raise StoreError(f"the store has fewer than 2 trading days between {start} and {end}")
    dates = rebalance_dates(days, settings.rebalance)
    panels = MarketPanels(store, days[0], days[-1], portfolio.risk_lookback)
    signal = signal or submissions_signal(store, portfolio)
    securities = panels.securities
    group_labels = {"country": sorted(securities["country"].dropna().unique()),
                    "sector": sorted(securities["sector"].dropna().unique())}
    groups = factor_exposure_matrix(securities[["country", "sector"]], groups=group_labels, styles=())
    history = factor_return_history(panels.returns, groups, panels.styles, panels.universe,
                                    np.sqrt(panels.market_cap.clip(lower=0.0)))
    clock["history"] = time.perf_counter() - clock["started"]
    traded = panels.universe.loc[dates].any(axis=0)
    tickers = traded.index[traded.to_numpy()]
    optimizer = build_optimizer(tickers, securities, portfolio)
    growth = (1.0 + panels.returns.fillna(0.0)).cumprod()
    targets, rows = {}, []
    previous = pd.Series(0.0, index=tickers)
    previous_date = None
    risk_config = portfolio.risk_config()
    solve_time = 0.0
    for date in dates:
        exposures = panels.exposures(date)
        view = signal(date).reindex(exposures.index)
        if view.notna().sum() < 2:
            raise StoreError(f"no usable signal for {date.date()}")
        view = view.fillna(view.median())
        alpha = alpha_from_signal(view, exposures["sigma"], ic=portfolio.ic, horizon_days=portfolio.horizon_days)
        latest = factor_exposure_matrix(exposures, groups=group_labels, styles=STYLE_FACTORS)
        risk = history.risk_model(date, latest, risk_config)
        if previous_date is not None:  # the previous target, drifted to today's close
            previous = _drift(previous, growth.loc[date] / growth.loc[previous_date])
        began = time.perf_counter()
        result = optimizer.solve(PortfolioInputs(alpha=alpha, risk_model=risk, prev_weights=previous,
                                                 dollar_volume=exposures["adv_20d"], volatility=exposures["sigma"]))
        solve_time += time.perf_counter() - began
        report = result.report
        rows.append({"date": date, "status": result.status, "fallback": result.fallback, "seconds": result.solve_seconds,
                     "gross": report.gross, "net": report.net, "turnover": report.turnover,
                     "predicted_volatility": report.predicted_volatility})
        targets[date] = result.weights
        previous, previous_date = result.weights.reindex(tickers).fillna(0.0), date
        if progress:
            progress(1)
    clock["rebalances"] = time.perf_counter() - clock["started"] - clock["history"]
    clock["solver"] = solve_time
    target_frame = pd.DataFrame(targets).T.reindex(columns=tickers).fillna(0.0)
    target_frame.index = pd.DatetimeIndex(target_frame.index, name="date")
    returns = panels.returns.loc[dates[0]:, tickers]
    began = time.perf_counter()
    simulation = simulate(
        target_frame, returns, lag=settings.lag, costs=portfolio.transaction_costs(), borrow=portfolio.borrow_costs(),
        volume=panels.dollar_volume.loc[dates[0]:, tickers], volatility=panels.sigma.loc[dates[0]:, tickers],
    )
    clock["simulation"] = time.perf_counter() - began
    clock["total"] = time.perf_counter() - clock["started"]
    del clock["started"]
    return WalkForwardResult(target_frame, simulation, pd.DataFrame(rows).set_index("date"),
                             securities.loc[tickers, ["country", "sector"]], clock)

"""Walk-forward backtest: at each rebalance date, only data known then -> weights -> simulation.

For each rebalance date ``t`` on the schedule:

1. the signal known at ``t`` (by default the stored submissions' meta-signal of the latest
   round on or before ``t``, with the stakes of that round; or any :data:`SignalSource`, e.g.
   :func:`signal_history` of a multi-date signal file);
2. ``alpha = ic * sigma * sqrt(H) * z`` over the universe of ``t`` (names without a view get
   the median signal);
3. the risk model of ``t`` from the factor-return history up to ``t``
   (:mod:`metasignal.portfolio.risk_history`: each day's regression is run once, each date's model reads
   rows ``<= t`` only);
4. the optimizer (built once over every classified security of the store, with the per-name
   cap made reachable, :class:`ReachableMaxWeight`) against the book expected at ``t``: the
   previous target as executed (``lag`` days after its decision) and drifted with the returns
   up to ``t``, names that stopped trading closed (as the simulation does);

then :func:`metasignal.backtest.simulate` trades the targets with the execution lag and the
same cost models (spread, impact, borrow) as the optimizer. Rebalance dates whose trade would
fall after ``end`` (with the largest lag) are skipped.

Per-name lags. ``WalkForwardSettings.lag`` may be a Series ticker -> trading days (names
trade at the first close of their own market): it must cover every classified security, and
the simulation trades each name with its own lag. The book of step 4 is then the zero-cost
simulation's book at the close of ``t``, carried day by day: each name holds a decision's
target from its own execution row on (drifted after), and until then what it held before
(a name whose trade is still pending at ``t`` counts with its current holding). With one int
lag, a target still pending at ``t`` counts as held as it is (it will be by the time the new
decision trades); a Series with a single value over those securities is that int lag. :func:`save_walk_forward` writes the data outputs (the HTML
report is drawn by ``metasignal.reports.walk_forward``); :func:`vectorbt_difference` replays
the targets through vectorbt.

Logging (``logging.getLogger(__name__)``): skipped rebalance dates and each rebalance's solve
at debug level; optimizer fallbacks (turnover limit lifted) and the run's timings at info.

Point in time. Market fields are read once into arrays on a fixed (day x ticker) grid whose
ticker list is every security of the store, so nothing about the future (not even which
names trade later) shapes the computation for ``t``. Perturbing any data after ``t`` leaves
every target decided at or before ``t`` and every simulated return up to ``t`` bit-identical
(tested).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from metasignal.backtest._simulate import EXECUTION_LAG, SimulationResult, _lag_series, describe_lag, simulate
from metasignal.backtest.outputs import write_outputs
from metasignal.data import atomic_write
from metasignal.data.blas import limits_blas_threads
from metasignal.data.calendar import DateLike
from metasignal.data.regression_weights import risk_regression_weights
from metasignal.data.schema import STYLE_FACTORS
from metasignal.data.store import Store
from metasignal.errors import (
    BankruptcyError,
    ConfigurationError,
    DataValidationError,
    FallbackWarning,
    MetasignalError,
    RebalanceError,
    StoreError,
)
from metasignal.portfolio.constraints import ReachableMaxWeight
from metasignal.portfolio.optimizer import (
    PortfolioInputs,
    PortfolioOptimizer,
    PortfolioResult,
    alpha_from_signal,
)
from metasignal.portfolio.risk_history import FactorReturnHistory, factor_return_history
from metasignal.portfolio.risk_model import factor_exposure_matrix
from metasignal.portfolio.settings import PortfolioSettings
from metasignal.signals import KnownMetaSignals, RoundCalendar, latest_round, meta_signal

__all__ = [
    "MarketPanels", "RebalanceError", "REBALANCE_SCHEDULES", "SignalSource",
    "WalkForwardResult", "WalkForwardSettings", "backtest_days", "build_walk_forward_optimizer", "calendar_lagged",
    "rebalance_dates", "run_walk_forward", "save_walk_forward", "signal_history", "submissions_signal",
    "vectorbt_difference",
]

SignalSource = Callable[[pd.Timestamp], pd.Series]
REBALANCE_SCHEDULES = ("daily", "weekly", "monthly")
GROUPS = ("country", "sector")
_FLOAT_FIELDS = ("ret", *STYLE_FACTORS, "sigma", "adv_20d", "dollar_volume", "market_cap")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WalkForwardSettings:
    """Schedule and simulation settings (portfolio settings are separate).

    rebalance: "daily", "weekly" (last trading day of each week), "monthly" (last trading day
    of each month), or explicit trading days; lag: trading days between a decision (after the
    close of ``t``) and its execution (at a close), see :func:`metasignal.backtest.simulate`:
    one int, or a Series ticker -> whole number of days (per-name lags, kept as an int64
    copy; Python only, the TOML table takes an int).
    """

    rebalance: str | tuple[pd.Timestamp, ...] = "weekly"
    lag: int | pd.Series = EXECUTION_LAG

    def __post_init__(self) -> None:
        if isinstance(self.rebalance, str):
            if self.rebalance not in REBALANCE_SCHEDULES:
                raise ConfigurationError(
                    f"unknown rebalance schedule {self.rebalance!r}: choose from {', '.join(REBALANCE_SCHEDULES)}"
                )
        else:
            object.__setattr__(self, "rebalance", tuple(pd.DatetimeIndex(self.rebalance)))
        if isinstance(self.lag, pd.Series):
            try:
                lag = _lag_series(self.lag)
            except DataValidationError as error:
                raise ConfigurationError(f"backtest lag: {error}") from error
            if lag.empty:
                raise ConfigurationError("backtest lag: the lag Series is empty")
            object.__setattr__(self, "lag", lag)
        elif isinstance(self.lag, bool) or not isinstance(self.lag, (int, np.integer)) or self.lag < 0:
            raise ConfigurationError(
                f"backtest lag must be a whole number of trading days >= 0 (or a Series ticker -> days), "
                f"got {self.lag!r}")

    def _key(self) -> tuple:
        lag = ("per-name", tuple(self.lag.sort_index().items())) if isinstance(self.lag, pd.Series) else self.lag
        return self.rebalance, lag

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WalkForwardSettings):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @classmethod
    def from_mapping(cls, values: dict) -> "WalkForwardSettings":
        """Settings from a mapping (e.g. the ``[backtest]`` TOML table); unknown keys are an error.
        The lag here is one int (per-name lags are given in Python)."""
        unknown = sorted(set(values) - {"rebalance", "lag"})
        if unknown:
            raise ConfigurationError(
                f"unknown backtest setting(s) {', '.join(unknown)}: known are lag, rebalance")
        if isinstance(values.get("lag"), pd.Series):
            raise ConfigurationError("the [backtest] lag is one whole number of trading days; "
                                     "give per-name lags as WalkForwardSettings(lag=Series)")
        return cls(**values)


@dataclass
class WalkForwardResult:
    """Targets per rebalance date, the simulation, and per-date optimizer diagnostics.

    targets: rebalance (decision) date x ticker, fractions of capital (every ticker the
        optimizer could hold, 0 where not held).
    simulation: the daily simulation of those targets with costs.
    solves: per rebalance date: status, fallback, seconds (whole solve), solver_seconds
        (the solver alone), iterations, universe (names), over_cap (names held above the cap
        that liquidity kept from trading back under it, see :class:`ReachableMaxWeight`),
        gross, net, turnover, predicted_volatility (annual), n_long, n_short,
        max_abs_country_net, max_abs_sector_net.
    groups: ticker -> country, sector.
    returns: the daily returns the simulation used (date x ticker).
    timings: seconds per phase: history (panels + factor regressions), rebalances (the loop
        over the rebalance dates, signal reads included), within it signal (the known signals
        over each universe), risk (the risk models) and solver (the optimizer's ``solve``
        calls), then simulation and total.
    """

    targets: pd.DataFrame
    simulation: SimulationResult
    solves: pd.DataFrame
    groups: pd.DataFrame
    returns: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


def rebalance_dates(days: pd.DatetimeIndex, schedule: str | Sequence) -> pd.DatetimeIndex:
    """Rebalance dates among trading ``days``: a named schedule or explicit dates."""
    if not isinstance(schedule, str):
        chosen = pd.DatetimeIndex(schedule, name="date")
        missing = chosen.difference(days)
        if len(missing):
            raise DataValidationError(
                f"rebalance date {missing[0].date()} is not a trading day of the backtest")
        return chosen.sort_values()
    if schedule not in REBALANCE_SCHEDULES:
        raise ConfigurationError(
            f"unknown rebalance schedule {schedule!r}: choose from {', '.join(REBALANCE_SCHEDULES)} or give dates")
    if schedule == "daily":
        return pd.DatetimeIndex(days, name="date")
    period = days.to_period("W-FRI" if schedule == "weekly" else "M")
    last = pd.Series(days, index=days).groupby(period).max()
    return pd.DatetimeIndex(last.to_numpy(), name="date")


class MarketPanels:
    """The store's daily fields over a backtest window, read once into (day x ticker) arrays.

    ``days``: trading days from ``lookback + 1`` days before ``start`` to ``end``; ``tickers``:
    every security of the store (sorted). Arrays: ``returns``, ``sigma`` (daily volatility),
    ``adv`` (20-day dollar ADV), ``dollar_volume``, ``market_cap`` (dollars), ``styles``
    (day x ticker x style z-scores) are float with NaN where unknown; ``universe`` is bool and
    leaves out securities without a country or sector (``classified``), which cannot be
    neutralized. ``group_one_hot`` (ticker x "<group>:<label>") is static.
    """

    def __init__(self, store: Store, start, end, lookback: int):
        calendar = store.trading_days(end=end)
        first = calendar[max(0, int(calendar.searchsorted(pd.Timestamp(start))) - lookback - 1)]
        self.days = store.trading_days(first, end)
        self.securities = store.securities()
        self.securities.index = pd.Index(self.securities.index.astype(str), name="ticker")
        self.tickers = self.securities.index
        fields = store.daily_arrays((*_FLOAT_FIELDS, "in_universe"), self.days, self.tickers)
        universe = fields["in_universe"]
        self.returns = fields["ret"]
        self.sigma = fields["sigma"]
        self.adv = fields["adv_20d"]
        self.dollar_volume = fields["dollar_volume"]
        self.market_cap = fields["market_cap"]
        self.styles = np.stack([fields[name] for name in STYLE_FACTORS], axis=-1)
        self.group_labels = {
            group: sorted(self.securities[group].dropna().astype(str).unique()) for group in GROUPS
        }
        self.classified = self.securities[list(GROUPS)].notna().all(axis=1).to_numpy()
        self.group_one_hot = factor_exposure_matrix(
            self.securities.loc[self.classified, list(GROUPS)], groups=self.group_labels, styles=()
        ).reindex(self.tickers, fill_value=0.0)
        self._one_hot = self.group_one_hot.to_numpy()
        self.universe = universe & self.classified
        self.factors = pd.Index([*self.group_one_hot.columns, *STYLE_FACTORS], name="factor")
        self._exposure_columns = pd.Index([*self.factors, "sigma", "adv_20d"])

    def frame(self, values: np.ndarray) -> pd.DataFrame:
        """A (day x ticker) array as a frame."""
        return pd.DataFrame(values, index=self.days, columns=self.tickers)

    def row(self, date: pd.Timestamp) -> int:
        return int(self.days.get_loc(date))

    def exposures(self, date: pd.Timestamp) -> pd.DataFrame:
        """The universe of ``date``: ticker x (group one-hots, styles), then ``sigma`` and ``adv_20d``."""
        row = self.row(date)
        return self._exposures(row, np.flatnonzero(self.universe[row]))

    def _exposures(self, row: int, names: np.ndarray) -> pd.DataFrame:
        """:meth:`exposures` of day ``row`` whose universe is the positions ``names`` in ``tickers``."""
        values = np.hstack([
            self._one_hot[names], np.nan_to_num(self.styles[row, names], nan=0.0),
            self.sigma[row, names, None], self.adv[row, names, None],
        ])
        return pd.DataFrame(values, index=self.tickers[names], columns=self._exposure_columns)


def build_walk_forward_optimizer(tickers: pd.Index, group_one_hot: pd.DataFrame, portfolio: PortfolioSettings
                                 ) -> tuple[PortfolioOptimizer, ReachableMaxWeight]:
    """The settings' optimizer over ``tickers``, and its reachable cap (for the ``over_cap`` diagnostic)."""
    constraints = portfolio.constraints()
    cap = next(c for c in constraints if isinstance(c, ReachableMaxWeight))
    optimizer = PortfolioOptimizer(tickers, constraints, groups=group_one_hot.loc[tickers],
                                   styles=STYLE_FACTORS, config=portfolio.optimizer_config())
    return optimizer, cap


def submissions_signal(store: Store, settings: PortfolioSettings) -> SignalSource:
    """Signal source: the meta-signal of the stored submissions known at each date.

    The signal known at ``t`` is the meta-signal of the latest round on or before ``t`` (with
    that round's stakes), so it is computed once per round and reused until the next one
    (daily rebalancing over weekly rounds).
    """
    cache: dict[pd.Timestamp, pd.Series] = {}

    def known(date: pd.Timestamp) -> pd.Series:
        round_date = latest_round(store, date)
        if round_date not in cache:
            cache.clear()
            cache[round_date] = meta_signal(store, round_date, method=settings.meta_method,
                                            min_stake=settings.min_stake)
        return cache[round_date]

    return known


def signal_history(frame: pd.DataFrame) -> SignalSource:
    """Signal source from a long frame (columns ``date``, ``ticker``, ``signal``): at ``t``, the
    rows of the frame's latest date on or before ``t`` (e.g. a validated multi-date signal file)."""
    missing = {"date", "ticker", "signal"} - set(frame.columns)
    if missing:
        raise DataValidationError(
            f"a signal history needs columns date, ticker, signal; missing {', '.join(sorted(missing))}")
    if frame.empty:
        raise DataValidationError("the signal history is empty")
    dated = frame.assign(date=pd.to_datetime(frame["date"]), ticker=frame["ticker"].astype(str))
    by_date = {
        day: pd.Series(rows["signal"].to_numpy(dtype=float), index=pd.Index(rows["ticker"], name="ticker"),
                       name="signal")
        for day, rows in dated.groupby("date", sort=True)
    }
    dates = pd.DatetimeIndex(list(by_date))

    def known(date: pd.Timestamp) -> pd.Series:
        position = int(dates.searchsorted(pd.Timestamp(date), side="right")) - 1
        if position < 0:
            raise StoreError(f"the signal file has no date on or before {pd.Timestamp(date).date()} "
                             f"(its first date is {dates[0].date()})")
        return by_date[dates[position]]

    return known


class _Book:
    """The previous target as the simulation holds it with one int ``lag``: ``weights`` bought
    at the close of day ``executed`` (a row of the panels, the decision's row + ``lag``), then
    carried day by day with zero costs. Nothing is held before the first decision."""

    def __init__(self, n_names: int, lag: int):
        self.n_names, self.lag = n_names, lag
        self.weights: np.ndarray | None = None
        self.executed = -1

    def decided(self, target: np.ndarray, row: int) -> None:
        """Record the target (n,) decided at the close of day ``row``."""
        self.weights, self.executed = target, row + self.lag

    def at(self, row: int, returns: np.ndarray, date: pd.Timestamp) -> np.ndarray:
        """Weights at the close of day ``row``: positions grow with their returns, a name without
        a return is closed at its last price (its value moves to cash), as in ``simulate``.
        A target not executed yet (``executed >= row``) is returned as it is."""
        if self.weights is None:
            return np.zeros(self.n_names)
        held = self.weights.copy()
        cash = 1.0 - held.sum()
        for day in range(self.executed + 1, row + 1):
            trading = ~np.isnan(returns[day])
            stopped = ~trading & (held != 0.0)
            cash += held[stopped].sum()
            held[stopped] = 0.0
            held[trading] *= 1.0 + returns[day, trading]
        equity = cash + held.sum()
        if not equity > 0:
            raise BankruptcyError(
                f"the backtest book lost all its equity by {date.date()}; returns are undefined")
        return held / equity


class _NameBook:
    """The zero-cost simulation's book with per-name ``lags`` (n,), carried day by day: dollars
    per name ``held`` and ``cash`` (equity 1 at the first decision). A decided target moves
    each name to ``target * equity`` at the close of its own execution row (decision row + its
    lag) if it trades that day; until then the name keeps what it held; the later decision wins
    when two execute a name on the same day. ``pending``: (target, execution rows) not done."""

    def __init__(self, lags: np.ndarray):
        self.lags = lags
        self.held = np.zeros(len(lags))
        self.cash = 1.0
        self.row: int | None = None  # the day the book stands at (close)
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []

    def decided(self, target: np.ndarray, row: int) -> None:
        """Record the target (n,) decided at the close of day ``row``."""
        self.pending.append((target, row + self.lags))

    def at(self, row: int, returns: np.ndarray, date: pd.Timestamp) -> np.ndarray:
        """Weights (fractions of equity) at the close of day ``row`` (>= the last call's row)."""
        start = row if self.row is None else self.row
        for day in range(start + 1, row + 1):
            self._close(day, returns[day])
        self.row = row
        equity = self.cash + self.held.sum()
        if not equity > 0:
            raise BankruptcyError(
                f"the backtest book lost all its equity by {date.date()}; returns are undefined")
        return self.held / equity

    def _close(self, day: int, day_returns: np.ndarray) -> None:
        """One day as in ``simulate`` with zero costs: drift, close names without a return, then
        the names executing at this close trade to their targets."""
        trading = ~np.isnan(day_returns)
        stopped = ~trading & (self.held != 0.0)
        self.cash += self.held[stopped].sum()
        self.held[stopped] = 0.0
        self.held[trading] *= 1.0 + day_returns[trading]
        if not self.pending:
            return
        equity = self.cash + self.held.sum()  # zero-cost trades leave it unchanged
        for target, execution in self.pending:  # in decision order: the later one wins
            now = (execution == day) & trading
            bought = target[now] * equity
            self.cash -= (bought - self.held[now]).sum()
            self.held[now] = bought
        self.pending = [(target, execution) for target, execution in self.pending if execution.max() > day]


def _largest_lag(lag: int | pd.Series) -> int:
    return int(lag.max()) if isinstance(lag, pd.Series) else int(lag)


def _grid_lags(lag: int | pd.Series, tickers: pd.Index) -> int | np.ndarray:
    """The lag of the securities the backtest can hold (``tickers``): the int, or (n,) int64 for
    a Series, which must cover every one of them; a Series with a single value there is that int."""
    if not isinstance(lag, pd.Series):
        return int(lag)
    missing = tickers.difference(lag.index)
    if len(missing):
        raise DataValidationError(
            f"the lag Series has no lag for ticker {missing[0]!r}, a security the backtest can hold "
            f"({len(missing)} such ticker(s))")
    lags = lag.reindex(tickers).to_numpy(dtype=np.int64)
    return int(lags[0]) if len(lags) and (lags == lags[0]).all() else lags


def _day(value, name: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError):
        day = pd.NaT
    if pd.isna(day):
        raise DataValidationError(f"{name} {value!r} is not a date (use YYYY-MM-DD)")
    return day.normalize()


def backtest_days(store: Store, start, end, settings: WalkForwardSettings = WalkForwardSettings()
                  ) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """(trading days in ``[start, end]``, rebalance dates among them that trade by ``end`` after
    the lag, the largest one for per-name lags); one-line errors for dates that do not parse,
    ``start`` after ``end`` or fewer than 2 trading days."""
    start, end = _day(start, "start"), _day(end, "end")
    if start > end:
        raise DataValidationError(f"the backtest start {start.date()} is after its end {end.date()}")
    days = store.trading_days(start, end)
    if len(days) < 2:
        raise StoreError(f"the store has {len(days)} trading day(s) between {start.date()} and {end.date()}; "
                         "a backtest needs at least 2")
    scheduled = rebalance_dates(days, settings.rebalance)
    # decisions that trade every name by ``end``
    trades_in_time = days.get_indexer(scheduled) + _largest_lag(settings.lag) < len(days)
    dates = scheduled[trades_in_time]
    if not trades_in_time.all():
        late = scheduled[~trades_in_time]
        logger.debug("skipping %d rebalance date(s) that would trade after %s with lag %s: %s",
                     len(late), end.date(), describe_lag(settings.lag), ", ".join(str(d.date()) for d in late))
    if len(dates) == 0:
        raise StoreError(f"no rebalance date between {start.date()} and {end.date()} trades by the end "
                         f"with lag {describe_lag(settings.lag)}")
    return days, dates


@limits_blas_threads
def run_walk_forward(
    store: Store, start: DateLike, end: DateLike, portfolio: PortfolioSettings = PortfolioSettings(),
    settings: WalkForwardSettings = WalkForwardSettings(), *, signal: SignalSource | None = None,
    progress: Callable[[int], None] | None = None,
) -> WalkForwardResult:
    """Run the walk-forward backtest over the trading days in ``[start, end]`` (module docstring).

    signal: ``date -> Series ticker -> signal`` known at that date (default: the stored
    submissions' meta-signal, :func:`submissions_signal`). progress: called with 1 after each
    rebalance. Raises one-line ``MetasignalError``s: ``DataValidationError``/``StoreError`` for a
    bad window or a missing signal, ``RebalanceError`` naming the date when a rebalance fails.
    Optimizer fallbacks are not warned about: ``solves["fallback"]`` records them.
    """
    started = time.perf_counter()
    if signal is None:  # the stored submissions: never traded before their round's deadline
        settings = calendar_lagged(store, start, end, settings)
    days, dates = backtest_days(store, start, end, settings)
    panels = MarketPanels(store, days[0], days[-1], portfolio.risk_lookback)
    lags = _grid_lags(settings.lag, panels.tickers[panels.classified])
    history = _factor_history(panels)
    history_seconds = time.perf_counter() - started
    if signal is None:  # every round's inputs read in bulk: the numbers of submissions_signal
        views = _MetaSignalViews(KnownMetaSignals(store, dates, method=portfolio.meta_method,
                                                  min_stake=portfolio.min_stake), panels.tickers)
    else:
        views = _SourceViews(signal, panels.tickers)
    rebalancer = _Rebalancer(panels, history, views, portfolio)
    targets, solves = rebalancer.run(dates, lags, progress)
    rebalance_seconds = time.perf_counter() - started - history_seconds

    began = time.perf_counter()
    simulation, returns = _simulate_targets(panels, targets, portfolio, settings.lag)
    timings = {
        "history": history_seconds, "rebalances": rebalance_seconds, "signal": rebalancer.signal_seconds,
        "risk": rebalancer.risk_seconds, "solver": rebalancer.solve_seconds,
        "simulation": time.perf_counter() - began, "total": time.perf_counter() - started,
    }
    logger.info("walk-forward: %d rebalances over %d trading days in %.2f s (solver %.2f s; history %.2f s, "
                "simulation %.2f s)", len(dates), len(days), timings["total"], timings["solver"],
                timings["history"], timings["simulation"])
    groups = panels.securities.loc[targets.columns, list(GROUPS)]
    return WalkForwardResult(targets, simulation, solves, groups, returns, timings)


def calendar_lagged(store: Store, start: DateLike, end: DateLike,
                    settings: WalkForwardSettings = WalkForwardSettings()) -> WalkForwardSettings:
    """``settings`` with each name's lag raised to the round calendar's execution lag over the
    trading days in ``[start, end]`` (:meth:`metasignal.signals.RoundCalendar.execution_lags`),
    so a round's signal trades no name before the first close after its deadline. A lag equal
    for every name stays an int."""
    securities = store.securities()
    countries = securities["country"].astype(object)
    calendar_lags = RoundCalendar.of(store).execution_lags(countries, store.trading_days(_day(start, "start"),
                                                                                        _day(end, "end")))
    if isinstance(settings.lag, pd.Series):  # names the given lags leave out stay out (an error downstream)
        lags = np.maximum(calendar_lags.reindex(settings.lag.index).fillna(0), settings.lag).astype(np.int64)
    else:
        lags = np.maximum(calendar_lags, settings.lag).astype(np.int64)
    lag = int(lags.iloc[0]) if len(lags) and (lags == lags.iloc[0]).all() else lags.rename("lag")
    if isinstance(lag, pd.Series) or isinstance(settings.lag, pd.Series) or lag != settings.lag:
        logger.info("execution lag from the %s round calendar: %s", RoundCalendar.of(store).schedule, describe_lag(lag))
    return replace(settings, lag=lag)


def _factor_history(panels: MarketPanels) -> FactorReturnHistory:
    """The daily factor-return regressions over the panels, run once (each date's risk model
    reads the rows up to that date)."""
    frame = panels.frame
    return factor_return_history(
        frame(panels.returns), panels.group_one_hot,
        {name: frame(panels.styles[:, :, j]) for j, name in enumerate(STYLE_FACTORS)},
        frame(panels.universe), frame(risk_regression_weights(panels.market_cap, panels.adv)),
    )


class _SourceViews:
    """The views of a :data:`SignalSource` over a universe: ``(date, names) -> (m,)`` floats,
    NaN where the source has no view (``names``: positions in the panels' ``tickers``)."""

    def __init__(self, signal: SignalSource, tickers: pd.Index):
        self.signal, self.tickers = signal, tickers

    def __call__(self, date: pd.Timestamp, names: np.ndarray) -> np.ndarray:
        return self.signal(date).reindex(self.tickers[names]).to_numpy(dtype=float)


class _MetaSignalViews:
    """The stored submissions' meta-signal known at each date (:class:`KnownMetaSignals`, read
    in bulk) over a universe, as :class:`_SourceViews` gives it for :func:`submissions_signal`."""

    def __init__(self, known: KnownMetaSignals, tickers: pd.Index):
        self.known = known
        self.columns = known.tickers.get_indexer(tickers)  # (n,) grid column per ticker, -1: none
        self.padded: tuple[pd.Timestamp, np.ndarray] | None = None

    def __call__(self, date: pd.Timestamp, names: np.ndarray) -> np.ndarray:
        round_date = self.known.round_of(date)
        if self.padded is None or self.padded[0] != round_date:  # a trailing NaN for column -1
            self.padded = round_date, np.append(self.known.values(date), np.nan)
        return self.padded[1][self.columns[names]]


class _Rebalancer:
    """Decides the target of each rebalance date in turn, over every classified security: the
    signal known then -> alpha -> the risk model of that date -> the optimizer, from the book
    the previous target drifted to. ``solve_seconds`` adds up the optimizer calls,
    ``signal_seconds`` the views, ``risk_seconds`` the risk models."""

    def __init__(self, panels: MarketPanels, history: FactorReturnHistory,
                 views: Callable[[pd.Timestamp, np.ndarray], np.ndarray], portfolio: PortfolioSettings):
        self.panels, self.history, self.views, self.portfolio = panels, history, views, portfolio
        self.tickers = panels.tickers[panels.classified]
        self.returns = panels.returns[:, panels.classified]
        self.optimizer, self.cap = build_walk_forward_optimizer(self.tickers, panels.group_one_hot, portfolio)
        self.risk_config = portfolio.risk_config()
        self.solve_seconds = self.signal_seconds = self.risk_seconds = 0.0

    def run(self, dates: pd.DatetimeIndex, lag: int | np.ndarray, progress: Callable[[int], None] | None
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(targets: date x ticker, solves: one row of diagnostics per date), fallbacks not warned.
        lag: one int, or (n,) per-name lags over ``self.tickers``."""
        targets, rows = np.zeros((len(dates), len(self.tickers))), []
        book = _Book(len(self.tickers), lag) if isinstance(lag, int) else _NameBook(lag)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FallbackWarning)
            for i, date in enumerate(dates):
                row = self.panels.row(date)
                names = np.flatnonzero(self.panels.universe[row])
                exposures = self.panels._exposures(row, names)
                began = time.perf_counter()
                view = _filled_view(self.views(date, names), date)
                self.signal_seconds += time.perf_counter() - began
                previous = book.at(row, self.returns, date)
                result = self._solve(date, exposures, view, previous)
                rows.append(_diagnostics(date, result, len(exposures), self.cap.loosened))
                _log_solve(date, result)
                weights = result.weights
                targets[i] = (weights.to_numpy(dtype=float) if weights.index.equals(self.tickers)
                              else weights.reindex(self.tickers).to_numpy(dtype=float))
                book.decided(targets[i], row)
                if progress:
                    progress(1)
        return pd.DataFrame(targets, index=dates, columns=self.tickers), pd.DataFrame(rows).set_index("date")

    def _solve(self, date: pd.Timestamp, exposures: pd.DataFrame, view: np.ndarray,
               previous: np.ndarray) -> PortfolioResult:
        """The optimizer's result for ``date`` (``view``: the signal over the exposures' names);
        any engine error becomes a RebalanceError naming the date."""
        portfolio = self.portfolio
        try:
            alpha = alpha_from_signal(pd.Series(view, index=exposures.index), exposures["sigma"], ic=portfolio.ic,
                                      horizon_days=portfolio.horizon_days)
            began = time.perf_counter()
            risk_model = self.history.risk_model(date, exposures, self.risk_config)
            self.risk_seconds += time.perf_counter() - began
            inputs = PortfolioInputs(
                alpha=alpha, risk_model=risk_model,
                prev_weights=pd.Series(previous, index=self.tickers),
                dollar_volume=exposures["adv_20d"], volatility=exposures["sigma"],
            )
            began = time.perf_counter()
            result = self.optimizer.solve(inputs)
            self.solve_seconds += time.perf_counter() - began
        except MetasignalError as error:
            raise RebalanceError(f"rebalance of {date.date()}: {error}") from error
        return result


def _log_solve(date: pd.Timestamp, result: PortfolioResult) -> None:
    if result.fallback is not None:
        logger.info("rebalance of %s: fallback %s (lifted %s)", date.date(), result.fallback,
                    ", ".join(result.relaxed) or "nothing")
    logger.debug("rebalance of %s: %s in %.3f s (solver %.3f s, %d iterations)", date.date(), result.status,
                 result.solve_seconds, result.solver_seconds, result.iterations)


def _simulate_targets(panels: MarketPanels, targets: pd.DataFrame, portfolio: PortfolioSettings,
                      lag: int | pd.Series) -> tuple[SimulationResult, pd.DataFrame]:
    """Trade ``targets`` from the first rebalance date to the end of the panels with the
    portfolio's cost models; (simulation, the daily returns it used)."""
    classified = panels.classified
    first = panels.row(targets.index[0])

    def wide(values: np.ndarray) -> pd.DataFrame:
        """The classified columns of a (day x ticker) panel, from the first rebalance date on."""
        return pd.DataFrame(values[first:, classified], index=panels.days[first:], columns=targets.columns)

    returns = wide(panels.returns)
    simulation = simulate(
        targets, returns, lag=lag,
        costs=portfolio.transaction_costs(), borrow=portfolio.borrow_costs(),
        volume=wide(panels.dollar_volume), volatility=wide(panels.sigma),
    )
    return simulation, returns


def _filled_view(view: np.ndarray, date: pd.Timestamp) -> np.ndarray:
    """The signal known at ``date`` over a universe (m,), NaN without a view; those names get
    the median of the others."""
    missing = np.isnan(view)
    covered = int(len(view) - missing.sum())
    if covered < 2:
        raise RebalanceError(f"the signal known on {date.date()} covers {covered} of the {len(view)} "
                             "names in the universe; a backtest needs at least 2")
    return np.where(missing, np.median(view[~missing]), view) if missing.any() else view


def _diagnostics(date: pd.Timestamp, result, universe: int, over_cap: int) -> dict:
    """One row of ``WalkForwardResult.solves``."""
    report = result.report
    group_net = {f"max_abs_{group}_net": float(report.group_net[group].abs().max())
                 if len(report.group_net.get(group, ())) else 0.0 for group in GROUPS}
    return {
        "date": date, "status": result.status, "fallback": result.fallback, "seconds": result.solve_seconds,
        "solver_seconds": result.solver_seconds, "iterations": result.iterations, "universe": universe,
        "over_cap": over_cap, "gross": report.gross, "net": report.net, "turnover": report.turnover,
        "predicted_volatility": report.predicted_volatility, "n_long": report.n_long,
        "n_short": report.n_short, **group_net,
        "max_violation": float(result.violations.max()) if len(result.violations) else 0.0,
    }


def vectorbt_difference(result: WalkForwardResult) -> float:
    """Largest |equity difference| between ``simulate`` and vectorbt on the walk-forward's
    targets, both with zero costs and capital 1 (vectorbt models no costs). The replay trades
    whole target rows, so per-name lags (more than one lag value) raise ``DataValidationError``."""
    lag = result.simulation.lag
    if isinstance(lag, pd.Series):
        values = np.unique(lag.to_numpy())
        if len(values) > 1:
            raise DataValidationError(
                "the vectorbt replay trades every name on the same day: it does not support per-name lags "
                f"(this backtest has lags {', '.join(str(v) for v in values)})")
        lag = int(values[0])
    from metasignal.backtest.vectorbt_check import compare_with_vectorbt

    free = simulate(result.targets, result.returns, lag=lag, capital=1.0)
    return compare_with_vectorbt(free, result.returns)


def save_walk_forward(result: WalkForwardResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write a walk-forward's data outputs into ``out_dir``; return name -> path.

    returns.csv, weights.parquet, metrics.json (:func:`metasignal.backtest.outputs.write_outputs`);
    metrics.csv (metric, value); rebalances.csv (``result.solves``). The HTML report is
    ``metasignal.reports.walk_forward.write_walk_forward_report``.
    """
    out = Path(out_dir)
    paths = write_outputs(result.simulation, out)
    metrics = pd.DataFrame(list(result.simulation.metrics().items()), columns=["metric", "value"])
    paths["metrics.csv"] = atomic_write(out / "metrics.csv", lambda tmp: metrics.to_csv(tmp, index=False))
    paths["rebalances.csv"] = atomic_write(out / "rebalances.csv", lambda tmp: result.solves.to_csv(tmp, index=True))
    return paths

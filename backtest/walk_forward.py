"""Walk-forward backtest: at each rebalance date, only data known then -> weights -> simulation.

For each rebalance date ``t`` on the schedule:

1. the signal known at ``t`` (by default the stored submissions' meta-signal of the latest
   round on or before ``t``, with the stakes of that round; or any :data:`SignalSource`, e.g.
   :func:`signal_history` of a multi-date signal file);
2. ``alpha = ic * sigma * sqrt(H) * z`` over the universe of ``t`` (names without a view get
   the median signal);
3. the risk model of ``t`` from the factor-return history up to ``t``
   (:mod:`portfolio.risk_history`: each day's regression is run once, each date's model reads
   rows ``<= t`` only);
4. the optimizer (built once over every classified security of the store, with the per-name
   cap made reachable, :class:`ReachableMaxWeight`) against the book expected at ``t``: the
   previous target as executed (``lag`` days after its decision) and drifted with the returns
   up to ``t``, names that stopped trading closed (as the simulation does);

then :func:`backtest.simulate.simulate` trades the targets with the execution lag and the
same cost models (spread, impact, borrow) as the optimizer. Rebalance dates whose trade would
fall after ``end`` are skipped. :func:`save_walk_forward` writes the outputs and the report;
:func:`vectorbt_difference` replays the targets through vectorbt.

Point in time. Market fields are read once into arrays on a fixed (day x ticker) grid whose
ticker list is every security of the store, so nothing about the future (not even which
names trade later) shapes the computation for ``t``. Perturbing any data after ``t`` leaves
every target decided at or before ``t`` and every simulated return up to ``t`` bit-identical
(tested).
"""

from __future__ import annotations

import html
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from metasignal.backtest.report import net_exposure_by_group, write_outputs, write_report
from metasignal.backtest.simulate import SimulationResult, simulate
from metasignal.data.atomic_write import atomic_write
from metasignal.data.blas import limits_blas_threads
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
from metasignal.portfolio.optimizer import PortfolioInputs, PortfolioOptimizer, alpha_from_signal
from metasignal.portfolio.risk_history import factor_return_history
from metasignal.portfolio.risk_model import factor_exposure_matrix
from metasignal.portfolio.settings import PortfolioSettings
from metasignal.signals.meta_signal import latest_round, meta_signal

__all__ = [
    "MarketPanels", "RebalanceError", "SCHEDULES", "SignalSource",
    "WalkForwardResult", "WalkForwardSettings", "backtest_days", "build_walk_forward_optimizer",
    "rebalance_dates", "run_walk_forward", "save_walk_forward", "signal_history", "submissions_signal",
    "vectorbt_difference",
]

SignalSource = Callable[[pd.Timestamp], pd.Series]
SCHEDULES = ("daily", "weekly", "monthly")
GROUPS = ("country", "sector")
_FLOAT_FIELDS = ("ret", *STYLE_FACTORS, "sigma", "adv_20d", "dollar_volume", "market_cap")



@dataclass(frozen=True)
class WalkForwardSettings:
    """Schedule and simulation settings (portfolio settings are separate).

    rebalance: "daily", "weekly" (last trading day of each week), "monthly" (last trading day
    of each month), or explicit trading days; lag: trading days between a decision (after the
    close of ``t``) and its execution (at a close), see :func:`backtest.simulate.simulate`.
    """

    rebalance: str | tuple[pd.Timestamp, ...] = "weekly"
    lag: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.rebalance, str):
            if self.rebalance not in SCHEDULES:
                raise ConfigurationError(
                    f"unknown rebalance schedule {self.rebalance!r}: choose from {', '.join(SCHEDULES)}"
                )
        else:
            object.__setattr__(self, "rebalance", tuple(pd.DatetimeIndex(self.rebalance)))
        if isinstance(self.lag, bool) or not isinstance(self.lag, (int, np.integer)) or self.lag < 0:
            raise ConfigurationError(
                f"backtest lag must be a whole number of trading days >= 0, got {self.lag!r}")

    @classmethod
    def from_mapping(cls, values: dict) -> "WalkForwardSettings":
        """Settings from a mapping (e.g. the ``[backtest]`` TOML table); unknown keys are an error."""
        unknown = sorted(set(values) - {"rebalance", "lag"})
        if unknown:
            raise ConfigurationError(
                f"unknown backtest setting(s) {', '.join(unknown)}: known are lag, rebalance")
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
    timings: seconds per phase (history, rebalances, solver, simulation, total).
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
    if schedule not in SCHEDULES:
        raise ConfigurationError(
            f"unknown rebalance schedule {schedule!r}: choose from {', '.join(SCHEDULES)} or give dates")
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

    def frame(self, values: np.ndarray) -> pd.DataFrame:
        """A (day x ticker) array as a frame."""
        return pd.DataFrame(values, index=self.days, columns=self.tickers)

    def row(self, date: pd.Timestamp) -> int:
        return int(self.days.get_loc(date))

    def exposures(self, date: pd.Timestamp) -> pd.DataFrame:
        """The universe of ``date``: ticker x (group one-hots, styles), then ``sigma`` and ``adv_20d``."""
        row = self.row(date)
        names = np.flatnonzero(self.universe[row])
        values = np.hstack([
            self._one_hot[names], np.nan_to_num(self.styles[row, names], nan=0.0),
            self.sigma[row, names, None], self.adv[row, names, None],
        ])
        return pd.DataFrame(values, index=self.tickers[names], columns=[*self.factors, "sigma", "adv_20d"])


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
    """The previous target as the simulation holds it: ``weights`` bought at the close of day
    ``executed`` (a row of the panels), then carried day by day with zero costs."""

    def __init__(self, weights: np.ndarray, executed: int):
        self.weights, self.executed = weights, executed

    def at(self, row: int, returns: np.ndarray, date: pd.Timestamp) -> np.ndarray:
        """Weights at the close of day ``row``: positions grow with their returns, a name without
        a return is closed at its last price (its value moves to cash), as in ``simulate``.
        A target not executed yet (``executed >= row``) is returned as it is."""
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
    the lag); one-line errors for dates that do not parse, ``start`` after ``end`` or fewer than 2
    trading days."""
    start, end = _day(start, "start"), _day(end, "end")
    if start > end:
        raise DataValidationError(f"the backtest start {start.date()} is after its end {end.date()}")
    days = store.trading_days(start, end)
    if len(days) < 2:
        raise StoreError(f"the store has {len(days)} trading day(s) between {start.date()} and {end.date()}; "
                         "a backtest needs at least 2")
    dates = rebalance_dates(days, settings.rebalance)
    dates = dates[days.get_indexer(dates) + settings.lag < len(days)]  # decisions that trade by ``end``
    if len(dates) == 0:
        raise StoreError(f"no rebalance date between {start.date()} and {end.date()} trades by the end "
                         f"with lag {settings.lag}")
    return days, dates


@limits_blas_threads
def run_walk_forward(
    store: Store, start, end, portfolio: PortfolioSettings = PortfolioSettings(),
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
    days, dates = backtest_days(store, start, end, settings)
    panels = MarketPanels(store, days[0], days[-1], portfolio.risk_lookback)
    signal = signal or submissions_signal(store, portfolio)
    frame, classified = panels.frame, panels.classified
    history = factor_return_history(
        frame(panels.returns), panels.group_one_hot,
        {name: frame(panels.styles[:, :, j]) for j, name in enumerate(STYLE_FACTORS)},
        frame(panels.universe), frame(np.sqrt(np.clip(panels.market_cap, 0.0, None))),
    )
    history_seconds = time.perf_counter() - started
    tickers = panels.tickers[classified]
    optimizer, cap = build_walk_forward_optimizer(tickers, panels.group_one_hot, portfolio)
    risk_config = portfolio.risk_config()
    returns = panels.returns[:, classified]
    targets, rows = np.zeros((len(dates), len(tickers))), []
    book, solve_seconds = None, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        for i, date in enumerate(dates):
            row = panels.row(date)
            exposures = panels.exposures(date)
            view = _known_view(signal, date, exposures.index)
            previous = np.zeros(len(tickers)) if book is None else book.at(row, returns, date)
            try:
                alpha = alpha_from_signal(view, exposures["sigma"], ic=portfolio.ic,
                                          horizon_days=portfolio.horizon_days)
                inputs = PortfolioInputs(
                    alpha=alpha, risk_model=history.risk_model(date, exposures, risk_config),
                    prev_weights=pd.Series(previous, index=tickers),
                    dollar_volume=exposures["adv_20d"], volatility=exposures["sigma"],
                )
                began = time.perf_counter()
                result = optimizer.solve(inputs)
                solve_seconds += time.perf_counter() - began
            except MetasignalError as error:
                raise RebalanceError(f"rebalance of {date.date()}: {error}") from error
            rows.append(_diagnostics(date, result, len(exposures), cap.loosened))
            targets[i] = result.weights.reindex(tickers).to_numpy(dtype=float)
            book = _Book(targets[i], row + settings.lag)
            if progress:
                progress(1)
    rebalance_seconds = time.perf_counter() - started - history_seconds

    began = time.perf_counter()
    first = panels.row(dates[0])
    window = panels.days[first:]
    wide = lambda values: pd.DataFrame(values[first:], index=window, columns=tickers)  # noqa: E731
    target_frame = pd.DataFrame(targets, index=dates, columns=tickers)
    simulation = simulate(
        target_frame, wide(returns), lag=settings.lag,
        costs=portfolio.transaction_costs(), borrow=portfolio.borrow_costs(),
        volume=wide(panels.dollar_volume[:, classified]), volatility=wide(panels.sigma[:, classified]),
    )
    timings = {
        "history": history_seconds, "rebalances": rebalance_seconds, "solver": solve_seconds,
        "simulation": time.perf_counter() - began, "total": time.perf_counter() - started,
    }
    return WalkForwardResult(
        target_frame, simulation, pd.DataFrame(rows).set_index("date"),
        panels.securities.loc[tickers, list(GROUPS)], wide(returns), timings,
    )


def _known_view(signal: SignalSource, date: pd.Timestamp, universe: pd.Index) -> pd.Series:
    """The signal known at ``date`` over ``universe``; names without a view get the median."""
    view = signal(date).reindex(universe)
    covered = int(view.notna().sum())
    if covered < 2:
        raise RebalanceError(f"the signal known on {date.date()} covers {covered} of the {len(universe)} "
                             "names in the universe; a backtest needs at least 2")
    return view.fillna(view.median())


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
    targets, both with zero costs and capital 1 (vectorbt models no costs)."""
    from metasignal.backtest.vectorbt_check import compare_with_vectorbt

    free = simulate(result.targets, result.returns, lag=result.simulation.lag, capital=1.0)
    return compare_with_vectorbt(free, result.returns)


def _rebalance_figure(solves: pd.DataFrame):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                           subplot_titles=("solve time (s)", "turnover and gross",
                                           "largest |net| (dollar, country, sector)"))
    figure.add_trace(go.Bar(x=solves.index, y=solves["seconds"], name="solve (s)"), 1, 1)
    figure.add_trace(go.Bar(x=solves.index, y=solves["solver_seconds"], name="solver alone (s)"), 1, 1)
    figure.add_trace(go.Scatter(x=solves.index, y=solves["turnover"], name="turnover (half sum |trade|)"),
                     2, 1)
    figure.add_trace(go.Scatter(x=solves.index, y=solves["gross"], name="gross"), 2, 1)
    for column, label in (("net", "|net|"), ("max_abs_country_net", "max |country net|"),
                          ("max_abs_sector_net", "max |sector net|")):
        figure.add_trace(go.Scatter(x=solves.index, y=solves[column].abs(), name=label), 3, 1)
    figure.update_yaxes(type="log", row=3, col=1)
    figure.update_layout(height=800, barmode="overlay")
    return figure


def _rebalance_summary(solves: pd.DataFrame) -> str:
    fallback = solves["fallback"].notna()
    rows = {
        "rebalances": f"{len(solves)}",
        "statuses": ", ".join(f"{k}: {v}" for k, v in solves["status"].value_counts().items()),
        "fallbacks (turnover limit lifted)": f"{int(fallback.sum())}"
        + (f" on {', '.join(str(d.date()) for d in solves.index[fallback][:5])}" if fallback.any() else ""),
        "median / max solve time": f"{solves['seconds'].median():.3f} s / {solves['seconds'].max():.3f} s",
        "largest |net| of a target": f"{solves['net'].abs().max():.2e}",
        "largest |country net| / |sector net|":
            f"{solves['max_abs_country_net'].max():.2e} / {solves['max_abs_sector_net'].max():.2e}",
        "mean names long / short": f"{solves['n_long'].mean():.0f} / {solves['n_short'].mean():.0f}",
    }
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows.items())
    return f'<table class="metrics">{body}</table>'


def save_walk_forward(result: WalkForwardResult, out_dir, *,
                      title: str = "metasignal walk-forward backtest") -> dict[str, Path]:
    """Write a walk-forward's outputs into ``out_dir``; return name -> path.

    returns.csv, weights.parquet, metrics.json (:func:`backtest.report.write_outputs`);
    metrics.csv (metric, value); rebalances.csv (``result.solves``); report.html (the plotly
    report with sector and country net exposures of the held book and the per-rebalance solve
    diagnostics).
    """
    out = Path(out_dir)
    paths = write_outputs(result.simulation, out)
    metrics = pd.DataFrame(list(result.simulation.metrics().items()), columns=["metric", "value"])
    paths["metrics.csv"] = atomic_write(out / "metrics.csv", lambda tmp: metrics.to_csv(tmp, index=False))
    paths["rebalances.csv"] = atomic_write(out / "rebalances.csv", lambda tmp: result.solves.to_csv(tmp, index=True))
    held = result.simulation.weights
    exposures = {group: net_exposure_by_group(held, result.groups[group]) for group in GROUPS}
    paths["report.html"] = write_report(
        result.simulation, out / "report.html", title=title,
        sector_exposure=exposures["sector"], country_exposure=exposures["country"],
        extra_sections=[("Rebalances: solve diagnostics", _rebalance_summary(result.solves)),
                        ("Rebalances over time", _rebalance_figure(result.solves))],
    )
    return paths

"""Daily simulation of a long/short book trading to target weights.

Inputs are wide frames indexed by date with one column per ticker:

- ``weights``: target weights (fractions of equity at the moment of trading) on rebalance
  (decision) dates only; a ticker missing from a row, or NaN, means a target of 0.
- ``returns``: daily simple returns; NaN means the name did not trade that day.

Timing. A row dated ``t`` is decided after the close of ``t``. With ``lag=L`` it is traded at
the close of the ``L``-th trading day after ``t`` (``L=0``: the close of ``t`` itself) and
earns returns from the next day on. A decision dated on a non-trading day trades at the close
of the ``max(L, 1)``-th trading day after it. When two decisions land on the same trading day
the later one wins; decisions that would trade after the last return date are dropped.

Per-name lags. ``lag`` may also be a Series ticker -> ``L`` (markets close at different UTC
times, so one decision reaches each market at its own close). The rule above then applies to
each name with its own ``L``: a decision trades name ``i`` on the execution day of ``L_i``,
the later decision wins per name, and a decision is dropped for a name whose execution day
would fall after the last return date. On a day when only some names execute, only those
names move to their targets (step 3 below); the others keep their holdings, as untradable
names do. A single int lag is the special case in which every name executes on every trade day.

One day ``d`` of the simulation, in order (amounts in dollars):

1. positions held overnight earn the day's return, ``h_i *= 1 + r_i``; the cash leg
   (``capital`` minus net position value, short proceeds included) earns ``cash_rate / 252``;
   shorts held overnight pay the borrow fee ``BorrowCostModel.cost(h)``;
2. a held name whose return is NaN is closed at its last price (the previous close): its value
   moves to cash at no cost. This is how delistings (returns that end) are handled; a halted
   name is treated the same way and can be bought again at the next rebalance;
3. on a trade day, the names executing that day (all names for an int lag) that are tradable
   (non-NaN return that day and, when impact is charged, positive dollar volume) move to
   ``target_i * equity`` where ``equity`` is the value after step 1-2; other names keep their
   holding. The trade ``x`` pays spread and impact from the
   ``TransactionCostModel`` evaluated with that day's realized ``volatility`` and dollar
   ``volume``; costs are paid from cash, so held weights after trading are
   ``target * equity_before_costs / equity_after_costs``.

Returns are fractions of the previous day's equity: ``gross = (price P&L + cash interest) /
equity_{d-1}``, ``net = gross - spread - impact - borrow`` (each cost also a fraction of
``equity_{d-1}``), and ``equity_d = equity_{d-1} * (1 + net_d)``. The result starts on the first
trading day on or after the first decision date; ``capital`` arrives in cash at that day's
close, so the first day's return is 0 (minus costs when ``lag=0`` trades at that close).

Each day is a handful of numpy operations over all tickers; the loop over days carries the
state (positions, cash, equity).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metasignal.backtest import metrics as perf
from metasignal.data.calendar import TRADING_DAYS_PER_YEAR
from metasignal.errors import BankruptcyError, DataValidationError
from metasignal.portfolio.costs import BorrowCostModel, TransactionCostModel

__all__ = [
    "BankruptcyError", "SimulationResult", "align_weights", "describe_lag", "execution_dates", "simulate",
]



EXECUTION_LAG = 1  # trading days between a target's date and the close it trades at


@dataclass
class SimulationResult:
    """Daily outcome of ``simulate``; every frame/series is indexed by trading date.

    gross_returns, net_returns: fractions of the previous day's equity.
    equity, cash: dollars (``cash + (weights * equity).sum(axis=1) == equity``).
    weights: held weights (date x ticker), end of day after trading, fractions of equity.
    targets: target weights (execution date x ticker) actually sent to the market, 0 where the
        decision row had no value; ``decision_dates`` maps each execution date to its decision.
        With per-name lags a row is a day on which at least one name executes: names not
        executing that day are NaN, and ``decision_dates`` gives the latest decision executed
        that day (each name's value comes from its own decision, the latest one for its lag).
    turnover: one-way ``0.5 * sum |trade| / equity before trading`` per day (0 on non-trade
        days): the same definition as the optimizer's ``TurnoverLimit`` and exposure report.
    costs: columns ``spread``, ``impact``, ``borrow`` as fractions of previous equity.
    exposure: columns ``long``, ``short`` (both >= 0), ``gross`` = long + short,
        ``net`` = long - short, fractions of end-of-day equity.
    lag: the int lag, or for per-name lags an int Series ticker -> trading days over the
        columns of ``returns``; names with no target that the given Series left out get its
        smallest lag (they never trade).
    """

    gross_returns: pd.Series
    net_returns: pd.Series
    equity: pd.Series
    cash: pd.Series
    weights: pd.DataFrame
    targets: pd.DataFrame
    decision_dates: pd.Series
    turnover: pd.Series
    costs: pd.DataFrame
    exposure: pd.DataFrame
    capital: float
    lag: int | pd.Series
    periods_per_year: float = field(default=TRADING_DAYS_PER_YEAR)

    def metrics(self) -> dict[str, float]:
        """Headline figures of the net returns plus turnover, exposure and cost drag.

        Keys: total_return, annualized_return, annualized_volatility, sharpe, sortino,
        max_drawdown, calmar, hit_rate (all on net returns), gross_sharpe,
        gross_annualized_return, average_turnover (mean daily turnover),
        annual_turnover, average_gross_exposure, average_net_exposure,
        cost_drag_bp_per_year and spread/impact/borrow_bp_per_year
        (mean daily cost x periods_per_year x 1e4).
        """
        ppy = self.periods_per_year
        summary = perf.performance_summary(self.net_returns, ppy)
        summary["gross_annualized_return"] = float(perf.annualized_return(self.gross_returns, ppy))
        summary["gross_sharpe"] = float(perf.sharpe_ratio(self.gross_returns, ppy))
        summary["average_turnover"] = float(self.turnover.mean())
        summary["annual_turnover"] = float(self.turnover.mean() * ppy)
        summary["average_gross_exposure"] = float(self.exposure["gross"].mean())
        summary["average_net_exposure"] = float(self.exposure["net"].mean())
        bp_per_year = self.costs.mean() * ppy * 1e4
        summary["cost_drag_bp_per_year"] = float(bp_per_year.sum())
        for kind in self.costs.columns:
            summary[f"{kind}_bp_per_year"] = float(bp_per_year[kind])
        return summary


def align_weights(weights: pd.DataFrame | pd.Series, tickers: pd.Index) -> pd.DataFrame:
    """Target weights as a wide frame (date x ``tickers``), missing/NaN targets set to 0.

    weights: a wide frame (date x ticker) or a Series indexed by (date, ticker). Raises
    ``DataValidationError`` for tickers outside ``tickers``, infinite values or unsorted dates.
    """
    if isinstance(weights, pd.Series):
        if weights.index.nlevels != 2:
            raise DataValidationError("weights given as a Series must be indexed by (date, ticker).")
        weights = weights.unstack(level=1)
    if not isinstance(weights, pd.DataFrame):
        raise DataValidationError("weights must be a DataFrame (date x ticker) of target weights.")
    index = _check_dates(weights, "weights")
    unknown = weights.columns.difference(tickers)
    if len(unknown):
        raise DataValidationError(
            f"weights has {len(unknown)} ticker(s) with no returns column, "
            f"e.g. {list(unknown[:5])}."
        )
    aligned = weights.reindex(columns=tickers).set_axis(index, axis=0).astype(float)
    if np.isinf(aligned.to_numpy()).any():
        raise DataValidationError("weights contain an infinite value.")
    return aligned.fillna(0.0)


def describe_lag(lag: int | pd.Series) -> str:
    """An execution lag in words: an int as is (``"1"``), a per-name lag as its range
    (``"1-2 (by market)"``, or ``"1"`` when every name has the same lag)."""
    if not isinstance(lag, pd.Series):
        return str(int(lag))
    low, high = int(lag.min()), int(lag.max())
    return str(low) if low == high else f"{low}-{high} (by market)"


def _check_dates(frame: pd.DataFrame, name: str) -> pd.DatetimeIndex:
    try:
        index = pd.DatetimeIndex(frame.index)
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"{name} must be indexed by dates ({error}).") from error
    if index.has_duplicates:
        example = index[index.duplicated()][0]
        raise DataValidationError(f"{name} has duplicate dates, e.g. {example}.")
    if not index.is_monotonic_increasing:
        raise DataValidationError(f"{name} dates must be sorted in increasing order.")
    return index


def _check_lag(lag) -> None:
    if isinstance(lag, bool) or not isinstance(lag, (int, np.integer)) or lag < 0:
        raise DataValidationError(f"lag must be a whole number of trading days >= 0, got {lag!r}.")


def _lag_series(lag: pd.Series) -> pd.Series:
    """A per-name lag (ticker -> trading days) checked and as int64; raises
    ``DataValidationError`` for duplicate tickers or a value that is not a whole number >= 0."""
    if lag.index.has_duplicates:
        raise DataValidationError(
            f"the lag Series lists ticker {lag.index[lag.index.duplicated()][0]!r} twice."
        )
    if pd.api.types.is_bool_dtype(lag) or not pd.api.types.is_numeric_dtype(lag):
        raise DataValidationError(
            f"the lag Series must hold whole numbers of trading days, not {lag.dtype} values."
        )
    values = lag.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"the lag of ticker {lag.index[where]!r} must be a whole number of trading days "
            f">= 0, got {lag.iloc[where]}."
        )
    return pd.Series(values.astype(np.int64), index=lag.index, name="lag")


def _lags_by_name(lag: int | pd.Series, tickers: pd.Index, required: pd.Index) -> np.ndarray:
    """The lag of each of ``tickers`` (n,) int64. For a Series every ticker of ``required``
    (those with a target) must be covered; the others get the Series' smallest lag."""
    if not isinstance(lag, pd.Series):
        _check_lag(lag)
        return np.full(len(tickers), int(lag), dtype=np.int64)
    lag = _lag_series(lag)
    if lag.empty:
        raise DataValidationError("the lag Series is empty: give a lag per ticker.")
    missing = required.difference(lag.index)
    if len(missing):
        raise DataValidationError(
            f"the lag Series has no lag for ticker {missing[0]!r}, which has a target "
            f"({len(missing)} such ticker(s))."
        )
    by_name = lag.reindex(tickers)
    fill = by_name.min() if by_name.notna().any() else lag.min()
    return by_name.fillna(fill).to_numpy(dtype=np.int64)


def execution_dates(
    decisions: pd.DatetimeIndex, trading_days: pd.DatetimeIndex, lag: int
) -> pd.Series:
    """When each decision trades: Series indexed by execution date, values = decision date.

    Applies the timing rule of the module docstring (``lag`` trading days after a decision on
    a trading day; the ``max(lag, 1)``-th trading day after a decision on a non-trading day);
    keeps the latest decision per execution date and drops decisions past the data. ``lag``
    is one int: for per-name lags call it once per lag value (``SimulationResult.targets``
    shows which names executed on each day).
    """
    if isinstance(lag, pd.Series):
        raise DataValidationError(
            "execution_dates takes one int lag; call it once per lag value for per-name lags."
        )
    _check_lag(lag)
    decisions = pd.DatetimeIndex(decisions)
    trading_days = pd.DatetimeIndex(trading_days)
    if not (decisions.is_monotonic_increasing and trading_days.is_monotonic_increasing):
        raise DataValidationError("decision dates and trading days must be sorted.")
    rows, chosen = _execution_schedule(decisions, trading_days, lag)
    return pd.Series(decisions[chosen], index=trading_days[rows], name="decision_date")


def _execution_schedule(
    decisions: pd.DatetimeIndex, trading_days: pd.DatetimeIndex, lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``trading_days`` where decisions trade, positions of those decisions)."""
    position = trading_days.searchsorted(decisions, side="left")
    in_range = position < len(trading_days)
    on_trading_day = np.zeros(len(decisions), dtype=bool)
    on_trading_day[in_range] = trading_days[position[in_range]] == decisions[in_range]
    execution = np.where(on_trading_day, position + lag, position + max(lag, 1) - 1)
    keep = execution < len(trading_days)
    execution, order = execution[keep], np.flatnonzero(keep)
    # The later decision wins when several trade on the same day (decisions are sorted).
    last = np.r_[execution[1:] != execution[:-1], True] if len(execution) else np.zeros(0, bool)
    return execution[last], order[last]


def _name_schedule(
    decisions: pd.DatetimeIndex, trading_days: pd.DatetimeIndex, lags: np.ndarray,
    target_values: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The schedule of per-name lags ``lags`` (n,): (execution rows of ``trading_days``
    (k,), the latest decision position executed on each (k,), targets (k x n, NaN where the
    name does not execute that day), executes (k x n bool)). One schedule per distinct lag."""
    values, group = np.unique(lags, return_inverse=True)
    schedules = [_execution_schedule(decisions, trading_days, int(value)) for value in values]
    rows = np.unique(np.concatenate([execution for execution, _ in schedules]))
    chosen = np.full((len(rows), len(values)), -1, dtype=np.int64)  # decision per (row, lag value)
    for column, (execution, order) in enumerate(schedules):
        chosen[rows.searchsorted(execution), column] = order
    by_name = chosen[:, group]
    executes = by_name >= 0
    picked = target_values[np.maximum(by_name, 0), np.arange(len(lags))]
    targets = np.where(executes, picked, np.nan)
    return rows, chosen.max(axis=1), targets, executes


def _aligned(frame: pd.DataFrame | None, index, columns, name: str) -> np.ndarray | None:
    if frame is None:
        return None
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(f"{name} must be a DataFrame (date x ticker).")
    frame = frame.set_axis(_check_dates(frame, name), axis=0)
    return frame.reindex(index=index, columns=columns).to_numpy(dtype=float)


def simulate(
    weights: pd.DataFrame | pd.Series,
    returns: pd.DataFrame,
    *,
    lag: int | pd.Series = EXECUTION_LAG,
    costs: TransactionCostModel | None = None,
    borrow: BorrowCostModel | None = None,
    volume: pd.DataFrame | None = None,
    volatility: pd.DataFrame | None = None,
    cash_rate: float = 0.0,
    capital: float | None = None,
) -> SimulationResult:
    """Trade ``weights`` with an execution ``lag`` over daily ``returns`` (see module docstring).

    weights: target weights per decision date (date x ticker, fractions of equity), or a Series
        indexed by (date, ticker). Every ticker must be a column of ``returns``.
    returns: daily simple returns (date x ticker); NaN = not trading.
    lag: trading days between decision and execution (>= 0): one int for every name, or a
        Series ticker -> whole number of days (per-name lags, e.g. 2 for Asian names, 1 for US
        ones); it must cover every ticker with a nonzero target (others may be left out).
        Each name follows the timing rule with its own lag; on a day only some names execute,
        only they trade (see the module docstring).
    costs: spread + impact model (the optimizer's); None = free trading.
    borrow: borrow fee on shorts held overnight; None = free shorting. Per-name arrays in both
        models follow the column order of ``returns``.
    volume, volatility: realized daily dollar volume and daily return volatility (date x
        ticker), needed when ``costs.impact > 0``; aligned to ``returns`` by label; every ticker
        with a target must be a column (NaN cells mean no volume / unknown volatility).
    cash_rate: annual rate earned (or paid, when negative) by the cash leg, per trading day
        ``cash_rate / 252``.
    capital: starting equity in dollars; default ``costs.capital`` when a cost model is given
        (the capital the impact term was calibrated for), else 1.0.
    """
    trading_days, weights = _checked_frames(weights, returns)
    decisions = pd.DatetimeIndex(weights.index)
    target_values = weights.to_numpy(dtype=float)
    tickers = returns.columns
    traded = tickers[(target_values != 0).any(axis=0)]
    lags = _lags_by_name(lag, tickers, traded)
    charge_impact = costs is not None and costs.impact != 0
    _require_impact_inputs(charge_impact, volume, volatility)
    capital = _starting_capital(capital, costs)
    start = _first_row(trading_days, decisions)
    days = trading_days[start:]
    if charge_impact:
        _check_impact_columns(traded, volume, volatility)
    execution_rows, decision_rows, targets, executes = _name_schedule(
        decisions, trading_days, lags, target_values
    )
    execution_rows = execution_rows - start

    state = _run(
        ret=returns.to_numpy(dtype=float)[start:],
        targets=targets,
        executes=executes,
        target_on_day={day: k for k, day in enumerate(execution_rows.tolist())},
        costs=costs,
        charge_impact=charge_impact,
        borrow=borrow,
        volume=_aligned(volume, days, tickers, "volume") if charge_impact else None,
        volatility=_aligned(volatility, days, tickers, "volatility") if charge_impact else None,
        cash_daily=cash_rate / TRADING_DAYS_PER_YEAR,
        capital=capital,
        days=days,
    )
    schedule = pd.Series(decisions[decision_rows], index=days[execution_rows], name="decision_date")
    if isinstance(lag, pd.Series):
        lag = pd.Series(lags, index=tickers, name="lag")
    return _simulation_result(state, days, tickers, targets, schedule, capital, lag)


def _checked_frames(
    weights: pd.DataFrame | pd.Series, returns: pd.DataFrame
) -> tuple[pd.DatetimeIndex, pd.DataFrame]:
    """(trading days of ``returns``, target weights aligned to its columns); raises on bad input."""
    if not isinstance(returns, pd.DataFrame):
        raise DataValidationError("returns must be a DataFrame (date x ticker) of daily returns.")
    trading_days = _check_dates(returns, "returns")
    weights = align_weights(weights, returns.columns)
    if len(weights.index) == 0:
        raise DataValidationError("weights has no rows: nothing to simulate.")
    return trading_days, weights


def _require_impact_inputs(charge_impact: bool, volume, volatility) -> None:
    if charge_impact and (volume is None or volatility is None):
        raise DataValidationError(
            "costs with impact > 0 need realized volume (dollar volume) and volatility frames."
        )


def _starting_capital(capital: float | None, costs: TransactionCostModel | None) -> float:
    """Starting equity in dollars: ``capital``, else the cost model's capital, else 1.0."""
    if capital is None:
        capital = float(costs.capital) if costs is not None else 1.0
    if not np.isfinite(capital) or capital <= 0:
        raise DataValidationError(f"capital must be a positive number of dollars, got {capital}.")
    return float(capital)


def _first_row(trading_days: pd.DatetimeIndex, decisions: pd.DatetimeIndex) -> int:
    """Row of ``trading_days`` where the simulation starts (on or after the first decision)."""
    start = int(trading_days.searchsorted(decisions[0], side="left"))
    if start >= len(trading_days):
        raise DataValidationError(
            f"the first decision date {decisions[0].date()} is after the last return date."
        )
    return start


def _check_impact_columns(traded: pd.Index, volume, volatility) -> None:
    """Every ticker with a nonzero target (``traded``) needs a volume and a volatility column."""
    for name, frame in (("volume", volume), ("volatility", volatility)):
        uncovered = traded.difference(frame.columns) if isinstance(frame, pd.DataFrame) else []
        if len(uncovered):
            raise DataValidationError(
                f"{name} has no column for ticker {uncovered[0]!r}, which has a target "
                f"({len(uncovered)} such ticker(s)); impact costs need it."
            )


def _simulation_result(
    state: dict[str, np.ndarray], days: pd.DatetimeIndex, tickers: pd.Index, targets: np.ndarray,
    schedule: pd.Series, capital: float, lag: int | pd.Series,
) -> SimulationResult:
    """Wrap the day loop's arrays; ``schedule``: execution date -> (latest) decision date of
    each trade day, ``targets``: the matching target rows (fractions of equity, NaN for names
    not executing that day)."""
    long = np.clip(state["held"], 0.0, None).sum(axis=1)
    short = -np.clip(state["held"], None, 0.0).sum(axis=1)
    return SimulationResult(
        gross_returns=pd.Series(state["gross"], index=days, name="gross"),
        net_returns=pd.Series(state["net"], index=days, name="net"),
        equity=pd.Series(state["equity"], index=days, name="equity"),
        cash=pd.Series(state["cash"], index=days, name="cash"),
        weights=pd.DataFrame(state["held"], index=days, columns=tickers),
        targets=pd.DataFrame(targets, index=schedule.index, columns=tickers),
        decision_dates=schedule,
        turnover=pd.Series(state["turnover"], index=days, name="turnover"),
        costs=pd.DataFrame(
            {"spread": state["spread"], "impact": state["impact"], "borrow": state["borrow"]},
            index=days,
        ),
        exposure=pd.DataFrame(
            {"long": long, "short": short, "gross": long + short, "net": long - short},
            index=days,
        ),
        capital=float(capital),
        lag=lag if isinstance(lag, pd.Series) else int(lag),
    )


# --------------------------------------------------------------------------- the day loop

_DAILY_FIELDS = ("gross", "net", "equity", "cash", "turnover", "spread", "impact", "borrow")


@dataclass
class _Book:
    """The state carried from day to day: positions ``h`` (dollars per name), cash, equity."""

    h: np.ndarray
    cash: float
    equity: float


@dataclass(frozen=True)
class _DayFlows:
    """One day's dollar amounts: price P&L, cash interest, borrow fee, spread and impact paid,
    and the one-way turnover (fraction of the equity before trading)."""

    pnl: float
    interest: float
    borrow: float
    spread: float = 0.0
    impact: float = 0.0
    turnover: float = 0.0


@dataclass(frozen=True)
class _Pricing:
    """What trading costs: the cost model and, when impact is charged, the (days x names)
    realized dollar volume and volatility."""

    costs: TransactionCostModel | None
    charge_impact: bool
    volume: np.ndarray | None
    volatility: np.ndarray | None
    n_names: int

    @property
    def scale(self) -> float:
        """Dollars per unit of the cost model's trade size (its capital)."""
        return self.costs.capital if self.costs is not None else 1.0

    def tradable(self, d: int, trading: np.ndarray) -> np.ndarray:
        """Names that can trade on day ``d``: a return, and volume when impact is charged."""
        return trading & (self.volume[d] > 0) if self.charge_impact else trading

    def cost(self, d: int, trade: np.ndarray) -> tuple[float, float]:
        """(spread, impact) in dollars of the dollar ``trade`` vector on day ``d``."""
        if self.costs is None:
            return 0.0, 0.0
        # Without impact the model still prices the spread; volatility 0 makes impact exactly 0.
        day_volatility = self.volatility[d] if self.charge_impact else np.zeros(self.n_names)
        day_volume = self.volume[d] if self.charge_impact else np.ones(self.n_names)
        scale = self.scale
        with np.errstate(invalid="ignore"):  # 0 * inf for untraded names without volume
            spread, impact = self.costs.costs(trade / scale, day_volatility, day_volume)
        return float(spread.sum()) * scale, float(impact.sum()) * scale


def _run(
    *,
    ret: np.ndarray,
    targets: np.ndarray,
    executes: np.ndarray,
    target_on_day: dict[int, int],
    costs: TransactionCostModel | None,
    charge_impact: bool,
    borrow: BorrowCostModel | None,
    volume: np.ndarray | None,
    volatility: np.ndarray | None,
    cash_daily: float,
    capital: float,
    days: pd.DatetimeIndex,
) -> dict[str, np.ndarray]:
    """The day loop: state is (positions h in dollars, cash, equity); work per day is numpy.

    ``targets`` and ``executes`` (trade days x names): each trade day's targets (fractions of
    equity) and the names executing that day; ``target_on_day``: day row -> trade-day row.
    Returns the daily fields of :data:`_DAILY_FIELDS` (n_days,) and ``held`` (n_days x names,
    fractions of end-of-day equity).
    """
    n_days, n_names = ret.shape
    out = {name: np.zeros(n_days) for name in _DAILY_FIELDS}
    held = np.zeros((n_days, n_names))
    book = _Book(np.zeros(n_names), capital, capital)
    pricing = _Pricing(costs, charge_impact, volume, volatility, n_names)
    trading = ~np.isnan(ret)
    day_return = np.where(trading, ret, 0.0)
    for d in range(n_days):
        start_equity = book.equity
        if start_equity <= 0:
            raise BankruptcyError(
                f"equity fell to {start_equity:.6g} before {days[d].date()}; "
                "returns are undefined from there on."
            )
        interest_rate = cash_daily if d > 0 else 0.0  # capital arrives at the first close
        flows = _hold_overnight(book, day_return[d], trading[d], borrow, interest_rate)
        if d in target_on_day:
            k = target_on_day[d]
            flows = _trade_to_targets(
                book, targets[k], executes[k], flows, pricing, d, trading[d], days[d]
            )
        _record(out, d, start_equity, flows, book)
        held[d] = book.h / book.equity
    out["held"] = held
    return out


def _hold_overnight(
    book: _Book, day_return: np.ndarray, trading: np.ndarray, borrow: BorrowCostModel | None,
    interest_rate: float,
) -> _DayFlows:
    """Steps 1-2: overnight holdings earn the day's return, cash earns ``interest_rate`` (per
    day), shorts pay borrow; held names that did not trade today are closed at their last price."""
    borrow_fee = float(borrow.cost(book.h).sum()) if borrow is not None else 0.0
    interest = book.cash * interest_rate
    pnl = float(book.h @ day_return)
    h = book.h * (1.0 + day_return)
    stopped = ~trading & (h != 0.0)
    if stopped.any():
        book.cash += h[stopped].sum()
        h[stopped] = 0.0
    book.cash += interest - borrow_fee
    book.equity = book.equity + pnl + interest - borrow_fee
    book.h = h
    return _DayFlows(pnl, interest, borrow_fee)


def _trade_to_targets(
    book: _Book, target: np.ndarray, executes: np.ndarray, flows: _DayFlows, pricing: _Pricing,
    d: int, trading: np.ndarray, date: pd.Timestamp,
) -> _DayFlows:
    """Step 3 on day ``d`` (``date``): tradable names among those that execute today
    (``executes``) move to ``target * equity`` (target in fractions of equity) at the close;
    spread and impact are paid from cash."""
    if book.equity <= 0:
        raise BankruptcyError(
            f"equity fell to {book.equity:.6g} before trading on {date.date()}; "
            "the simulation cannot continue."
        )
    new_h = np.where(pricing.tradable(d, trading) & executes, target * book.equity, book.h)
    trade = new_h - book.h
    spread_cost, impact_cost = pricing.cost(d, trade)
    turnover = 0.5 * float(np.abs(trade).sum()) / book.equity
    book.cash -= trade.sum() + spread_cost + impact_cost
    book.equity -= spread_cost + impact_cost
    book.h = new_h
    return _DayFlows(flows.pnl, flows.interest, flows.borrow, spread_cost, impact_cost, turnover)


def _record(
    out: dict[str, np.ndarray], d: int, start_equity: float, flows: _DayFlows, book: _Book
) -> None:
    """Day ``d``'s returns and costs as fractions of ``start_equity``, and the end-of-day book."""
    out["gross"][d] = (flows.pnl + flows.interest) / start_equity
    out["spread"][d] = flows.spread / start_equity
    out["impact"][d] = flows.impact / start_equity
    out["borrow"][d] = flows.borrow / start_equity
    out["net"][d] = out["gross"][d] - out["spread"][d] - out["impact"][d] - out["borrow"][d]
    out["equity"][d] = book.equity
    out["cash"][d] = book.cash
    out["turnover"][d] = flows.turnover

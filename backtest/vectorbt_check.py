"""Independent check of the simulator's accounting with vectorbt (zero costs).

The same target weights are sent to ``vectorbt.Portfolio.from_orders`` as ``TargetPercent``
orders on a price path rebuilt from the returns, in one group sharing cash, with
``call_seq='auto'`` so that each day's sells run before its buys (vectorbt otherwise fills in
column order and a buy could be cut short by cash not yet freed):

    vbt.Portfolio.from_orders(
        close=prices, size=orders, size_type="targetpercent", direction="both",
        group_by=True, cash_sharing=True, call_seq="auto",
        init_cash=capital, fees=0.0, fixed_fees=0.0, slippage=0.0, min_size=0.0, freq="1D",
    ).value()

``prices`` is ``cumprod(1 + r)`` from 1, NaN wherever the return is NaN (vectorbt ignores an
order at a NaN price and values the holding at its last price, which matches ``simulate``
closing the position at its last price). ``orders`` is NaN except on execution dates, where it
holds the whole target row (0 for names without a target, so they are closed).
``min_size=0`` matters: vectorbt's default rejects orders below 1e-8 shares, which skips tiny
rebalancing trades in a book of thousands of small positions.

What vectorbt does not model, so a difference is expected when they are used: trading costs,
borrow fees, interest on cash, and a halted name that trades again later (``simulate`` has
moved it to cash; vectorbt still holds it).

vectorbt is imported inside the functions: its first import compiles numba kernels (slow).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasignal.backtest._simulate import (
    EXECUTION_LAG,
    SimulationResult,
    align_weights,
    execution_dates,
)

__all__ = ["compare_with_vectorbt", "price_path", "vectorbt_equity"]


def price_path(returns: pd.DataFrame) -> pd.DataFrame:
    """Prices ``cumprod(1 + r)`` starting at 1 on the first row, NaN where the return is NaN.

    The first row's return value is not used (it is the starting point of the path), only
    whether it is NaN.
    """
    growth = 1.0 + returns.fillna(0.0)
    growth.iloc[0] = 1.0
    return growth.cumprod().where(returns.notna())


def _vectorbt_value(orders: pd.DataFrame, prices: pd.DataFrame, capital: float) -> pd.Series:
    import vectorbt as vbt  # slow first import (numba compile); keep it local

    portfolio = vbt.Portfolio.from_orders(
        close=prices,
        size=orders,
        size_type="targetpercent",
        direction="both",
        group_by=True,
        cash_sharing=True,
        call_seq="auto",
        init_cash=capital,
        fees=0.0,
        fixed_fees=0.0,
        slippage=0.0,
        min_size=0.0,
        freq="1D",
    )
    value = portfolio.value()
    return pd.Series(np.asarray(value, dtype=float), index=prices.index, name="equity")


def _orders_frame(targets: pd.DataFrame, days: pd.DatetimeIndex) -> pd.DataFrame:
    """NaN (no order) everywhere except the execution rows, which carry full target rows."""
    orders = pd.DataFrame(np.nan, index=days, columns=targets.columns)
    orders.loc[targets.index] = targets.fillna(0.0).to_numpy()
    return orders


def vectorbt_equity(
    weights: pd.DataFrame | pd.Series,
    returns: pd.DataFrame,
    *,
    lag: int = EXECUTION_LAG,
    capital: float = 1.0,
) -> pd.Series:
    """Equity (dollars) of ``weights`` traded with ``lag`` through vectorbt, zero costs.

    Same inputs and timing as ``metasignal.backtest.simulate`` (decision dates mapped by
    ``execution_dates``); the series starts on the first trading day on or after the first
    decision, like the simulation.
    """
    weights = align_weights(weights, returns.columns)
    trading_days = pd.DatetimeIndex(returns.index)
    schedule = execution_dates(weights.index, trading_days, lag)
    start = trading_days.searchsorted(weights.index[0], side="left")
    days = trading_days[start:]
    targets = weights.loc[schedule.to_numpy()].set_axis(schedule.index, axis=0)
    prices = price_path(returns.loc[days])
    return _vectorbt_value(_orders_frame(targets, days), prices, capital)


def compare_with_vectorbt(result: SimulationResult, returns: pd.DataFrame) -> float:
    """Max absolute difference (dollars) between ``result.equity`` and vectorbt's equity.

    vectorbt replays ``result.targets`` on their execution dates over ``result``'s days with
    ``result.capital``; ``returns`` must be the frame the result was simulated on. Only
    meaningful for zero-cost, zero-cash-rate runs (see the module docstring).
    """
    days = result.equity.index
    prices = price_path(returns.loc[days, result.weights.columns])
    vectorbt_value = _vectorbt_value(_orders_frame(result.targets, days), prices, result.capital)
    return float(np.max(np.abs(vectorbt_value.to_numpy() - result.equity.to_numpy())))

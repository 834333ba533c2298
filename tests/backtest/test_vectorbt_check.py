"""simulate() against vectorbt on a zero-cost long/short dollar-neutral book.

The vectorbt call (in backtest.vectorbt_check) is exactly:

    vbt.Portfolio.from_orders(
        close=prices,            # cumprod(1 + returns) from 1, NaN where the return is NaN
        size=orders,             # NaN except on execution dates: the full target-weight row
        size_type="targetpercent", direction="both",
        group_by=True, cash_sharing=True,
        call_seq="auto",         # sells before buys within each day
        init_cash=capital, fees=0.0, fixed_fees=0.0, slippage=0.0,
        min_size=0.0,            # default 1e-8 shares would skip tiny rebalancing trades
        freq="1D",
    ).value()

Execution dates are the decision dates moved by the lag (backtest.simulate.execution_dates).
Only two tests: importing vectorbt compiles numba kernels (slow the first time).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metasignal.backtest import simulate
from metasignal.backtest.vectorbt_check import compare_with_vectorbt, price_path, vectorbt_equity


def _long_short_book(seed: int = 7, n_days: int = 260, n_names: int = 30):
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2022-01-03", periods=n_days)
    names = [f"S{i:02d}" for i in range(n_names)]
    returns = pd.DataFrame(rng.normal(0.0003, 0.02, (n_days, n_names)), index=days, columns=names)
    returns.iloc[150:, 3] = np.nan  # delisted while held
    returns.iloc[:60, 5] = np.nan  # listed later
    decisions = days[4::5]  # weekly decisions
    raw = rng.normal(size=(len(decisions), n_names))
    raw[:12, 5] = np.nan  # no target before the listing (it could not be traded anyway)
    raw = np.nan_to_num(raw - np.nanmean(raw, axis=1, keepdims=True))  # dollar neutral
    gross_two = raw / np.abs(raw).sum(axis=1, keepdims=True) * 2.0  # 100 % long, 100 % short
    return returns, pd.DataFrame(gross_two, index=decisions, columns=names)


@pytest.mark.slow  # vectorbt's first use compiles with numba (~10 s)
def test_zero_cost_equity_matches_vectorbt_within_1e_8():
    returns, weights = _long_short_book()
    assert np.allclose(weights.sum(axis=1), 0.0)
    for lag in (1, 0):
        result = simulate(weights, returns, lag=lag, capital=1.0)
        reference = vectorbt_equity(weights, returns, lag=lag, capital=1.0)
        assert reference.index.equals(result.equity.index)
        difference = np.max(np.abs(reference.to_numpy() - result.equity.to_numpy()))
        assert difference < 1e-8, f"lag={lag}: max |equity difference| = {difference:.3g}"
        assert compare_with_vectorbt(result, returns) < 1e-8
        # the book actually moved: not a comparison of two flat lines
        assert abs(result.equity.iloc[-1] - 1.0) > 1e-3
        assert result.exposure["gross"].iloc[-1] > 1.5
        # the delisting and the late listing are exercised
        delisting = returns.index[149:151]
        assert result.weights.loc[delisting[0], "S03"] != 0.0
        assert result.weights.loc[delisting[1], "S03"] == 0.0
        assert (result.weights["S05"] != 0.0).any()


def test_price_path_rebuilds_the_returns_and_keeps_gaps():
    returns, _ = _long_short_book(n_days=80)
    prices = price_path(returns)
    assert (prices.iloc[0].dropna() == 1.0).all()
    rebuilt = prices.pct_change(fill_method=None)
    np.testing.assert_allclose(rebuilt.iloc[1:, 0], returns.iloc[1:, 0], rtol=0, atol=1e-15)
    assert prices.iloc[:60, 5].isna().all() and prices.iloc[60:, 5].notna().all()


@pytest.mark.slow  # vectorbt's first use compiles with numba (~10 s)
def test_synthetic_market_book_matches_vectorbt(small_store_path):
    """Real listings and delistings of the synthetic store, weekly momentum book, zero costs."""
    from metasignal.data.store import Store

    with Store.open(small_store_path) as store:
        days = store.trading_days()
        returns = store.returns(days[0], days[-1])
        momentum = store.panel("momentum", days[0], days[-1])
        in_universe = store.panel("in_universe", days[0], days[-1]).astype(bool)
    signal = momentum.where(in_universe).iloc[60::5]
    centred = signal.sub(signal.mean(axis=1), axis=0)
    weights = centred.div(centred.abs().sum(axis=1), axis=0).fillna(0.0) * 2.0

    result = simulate(weights, returns, lag=1)
    assert compare_with_vectorbt(result, returns) < 1e-8
    assert abs(result.equity.iloc[-1] - 1.0) > 1e-3

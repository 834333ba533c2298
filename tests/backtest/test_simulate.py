"""Behaviour of backtest.simulate: timing, accounting identities, costs, delistings, causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metasignal.backtest import BankruptcyError, execution_dates, simulate
from metasignal.backtest import metrics as perf
from metasignal.errors import DataValidationError
from metasignal.portfolio.costs import BorrowCostModel, TransactionCostModel

DAYS = pd.bdate_range("2024-01-01", periods=5)  # Mon 1 Jan .. Fri 5 Jan 2024
HAND_RETURNS = pd.DataFrame(
    {"A": [0.01, 0.02, -0.01, 0.05, 0.00], "B": [-0.02, 0.01, 0.03, -0.04, 0.02]}, index=DAYS
)


def _one_decision(date, **targets) -> pd.DataFrame:
    return pd.DataFrame(targets, index=pd.DatetimeIndex([date]))


def _random_market(seed: int, n_days: int, n_names: int, *, holes: bool = True):
    """Returns with listings/delistings/halts, dollar volume, volatility, weekly-ish targets."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2021-01-04", periods=n_days)
    names = [f"N{i}" for i in range(n_names)]
    returns = rng.normal(0.0, 0.02, (n_days, n_names))
    if holes:
        for j in range(n_names):
            kind = rng.integers(4)
            cut = rng.integers(1, n_days)
            if kind == 1:
                returns[cut:, j] = np.nan  # delisting
            elif kind == 2:
                returns[:cut, j] = np.nan  # listing
            elif kind == 3:
                returns[cut : cut + 2, j] = np.nan  # halt
    returns = pd.DataFrame(returns, index=days, columns=names)
    volume = pd.DataFrame(rng.uniform(1e6, 1e8, (n_days, n_names)), index=days, columns=names)
    volatility = pd.DataFrame(rng.uniform(0.01, 0.04, (n_days, n_names)), index=days, columns=names)
    decisions = days[rng.integers(0, 3) :: rng.integers(1, 6)]
    raw = rng.normal(size=(len(decisions), n_names))
    raw -= raw.mean(axis=1, keepdims=True)
    targets = raw / np.abs(raw).sum(axis=1, keepdims=True) * rng.uniform(0.5, 3.0)
    weights = pd.DataFrame(targets, index=decisions, columns=names)
    return returns, volume, volatility, weights


COSTS = TransactionCostModel(half_spread=0.0005, impact=1.0, capital=1e7)
BORROW = BorrowCostModel(annual_rate=0.02)


# --- timing -------------------------------------------------------------------------------


def test_lag_one_trades_at_next_close_and_earns_from_the_day_after():
    weights = _one_decision(DAYS[0], A=0.5, B=-0.5)
    result = simulate(weights, HAND_RETURNS, lag=1, capital=100.0)

    assert result.equity.index.equals(DAYS)
    assert list(result.targets.index) == [DAYS[1]]
    assert result.decision_dates.loc[DAYS[1]] == DAYS[0]
    np.testing.assert_array_equal(result.gross_returns.iloc[:2], [0.0, 0.0])
    # day 2: +50 in A (-1 %), -50 in B (+3 %) on equity 100
    assert result.gross_returns.iloc[2] == pytest.approx(0.5 * -0.01 - 0.5 * 0.03, abs=1e-15)
    assert result.equity.iloc[2] == pytest.approx(98.0, abs=1e-12)
    # positions drift with prices: A = 49.5, B = -51.5 on equity 98
    assert result.weights.iloc[2].tolist() == pytest.approx([49.5 / 98, -51.5 / 98], abs=1e-15)
    day_three = (49.5 * 0.05 + 51.5 * 0.04) / 98
    assert result.gross_returns.iloc[3] == pytest.approx(day_three, abs=1e-15)
    assert result.cash.iloc[2] == pytest.approx(100.0, abs=1e-12)  # short proceeds fund the long


def test_lag_zero_trades_at_the_decision_close():
    result = simulate(_one_decision(DAYS[0], A=0.5, B=-0.5), HAND_RETURNS, lag=0)
    assert result.gross_returns.iloc[0] == 0.0
    assert result.gross_returns.iloc[1] == pytest.approx(0.5 * 0.02 - 0.5 * 0.01, abs=1e-15)


def test_result_starts_at_the_first_decision_and_first_day_is_flat():
    weights = _one_decision(DAYS[2], A=1.0)
    result = simulate(weights, HAND_RETURNS, lag=1, costs=TransactionCostModel(impact=0.0))
    assert result.equity.index[0] == DAYS[2]
    assert result.gross_returns.iloc[0] == 0.0 and result.net_returns.iloc[0] == 0.0
    assert result.gross_returns.iloc[1] == 0.0  # traded at this close
    assert result.net_returns.iloc[1] == pytest.approx(-0.0005)  # spread on a full-capital trade


def test_decision_on_a_non_trading_day_trades_on_the_next_trading_days():
    trading_days = pd.bdate_range("2024-01-01", periods=10)
    saturday, friday = pd.Timestamp("2024-01-06"), pd.Timestamp("2024-01-05")
    monday, tuesday = pd.Timestamp("2024-01-08"), pd.Timestamp("2024-01-09")
    assert execution_dates([saturday], trading_days, 0).index.tolist() == [monday]
    assert execution_dates([saturday], trading_days, 1).index.tolist() == [monday]
    assert execution_dates([saturday], trading_days, 2).index.tolist() == [tuesday]
    assert execution_dates([friday], trading_days, 1).index.tolist() == [monday]
    # Friday (lag 1) and Saturday (lag 1) both trade Monday: the later decision wins.
    both = execution_dates([friday, saturday], trading_days, 1)
    assert both.index.tolist() == [monday] and both.iloc[0] == saturday
    # decisions that would trade after the data are dropped
    assert execution_dates([trading_days[-1]], trading_days, 1).empty


def test_wide_and_long_weights_give_the_same_result():
    returns, _, _, weights = _random_market(1, 30, 5, holes=False)
    long_form = weights.stack()
    long_form.index = long_form.index.set_names(["date", "ticker"])
    wide = simulate(weights, returns)
    stacked = simulate(long_form, returns)
    pd.testing.assert_series_equal(wide.equity, stacked.equity)


# --- accounting identities ------------------------------------------------------------------


def _assert_accounting_identities(result) -> None:
    """net = gross - costs (costs >= 0), equity compounds net returns, cash + positions = equity."""
    costs = result.costs[["spread", "impact", "borrow"]].sum(axis=1)
    np.testing.assert_allclose(result.net_returns, result.gross_returns - costs, rtol=0, atol=1e-15)
    assert (result.costs.to_numpy() >= 0).all()
    compounded = result.capital * np.cumprod(1.0 + result.net_returns.to_numpy())
    np.testing.assert_allclose(result.equity, compounded, rtol=1e-11)
    positions = (result.weights.to_numpy() * result.equity.to_numpy()[:, None]).sum(axis=1)
    np.testing.assert_allclose(result.cash + positions, result.equity, rtol=1e-11)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    lag=st.integers(0, 3),
    cash_rate=st.sampled_from([0.0, 0.03]),
    with_costs=st.booleans(),
)
def test_accounting_identities_hold_every_day(seed, lag, cash_rate, with_costs):
    returns, volume, volatility, weights = _random_market(seed, 40, 7)
    result = simulate(
        weights,
        returns,
        lag=lag,
        costs=COSTS if with_costs else None,
        borrow=BORROW if with_costs else None,
        volume=volume,
        volatility=volatility,
        cash_rate=cash_rate,
    )
    _assert_accounting_identities(result)
    exposure = result.exposure
    np.testing.assert_allclose(exposure["gross"], result.weights.abs().sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(exposure["net"], result.weights.sum(axis=1), atol=1e-12)
    if lag > 0:
        assert result.gross_returns.iloc[0] == 0.0 and result.net_returns.iloc[0] == 0.0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), lag=st.integers(0, 2))
def test_dollar_neutral_targets_are_dollar_neutral_after_each_rebalance(seed, lag):
    returns, volume, volatility, weights = _random_market(seed, 40, 9, holes=False)
    result = simulate(
        weights, returns, lag=lag, costs=COSTS, borrow=BORROW, volume=volume, volatility=volatility
    )
    after_trading = result.exposure.loc[result.targets.index]
    np.testing.assert_allclose(after_trading["net"], 0.0, atol=1e-12)
    # and the book is the target sized on the equity before that day's trading costs
    previous_equity = result.equity.shift(1).fillna(result.capital)
    paid = (result.costs["spread"] + result.costs["impact"]) * previous_equity
    scale = (result.equity + paid) / result.equity
    expected = result.targets.mul(scale.loc[result.targets.index], axis=0)
    np.testing.assert_allclose(result.weights.loc[result.targets.index], expected, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), lag=st.integers(0, 3), cut=st.integers(0, 38))
def test_no_look_ahead_changing_the_future_leaves_the_past_bit_identical(seed, lag, cut):
    returns, volume, volatility, weights = _random_market(seed, 40, 6)
    kwargs = dict(lag=lag, costs=COSTS, borrow=BORROW, cash_rate=0.02)
    base = simulate(weights, returns, volume=volume, volatility=volatility, **kwargs)

    t = returns.index[cut]
    rng = np.random.default_rng(seed + 1)
    later = returns.index > t
    future = returns.copy()
    future.loc[later] = rng.normal(0.0, 0.05, (int(later.sum()), returns.shape[1]))
    future.loc[later, "N0"] = np.nan  # a name that now delists right after t
    volume2, volatility2 = volume.copy(), volatility.copy()
    volume2.loc[later] *= 3.0
    volatility2.loc[later] *= 0.5
    changed = simulate(weights, future, volume=volume2, volatility=volatility2, **kwargs)

    upto = slice(None, t)
    np.testing.assert_array_equal(changed.weights.loc[upto], base.weights.loc[upto])
    np.testing.assert_array_equal(changed.net_returns.loc[upto], base.net_returns.loc[upto])
    np.testing.assert_array_equal(changed.gross_returns.loc[upto], base.gross_returns.loc[upto])
    np.testing.assert_array_equal(changed.equity.loc[upto], base.equity.loc[upto])
    np.testing.assert_array_equal(changed.costs.loc[upto], base.costs.loc[upto])


# --- costs ----------------------------------------------------------------------------------


def test_trading_costs_are_the_cost_model_in_dollars_whatever_the_capital():
    # Simulated capital 2e6, model calibrated for 1e6: the dollar cost of a trade does not
    # depend on the model's capital, only on the dollar trade size.
    model = TransactionCostModel(half_spread=0.001, impact=0.5, capital=1e6)
    volume = pd.DataFrame(1e8, index=DAYS, columns=["A", "B"])
    volatility = pd.DataFrame(0.02, index=DAYS, columns=["A", "B"])
    result = simulate(
        _one_decision(DAYS[0], A=0.5),
        HAND_RETURNS,
        lag=0,
        costs=model,
        volume=volume,
        volatility=volatility,
        capital=2e6,
    )
    trade = 1e6  # dollars bought
    spread = 0.001 * trade
    impact = 0.5 * 0.02 * trade**1.5 / np.sqrt(1e8)
    assert result.costs["spread"].iloc[0] == pytest.approx(spread / 2e6, rel=1e-12)
    assert result.costs["impact"].iloc[0] == pytest.approx(impact / 2e6, rel=1e-12)
    assert result.turnover.iloc[0] == pytest.approx(0.25)  # one way: half of |1e6| / 2e6
    assert result.equity.iloc[0] == pytest.approx(2e6 - spread - impact, rel=1e-12)
    assert result.costs.iloc[1:].to_numpy().sum() == 0.0  # no more trades, no shorts


def test_borrow_fee_accrues_daily_on_shorts_held_overnight():
    result = simulate(
        _one_decision(DAYS[0], A=0.5, B=-0.5), HAND_RETURNS, lag=0, borrow=BORROW
    )
    daily = 0.02 / 252
    assert result.costs["borrow"].iloc[0] == 0.0  # the short is opened at the close of day 0
    expected = daily * result.exposure["short"].shift(1).iloc[1:]
    np.testing.assert_allclose(result.costs["borrow"].iloc[1:], expected, rtol=1e-12)
    assert (result.costs[["spread", "impact"]].to_numpy() == 0).all()


def test_cash_leg_earns_the_cash_rate():
    result = simulate(_one_decision(DAYS[0], A=0.5), HAND_RETURNS, lag=0, cash_rate=0.05)
    held, cash, equity = result.weights, result.cash, result.equity
    for d in range(1, len(DAYS)):
        expected = held["A"].iloc[d - 1] * HAND_RETURNS["A"].iloc[d] + (
            cash.iloc[d - 1] / equity.iloc[d - 1]
        ) * 0.05 / 252
        assert result.gross_returns.iloc[d] == pytest.approx(expected, abs=1e-15)


def test_names_without_volume_cannot_be_traded_when_impact_is_charged():
    volume = pd.DataFrame({"A": 1e8, "B": 0.0}, index=DAYS)
    volatility = pd.DataFrame(0.02, index=DAYS, columns=["A", "B"])
    result = simulate(
        _one_decision(DAYS[0], A=0.5, B=-0.5),
        HAND_RETURNS,
        lag=0,
        costs=COSTS,
        volume=volume,
        volatility=volatility,
    )
    assert result.weights["B"].eq(0.0).all()
    assert np.isfinite(result.costs.to_numpy()).all()


# --- delistings ---------------------------------------------------------------------------


def test_delisted_position_is_closed_at_its_last_price_at_no_cost():
    returns = HAND_RETURNS.copy()
    returns.loc[DAYS[3]:, "A"] = np.nan  # A's last return is on day 2
    weights = pd.DataFrame({"A": [0.5, 0.5], "B": [-0.5, -0.5]}, index=DAYS[[0, 4]])
    result = simulate(weights, returns, lag=0, costs=TransactionCostModel(impact=0.0))

    value_of_a = result.weights["A"].iloc[2] * result.equity.iloc[2]  # at day 2's close
    assert value_of_a > 0
    assert result.weights["A"].iloc[3] == 0.0
    assert result.cash.iloc[3] - result.cash.iloc[2] == pytest.approx(value_of_a, rel=1e-12)
    # day 3's P&L is B's alone and nothing is charged for the forced close
    b_value = result.weights["B"].iloc[2] * result.equity.iloc[2]
    assert result.gross_returns.iloc[3] == pytest.approx(
        b_value * returns["B"].iloc[3] / result.equity.iloc[2], rel=1e-12
    )
    assert result.costs.iloc[3].sum() == 0.0
    # a later target for the delisted name is not executed
    assert result.weights["A"].iloc[4] == 0.0
    assert result.targets.loc[DAYS[4], "A"] == 0.5


def test_halted_name_goes_to_cash_and_comes_back_only_at_the_next_rebalance():
    returns = HAND_RETURNS.copy()
    returns.loc[DAYS[2], "A"] = np.nan
    weights = pd.DataFrame({"A": [0.5, 0.5]}, index=DAYS[[0, 3]])
    result = simulate(weights, returns, lag=0)
    assert result.weights["A"].tolist()[1:] == pytest.approx(
        [0.5 * 1.02 / (1 + 0.5 * 0.02), 0.0, 0.5, 0.5 * 1.00 / 1.0], rel=1e-12
    )


# --- metrics and errors ---------------------------------------------------------------------


def test_metrics_agree_with_the_metric_functions():
    returns, volume, volatility, weights = _random_market(3, 60, 8)
    result = simulate(
        weights, returns, costs=COSTS, borrow=BORROW, volume=volume, volatility=volatility
    )
    metrics = result.metrics()
    assert metrics["sharpe"] == pytest.approx(perf.sharpe_ratio(result.net_returns))
    assert metrics["max_drawdown"] == pytest.approx(perf.max_drawdown(result.net_returns))
    assert metrics["gross_sharpe"] == pytest.approx(perf.sharpe_ratio(result.gross_returns))
    assert metrics["average_turnover"] == pytest.approx(result.turnover.mean())
    drag = result.costs.sum(axis=1).mean() * 252 * 1e4
    assert metrics["cost_drag_bp_per_year"] == pytest.approx(drag)
    parts = ("spread_bp_per_year", "impact_bp_per_year", "borrow_bp_per_year")
    assert sum(metrics[p] for p in parts) == pytest.approx(drag)
    assert metrics["cost_drag_bp_per_year"] > 0


def test_bad_inputs_raise_readable_errors():
    weights = _one_decision(DAYS[0], A=0.5)
    with pytest.raises(DataValidationError, match="no returns column"):
        simulate(_one_decision(DAYS[0], Z=1.0), HAND_RETURNS)
    with pytest.raises(DataValidationError, match="lag"):
        simulate(weights, HAND_RETURNS, lag=-1)
    with pytest.raises(DataValidationError, match="duplicate"):
        simulate(weights, pd.concat([HAND_RETURNS, HAND_RETURNS.iloc[:1]]))
    with pytest.raises(DataValidationError, match="sorted"):
        simulate(weights, HAND_RETURNS.iloc[::-1])
    with pytest.raises(DataValidationError, match="volume"):
        simulate(weights, HAND_RETURNS, costs=COSTS)
    with pytest.raises(DataValidationError, match="no rows"):
        simulate(weights.iloc[:0], HAND_RETURNS)
    with pytest.raises(DataValidationError, match="after the last return date"):
        simulate(_one_decision("2025-01-01", A=0.5), HAND_RETURNS)


def test_bankruptcy_stops_the_simulation():
    returns = HAND_RETURNS.copy()
    returns.loc[DAYS[1], "A"] = -0.6
    with pytest.raises(BankruptcyError, match="equity fell"):
        simulate(_one_decision(DAYS[0], A=2.0), returns, lag=0)


# --- on the synthetic market ------------------------------------------------------------------


def _momentum_book(store_path):
    """Weekly dollar-neutral momentum book on the synthetic store's universe (gross 1)."""
    from metasignal.data.store import Store

    with Store.open(store_path) as store:
        days = store.trading_days()
        returns = store.returns(days[0], days[-1])
        momentum = store.panel("momentum", days[0], days[-1])
        in_universe = store.panel("in_universe", days[0], days[-1]).astype(bool)
        volume = store.panel("dollar_volume", days[0], days[-1])
        volatility = store.panel("sigma", days[0], days[-1])
        delisted = store.securities()["delisted"].dropna()
    signal = momentum.where(in_universe).iloc[60::5]
    centred = signal.sub(signal.mean(axis=1), axis=0)
    weights = centred.div(centred.abs().sum(axis=1), axis=0).fillna(0.0)
    return returns, weights, volume, volatility, delisted


def test_synthetic_market_book_keeps_its_identities_and_drops_delisted_names(small_store_path):
    returns, weights, volume, volatility, delisted = _momentum_book(small_store_path)
    result = simulate(
        weights, returns, costs=COSTS, borrow=BORROW, volume=volume, volatility=volatility
    )
    positions = (result.weights.to_numpy() * result.equity.to_numpy()[:, None]).sum(axis=1)
    np.testing.assert_allclose(result.cash + positions, result.equity, rtol=1e-11)
    np.testing.assert_allclose(
        result.net_returns, result.gross_returns - result.costs.sum(axis=1), rtol=0, atol=1e-15
    )
    # nothing is held at the end of a day on which the name did not trade
    not_trading = returns.loc[result.weights.index, result.weights.columns].isna()
    assert (result.weights.where(not_trading).fillna(0.0) == 0.0).all().all()
    # at least one name was held on its last trading day (the store's `delisted` date) and is
    # flat from the next day on
    held_then_delisted = [
        ticker for ticker, day in delisted.items()
        if ticker in result.weights and day in result.weights.index
        and result.weights.loc[day, ticker] != 0
    ]
    assert held_then_delisted
    for ticker in held_then_delisted:
        after = result.weights.index > delisted[ticker]
        assert returns.loc[result.weights.index[after], ticker].isna().all()
        assert (result.weights.loc[after, ticker] == 0.0).all()
    metrics = result.metrics()
    assert np.isfinite([metrics["sharpe"], metrics["cost_drag_bp_per_year"]]).all()
    assert 0.0 < metrics["cost_drag_bp_per_year"] < 2000.0


@pytest.mark.parametrize("frame", ["volume", "volatility"])
def test_impact_inputs_must_cover_every_traded_name(frame):
    # A name missing from the volume (or volatility) frame would silently never trade (or trade
    # without impact); the simulation names it instead.
    days = pd.bdate_range("2024-01-01", periods=5)
    returns = pd.DataFrame(0.01, index=days, columns=["A", "B"])
    inputs = {"volume": pd.DataFrame(1e9, index=days, columns=["A", "B"]),
              "volatility": pd.DataFrame(0.02, index=days, columns=["A", "B"])}
    inputs[frame] = inputs[frame][["A"]]
    weights = pd.DataFrame({"A": [0.5], "B": [-0.5]}, index=days[:1])
    with pytest.raises(DataValidationError, match=f"{frame} has no column for ticker 'B'"):
        simulate(weights, returns, costs=TransactionCostModel(capital=1e6), **inputs)


# --- per-name lags ----------------------------------------------------------------------------


def _random_lags(seed: int, names, largest: int = 3) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.integers(0, largest + 1, len(names)), index=names)


def _assert_same_simulation(a, b) -> None:
    """Every output of two simulations bit for bit (the lag field aside)."""
    for name in ("gross_returns", "net_returns", "equity", "cash", "turnover", "decision_dates"):
        pd.testing.assert_series_equal(getattr(a, name), getattr(b, name), check_exact=True)
    for name in ("weights", "targets", "costs", "exposure"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert a.capital == b.capital


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), lag=st.integers(0, 3), with_costs=st.booleans())
def test_a_constant_lag_series_is_the_int_lag_bit_for_bit(seed, lag, with_costs):
    returns, volume, volatility, weights = _random_market(seed, 40, 7)
    kwargs = dict(costs=COSTS if with_costs else None, borrow=BORROW if with_costs else None,
                  volume=volume, volatility=volatility, cash_rate=0.02)
    by_int = simulate(weights, returns, lag=lag, **kwargs)
    # the Series may list more tickers than the returns have
    per_name = pd.Series(lag, index=[*returns.columns, "ELSEWHERE"])
    by_series = simulate(weights, returns, lag=per_name, **kwargs)
    _assert_same_simulation(by_int, by_series)
    assert by_int.lag == lag
    pd.testing.assert_series_equal(by_series.lag, pd.Series(lag, index=returns.columns, name="lag"))


def test_two_lag_groups_by_hand():
    # A trades one close after the decision, B two: on day 1 only A moves to its target.
    returns = pd.DataFrame(
        {"A": [0.01, 0.02, -0.01, 0.05, 0.00], "B": [-0.02, 0.01, 0.03, -0.04, 0.02]}, index=DAYS
    )
    weights = _one_decision(DAYS[0], A=0.5, B=-0.5)
    result = simulate(weights, returns, lag=pd.Series({"A": 1, "B": 2}), capital=100.0)

    assert list(result.targets.index) == [DAYS[1], DAYS[2]]
    assert result.targets.loc[DAYS[1], "A"] == 0.5 and np.isnan(result.targets.loc[DAYS[1], "B"])
    assert np.isnan(result.targets.loc[DAYS[2], "A"]) and result.targets.loc[DAYS[2], "B"] == -0.5
    assert list(result.decision_dates) == [DAYS[0], DAYS[0]]
    # day 1: buy 50 of A; day 2: A drifts to 49.5, equity 99.5, B is shorted at -0.5 * 99.5
    a2, b2 = 50 * 0.99, -0.5 * 99.5
    a3, b3 = a2 * 1.05, b2 * 0.96
    equity = [100.0, 100.0, 99.5, 100.0 - 0.5 + (a3 - a2) + (b3 - b2)]
    np.testing.assert_allclose(result.equity.iloc[:4], equity, rtol=1e-15)
    np.testing.assert_allclose(result.weights.iloc[1], [0.5, 0.0], rtol=1e-15)
    np.testing.assert_allclose(result.weights.iloc[2], [a2 / 99.5, -0.5], rtol=1e-15)
    np.testing.assert_allclose(result.weights.iloc[3], [a3 / equity[3], b3 / equity[3]], rtol=1e-14)
    np.testing.assert_allclose(result.cash.iloc[:3], [100.0, 50.0, 50.0 + 49.75], rtol=1e-15)
    np.testing.assert_allclose(result.turnover.iloc[:3], [0.0, 0.25, 49.75 / 2 / 99.5], rtol=1e-15)


def _reference_simulation(weights, returns, lags, half_spread, capital):
    """A plain per-day, per-name loop of the timing rule (decisions on trading days, no NaN
    returns): (held weights, equity, cash) by day."""
    days = returns.index
    decision_rows = days.get_indexer(weights.index)
    n_days, names = len(days), list(returns.columns)
    held, cash, equity = {name: 0.0 for name in names}, capital, capital
    out_weights, out_equity, out_cash = np.zeros((n_days, len(names))), np.zeros(n_days), np.zeros(n_days)
    for d in range(decision_rows[0], n_days):
        for name in names:
            change = held[name] * returns[name].iloc[d]
            held[name] += change
            equity += change
        trades = {}
        for name in names:
            for i, row in enumerate(decision_rows):  # in date order: the later decision wins
                if row + lags[name] == d:
                    trades[name] = weights[name].iloc[i] * equity
        spread = 0.0
        for name, new in trades.items():
            cash -= new - held[name]
            spread += half_spread * abs(new - held[name])
            held[name] = new
        cash -= spread
        equity -= spread
        out_weights[d] = [held[name] / equity for name in names]
        out_equity[d], out_cash[d] = equity, cash
    start = decision_rows[0]
    return out_weights[start:], out_equity[start:], out_cash[start:]


@pytest.mark.parametrize("half_spread", [0.0, 0.002])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_lag_groups_match_a_plain_reference_loop(seed, half_spread):
    returns, _, _, weights = _random_market(seed, 30, 6, holes=False)
    weights = weights.iloc[::2] if len(weights) > 12 else weights  # some days with overlaps, some not
    lags = pd.Series([1, 2] * 3, index=returns.columns)  # half the names lag 1, half lag 2
    costs = TransactionCostModel(half_spread=half_spread, impact=0.0) if half_spread else None
    result = simulate(weights, returns, lag=lags, costs=costs, capital=100.0)
    held, equity, cash = _reference_simulation(weights, returns, lags, half_spread, 100.0)
    np.testing.assert_allclose(result.weights.to_numpy(), held, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.equity.to_numpy(), equity, rtol=1e-12)
    np.testing.assert_allclose(result.cash.to_numpy(), cash, rtol=1e-12, atol=1e-10)
    assert (result.costs["spread"] > 0).any() == (half_spread > 0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), largest=st.integers(1, 3), with_costs=st.booleans())
def test_each_name_trades_only_on_its_own_execution_days(seed, largest, with_costs):
    returns, volume, volatility, weights = _random_market(seed, 40, 7)
    lags = _random_lags(seed, returns.columns, largest)
    result = simulate(weights, returns, lag=lags, costs=COSTS if with_costs else None,
                      volume=volume, volatility=volatility)
    days = result.equity.index
    # each name's targets are exactly the int-lag schedule of its own lag
    for lag in np.unique(lags):
        names = lags.index[lags == lag]
        schedule = execution_dates(weights.index, returns.index, int(lag))
        executed = result.targets[names].notna()
        assert (executed.nunique(axis=1) == 1).all()  # a lag's names execute together
        assert list(executed.index[executed.iloc[:, 0]]) == list(schedule.index)
        expected = weights.loc[schedule.to_numpy(), names].to_numpy()
        np.testing.assert_array_equal(result.targets.loc[schedule.index, names].to_numpy(), expected)
    assert (result.decision_dates.index == result.targets.index).all()
    # a name's dollar holding changes by more than its drift only on its own execution days,
    # never before the first decision's row + its lag
    dollars = result.weights.mul(result.equity, axis=0)
    drifted = dollars.shift(1).fillna(0.0) * (1.0 + returns.loc[days].fillna(0.0))
    moved = (dollars - drifted).abs().gt(1e-12 * result.equity, axis=0)
    traded = moved & returns.loc[days].notna()
    first_row = returns.index.get_loc(weights.index[0])
    for name in returns.columns:
        trade_days = traded.index[traded[name]]
        assert set(trade_days) <= set(result.targets.index[result.targets[name].notna()])
        if len(trade_days):
            assert returns.index.get_loc(trade_days[0]) >= first_row + lags[name]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cash_rate=st.sampled_from([0.0, 0.03]), with_costs=st.booleans())
def test_accounting_identities_hold_with_per_name_lags(seed, cash_rate, with_costs):
    returns, volume, volatility, weights = _random_market(seed, 40, 7)
    result = simulate(
        weights, returns, lag=_random_lags(seed + 1, returns.columns),
        costs=COSTS if with_costs else None, borrow=BORROW if with_costs else None,
        volume=volume, volatility=volatility, cash_rate=cash_rate,
    )
    _assert_accounting_identities(result)
    np.testing.assert_allclose(result.exposure["gross"], result.weights.abs().sum(axis=1), rtol=1e-12)


def test_per_name_lags_on_a_weekend_decision_and_at_the_end_of_the_data():
    trading_days = pd.bdate_range("2024-01-01", periods=10)
    friday, saturday = pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-06")
    monday, tuesday = pd.Timestamp("2024-01-08"), pd.Timestamp("2024-01-09")
    returns = pd.DataFrame(0.0, index=trading_days, columns=["A", "B", "C"])
    weights = pd.DataFrame({"A": [0.1, 0.2], "B": [0.3, 0.4], "C": [0.5, 0.6]},
                           index=pd.DatetimeIndex([friday, saturday]))
    result = simulate(weights, returns, lag=pd.Series({"A": 1, "B": 0, "C": 2}))
    # B (lag 0) trades Friday's decision on Friday; Saturday's on Monday, the later decision
    # winning A's Monday (Friday + 1 and Saturday + max(1, 1)); C: both on Tuesday, Saturday wins
    expected = pd.DataFrame({"A": [np.nan, 0.2, np.nan], "B": [0.3, 0.4, np.nan], "C": [np.nan, np.nan, 0.6]},
                            index=pd.DatetimeIndex([friday, monday, tuesday]))
    pd.testing.assert_frame_equal(result.targets, expected, check_exact=True, check_freq=False)
    assert list(result.decision_dates) == [friday, saturday, saturday]
    np.testing.assert_allclose(result.weights.loc[monday], [0.2, 0.4, 0.0], rtol=1e-15)

    # a decision on the last day trades the lag-0 name and is dropped for the others
    last = simulate(_one_decision(trading_days[-1], A=0.5, B=0.5), returns, lag=pd.Series({"A": 0, "B": 1}))
    assert list(last.targets.index) == [trading_days[-1]]
    assert last.targets.iloc[0, 0] == 0.5 and np.isnan(last.targets.iloc[0, 1])
    assert last.weights.iloc[-1].tolist() == [0.5, 0.0, 0.0]  # C: no target, no lag needed


def test_bad_per_name_lags_raise_readable_errors():
    weights = _one_decision(DAYS[0], A=0.5, B=0.0)
    # B has no target anywhere, so it needs no lag
    assert simulate(weights, HAND_RETURNS, lag=pd.Series({"A": 2})).targets.index[0] == DAYS[2]
    with pytest.raises(DataValidationError, match="no lag for ticker 'B'"):
        simulate(_one_decision(DAYS[0], A=0.5, B=-0.5), HAND_RETURNS, lag=pd.Series({"A": 1}))
    with pytest.raises(DataValidationError, match="lag of ticker 'A'.*got -1"):
        simulate(weights, HAND_RETURNS, lag=pd.Series({"A": -1, "B": 1}))
    with pytest.raises(DataValidationError, match="lag of ticker 'B'.*got 1.5"):
        simulate(weights, HAND_RETURNS, lag=pd.Series({"A": 1, "B": 1.5}))
    with pytest.raises(DataValidationError, match="lag of ticker 'A'.*nan"):
        simulate(weights, HAND_RETURNS, lag=pd.Series({"A": np.nan, "B": 1}))
    with pytest.raises(DataValidationError, match="whole numbers"):
        simulate(weights, HAND_RETURNS, lag=pd.Series({"A": True, "B": False}))
    with pytest.raises(DataValidationError, match="whole numbers"):
        simulate(weights, HAND_RETURNS, lag=pd.Series({"A": "1", "B": "2"}))
    with pytest.raises(DataValidationError, match="'A' twice"):
        simulate(weights, HAND_RETURNS, lag=pd.Series([1, 2], index=["A", "A"]))
    with pytest.raises(DataValidationError, match="empty"):
        simulate(weights, HAND_RETURNS, lag=pd.Series([], dtype=int))
    with pytest.raises(DataValidationError, match="one int lag"):
        execution_dates(DAYS[:1], DAYS, pd.Series({"A": 1}))

"""metasignal.backtest.attribution: P&L attribution identities, concentration, drawdowns,
participation and IC, on small simulations with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metasignal.backtest import simulate
from metasignal.backtest.attribution import (
    AttributionInputs,
    concentration,
    drawdown_table,
    forward_returns,
    name_contributions,
    participation,
    participation_summary,
    pnl_attribution,
    predicted_vs_realized_volatility,
    rolling_beta,
    rolling_ic,
    signal_ic,
    store_inputs,
    style_exposure,
    top_contributors,
)
from metasignal.portfolio.costs import BorrowCostModel, TransactionCostModel
from metasignal.portfolio.risk_history import factor_return_history
from metasignal.portfolio.risk_model import factor_exposure_matrix

N_DAYS, N_NAMES = 120, 16


def _market(seed: int, nan_share: float = 0.0):
    """Returns, groups, styles, one-hots, a simulation with costs and cash interest, and the
    factor history fitted on the market exactly as the walk-forward fits it."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2024-01-01", periods=N_DAYS)
    names = pd.Index([f"T{i:02d}" for i in range(N_NAMES)], name="ticker")
    returns = pd.DataFrame(rng.normal(0.0003, 0.02, (N_DAYS, N_NAMES)), days, names)
    if nan_share:
        returns = returns.mask(rng.random(returns.shape) < nan_share)
    groups = pd.DataFrame({"country": ["US", "JP"] * (N_NAMES // 2),
                           "sector": ["tech", "energy", "banks", "retail"] * (N_NAMES // 4)}, index=names)
    labels = {g: sorted(groups[g].unique()) for g in ("country", "sector")}
    one_hot = factor_exposure_matrix(groups, groups=labels, styles=())
    styles = {name: pd.DataFrame(rng.normal(size=(N_DAYS, N_NAMES)), days, names) for name in ("value", "size")}
    universe = pd.DataFrame(True, days, names)
    history = factor_return_history(returns, one_hot, styles, universe, pd.DataFrame(1.0, days, names))
    decisions = days[::5]
    raw = rng.normal(size=(len(decisions), N_NAMES))
    raw -= raw.mean(axis=1, keepdims=True)
    targets = pd.DataFrame(raw / np.abs(raw).sum(axis=1, keepdims=True) * 2, decisions, names)
    sim = simulate(targets, returns, costs=TransactionCostModel(impact=0.0, capital=1e6), borrow=BorrowCostModel(),
                   cash_rate=0.03)
    adv = pd.DataFrame(rng.uniform(1e5, 1e7, (N_DAYS, N_NAMES)), days, names)
    inputs = AttributionInputs(history.regressions.factor_returns, one_hot, styles, adv)
    return sim, returns, groups, inputs, history


@pytest.fixture(scope="module")
def market():
    return _market(3)


def test_the_parts_add_up_to_the_net_return_every_day(market):
    sim, returns, groups, inputs, _ = market
    attribution = pnl_attribution(sim, returns, groups, inputs)
    daily = attribution.daily
    rebuilt = daily["factor"] + daily["specific"] + daily["financing"] - daily["costs"]
    assert np.abs(rebuilt - sim.net_returns).max() <= 1e-12
    kinds = daily[["factor_country", "factor_sector", "factor_style"]].sum(axis=1)
    assert np.abs(kinds - daily["factor"]).max() <= 1e-12
    position = daily["factor"] + daily["specific"]
    assert np.abs(attribution.by_sector.sum(axis=1) - position).max() <= 1e-12
    assert np.abs(attribution.legs.sum(axis=1) - position).max() <= 1e-12
    assert sorted(attribution.by_sector.columns) == ["banks", "energy", "retail", "tech"]
    # the financing leg is the cash interest: positive with a 3 % cash rate and a cash-rich book
    assert daily["financing"].iloc[5:].gt(0).all() and daily["costs"].sum() > 0


def test_the_specific_part_is_the_held_weights_times_the_regression_residuals(market):
    sim, returns, groups, inputs, history = market
    attribution = pnl_attribution(sim, returns, groups, inputs)
    residuals = history.regressions.residuals.reindex(sim.weights.index)
    expected = (sim.weights.shift(1).fillna(0.0) * residuals.fillna(0.0)).sum(axis=1)
    observed = residuals.notna().all(axis=1)  # every name is fitted on these days
    assert observed.sum() > 100
    assert np.abs(attribution.daily["specific"][observed] - expected[observed]).max() <= 1e-12


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.0, 0.05]))
def test_attribution_identity_holds_for_any_market(seed, nan_share):
    sim, returns, groups, inputs, _ = _market(seed, nan_share)
    attribution = pnl_attribution(sim, returns, groups, inputs)
    daily = attribution.daily
    rebuilt = daily["factor"] + daily["specific"] + daily["financing"] - daily["costs"]
    assert np.abs(rebuilt - sim.net_returns).max() <= 1e-12
    assert np.abs(attribution.legs.sum(axis=1) - daily["factor"] - daily["specific"]).max() <= 1e-12


def test_long_and_short_legs_take_the_names_of_their_side():
    days = pd.bdate_range("2024-01-01", periods=3)
    weights = pd.DataFrame({"A": [0.5, 0.5, 0.5], "B": [-0.5, -0.5, -0.5]}, index=days)
    returns = pd.DataFrame({"A": [0.0, 0.02, -0.01], "B": [0.0, 0.04, 0.01]}, index=days)
    sim = simulate(weights.iloc[:1], returns, lag=0)
    inputs = AttributionInputs(pd.DataFrame(index=days), pd.DataFrame(index=["A", "B"]), {}, pd.DataFrame())
    legs = pnl_attribution(sim, returns, pd.DataFrame({"sector": ["x", "y"]}, index=["A", "B"]), inputs).legs
    held = sim.weights.shift(1)
    assert legs["long"].iloc[1] == pytest.approx(held["A"].iloc[1] * 0.02, abs=1e-15)
    assert legs["short"].iloc[1] == pytest.approx(held["B"].iloc[1] * 0.04, abs=1e-15)
    assert legs["short"].iloc[1] < 0 < legs["long"].iloc[1]


def test_concentration_of_equal_and_concentrated_books():
    days = pd.bdate_range("2024-01-01", periods=3)
    equal = np.r_[np.full(10, 0.1), np.full(10, -0.1), np.zeros(5)]
    skewed = np.r_[0.7, np.full(24, 0.3 / 24)]
    weights = pd.DataFrame([equal, skewed, np.zeros(25)], index=days)
    frame = concentration(weights)
    assert frame["names"].tolist() == [20, 25, 0]
    assert frame.loc[days[0], ["n_long", "n_short"]].tolist() == [10, 10]
    assert frame["effective_n"].iloc[0] == pytest.approx(20.0)
    assert frame["effective_n"].iloc[1] == pytest.approx(1.0 / (0.7 ** 2 + 24 * (0.3 / 24) ** 2))
    assert frame["top10_share"].iloc[0] == pytest.approx(0.5)
    assert frame["top10_share"].iloc[1] == pytest.approx(0.7 + 9 * 0.3 / 24)
    assert frame.iloc[2][["effective_n", "top10_share"]].isna().all()


def test_drawdown_table_dates_and_depths():
    days = pd.bdate_range("2024-01-01", periods=10)
    # a high on day 0, under water days 1-3 (trough day 2), back above on day 4; a new high on
    # day 5, under water from day 6 to the end (trough day 8)
    r = pd.Series([0.1, -0.1, -0.1, 0.05, 0.2, 0.01, -0.05, 0.01, -0.3, 0.01], index=days)
    table = drawdown_table(r)
    equity = (1 + r).cumprod()
    deepest = table.iloc[0]
    assert deepest["peak"] == days[5] and deepest["trough"] == days[8] and pd.isna(deepest["recovery"])
    assert deepest["depth"] == pytest.approx(1 - equity.iloc[8] / equity.iloc[5])
    first = table[table["peak"] == days[0]].iloc[0]
    assert first["trough"] == days[2] and first["recovery"] == days[4]
    assert first["depth"] == pytest.approx(1 - 0.9 * 0.9)
    assert first["days"] == 2 and first["days_to_recover"] == 2
    assert deepest["days"] == 3 and len(table) == 2 and table["depth"].is_monotonic_decreasing
    assert drawdown_table(pd.Series([0.01, 0.02], index=days[:2])).empty


def test_top_contributors_and_detractors_are_the_extremes(market):
    sim, returns, groups, _, _ = market
    summed = name_contributions(sim.weights, returns)
    table = top_contributors(summed, groups, n=3)
    assert table["side"].tolist() == ["contributor"] * 3 + ["detractor"] * 3
    assert table["pnl"].iloc[0] == summed.max() and table["pnl"].iloc[-1] == summed.min()
    assert table["pnl"].is_monotonic_decreasing and "sector" in table.columns
    assert summed.sum() == pytest.approx(pnl_attribution(sim, returns, groups, market[3]).legs.sum().sum())


def test_participation_is_trade_dollars_over_the_previous_days_adv(market):
    sim, returns, _, inputs, _ = market
    values = participation(sim, returns, inputs.adv)
    first_trade = sim.targets.index[0]
    name = sim.weights.columns[0]
    dollars = sim.weights.loc[first_trade, name] * sim.equity.loc[first_trade]
    previous_adv = inputs.adv[name].shift(1).loc[first_trade]
    assert values.loc[(first_trade, name)] == pytest.approx(abs(dollars) / previous_adv, rel=1e-12)
    days_traded = values.index.get_level_values("date").unique()
    assert set(days_traded) <= set(sim.targets.index)
    summary = participation_summary(values)
    assert summary["trades"] == len(values) and summary["p50"] <= summary["p99"] <= summary["max"]


def test_signal_ic_matches_pandas_spearman_and_forward_returns_look_ahead_only():
    rng = np.random.default_rng(0)
    days = pd.bdate_range("2024-01-01", periods=30)
    returns = pd.DataFrame(rng.normal(0, 0.01, (30, 50)), index=days)
    ahead = forward_returns(returns, 5)
    assert ahead.iloc[0, 0] == pytest.approx(np.prod(1 + returns.iloc[1:6, 0]) - 1)
    assert ahead.iloc[-5:].isna().all().all() and ahead.iloc[-6].notna().all()
    signal = ahead + rng.normal(0, 0.02, ahead.shape)
    signal.iloc[3, :10] = np.nan
    ic = signal_ic(signal.iloc[:25], ahead)
    for row in (0, 3, 10):
        both = signal.iloc[row].notna() & ahead.iloc[row].notna()
        expected = signal.iloc[row][both].corr(ahead.iloc[row][both], method="spearman")
        assert ic.iloc[row] == pytest.approx(expected, abs=1e-12)
    assert ic.mean() > 0.2
    assert rolling_ic(ic, 4).iloc[3] == pytest.approx(ic.iloc[:4].mean())


def test_predicted_volatility_is_held_until_the_next_decision():
    days = pd.bdate_range("2024-01-01", periods=100)
    net = pd.Series(np.random.default_rng(1).normal(0, 0.01, 100), index=days)
    predicted = pd.Series([0.1, 0.2], index=[days[0], days[50]])
    frame = predicted_vs_realized_volatility(net, predicted, window=20)
    assert frame["predicted"].iloc[49] == 0.1 and frame["predicted"].iloc[50] == 0.2
    assert frame["realized"].iloc[:19].isna().all()
    assert frame["realized"].iloc[-1] == pytest.approx(net.iloc[-20:].std() * np.sqrt(252))


@pytest.fixture(scope="module")
def walk_forward(small_store_path, tmp_path_factory):
    """A weekly walk-forward on the small tournament, and its store path."""
    from metasignal.backtest.walk_forward import WalkForwardSettings, run_walk_forward
    from metasignal.data.store import Store
    from tests.backtest.test_walk_forward import SETTINGS, make_tournament

    path, rounds, days = make_tournament(small_store_path, tmp_path_factory.mktemp("attribution"))
    with Store.open(path) as store:
        result = run_walk_forward(store, rounds[0], days[315], SETTINGS, WalkForwardSettings("weekly", lag=1))
    return result, path


def test_a_walk_forwards_pnl_splits_exactly_with_the_store_inputs(walk_forward):
    from metasignal.data.store import Store
    from metasignal.reports.fund_sections import fund_views
    from tests.backtest.test_walk_forward import SETTINGS

    result, path = walk_forward
    with Store.open(path) as store:
        inputs = store_inputs(store, result)
        views = fund_views(result, store, SETTINGS)
    sim = result.simulation
    assert inputs.adv.index[0] <= sim.weights.index[0] and inputs.adv.index[-1] == sim.weights.index[-1]
    attribution = pnl_attribution(sim, result.returns, result.groups, inputs)
    daily = attribution.daily
    rebuilt = daily["factor"] + daily["specific"] + daily["financing"] - daily["costs"]
    assert np.abs(rebuilt - sim.net_returns).max() <= 1e-12
    assert np.abs(attribution.by_sector.sum(axis=1) - daily["factor"] - daily["specific"]).max() <= 1e-12
    # a sector- and country-neutral book: the group factors earn almost nothing
    assert daily[["factor_sector", "factor_country"]].abs().sum().sum() < 0.1 * daily["specific"].abs().sum()
    assert views.ic is not None and views.ic.notna().sum() >= 3 and views.participation is not None
    assert np.allclose(views.attribution.daily, daily, rtol=0, atol=0, equal_nan=True)



def test_style_exposure_and_rolling_beta():
    days = pd.bdate_range("2024-01-01", periods=80)
    weights = pd.DataFrame({"A": 0.5, "B": -0.5}, index=days)
    styles = {"value": pd.DataFrame({"A": 1.0, "B": np.nan}, index=days),
              "size": pd.DataFrame({"A": 2.0, "B": 1.0}, index=days)}
    exposure = style_exposure(weights, styles)
    assert (exposure["value"] == 0.5).all() and (exposure["size"] == 0.5).all()  # NaN counts as 0
    market = pd.Series(np.random.default_rng(2).normal(0, 0.01, 80), index=days)
    beta = rolling_beta(0.3 * market + 0.001, market, window=20)
    assert beta.iloc[:19].isna().all() and np.allclose(beta.iloc[19:], 0.3)

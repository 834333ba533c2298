"""The optimizer: constraints hold, closed-form recovery, re-solve = fresh build, failures, costs."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metasignal.errors import (
    FallbackWarning,
    InfeasiblePortfolioError,
    OptimizationError,
    PortfolioInputError,
)
from metasignal.portfolio.constraints import (
    CountryNeutral,
    DollarNeutral,
    FactorBounds,
    FactorNeutral,
    GrossLeverage,
    MaxWeight,
    ParticipationLimit,
    SectorNeutral,
    TurnoverLimit,
)
from metasignal.portfolio.costs import BorrowCostModel, TransactionCostModel
from metasignal.portfolio.optimizer import (
    OptimizerConfig,
    PortfolioInputs,
    PortfolioOptimizer,
    alpha_from_signal,
)
from metasignal.portfolio.risk_model import RiskModel
from tests.portfolio.conftest import STYLES, make_market

TOL = 1e-6
CAPITAL = 1e8


def _group_nets(weights: np.ndarray, labels: pd.Series) -> np.ndarray:
    return pd.Series(weights, index=labels.index).groupby(labels.to_numpy()).sum().to_numpy()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(24, 60),
    gross=st.floats(0.2, 3.0),
    cap=st.floats(0.01, 0.2),
    beta_limit=st.floats(0.0, 0.3),
    turnover_slack=st.floats(1.05, 3.0),
    risk_aversion=st.floats(0.0, 20.0),
    with_costs=st.booleans(),
)
def test_every_constraint_holds_on_the_solution(seed, n, gross, cap, beta_limit, turnover_slack,
                                                risk_aversion, with_costs):
    market = make_market(n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    tickers = market.tickers
    universe = tickers[rng.random(n) < 0.8]
    prev = pd.Series(rng.normal(0, 0.01, n), index=tickers)
    # w = 0 is feasible: every name can be sold out within its participation cap and the turnover
    # limit covers selling everything
    rate = 0.05
    adv = pd.Series((np.abs(prev.to_numpy()) + rng.uniform(0.001, 0.05, n)) * CAPITAL / rate, index=tickers)
    turnover = 0.5 * float(prev.abs().sum()) * turnover_slack
    constraints = [
        DollarNeutral(), SectorNeutral(), CountryNeutral(), FactorBounds({"beta": beta_limit, "size": (-0.1, 0.2)}),
        GrossLeverage(gross), MaxWeight(cap), ParticipationLimit(rate), TurnoverLimit(turnover),
    ]
    config = OptimizerConfig(
        risk_aversion=risk_aversion,
        transaction_costs=TransactionCostModel(capital=CAPITAL) if with_costs else None,
        borrow_costs=BorrowCostModel(0.02) if with_costs else None,
        capital=CAPITAL,
    )
    optimizer = PortfolioOptimizer(tickers, constraints, groups=market.groups, styles=STYLES, config=config)
    risk = market.risk_model()
    alpha = pd.Series(rng.normal(0, 0.02, len(universe)), index=universe)
    result = optimizer.solve(PortfolioInputs(alpha, risk, prev, adv))

    w = result.weights.reindex(tickers).to_numpy()
    w0 = prev.to_numpy()
    inside = tickers.isin(universe)
    exposures = risk.factor_exposure_frame.reindex(tickers)
    assert abs(w.sum()) <= TOL
    assert np.abs(_group_nets(w, market.classification["sector"])).max() <= TOL
    assert np.abs(_group_nets(w, market.classification["country"])).max() <= TOL
    beta, size = exposures["beta"].to_numpy() @ w, exposures["size"].to_numpy() @ w
    assert -beta_limit - TOL <= beta <= beta_limit + TOL
    assert -0.1 - TOL <= size <= 0.2 + TOL
    assert np.abs(w).sum() <= gross + TOL
    assert np.abs(w).max() <= cap + TOL
    assert 0.5 * np.abs(w - w0).sum() <= turnover + TOL
    max_trade = rate * adv.to_numpy() / CAPITAL
    assert (np.abs(w - w0)[inside] <= max_trade[inside] + TOL).all()
    assert (w[~inside] == 0).all()
    assert result.violations.max() <= TOL
    assert result.report.gross == pytest.approx(np.abs(w).sum())


def test_binding_constraints_are_active_not_vacuous(market):
    """With strong alpha and little risk aversion, gross and caps bind at their limits."""
    tickers = market.tickers
    rng = np.random.default_rng(7)
    constraints = [DollarNeutral(), SectorNeutral(), CountryNeutral(), GrossLeverage(1.0), MaxWeight(0.05)]
    config = OptimizerConfig(risk_aversion=0.1, transaction_costs=None, borrow_costs=None)
    optimizer = PortfolioOptimizer(tickers, constraints, groups=market.groups, styles=STYLES, config=config)
    alpha = pd.Series(rng.normal(0, 0.05, len(tickers)), index=tickers)
    result = optimizer.solve(PortfolioInputs(alpha, market.risk_model()))
    assert result.report.gross == pytest.approx(1.0, abs=1e-6)
    assert result.weights.abs().max() == pytest.approx(0.05, abs=1e-6)
    assert result.report.long == pytest.approx(0.5, abs=1e-6)


def _pinv_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    keep = values > 1e-10 * values.max()
    inv_sqrt = np.zeros_like(values)
    inv_sqrt[keep] = 1.0 / np.sqrt(values[keep])
    return (vectors * inv_sqrt) @ vectors.T


def test_pure_alpha_recovers_the_closed_form_neutral_weights():
    """max s'w - lam sum w_i^2 / v_i  s.t. X'w = 0  =>  w = v o (s - N N'(v o s)) / (2 lam)."""
    market = make_market(150, seed=11, n_countries=4, n_sectors=5)
    rng = np.random.default_rng(12)
    n = len(market.tickers)
    v = rng.uniform(0.2, 3.0, n)
    signal = rng.standard_normal(n)
    lam = 0.7
    base = market.risk_model()
    k = len(base.factors)
    risk = RiskModel(base.as_of, base.tickers, base.factors, base.exposures, np.zeros((k, k)), 1.0 / v)
    config = OptimizerConfig(risk_aversion=lam, horizon_days=1, transaction_costs=None, borrow_costs=None)
    constraints = [DollarNeutral(), CountryNeutral(), SectorNeutral(), FactorNeutral(list(STYLES))]
    optimizer = PortfolioOptimizer(market.tickers, constraints, groups=market.groups, styles=STYLES, config=config)
    result = optimizer.solve(PortfolioInputs(pd.Series(signal, index=market.tickers), risk))

    x = np.column_stack([np.ones(n), base.exposures])  # constant, country, sector one-hots, styles
    neutralizer = x @ _pinv_sqrt(x.T @ (v[:, None] * x))
    closed = v * (signal - neutralizer @ (neutralizer.T @ (v * signal)))
    w = result.weights.to_numpy()
    cosine = w @ closed / (np.linalg.norm(w) * np.linalg.norm(closed))
    assert cosine == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(w, closed / (2 * lam), atol=1e-7)
    assert np.abs(x.T @ w).max() < 1e-8


def _date_inputs(market, rng, universe_share=0.85, prev=None):
    tickers = market.tickers
    universe = tickers[rng.random(len(tickers)) < universe_share]
    alpha = pd.Series(rng.normal(0, 0.01, len(universe)), index=universe)
    adv = pd.Series(rng.uniform(2e6, 5e7, len(tickers)), index=tickers)
    return PortfolioInputs(alpha, market.risk_model(), prev, adv)


def _standard_optimizer(market, **config):
    constraints = [DollarNeutral(), SectorNeutral(), CountryNeutral(), FactorBounds({"beta": 0.05}),
                   GrossLeverage(2.0), MaxWeight(0.06), ParticipationLimit(0.2), TurnoverLimit(0.5)]
    return PortfolioOptimizer(market.tickers, constraints, groups=market.groups, styles=STYLES,
                              config=OptimizerConfig(risk_aversion=2.0, **config))


def test_resolve_with_new_parameters_equals_a_fresh_build(market):
    rng = np.random.default_rng(5)
    first, second = _date_inputs(market, rng), None
    reused = _standard_optimizer(market)
    day_one = reused.solve(first)
    second = _date_inputs(market, rng, universe_share=0.7, prev=day_one.weights)
    again = reused.solve(second)
    fresh = _standard_optimizer(market).solve(second)
    # same optimum; the re-used solver keeps its data scaling, so iterates differ within tolerance
    np.testing.assert_allclose(again.weights.to_numpy(), fresh.weights.to_numpy(), atol=1e-6)
    assert again.objective.net == pytest.approx(fresh.objective.net, rel=1e-6)
    assert again.report.turnover > 0
    out = ~market.tickers.isin(second.alpha.index)
    assert (again.weights[out] == 0).all()


def test_infeasible_turnover_names_the_constraint_and_fallback_is_reported(market, caplog):
    rng = np.random.default_rng(9)
    tickers = market.tickers
    leaving = tickers[:10]
    prev = pd.Series(0.0, index=tickers)
    prev[leaving] = np.resize([0.04, -0.04], 10)  # dollar and nearly group neutral book
    universe = tickers[10:]
    alpha = pd.Series(rng.normal(0, 0.01, len(universe)), index=universe)
    inputs = PortfolioInputs(alpha, market.risk_model(), prev)
    constraints = [DollarNeutral(), GrossLeverage(1.0), TurnoverLimit(0.05)]
    strict = PortfolioOptimizer(tickers, constraints, groups=market.groups, styles=STYLES,
                                config=OptimizerConfig(transaction_costs=None, fallback=None))
    with pytest.raises(InfeasiblePortfolioError, match=r"TurnoverLimit\(0.05\)") as info:
        strict.solve(inputs)
    assert info.value.constraints == ("TurnoverLimit(0.05)",)
    assert "liquidating names outside the universe" in str(info.value)

    lenient = PortfolioOptimizer(tickers, constraints, groups=market.groups, styles=STYLES,
                                 config=OptimizerConfig(transaction_costs=None, fallback="relax_turnover"))
    with pytest.warns(FallbackWarning, match="turnover limit lifted"), \
            caplog.at_level(logging.INFO, logger="metasignal.portfolio.optimizer"):
        result = lenient.solve(inputs)
    assert result.fallback == "relax_turnover"
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "TurnoverLimit(0.05)" in caplog.records[0].getMessage()
    assert "turnover limit lifted" in caplog.records[0].getMessage()
    assert result.relaxed == ("TurnoverLimit(0.05)",)
    assert result.report.turnover > 0.05
    assert (result.weights[leaving] == 0).all()
    assert abs(result.weights.sum()) < TOL

    # the next date is feasible: the limit is back in force and no fallback is reported
    calm = PortfolioInputs(alpha, market.risk_model(), result.weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FallbackWarning)
        later = lenient.solve(calm)
    assert later.fallback is None
    assert later.report.turnover <= 0.05 + TOL


def test_infeasibility_without_a_certificate_is_diagnosed_by_relaxation(market):
    tickers = market.tickers
    rng = np.random.default_rng(2)
    alpha = pd.Series(rng.normal(0, 0.01, len(tickers)), index=tickers)
    constraints = [DollarNeutral(), GrossLeverage(0.05), FactorBounds({"beta": (0.5, 1.0)})]
    optimizer = PortfolioOptimizer(tickers, constraints, groups=market.groups, styles=STYLES,
                                   config=OptimizerConfig(transaction_costs=None))
    with pytest.raises(InfeasiblePortfolioError) as info:
        optimizer.solve(PortfolioInputs(alpha, market.risk_model()))
    assert set(info.value.constraints) == {"GrossLeverage(0.05)", "FactorBounds({'beta': (0.5, 1.0)})"}
    assert "dropping GrossLeverage(0.05) makes the problem feasible" in str(info.value)


def test_cap_below_an_untradeable_position_names_both_bounds(market):
    tickers = market.tickers
    prev = pd.Series(0.0, index=tickers)
    prev.iloc[:2] = [0.05, -0.05]
    adv = pd.Series(1e7, index=tickers)
    alpha = pd.Series(0.001, index=tickers)
    optimizer = PortfolioOptimizer(tickers, [MaxWeight(0.01), ParticipationLimit(0.01)], groups=market.groups,
                                   styles=STYLES, config=OptimizerConfig(transaction_costs=None))
    with pytest.raises(InfeasiblePortfolioError, match="no feasible weight") as info:
        optimizer.solve(PortfolioInputs(alpha, market.risk_model(), prev, adv))
    assert set(info.value.constraints) == {"MaxWeight(0.01)", "ParticipationLimit(0.01)"}
    assert tickers[0] in str(info.value)


def test_reported_costs_follow_the_cost_models(market):
    rng = np.random.default_rng(4)
    tcm, borrow = TransactionCostModel(half_spread=0.001, capital=CAPITAL), BorrowCostModel(0.03)
    optimizer = _standard_optimizer(market, transaction_costs=tcm, borrow_costs=borrow, horizon_days=10)
    inputs = _date_inputs(market, rng)
    result = optimizer.solve(inputs)
    w = result.weights.to_numpy()
    vol = np.sqrt(inputs.risk_model.total_variance().reindex(market.tickers).to_numpy())
    spread, impact = tcm.costs(w, vol, inputs.dollar_volume.reindex(market.tickers).to_numpy())
    assert result.objective.spread_cost == pytest.approx(spread.sum(), rel=1e-12)
    assert result.objective.impact_cost == pytest.approx(impact.sum(), rel=1e-12)
    assert result.objective.borrow_cost == pytest.approx(10 * 0.03 / 252 * np.clip(-w, 0, None).sum(), rel=1e-12)
    assert result.objective.expected_return == pytest.approx(inputs.alpha.reindex(market.tickers).fillna(0) @ w)
    variance = inputs.risk_model.variance(result.weights)
    assert result.objective.risk_penalty == pytest.approx(2.0 * 10 * variance)
    assert result.report.predicted_variance == pytest.approx(variance)


def test_exact_power_impact_beats_the_fit_under_the_exact_objective(market):
    rng = np.random.default_rng(8)
    inputs = _date_inputs(market, rng)
    inputs = PortfolioInputs(inputs.alpha * 5, inputs.risk_model, None, inputs.dollar_volume / 50)
    tcm = TransactionCostModel(capital=CAPITAL)
    exact = _standard_optimizer(market, transaction_costs=tcm, impact="power").solve(inputs)
    fitted = _standard_optimizer(market, transaction_costs=tcm).solve(inputs)
    assert exact.objective.impact_cost == pytest.approx(exact.objective.impact_cost_model)
    assert exact.objective.impact_cost > 0
    assert exact.objective.net >= fitted.objective.net - 1e-7
    assert exact.violations.max() <= TOL


def test_inputs_outside_the_build_are_rejected(market):
    optimizer = _standard_optimizer(market, transaction_costs=None)
    risk = market.risk_model()
    alpha = pd.Series(0.01, index=list(market.tickers[:5]) + ["ZZZ US"])
    with pytest.raises(PortfolioInputError, match="ZZZ US has an alpha but is not in the optimizer's ticker list"):
        optimizer.solve(PortfolioInputs(alpha, risk))
    other = RiskModel(risk.as_of, risk.tickers, pd.Index(list(risk.factors[:-1]) + ["value"]), risk.exposures,
                      risk.factor_covariance, risk.specific_variance)
    with pytest.raises(PortfolioInputError, match="factors differ"):
        optimizer.solve(PortfolioInputs(alpha.iloc[:5], other))
    moved = risk.exposures.copy()
    moved[0, :len(market.groups.columns)] = np.roll(moved[0, :len(market.groups.columns)], 1)
    changed = RiskModel(risk.as_of, risk.tickers, risk.factors, moved, risk.factor_covariance, risk.specific_variance)
    with pytest.raises(PortfolioInputError, match="rebuild the optimizer"):
        optimizer.solve(PortfolioInputs(pd.Series(0.01, index=market.tickers), changed))
    with pytest.raises(PortfolioInputError, match="needs the dollar volume"):
        optimizer.solve(PortfolioInputs(alpha.iloc[:5], risk))


def test_power_impact_is_refused_for_large_ticker_lists():
    market = make_market(2500, seed=1)
    with pytest.raises(PortfolioInputError, match="impact='power' supports at most"):
        PortfolioOptimizer(market.tickers, [], groups=market.groups, config=OptimizerConfig(impact="power"))


def test_alpha_from_signal_scales_a_standardized_signal():
    signal = pd.Series([1.0, 2.0, 3.0, np.nan, 6.0], index=list("abcde"))
    vol = pd.Series(0.02, index=list("abcde"))
    alpha = alpha_from_signal(signal, vol, ic=0.05, horizon_days=16)
    z = (signal.dropna() - signal.mean()) / signal.dropna().std(ddof=0)
    pd.testing.assert_series_equal(alpha, 0.05 * 0.02 * 4 * z)
    assert alpha.mean() == pytest.approx(0.0)
    with pytest.raises(PortfolioInputError, match="two distinct values"):
        alpha_from_signal(pd.Series([1.0, 1.0]), ic=0.05, horizon_days=16)


def test_names_leaving_the_universe_are_liquidated_even_without_volume(market):
    tickers = market.tickers
    prev = pd.Series(0.0, index=tickers)
    prev.iloc[:4] = [0.03, -0.03, 0.02, -0.02]
    adv = pd.Series(5e7, index=tickers)
    adv.iloc[:2] = np.nan  # delisted: no volume any more
    universe = tickers[4:]
    alpha = pd.Series(np.random.default_rng(3).normal(0, 0.01, len(universe)), index=universe)
    optimizer = PortfolioOptimizer(tickers, [DollarNeutral(), ParticipationLimit(0.01), GrossLeverage(1.0)],
                                   groups=market.groups, styles=STYLES,
                                   config=OptimizerConfig(transaction_costs=TransactionCostModel(capital=CAPITAL)))
    result = optimizer.solve(PortfolioInputs(alpha, market.risk_model(), prev, adv))
    assert (result.weights.iloc[:4] == 0).all()
    max_trade = 0.01 * 5e7 / CAPITAL
    assert ((result.weights - prev).iloc[4:].abs() <= max_trade + TOL).all()


def test_an_unconstrained_book_is_reported_as_unbounded(market):
    optimizer = PortfolioOptimizer(market.tickers, [DollarNeutral()], groups=market.groups, styles=STYLES,
                                   config=OptimizerConfig(risk_aversion=0.0, transaction_costs=None,
                                                          borrow_costs=None))
    alpha = pd.Series(np.linspace(-0.01, 0.01, len(market.tickers)), index=market.tickers)
    with pytest.raises(OptimizationError, match="artificial bound|unbounded"):
        optimizer.solve(PortfolioInputs(alpha, market.risk_model()))


def test_config_rejects_two_different_capitals():
    with pytest.raises(PortfolioInputError, match="differs from the transaction cost model's capital"):
        OptimizerConfig(capital=5e8, transaction_costs=TransactionCostModel(capital=1e8))


def test_reachable_cap_sells_as_far_as_liquidity_allows(market):
    """The same book as above: ReachableMaxWeight trades toward the cap instead of failing."""
    from metasignal.portfolio.constraints import ReachableMaxWeight

    tickers = market.tickers
    prev = pd.Series(0.0, index=tickers)
    prev.iloc[:2] = [0.05, -0.05]
    adv = pd.Series(1e7, index=tickers)  # one rebalance may trade 0.01 * 1e7 / 1e8 = 0.001 of capital
    alpha = pd.Series(0.001, index=tickers)
    cap = ReachableMaxWeight(0.01, 0.01)
    optimizer = PortfolioOptimizer(tickers, [cap, ParticipationLimit(0.01)], groups=market.groups,
                                   styles=STYLES, config=OptimizerConfig(transaction_costs=None))
    weights = optimizer.solve(PortfolioInputs(alpha, market.risk_model(), prev, adv)).weights
    assert cap.loosened == 2
    np.testing.assert_allclose(weights.iloc[:2], [0.049, -0.049], atol=1e-7)  # as far toward the cap as allowed
    assert weights.iloc[2:].abs().max() <= 0.01 + 1e-8  # everyone else keeps the plain cap

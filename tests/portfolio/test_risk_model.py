"""Risk model: recovery on a known factor model, point-in-time, regression oracle, shrinkage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from metasignal.errors import PortfolioInputError, RiskModelError
from metasignal.portfolio.risk_model import (
    RiskModel,
    RiskModelConfig,
    cross_sectional_regressions,
    estimate_risk_model,
    factor_exposure_matrix,
    group_labels,
    risk_model_from_regressions,
    risk_model_from_store,
)


def _simulated(n=300, days=500, seed=0, panel=False):
    """Returns from r = B f + e with known F and d; exposures static or drifting per day."""
    rng = np.random.default_rng(seed)
    tickers = pd.Index([f"N{i:03d}" for i in range(n)])
    frame = pd.DataFrame({
        "country": rng.choice(["US", "JP", "GB"], n),
        "sector": rng.choice(["Energy", "Tech", "Banks", "Retail"], n),
        "beta": rng.standard_normal(n),
        "size": rng.standard_normal(n),
    }, index=tickers)
    exposures = factor_exposure_matrix(frame, styles=["beta", "size"])
    k = exposures.shape[1]
    mix = rng.standard_normal((k, k)) * 0.004
    true_f = mix @ mix.T / k + np.diag(rng.uniform(0.003, 0.008, k) ** 2)
    true_d = rng.uniform(0.01, 0.03, n) ** 2
    dates = pd.bdate_range("2022-01-03", periods=days)
    f = rng.multivariate_normal(np.zeros(k), true_f, size=days)
    e = rng.standard_normal((days, n)) * np.sqrt(true_d)
    if panel:
        drift = np.zeros((days, n, k))
        drift[:, :, -2:] = np.cumsum(rng.standard_normal((days, n, 2)) * 0.02, axis=0)
        x = exposures.to_numpy()[None] + drift
        # the return of day t loads on the exposures of day t-1
        lagged = np.concatenate([x[:1], x[:-1]])
        r = np.einsum("tnk,tk->tn", lagged, f) + e
        index = pd.MultiIndex.from_product([dates, tickers])
        exposures = pd.DataFrame(x.reshape(days * n, k), index=index, columns=exposures.columns)
    else:
        r = f @ exposures.to_numpy().T + e
    returns = pd.DataFrame(r, index=dates, columns=tickers)
    return returns, exposures, true_f, true_d, frame


def test_recovers_a_known_factor_model():
    returns, exposures, true_f, true_d, _ = _simulated()
    model = estimate_risk_model(returns, exposures, returns.index[-1], config=RiskModelConfig(lookback=500))
    b = exposures.to_numpy()
    rng = np.random.default_rng(1)
    portfolios = rng.standard_normal((40, len(b)))
    true_var = np.einsum("pi,ij,pj->p", portfolios @ b, true_f, portfolios @ b) + (portfolios**2 * true_d).sum(1)
    model_var = np.array([model.variance(p) for p in portfolios])
    assert np.abs(model_var / true_var - 1).max() < 0.2
    assert np.corrcoef(model.specific_variance, true_d)[0, 1] > 0.95
    assert np.median(model.specific_variance / true_d) == pytest.approx(1.0, abs=0.05)
    assert 0.0 <= model.shrinkage <= 1.0


def test_one_day_matches_a_weighted_least_squares_oracle():
    returns, exposures, *_ = _simulated(n=120, days=30, seed=3)
    design = exposures.drop(columns=[c for c in exposures if c.startswith("country:")])  # full rank
    weights = pd.Series(np.random.default_rng(4).uniform(0.5, 2.0, len(design)), index=design.index)
    returns.iloc[-1, :5] = np.nan
    model = estimate_risk_model(returns, design, returns.index[-1], weights=weights,
                                config=RiskModelConfig(lookback=30))
    day = returns.iloc[-1].dropna()
    fit = sm.WLS(day.to_numpy(), design.loc[day.index].to_numpy(), weights=weights[day.index].to_numpy()).fit()
    np.testing.assert_allclose(model.factor_returns.iloc[-1].to_numpy(), fit.params, rtol=1e-8, atol=1e-12)


def test_nothing_after_the_date_is_used():
    returns, exposures, *_ = _simulated(n=80, days=120, seed=5, panel=True)
    as_of = returns.index[89]
    model = estimate_risk_model(returns, exposures, as_of, config=RiskModelConfig(lookback=60))

    later = returns.index > as_of
    noisy_returns = returns.copy()
    noisy_returns.loc[later] = 1.0
    noisy_exposures = exposures.copy()
    noisy_exposures.loc[noisy_exposures.index.get_level_values(0) > as_of] = 9.0
    again = estimate_risk_model(noisy_returns, noisy_exposures, as_of, config=RiskModelConfig(lookback=60))
    np.testing.assert_array_equal(model.exposures, again.exposures)
    np.testing.assert_array_equal(model.factor_covariance, again.factor_covariance)
    np.testing.assert_array_equal(model.specific_variance, again.specific_variance)

    # the exposures dated as_of are the model's B but explain no return of the window (one-day lag)
    shifted = exposures.copy()
    on_date = shifted.index.get_level_values(0) == as_of
    shifted.loc[on_date, "beta"] += 1.0
    moved = estimate_risk_model(returns, shifted, as_of, config=RiskModelConfig(lookback=60))
    pd.testing.assert_frame_equal(model.factor_returns, moved.factor_returns)
    assert not np.array_equal(model.exposures, moved.exposures)

    # while a change to an in-window return does change the model
    earlier = returns.copy()
    earlier.iloc[80, :] += 0.05
    assert not np.array_equal(model.factor_covariance, estimate_risk_model(
        earlier, exposures, as_of, config=RiskModelConfig(lookback=60)).factor_covariance)


def test_panel_exposures_follow_the_lag_convention():
    returns, exposures, true_f, true_d, _ = _simulated(n=250, days=400, seed=6, panel=True)
    model = estimate_risk_model(returns, exposures, returns.index[-1], config=RiskModelConfig(lookback=399))
    assert np.median(model.specific_variance / true_d) == pytest.approx(1.0, abs=0.06)


def test_shrinkage_and_specific_variance_targets():
    returns, exposures, _, _, frame = _simulated(n=100, days=80, seed=7)
    full = estimate_risk_model(returns, exposures, returns.index[-1], config=RiskModelConfig(factor_shrinkage=1.0))
    off = ~np.eye(len(full.factors), dtype=bool)
    assert (full.factor_covariance[off] == 0).all()

    returns = returns.copy()
    returns["N000"] = np.nan  # no history: gets its sector's median
    model = estimate_risk_model(returns, exposures, returns.index[-1])
    labels = group_labels(model.factor_exposure_frame, "sector")
    assert labels["N000"] == frame.loc["N000", "sector"]
    peers = labels.index[(labels == labels["N000"]) & (labels.index != "N000")]
    unshrunk = estimate_risk_model(returns, exposures, returns.index[-1], config=RiskModelConfig(prior_days=0.0))
    spec = pd.Series(unshrunk.specific_variance, index=unshrunk.tickers)
    assert model.specific_variance[0] == pytest.approx(spec[peers].median())
    # shrinkage moves every name toward its sector median
    own = spec.drop("N000")
    shrunk = pd.Series(model.specific_variance, index=model.tickers).drop("N000")
    medians = own.groupby(labels.drop("N000")).transform("median")
    assert ((shrunk - medians).abs() <= (own - medians).abs() + 1e-15).all()


def test_variance_equals_the_dense_covariance():
    rng = np.random.default_rng(8)
    b = rng.standard_normal((30, 4))
    mix = rng.standard_normal((4, 4))
    cov = mix @ mix.T
    d = rng.uniform(0.1, 0.2, 30)
    model = RiskModel(pd.Timestamp("2024-01-02"), pd.Index([f"X{i}" for i in range(30)]), pd.Index(list("abcd")),
                      b, cov, d)
    w = rng.standard_normal(30)
    assert model.variance(w) == pytest.approx(w @ (b @ cov @ b.T + np.diag(d)) @ w)
    np.testing.assert_allclose(model.factor_sqrt @ model.factor_sqrt.T, cov, atol=1e-12)
    np.testing.assert_allclose(model.total_variance().to_numpy(), np.diag(b @ cov @ b.T) + d)
    with pytest.raises(PortfolioInputError, match="not in the risk model"):
        model.variance(pd.Series({"X0": 0.1, "OTHER": 0.2}))


def test_exposure_matrix_rejects_unlisted_labels_and_bad_history():
    frame = pd.DataFrame({"country": ["US", "FR"], "sector": ["Tech", "Tech"], "beta": [0.5, np.nan]},
                         index=["A", "B"])
    matrix = factor_exposure_matrix(frame, groups={"country": ["FR", "US"], "sector": None}, styles=["beta"])
    assert list(matrix.columns) == ["country:FR", "country:US", "sector:Tech", "beta"]
    assert matrix.loc["B", "beta"] == 0.0
    with pytest.raises(PortfolioInputError, match="ticker B has country 'FR'"):
        factor_exposure_matrix(frame, groups={"country": ["US"]})
    returns = pd.DataFrame({"A": [0.01]}, index=pd.DatetimeIndex(["2024-01-02"]))
    with pytest.raises(RiskModelError, match="at least 2 days"):
        estimate_risk_model(returns, matrix, "2024-01-02")


def test_from_store_on_a_small_synthetic_store(tmp_path):
    from metasignal.data.generate import generate_store
    from metasignal.data.store import Store
    from metasignal.data.synthetic import SyntheticConfig

    store = Store.open(tmp_path / "small.duckdb", create=True)
    generate_store(store, SyntheticConfig(n_tickers=120, years=0.8, seed=5))
    date = store.trading_days()[-1]
    model = risk_model_from_store(store, date, config=RiskModelConfig(lookback=100))
    universe = store.universe(date)
    assert list(model.tickers) == list(universe)
    assert {"beta", "size", "momentum", "volatility", "value"} <= set(model.factors)
    assert any(f.startswith("country:") for f in model.factors)
    realized = store.exposures(date)["sigma"]
    predicted = np.sqrt(model.total_variance())
    assert 0.6 < float((predicted / realized).median()) < 1.6
    store.close()


def test_one_pass_over_history_equals_per_date_estimation():
    returns, exposures, *_ = _simulated(n=60, days=150, seed=9, panel=True)
    weights = pd.DataFrame(np.random.default_rng(10).uniform(0.5, 2, returns.shape), index=returns.index,
                           columns=returns.columns)
    config = RiskModelConfig(lookback=40, halflife=20.0)
    history = cross_sectional_regressions(returns, exposures, weights=weights, chunk_days=7)
    for as_of in returns.index[[60, 149]]:
        latest = exposures.xs(as_of, level=0)
        once = risk_model_from_regressions(history, latest, as_of, config=config)
        direct = estimate_risk_model(returns, exposures, as_of, weights=weights, config=config)
        np.testing.assert_allclose(once.factor_covariance, direct.factor_covariance, rtol=1e-10, atol=1e-18)
        np.testing.assert_allclose(once.specific_variance, direct.specific_variance, rtol=1e-10)
        np.testing.assert_array_equal(once.exposures, direct.exposures)
    assert history.factor_returns.index[0] == returns.index[1]  # day 0 has no earlier exposures

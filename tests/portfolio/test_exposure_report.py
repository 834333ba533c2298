"""Exposure report: accounting identities and per-group nets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metasignal.errors import PortfolioInputError
from metasignal.portfolio import exposure_report
from metasignal.portfolio.risk_model import factor_exposure_matrix
from tests.portfolio.conftest import make_market


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 40))
def test_identities_hold_for_any_weights(seed, n):
    market = make_market(n, seed=seed)
    risk = market.risk_model()
    rng = np.random.default_rng(seed)
    weights = pd.Series(rng.normal(0, 0.05, n) * (rng.random(n) < 0.7), index=market.tickers)
    prev = pd.Series(rng.normal(0, 0.05, n), index=market.tickers)
    report = exposure_report(weights, risk.factor_exposure_frame, risk_model=risk, prev_weights=prev)
    assert report.long - report.short == pytest.approx(report.net)
    assert report.long + report.short == pytest.approx(weights.abs().sum())
    assert report.n_long + report.n_short == int((weights.abs() > 1e-6).sum())
    # per-group nets add up to the book's net (each name sits in exactly one label)
    assert report.group_net["sector"].sum() == pytest.approx(report.net)
    assert report.group_net["country"].sum() == pytest.approx(report.net)
    expected_sector = weights.groupby(market.classification["sector"]).sum()
    pd.testing.assert_series_equal(report.group_net["sector"].sort_index(), expected_sector.sort_index(),
                                   check_names=False, check_index_type=False)
    assert report.style_exposures["beta"] == pytest.approx(risk.factor_exposure_frame["beta"] @ weights)
    assert report.turnover == pytest.approx(0.5 * (weights - prev).abs().sum())
    assert report.predicted_variance == pytest.approx(risk.variance(weights))
    assert report.predicted_volatility == pytest.approx(np.sqrt(252 * risk.variance(weights)))


def test_summary_and_missing_exposures():
    frame = pd.DataFrame({"country": ["US", "US", "JP"], "sector": ["A", "B", "A"], "beta": [1.0, 0.5, -1.0]},
                         index=["x", "y", "z"])
    exposures = factor_exposure_matrix(frame, styles=["beta"])
    weights = pd.Series({"x": 0.3, "y": -0.1, "z": -0.2})
    report = exposure_report(weights, exposures, prev_weights=pd.Series({"x": 0.1, "w": 0.2}))
    summary = report.summary()
    assert summary["gross"] == pytest.approx(0.6)
    assert summary["net"] == pytest.approx(0.0)
    assert summary["max_abs_net_country"] == pytest.approx(0.2)
    assert summary["style_beta"] == pytest.approx(0.3 - 0.05 + 0.2)
    assert report.turnover == pytest.approx(0.5 * (0.2 + 0.1 + 0.2 + 0.2))  # "w" was sold
    assert report.predicted_variance is None
    with pytest.raises(PortfolioInputError, match="ticker q has a weight but no exposures"):
        exposure_report(pd.Series({"q": 0.1}), exposures)

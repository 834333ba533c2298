"""Stores without volume or without shares outstanding: the degraded modes of derive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metasignal.data.derive import derive_store
from metasignal.data.derived import REFERENCE_UNIVERSE, cross_sectional_zscore, degraded_modes, derive_daily
from metasignal.data.regression_weights import risk_regression_weights


def _market(n_days: int = 200, n_names: int = 12, seed: int = 5):
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2021-01-01", periods=n_days)
    names = [f"N{i:02d} US" for i in range(n_names)]
    close = pd.DataFrame(50 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_days, n_names)), axis=0)),
                         index=days, columns=names)
    volume = pd.DataFrame(rng.uniform(1e4, 1e6, (n_days, n_names)), index=days, columns=names)
    shares = pd.Series(rng.uniform(1e6, 1e8, n_names), index=names)
    return close, volume, shares


def test_regression_weights_are_sqrt_cap_then_sqrt_adv_then_equal():
    cap = np.array([[4.0, np.nan, 9.0], [np.nan, np.nan, np.nan], [np.nan, np.nan, np.nan]])
    adv = np.array([[1.0, 1.0, 1.0], [16.0, np.nan, 25.0], [np.nan, 0.0, np.nan]])
    weights = risk_regression_weights(cap, adv)
    np.testing.assert_array_equal(weights[0], [2.0, np.nan, 3.0])  # caps known that day: sqrt cap only
    np.testing.assert_array_equal(weights[1], [4.0, np.nan, 5.0])  # no cap that day: sqrt ADV
    np.testing.assert_array_equal(weights[2], [1.0, 1.0, 1.0])  # neither: equal
    frame = risk_regression_weights(pd.DataFrame(cap, columns=list("abc")), pd.DataFrame(adv, columns=list("abc")))
    assert list(frame.columns) == list("abc")
    np.testing.assert_array_equal(frame.to_numpy(), weights)


def test_with_every_input_the_weights_are_exactly_sqrt_market_cap():
    close, volume, shares = _market()
    fields = derive_daily(close, close, volume, shares)
    weights = risk_regression_weights(fields["market_cap"], fields["adv_20d"])
    np.testing.assert_array_equal(weights.to_numpy(), np.sqrt(fields["market_cap"].to_numpy()))
    assert degraded_modes(volume, shares).messages() == []


def test_without_volume_the_universe_is_by_history_and_sample_weights_are_equal():
    close, volume, shares = _market()
    full = derive_daily(close, close, volume, shares)
    for missing in (volume * np.nan, volume * 0.0):  # no volume at all, or every volume 0
        fields = derive_daily(close, close, missing, shares)
        assert degraded_modes(missing, shares).no_volume
        pd.testing.assert_frame_equal(fields["in_universe"], full["in_universe"])  # full volume: ADV > 0 anyway
        assert fields["in_universe"].to_numpy().sum() > 0
        assert fields["adv_20d"].isna().all().all() and fields["dollar_volume"].isna().all().all()
        v = fields["sample_weight"].where(fields["in_universe"])
        n = fields["in_universe"].sum(axis=1)
        rows = n > 0
        expected = np.sqrt(n[rows] / REFERENCE_UNIVERSE)
        np.testing.assert_allclose(v[rows].max(axis=1), expected, rtol=1e-12)
        np.testing.assert_allclose(v[rows].min(axis=1), expected, rtol=1e-12)


def test_without_shares_size_is_the_log_adv_proxy_and_market_cap_unknown():
    close, volume, shares = _market()
    fields = derive_daily(close, close, volume, shares * np.nan)
    modes = degraded_modes(volume, shares * np.nan)
    assert modes.no_shares and "shares outstanding" in modes.messages()[0]
    assert fields["market_cap"].isna().all().all()
    expected = cross_sectional_zscore(np.log(fields["adv_20d"]), fields["in_universe"])
    pd.testing.assert_frame_equal(fields["size"], expected, check_exact=True)
    assert fields["size"].abs().max().max() > 0.5
    weights = risk_regression_weights(fields["market_cap"], fields["adv_20d"])
    known = fields["adv_20d"].notna().any(axis=1).to_numpy()  # the first days have no ADV yet: equal
    np.testing.assert_array_equal(weights.to_numpy()[known], np.sqrt(fields["adv_20d"].to_numpy()[known]))
    assert (weights.to_numpy()[~known] == 1.0).all() and (~known).sum() == 9


def test_a_name_without_shares_among_capped_names_gets_size_zero():
    close, volume, shares = _market()
    partial = shares.copy()
    partial.iloc[0] = np.nan
    fields = derive_daily(close, close, volume, partial)
    inside = fields["in_universe"].iloc[:, 0]
    assert inside.any()
    assert (fields["size"].iloc[:, 0][inside] == 0.0).all()
    assert degraded_modes(volume, partial).names_without_shares == 1


@pytest.fixture
def bare_store(store_copy):
    """The small synthetic store without volume and without shares outstanding, derived again."""
    store_copy.con.execute("UPDATE bars SET volume = NULL")
    store_copy.con.execute("UPDATE securities SET shares_outstanding = NULL")
    store_copy.forget_cached()
    derive_store(store_copy)
    return store_copy


def test_a_store_without_volume_and_shares_says_so_and_still_fits_its_risk_model(bare_store):
    from metasignal.portfolio.risk_model import risk_model_from_store

    assert bare_store.degraded_modes() == {"volume": "none", "shares": "none"}
    assert bare_store.info()["degraded_modes"] == "volume: none; shares: none"
    day = bare_store.trading_days()[-1]
    exposures = bare_store.exposures(day)
    assert len(exposures) > 100
    assert exposures["market_cap"].isna().all() and exposures["adv_20d"].isna().all()
    np.testing.assert_allclose(exposures["sample_weight"], np.sqrt(len(exposures) / REFERENCE_UNIVERSE))
    model = risk_model_from_store(bare_store, day)  # equal weights: the regressions have names
    assert np.isfinite(model.specific_variance).all() and (model.specific_variance > 0).all()


def test_deriving_again_with_every_input_clears_the_modes(bare_store):
    bare_store.con.execute("UPDATE bars SET volume = 1000")
    bare_store.con.execute("UPDATE securities SET shares_outstanding = 1e6")
    bare_store.forget_cached()
    derive_store(bare_store)
    assert bare_store.degraded_modes() == {}
    assert bare_store.info()["degraded_modes"] is None

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from metasignal.data.neutralizers import exposure_matrix, neutralizer_matrix


@settings(max_examples=40, deadline=None)
@given(n=st.integers(20, 300), groups=st.integers(2, 6), styles=st.integers(0, 4), seed=st.integers(0, 10_000))
def test_neutral_weights_are_exactly_neutral_to_every_exposure(n, groups, styles, seed):
    rng = np.random.default_rng(seed)
    one_hot = np.eye(groups)[rng.integers(0, groups, size=n)]
    x = np.hstack([one_hot, rng.normal(size=(n, styles)), np.ones((n, 1))])  # collinear on purpose
    v = rng.uniform(0.1, 5.0, size=n)
    s = rng.normal(size=n)
    big_n = neutralizer_matrix(x, v)
    np.testing.assert_allclose(big_n.T @ (v[:, None] * big_n), np.eye(big_n.shape[1]), atol=1e-9)
    w = v * (s - big_n @ (big_n.T @ (v * s)))
    assert np.abs(x.T @ w).max() <= 1e-9 * max(1.0, np.abs(v * s).sum())


def test_store_neutralizers_neutralize_the_stored_exposures(store_copy):
    day = store_copy.trading_days()[300]
    exposures = store_copy.exposures(day)
    big_n = store_copy.neutralizers(day).to_numpy()
    v = store_copy.sample_weights(day).to_numpy()
    x = exposure_matrix(exposures).to_numpy()
    s = np.random.default_rng(0).uniform(size=len(v))
    w = v * (s - big_n @ (big_n.T @ (v * s)))
    assert np.abs(x.T @ w).max() < 1e-10
    assert abs(w.sum()) < 1e-10  # the constant column makes it dollar neutral


def test_exposure_matrix_columns():
    frame = pd.DataFrame(
        {"country": ["US", "GB", "US"], "sector": ["Energy", "Energy", "Utilities"],
         "beta": [1.0, np.nan, -1.0], "size": 0.0, "momentum": 0.0, "volatility": 0.0, "value": 0.0}
    )
    x = exposure_matrix(frame)
    assert {"country_US", "country_GB", "sector_Energy", "sector_Utilities", "beta", "constant"} <= set(x.columns)
    assert x["beta"].tolist() == [1.0, 0.0, -1.0]

"""Neutralization: reference residuals from one factorization, zero exposure, neutral weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numerai_tools import scoring as reference

from metasignal.errors import DataValidationError
from metasignal.signals.neutralization import NeutralizerBasis, neutral_weights, neutralize
from tests.signals.scoring_fixtures import v_orthonormal


def sector_and_style_frame(seed: int, n: int = 120) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    index = pd.Index([f"T{i:03d}" for i in range(n)])
    sectors = np.eye(4)[np.arange(n) % 4]  # one-hots sum to the intercept: rank deficient
    styles = rng.standard_normal((n, 2))
    exposures = pd.DataFrame(np.hstack([sectors, styles]), index=index).add_prefix("x")
    signals = pd.DataFrame(rng.standard_normal((n, 3)), index=index, columns=["a", "b", "c"])
    return signals, exposures


@pytest.mark.parametrize("proportion", [1.0, 0.5])
def test_neutralize_equals_reference_on_collinear_neutralizers(proportion):
    signals, exposures = sector_and_style_frame(0)
    signals["constant"] = 1.0
    ours = neutralize(signals, exposures, proportion)
    theirs = reference.neutralize(signals, exposures, proportion)
    assert ours["constant"].isna().all() and theirs["constant"].isna().all()
    pd.testing.assert_frame_equal(ours, theirs, rtol=0, atol=1e-12)


def test_one_factorization_serves_every_column():
    signals, exposures = sector_and_style_frame(1)
    basis = NeutralizerBasis.from_neutralizers(exposures)
    together = basis.residuals(signals.to_numpy())
    for position, column in enumerate(signals.columns):
        alone = basis.residuals(signals[column].to_numpy())
        np.testing.assert_allclose(together[:, position], alone, atol=1e-13)
    # [X | 1] has 7 columns but rank 6: the four sector one-hots sum to the intercept
    assert basis.design.shape[1] == 7 and basis.left.shape[1] == 6


def test_identical_rows_get_identical_residuals():
    """Tie-preservation: the reference re-ranks neutralized values, so ties must survive."""
    signals, exposures = sector_and_style_frame(2)
    signals.iloc[1] = signals.iloc[0]
    exposures.iloc[1] = exposures.iloc[0]
    residuals = neutralize(signals, exposures)
    np.testing.assert_array_equal(residuals.iloc[0].to_numpy(), residuals.iloc[1].to_numpy())


def test_neutralize_rejects_bad_input():
    signals, exposures = sector_and_style_frame(3)
    with pytest.raises(DataValidationError, match="same ticker index"):
        neutralize(signals, exposures.iloc[::-1])
    with pytest.raises(DataValidationError, match="NaN"):
        neutralize(signals.mask(signals > 2), exposures)
    with pytest.raises(DataValidationError, match="neutralizers contain NaN"):
        neutralize(signals, exposures.mask(exposures > 2))


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(6, 50), st.integers(1, 5), st.integers(1, 3)),
    seed=st.integers(0, 10_000),
    duplicate_column=st.booleans(),
)
def test_residuals_have_zero_exposure_to_every_neutralizer_and_the_intercept(
    shape, seed, duplicate_column
):
    n, f, k = shape
    rng = np.random.default_rng(seed)
    exposures = rng.integers(-3, 4, (n, f)).astype(float)
    if duplicate_column:
        exposures = np.hstack([exposures, exposures[:, :1] * 2.0])
    values = rng.standard_normal((n, k)) * 10
    residuals = NeutralizerBasis.from_neutralizers(exposures).residuals(values)
    design = np.hstack([exposures, np.ones((n, 1))])
    scale = np.linalg.norm(design) * np.linalg.norm(values)
    assert np.abs(design.T @ residuals).max() <= 1e-10 * scale


@settings(max_examples=40, deadline=None)
@given(
    exposures=hnp.arrays(np.float64, st.tuples(st.integers(8, 60), st.integers(1, 4)),
                         elements=st.floats(-5, 5, allow_nan=False, width=32)),
    seed=st.integers(0, 10_000),
)
def test_neutral_weights_are_exactly_neutral_when_n_is_v_orthonormal(exposures, seed):
    n = len(exposures)
    x = np.hstack([exposures, np.ones((n, 1))])  # a constant column: dollar neutral too
    assume(np.linalg.cond(x) < 1e6)
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.1, 2.0, n)
    signals = rng.standard_normal((n, 3))
    w = neutral_weights(signals, v_orthonormal(x, v), v)
    assert np.abs(x.T @ w).max() <= 1e-9 * np.linalg.norm(x) * np.linalg.norm(w)
    assert np.abs(w.sum(axis=0)).max() <= 1e-9 * np.abs(w).sum()


def test_neutral_weights_keep_pandas_labels_and_check_alignment():
    signals, exposures = sector_and_style_frame(4)
    weights = pd.Series(np.linspace(0.5, 1.5, len(signals)), index=signals.index)
    orthonormal = v_orthonormal(exposures.to_numpy()[:, 1:], weights.to_numpy())
    n = pd.DataFrame(orthonormal, index=signals.index)
    framed = neutral_weights(signals, n, weights)
    assert list(framed.columns) == ["a", "b", "c"] and framed.index.equals(signals.index)
    plain = neutral_weights(signals.to_numpy(), n.to_numpy(), weights.to_numpy())
    np.testing.assert_allclose(framed.to_numpy(), plain)
    with pytest.raises(DataValidationError, match="same ticker index"):
        neutral_weights(signals, n.iloc[::-1], weights)
    with pytest.raises(DataValidationError, match="sample weights contain NaN"):
        neutral_weights(signals.to_numpy(), n.to_numpy(), np.full(len(signals), np.nan))

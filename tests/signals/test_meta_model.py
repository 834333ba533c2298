"""Meta-model and meta-portfolio: stake-weighted means of cleaned signals / neutral weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numerai_tools import scoring as reference

from metasignal.errors import DataValidationError
from metasignal.signals.meta_model import (
    equal_weight_meta_model,
    stake_weighted_meta_model,
    stake_weighted_meta_portfolio,
)
from tests.signals.scoring_fixtures import build_era


def reference_gaussianized(predictions: pd.DataFrame) -> pd.DataFrame:
    """numerai-tools' pre-clean for the meta-models: rank, fill 0.5, rank again, gaussianize."""
    cleaned = reference.tie_kept_rank(predictions).fillna(0.5)
    return reference.gaussian(reference.tie_kept_rank(cleaned))


@pytest.fixture(scope="module")
def era():
    return build_era(seed=40, n_tickers=150, n_models=4, missing=0.2)


def test_stake_weighted_meta_model_equals_reference_stake_weight(era):
    meta = stake_weighted_meta_model(era.predictions, era.stakes)
    expected = reference.stake_weight(reference_gaussianized(era.predictions), era.stakes)
    assert meta.name == "meta_model"
    np.testing.assert_allclose(meta.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)


def test_models_below_min_stake_without_stake_or_submission_are_left_out(era):
    stakes = era.stakes.copy()
    stakes.iloc[0] = 0.1  # below the minimum
    stakes = stakes.drop(era.predictions.columns[1])  # no stake entry
    stakes["not_submitting"] = 50.0
    predictions = era.predictions.copy()
    predictions["not_submitting"] = np.nan
    meta = stake_weighted_meta_model(predictions, stakes, min_stake=0.5)
    kept = era.predictions.columns[2:]
    expected = reference.stake_weight(
        reference_gaussianized(era.predictions[kept]), era.stakes[kept]
    )
    np.testing.assert_allclose(meta.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    scrambled = predictions.copy()
    scrambled[era.predictions.columns[0]] = -scrambled[era.predictions.columns[0]]
    unchanged = stake_weighted_meta_model(scrambled, stakes, min_stake=0.5)
    pd.testing.assert_series_equal(unchanged, meta)


def test_equal_weight_meta_model(era):
    meta = equal_weight_meta_model(era.predictions)
    expected = reference_gaussianized(era.predictions).mean(axis=1)
    np.testing.assert_allclose(meta.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    stakes = era.stakes.copy()
    stakes.iloc[:2] = 0.0
    filtered = equal_weight_meta_model(era.predictions, stakes, min_stake=0.01)
    kept = era.predictions.columns[2:]
    np.testing.assert_allclose(
        filtered.to_numpy(),
        reference_gaussianized(era.predictions[kept]).mean(axis=1).to_numpy(),
        atol=1e-12,
    )


def test_meta_model_errors(era):
    with pytest.raises(DataValidationError, match="no model qualifies"):
        stake_weighted_meta_model(era.predictions, era.stakes, min_stake=1e6)
    with pytest.raises(DataValidationError, match="non-negative"):
        stake_weighted_meta_model(era.predictions, -era.stakes)
    with pytest.raises(DataValidationError, match="sum to zero"):
        stake_weighted_meta_model(era.predictions, era.stakes * 0.0)
    with pytest.raises(DataValidationError, match="no model submitted"):
        equal_weight_meta_model(era.predictions * np.nan)


def test_meta_portfolio_is_the_stake_weighted_mean_of_neutral_weights_and_is_neutral(era):
    portfolio = stake_weighted_meta_portfolio(
        era.predictions, era.stakes, era.neutralizers, era.sample_weights
    )
    cleaned = reference.tie_kept_rank(era.predictions).fillna(0.5)
    weights = reference.generate_neutralized_weights(cleaned, era.neutralizers, era.sample_weights)
    expected = reference.stake_weight(weights, era.stakes)
    np.testing.assert_allclose(portfolio.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    exposures = np.hstack([era.exposures.to_numpy(), np.ones((len(portfolio), 1))])
    assert np.abs(exposures.T @ portfolio.to_numpy()).max() <= 1e-10 * np.abs(portfolio).sum()


def test_meta_portfolio_needs_neutralizers_for_every_ticker(era):
    with pytest.raises(DataValidationError, match="neutralizers have no finite value for ticker"):
        stake_weighted_meta_portfolio(
            era.predictions, era.stakes, era.neutralizers.iloc[5:], era.sample_weights
        )

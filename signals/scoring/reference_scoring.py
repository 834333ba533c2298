"""The scores of ``numerai_tools.scoring`` (0.7.2) under its names, signatures and numbers.

Per-era correlations (``numerai_corr``, ``feature_neutral_corr``, ``neutral_correlation``),
contributions to the meta-model (``correlation_contribution``, ``neutral_contribution``)
and the portfolio scores (``generate_neutralized_weights``, ``alpha``,
``meta_portfolio_contribution``, ``stake_weight``). Inputs are indexed by ticker id,
predictions are (tickers x models); each function returns one value per model.

Differences from the reference: failed checks raise ``DataValidationError``
(``InsufficientOverlapError`` for the 80 % overlap rule) instead of ``AssertionError``;
``neutral_correlation`` returns NaN for a constant column where the reference fails.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasignal.errors import DataValidationError
from metasignal.signals.neutralization import NeutralizerBasis, neutral_weights_matrix, neutralize
from metasignal.signals.scoring._alignment import (
    DEFAULT_MAX_FILTERED_INDEX_RATIO,
    as_frame,
    filter_sort_index,
    filter_sort_index_many,
    require_no_nan,
    vector,
)
from metasignal.signals.scoring._kernels import (
    contribution_target,
    contributions,
    correlations,
    gaussian_rank,
    mpc,
    signal_transform,
    stake_weights,
)
from metasignal.signals.transforms import (
    SIGNAL_POWER,
    as_float_matrix,
    center,
    gaussian,
    power,
    rank_columns,
    tie_kept_rank,
    variance_normalize,
    weight_normalize,
)

__all__ = [
    "alpha",
    "correlation_contribution",
    "feature_neutral_corr",
    "generate_neutralized_weights",
    "meta_portfolio_contribution",
    "neutral_contribution",
    "neutral_correlation",
    "numerai_corr",
    "stake_weight",
]

_UNCOVERED = (
    "the neutralizers and sample weights must cover every id that has predictions and targets"
)


def numerai_corr(
    predictions: pd.DataFrame,
    targets: pd.Series,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
    top_bottom: int | None = None,
    target_pow15: bool = True,
) -> pd.Series:
    """Numerai correlation per column: Pearson of rank-gauss-pow1.5 predictions and the target.

    The target is centred over all its values, then aligned with the predictions, then
    (if ``target_pow15``) raised to the signed 1.5 power. Returns one value per model.
    """
    predictions = as_frame(predictions)
    targets, predictions = filter_sort_index(center(targets), predictions, max_filtered_index_ratio)
    transformed = signal_transform(as_float_matrix(predictions))
    target = vector(targets)
    if target_pow15:
        target = power(target, SIGNAL_POWER)
    return pd.Series(correlations(transformed, target, top_bottom), index=predictions.columns)


def feature_neutral_corr(
    predictions: pd.DataFrame,
    features: pd.DataFrame,
    targets: pd.Series,
    top_bottom: int | None = None,
) -> pd.Series:
    """``numerai_corr`` of predictions ranked, gaussianized, neutralized to ``features`` and
    variance-normalized. ``predictions`` and ``features`` share one index."""
    predictions = as_frame(predictions)
    neutral = variance_normalize(neutralize(gaussian(tie_kept_rank(predictions)), features))
    return numerai_corr(neutral, targets, top_bottom=top_bottom)


def neutral_correlation(
    predictions: pd.DataFrame,
    neutralizers: pd.DataFrame,
    targets: pd.Series,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
    top_bottom: int | None = None,
) -> pd.Series:
    """Pearson of the neutralized rank-gauss predictions with the centred target (no 1.5 power).

    A constant prediction column gives NaN. Returns one value per model.
    """
    predictions = as_frame(predictions)
    targets, predictions, neutralizers = filter_sort_index_many(
        [center(targets), predictions, neutralizers], max_filtered_index_ratio
    )
    basis = NeutralizerBasis.from_neutralizers(neutralizers)
    neutral = basis.residuals(gaussian(rank_columns(as_float_matrix(predictions))))
    scores = correlations(neutral, vector(targets), top_bottom)
    return pd.Series(scores, index=predictions.columns)


def correlation_contribution(
    predictions: pd.DataFrame,
    meta_model: pd.Series,
    live_targets: pd.Series,
    top_bottom: int | None = None,
) -> pd.Series:
    """MMC: covariance of the target with the predictions orthogonalized to the meta-model.

    Predictions and meta-model are tie-kept ranked and gaussianized; the target is scaled
    by 4 when it lies in [0, 1] and centred; the sum is divided by the number of ids.
    """
    predictions = as_frame(predictions)
    meta_model, predictions = filter_sort_index(meta_model, predictions)
    live_targets, predictions = filter_sort_index(live_targets, predictions)
    live_targets, meta_model = filter_sort_index(live_targets, meta_model)
    signals = gaussian(rank_columns(as_float_matrix(predictions)))
    meta = gaussian_rank(vector(meta_model))
    target = contribution_target(vector(live_targets))
    return pd.Series(contributions(signals, meta, target, top_bottom), index=predictions.columns)


def neutral_contribution(
    predictions: pd.DataFrame,
    meta_model: pd.Series,
    neutralizers: pd.DataFrame,
    live_targets: pd.Series,
    top_bottom: int | None = None,
) -> pd.Series:
    """``correlation_contribution`` after neutralizing predictions and meta-model."""
    predictions = as_frame(predictions)
    live_targets, predictions, meta_model, neutralizers = filter_sort_index_many(
        [live_targets, predictions, meta_model, neutralizers]
    )
    basis = NeutralizerBasis.from_neutralizers(neutralizers)
    signals = as_float_matrix(predictions)
    stacked = np.column_stack([signals, as_float_matrix(meta_model)])
    neutral = basis.residuals(gaussian(rank_columns(stacked)))
    target = contribution_target(vector(live_targets))
    scores = contributions(neutral[:, :-1], neutral[:, -1], target, top_bottom)
    return pd.Series(scores, index=predictions.columns)


def generate_neutralized_weights(
    predictions: pd.DataFrame,
    neutralizers: pd.DataFrame,
    sample_weights: pd.Series,
    center_and_normalize: bool = False,
) -> pd.DataFrame:
    """Neutral weights ``v * (s - N N' (v s))`` of ``s = power(gaussian(rank(p)), 1.5)`` per column.

    Ranks are taken over the predictions' own ids, then everything is aligned (80 % rule).
    With ``center_and_normalize`` each column is centred and scaled to ``sum(|w|) == 1``.
    Returns (tickers x models) on the aligned, sorted ids.
    """
    predictions = as_frame(predictions)
    require_no_nan(predictions, "predictions")
    require_no_nan(neutralizers, "neutralizers")
    require_no_nan(sample_weights, "sample weights")
    transformed = pd.DataFrame(
        signal_transform(as_float_matrix(predictions)),
        index=predictions.index,
        columns=predictions.columns,
    )
    transformed, neutralizers, sample_weights = filter_sort_index_many(
        [transformed, neutralizers, sample_weights]
    )
    exposures = as_float_matrix(neutralizers).reshape(len(transformed), -1)
    weights = neutral_weights_matrix(
        as_float_matrix(transformed), exposures, vector(sample_weights)
    )
    if center_and_normalize:
        weights = weight_normalize(center(weights))
    return pd.DataFrame(weights, index=transformed.index, columns=transformed.columns)


def alpha(
    predictions: pd.DataFrame,
    neutralizers: pd.DataFrame,
    sample_weights: pd.Series,
    targets: pd.Series,
) -> pd.Series:
    """Alpha: neutral weights dotted with the centred target, divided by the number of ids."""
    predictions = as_frame(predictions)
    targets = center(targets)
    predictions, targets = filter_sort_index(predictions, targets)
    weights = generate_neutralized_weights(predictions, neutralizers, sample_weights)
    if not weights.index.equals(targets.index):
        raise DataValidationError(_UNCOVERED)
    scores = vector(targets) @ as_float_matrix(weights) / len(targets)
    return pd.Series(scores, index=weights.columns)


def _check_staked_models(predictions: pd.DataFrame, stakes: pd.Series) -> None:
    """Every model named in ``stakes`` must be a column of ``predictions``."""
    missing = [model for model in stakes.index if model not in predictions.columns]
    if missing:
        raise DataValidationError(f"stakes name models without predictions, e.g. {missing[0]!r}")


def meta_portfolio_contribution(
    predictions: pd.DataFrame,
    stakes: pd.Series,
    neutralizers: pd.DataFrame,
    sample_weights: pd.Series,
    targets: pd.Series,
) -> pd.Series:
    """MPC: gradient of the L2-normalized stake-weighted portfolio's alpha w.r.t. stakes, / 50.

    Returns one value per model in ``stakes`` (missing stakes count as 0).
    """
    predictions = as_frame(predictions)
    predictions, targets = filter_sort_index(predictions, targets)
    targets = center(targets)
    weights_of_stakes = stake_weights(vector(stakes.fillna(0)))
    _check_staked_models(predictions, stakes)
    weights = generate_neutralized_weights(predictions, neutralizers, sample_weights)
    if not weights.index.equals(targets.index):
        raise DataValidationError(_UNCOVERED)
    matrix = as_float_matrix(weights[stakes.index.tolist()])
    return pd.Series(mpc(matrix, weights_of_stakes, vector(targets)), index=stakes.index)


def stake_weight(predictions: pd.DataFrame, stakes: pd.Series) -> pd.Series:
    """Stake-weighted mean (tickers,) of the prediction columns named in ``stakes``
    (NaN entries skipped)."""
    _check_staked_models(predictions, stakes)
    values = as_float_matrix(predictions[stakes.index.tolist()])
    weights = vector(stakes)
    weighted = np.nansum(values * weights, axis=1) / np.nansum(weights)
    return pd.Series(weighted, index=predictions.index)

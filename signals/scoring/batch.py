"""Scores of Signals-style submissions: reference-exact functions and the batch scorer.

Two layers share the same numpy kernels:

1. Functions with the names, signatures and numbers of numerai-tools 0.7.2
   (``scoring`` and ``signals`` modules; the reference of SCORING.md):
   ``numerai_corr``, ``feature_neutral_corr``, ``neutral_correlation``,
   ``correlation_contribution``, ``neutral_contribution``, ``generate_neutralized_weights``,
   ``alpha``, ``meta_portfolio_contribution``, ``stake_weight``, ``churn``, ``turnover``,
   ``neutral_churn``, ``neutral_churn_penalty``, ``calculate_max_churn_and_turnover``,
   ``calculate_mean_neutral_churn``, and the primitives (``rank``, ``gaussian``, ...).
   Differences from the reference: failed checks raise ``DataValidationError``
   (``InsufficientOverlapError`` for the 80 % overlap rule) instead of ``AssertionError``;
   ``neutral_correlation`` returns NaN for a constant column where the reference fails;
   submission validation (headers, value range, minimum ticker count) is left to
   ``signals.submission``.

2. ``score_era`` / ``score_eras``: every requested metric for every model of an era in
   one pass over ``(n_tickers, n_models)`` arrays (one rank of the whole matrix, one
   factorization of the neutralizers, matrix products instead of per-model loops).

Target mapping (SCORING.md): ``targets['factor_neutral']`` feeds corr, fnc, nc, mmc, nmc,
alpha and mpc; ``targets['raw']`` feeds ic (``numerai_corr`` with its default 1.5 power,
since both targets are binned to {0, .25, .5, .75, 1}).
"""

from __future__ import annotations

from math import exp, isfinite
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from metasignal.data.blas import limits_blas_threads
from metasignal.errors import DataValidationError, InsufficientOverlapError
from metasignal.signals.cleaning import fill_partial_columns, rank_over_universe
from metasignal.signals.meta_model import stake_weighted_meta_model
from metasignal.signals.neutralization import NeutralizerBasis, neutral_weights_matrix, neutralize
from metasignal.signals.transforms import (
    SIGNAL_POWER,
    ColumnSort,
    as_float_matrix,
    center,
    column_stds,
    gaussian,
    masked_pearson,
    orthogonalize,
    power,
    rank,
    rank_columns,
    tie_broken_rank,
    tie_kept_rank,
    variance_normalize,
    weight_normalize,
)

__all__ = [
    "DEFAULT_MAX_FILTERED_INDEX_RATIO",
    "InsufficientOverlapError",
    "METRICS",
    "alpha",
    "calculate_max_churn_and_turnover",
    "calculate_mean_neutral_churn",
    "center",
    "churn",
    "correlation_contribution",
    "feature_neutral_corr",
    "filter_sort_index",
    "filter_sort_index_many",
    "gaussian",
    "generate_neutralized_weights",
    "meta_portfolio_contribution",
    "neutral_churn",
    "neutral_churn_penalty",
    "neutral_contribution",
    "neutral_correlation",
    "neutralize",
    "numerai_corr",
    "orthogonalize",
    "power",
    "rank",
    "score_era",
    "score_eras",
    "stake_weight",
    "tie_broken_rank",
    "tie_kept_rank",
    "turnover",
    "variance_normalize",
    "weight_normalize",
]

DEFAULT_MAX_FILTERED_INDEX_RATIO = 0.2
TARGET_BUCKET_SCALE = 4.0  # {0, .25, .5, .75, 1} -> {0, 1, 2, 3, 4}, centred to {-2..2}
MPC_SCALE = 50.0  # numerai-tools' L2-norm MPC is divided by 50
METRICS = ("corr", "ic", "fnc", "nc", "mmc", "nmc", "alpha", "mpc", "churn", "turnover")



# --------------------------------------------------------------------------- alignment


def _check_overlap(kept: int, total: int, name: str, other: str, max_filtered_ratio: float) -> None:
    share = round(1 - max_filtered_ratio, 2) * 100
    if total == 0 or kept / total < 1 - max_filtered_ratio:
        raise InsufficientOverlapError(
            f"not enough overlapping ids between {name} and {other}: {kept} of the {total} ids "
            f"of {name} overlap, at least {share:g}% must"
        )


def _check_unique(obj: pd.Series | pd.DataFrame, name: str) -> None:
    if obj.index.has_duplicates:
        raise DataValidationError(f"{name} lists some ids more than once")


def filter_sort_index(
    s1: pd.Series | pd.DataFrame,
    s2: pd.Series | pd.DataFrame,
    max_filtered_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> tuple[pd.Series | pd.DataFrame, pd.Series | pd.DataFrame]:
    """Keep the ids present and non-NaN in both (any NaN in a frame row drops it), sorted.

    Raises ``InsufficientOverlapError`` if either side keeps less than ``1 - max_filtered_ratio``.
    """
    return tuple(filter_sort_index_many([s1, s2], max_filtered_ratio))


def filter_sort_index_many(
    inputs: Sequence[pd.Series | pd.DataFrame],
    max_filtered_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> list[pd.Series | pd.DataFrame]:
    """``filter_sort_index`` for any number of Series / DataFrames sharing one id space."""
    if len(inputs) == 0:
        raise DataValidationError("filter_sort_index_many needs at least one input")
    for position, obj in enumerate(inputs):
        _check_unique(obj, f"inputs[{position}]")
    ids = inputs[0].dropna().index
    for obj in inputs[1:]:
        ids = ids.intersection(obj.dropna().index)
    for position, obj in enumerate(inputs):
        name = "s1" if len(inputs) == 2 and position == 0 else (
            "s2" if len(inputs) == 2 else f"inputs[{position}]"
        )
        _check_overlap(len(ids), len(obj), name, "the others", max_filtered_ratio)
    ids = ids.sort_values()
    return [obj.loc[ids] for obj in inputs]


def _as_frame(predictions: pd.DataFrame | pd.Series) -> pd.DataFrame:
    if isinstance(predictions, pd.Series):
        return predictions.to_frame()
    if not isinstance(predictions, pd.DataFrame):
        raise DataValidationError("predictions must be a pandas DataFrame (tickers x models)")
    return predictions


def _vector(series: pd.Series) -> np.ndarray:
    return as_float_matrix(series).reshape(-1)


# --------------------------------------------------------------------------- kernels


def _signal_transform(values: np.ndarray) -> np.ndarray:
    """``power(gaussian(tie_kept_rank(values)), 1.5)`` for a 2-D array."""
    return power(gaussian(rank_columns(values)), SIGNAL_POWER)


def _pearson(columns: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``columns`` (n, k) with ``target`` (n,)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        x = columns - columns.mean(axis=0)
        y = target - target.mean()
        correlation = (y @ x) / np.sqrt((x * x).sum(axis=0) * (y @ y))
    return np.clip(correlation, -1.0, 1.0)


def _pearson_pairs(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Pearson correlation of column j of ``left`` with column j of ``right`` (both (n, k))."""
    with np.errstate(invalid="ignore", divide="ignore"):
        x = left - left.mean(axis=0)
        y = right - right.mean(axis=0)
        correlation = (x * y).sum(axis=0) / np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0))
    return np.clip(correlation, -1.0, 1.0)


def _top_bottom_mask(values: np.ndarray, top_bottom: int) -> np.ndarray:
    """Boolean (n, k): the ``top_bottom`` lowest and highest rows of each column (stable order)."""
    n_rows = len(values)
    if top_bottom < 1 or 2 * top_bottom > n_rows:
        raise DataValidationError(
            f"top_bottom must be between 1 and half the number of ids ({n_rows // 2}), "
            f"got {top_bottom}"
        )
    order = np.argsort(values, axis=0, kind="stable")
    mask = np.zeros(values.shape, dtype=bool)
    chosen = np.concatenate([order[:top_bottom], order[n_rows - top_bottom :]])
    np.put_along_axis(mask, chosen, True, axis=0)
    return mask


def _correlations(columns: np.ndarray, target: np.ndarray, top_bottom: int | None) -> np.ndarray:
    if top_bottom is not None and top_bottom > 0:
        return masked_pearson(columns, target, _top_bottom_mask(columns, top_bottom))
    return _pearson(columns, target)


def _contribution_target(target: np.ndarray) -> np.ndarray:
    """Targets in [0, 1] are scaled by 4 (buckets -> -2..2), then centred."""
    if ((target >= 0) & (target <= 1)).all():
        target = target * TARGET_BUCKET_SCALE
    return target - target.mean()


def _contributions(
    signals: np.ndarray, meta: np.ndarray, target: np.ndarray, top_bottom: int | None = None
) -> np.ndarray:
    """``t' orthogonalize(signals, meta) / n`` per column; ``target`` already prepared."""
    neutral = orthogonalize(signals, meta)
    if top_bottom is not None and top_bottom > 0:
        mask = _top_bottom_mask(neutral, top_bottom)
        return np.where(mask, neutral * target[:, None], 0.0).sum(axis=0) / (2 * top_bottom)
    return (target @ neutral) / len(target)


def _mpc(weights: np.ndarray, stake_weights: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Gradient of the stake-weighted portfolio's alpha w.r.t. stake weights, / 50.

    weights (n, k) neutral weights, stake_weights (k,) summing to 1, target (n,) centred.
    """
    centred = weights - weights.mean(axis=0)
    portfolio = centred @ stake_weights
    portfolio = portfolio - portfolio.mean()
    norm = np.sqrt(np.sum(portfolio**2))
    with np.errstate(invalid="ignore", divide="ignore"):
        residual = orthogonalize(centred, portfolio)
        return (target @ residual) / norm / MPC_SCALE


def _stake_weights(stakes: np.ndarray) -> np.ndarray:
    """Stakes / sum(|stakes|); stakes must be non-negative with a positive total."""
    if (stakes < 0).any() or not np.isfinite(stakes).all():
        raise DataValidationError("stakes must be finite and non-negative")
    total = np.abs(stakes).sum()
    if total <= 0:
        raise DataValidationError("stakes must have a positive total")
    return stakes / total


# --------------------------------------------------------------------------- reference-exact scores


def numerai_corr(
    predictions: pd.DataFrame,
    targets: pd.Series,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
    top_bottom: int | None = None,
    target_pow15: bool = True,
) -> pd.Series:
    """Numerai correlation per column: Pearson of rank-gauss-pow1.5 predictions and the target.

    The target is centred over all its values, then aligned with the predictions, then
    (if ``target_pow15``) raised to the signed 1.5 power.
    """
    predictions = _as_frame(predictions)
    targets, predictions = filter_sort_index(center(targets), predictions, max_filtered_index_ratio)
    transformed = _signal_transform(as_float_matrix(predictions))
    target = _vector(targets)
    if target_pow15:
        target = power(target, SIGNAL_POWER)
    return pd.Series(_correlations(transformed, target, top_bottom), index=predictions.columns)


def feature_neutral_corr(
    predictions: pd.DataFrame,
    features: pd.DataFrame,
    targets: pd.Series,
    top_bottom: int | None = None,
) -> pd.Series:
    """``numerai_corr`` of predictions ranked, gaussianized, neutralized to ``features`` and
    variance-normalized. ``predictions`` and ``features`` share one index."""
    predictions = _as_frame(predictions)
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

    A constant prediction column gives NaN.
    """
    predictions = _as_frame(predictions)
    targets, predictions, neutralizers = filter_sort_index_many(
        [center(targets), predictions, neutralizers], max_filtered_index_ratio
    )
    basis = NeutralizerBasis.from_neutralizers(neutralizers)
    neutral = basis.residuals(gaussian(rank_columns(as_float_matrix(predictions))))
    scores = _correlations(neutral, _vector(targets), top_bottom)
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
    predictions = _as_frame(predictions)
    meta_model, predictions = filter_sort_index(meta_model, predictions)
    live_targets, predictions = filter_sort_index(live_targets, predictions)
    live_targets, meta_model = filter_sort_index(live_targets, meta_model)
    signals = gaussian(rank_columns(as_float_matrix(predictions)))
    meta = gaussian(rank_columns(as_float_matrix(meta_model).reshape(-1, 1)))[:, 0]
    target = _contribution_target(_vector(live_targets))
    return pd.Series(_contributions(signals, meta, target, top_bottom), index=predictions.columns)


def neutral_contribution(
    predictions: pd.DataFrame,
    meta_model: pd.Series,
    neutralizers: pd.DataFrame,
    live_targets: pd.Series,
    top_bottom: int | None = None,
) -> pd.Series:
    """``correlation_contribution`` after neutralizing predictions and meta-model."""
    predictions = _as_frame(predictions)
    live_targets, predictions, meta_model, neutralizers = filter_sort_index_many(
        [live_targets, predictions, meta_model, neutralizers]
    )
    basis = NeutralizerBasis.from_neutralizers(neutralizers)
    signals = as_float_matrix(predictions)
    stacked = np.column_stack([signals, as_float_matrix(meta_model)])
    neutral = basis.residuals(gaussian(rank_columns(stacked)))
    target = _contribution_target(_vector(live_targets))
    scores = _contributions(neutral[:, :-1], neutral[:, -1], target, top_bottom)
    return pd.Series(scores, index=predictions.columns)


def _require_no_nan(obj: pd.Series | pd.DataFrame, what: str) -> None:
    if np.isnan(as_float_matrix(obj)).any():
        raise DataValidationError(f"{what} contain NaN")


def generate_neutralized_weights(
    predictions: pd.DataFrame,
    neutralizers: pd.DataFrame,
    sample_weights: pd.Series,
    center_and_normalize: bool = False,
) -> pd.DataFrame:
    """Neutral weights ``v * (s - N N' (v s))`` of ``s = power(gaussian(rank(p)), 1.5)`` per column.

    Ranks are taken over the predictions' own ids, then everything is aligned (80 % rule).
    With ``center_and_normalize`` each column is centred and scaled to ``sum(|w|) == 1``.
    """
    predictions = _as_frame(predictions)
    _require_no_nan(predictions, "predictions")
    _require_no_nan(neutralizers, "neutralizers")
    _require_no_nan(sample_weights, "sample weights")
    transformed = pd.DataFrame(
        _signal_transform(as_float_matrix(predictions)),
        index=predictions.index,
        columns=predictions.columns,
    )
    transformed, neutralizers, sample_weights = filter_sort_index_many(
        [transformed, neutralizers, sample_weights]
    )
    exposures = as_float_matrix(neutralizers).reshape(len(transformed), -1)
    weights = neutral_weights_matrix(
        as_float_matrix(transformed), exposures, _vector(sample_weights)
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
    predictions = _as_frame(predictions)
    targets = center(targets)
    predictions, targets = filter_sort_index(predictions, targets)
    weights = generate_neutralized_weights(predictions, neutralizers, sample_weights)
    if not weights.index.equals(targets.index):
        raise DataValidationError(
            "the neutralizers and sample weights must cover every id "
            "that has predictions and targets"
        )
    scores = _vector(targets) @ as_float_matrix(weights) / len(targets)
    return pd.Series(scores, index=weights.columns)


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
    predictions = _as_frame(predictions)
    predictions, targets = filter_sort_index(predictions, targets)
    targets = center(targets)
    stake_weights = _stake_weights(_vector(stakes.fillna(0)))
    missing = [model for model in stakes.index if model not in predictions.columns]
    if missing:
        raise DataValidationError(f"stakes name models without predictions, e.g. {missing[0]!r}")
    weights = generate_neutralized_weights(predictions, neutralizers, sample_weights)
    if not weights.index.equals(targets.index):
        raise DataValidationError(
            "the neutralizers and sample weights must cover every id "
            "that has predictions and targets"
        )
    matrix = as_float_matrix(weights[stakes.index.tolist()])
    return pd.Series(_mpc(matrix, stake_weights, _vector(targets)), index=stakes.index)


def stake_weight(predictions: pd.DataFrame, stakes: pd.Series) -> pd.Series:
    """Stake-weighted mean of the prediction columns named in ``stakes`` (NaN entries skipped)."""
    missing = [model for model in stakes.index if model not in predictions.columns]
    if missing:
        raise DataValidationError(f"stakes name models without predictions, e.g. {missing[0]!r}")
    values = as_float_matrix(predictions[stakes.index.tolist()])
    weights = _vector(stakes)
    weighted = np.nansum(values * weights, axis=1) / np.nansum(weights)
    return pd.Series(weighted, index=predictions.index)


# --------------------------------------------------------------------------- churn and turnover


def churn(s1: pd.Series, s2: pd.Series, top_bottom: int | None = None) -> float:
    """1 - Spearman correlation over the shared ids (80 % rule; both must vary).

    With ``top_bottom = n``: 1 - mean share of ids kept in the top n and in the bottom n.
    """
    if top_bottom is not None and top_bottom > 0:
        overlaps = []
        sets = []
        for series in (s1, s2):
            order = np.argsort(_vector(series), kind="stable")
            sets.append((series.index[order[:top_bottom]], series.index[order[-top_bottom:]]))
        for first, second in zip(sets[0], sets[1]):
            overlaps.append(len(first.intersection(second)) / top_bottom)
        return 1 - float(np.mean(overlaps))
    s1, s2 = filter_sort_index(s1, s2)
    left, right = _vector(s1), _vector(s2)
    for values, name in ((left, "s1"), (right, "s2")):
        if not len(values) > 1 or values.max() == values.min():
            raise DataValidationError(f"{name} must have non-zero standard deviation for churn")
    ranks = rank_columns(np.column_stack([left, right]))
    return float(1 - _pearson_pairs(ranks[:, :1], ranks[:, 1:])[0])


def turnover(s1: pd.Series, s2: pd.Series) -> float:
    """Half the L1 distance between two weight vectors over their shared ids (80 % rule)."""
    s1, s2 = filter_sort_index(s1, s2)
    return float(np.abs(_vector(s1) - _vector(s2)).sum() / 2)


def _neutralize_signal(signal: pd.Series, neutralizers: pd.DataFrame) -> pd.Series:
    signal, neutralizers = filter_sort_index(signal, neutralizers)
    basis = NeutralizerBasis.from_neutralizers(neutralizers)
    values = gaussian(rank_columns(as_float_matrix(signal).reshape(-1, 1)))
    return pd.Series(basis.residuals(values)[:, 0], index=signal.index, name=signal.name)


def neutral_churn(
    s1: pd.Series, s2: pd.Series, neutralizers1: pd.DataFrame, neutralizers2: pd.DataFrame
) -> float:
    """Churn between the two signals after rank-gauss and neutralizing each to its own era."""
    return churn(_neutralize_signal(s1, neutralizers1), _neutralize_signal(s2, neutralizers2))


def neutral_churn_penalty(
    neutral_churn: float, threshold: float = 0.1, scaling_factor: float = 10.0
) -> float:
    """Share of a positive payout kept: 1 up to ``threshold``, then
    ``2 / (1 + exp(scaling_factor * (neutral_churn - threshold)))``."""
    if not (isfinite(neutral_churn) and 0 <= neutral_churn <= 2):
        raise DataValidationError(
            f"neutral_churn must be finite and between 0 and 2, got {neutral_churn}"
        )
    if not (isfinite(threshold) and 0 <= threshold <= 2):
        raise DataValidationError(f"threshold must be finite and between 0 and 2, got {threshold}")
    if not (isfinite(scaling_factor) and scaling_factor > 0):
        raise DataValidationError(
            f"scaling_factor must be finite and positive, got {scaling_factor}"
        )
    if neutral_churn <= threshold:
        return 1.0
    decay = exp(-scaling_factor * (neutral_churn - threshold))
    return 2 * decay / (1 + decay)


def _clean_over_universe(submission: pd.Series, sample_weight: pd.Series) -> pd.Series:
    """A submission ranked over the era's universe (the sample weights' ids), gaps = 0.5."""
    return rank_over_universe(submission, sample_weight.index)


def calculate_max_churn_and_turnover(
    curr_sub: pd.Series,
    curr_neutralizer: pd.DataFrame,
    curr_sample_weight: pd.Series,
    prev_subs: Mapping[str, pd.Series],
    prev_neutralizers: Mapping[str, pd.DataFrame],
    prev_sample_weights: Mapping[str, pd.Series],
) -> tuple[float, float]:
    """Max churn and max turnover of the current submission against each previous one.

    Each submission is cleaned over its own era's universe (the sample weights' ids);
    turnover compares centred, L1-normalized neutral weights built with each era's own
    N and v. Comparisons with too little overlap are skipped; none left gives 1.0.
    Submissions are expected to be validated already (``signals.submission``).
    """
    current = _clean_over_universe(curr_sub, curr_sample_weight)
    current_weights = generate_neutralized_weights(
        current.to_frame(), curr_neutralizer, curr_sample_weight, center_and_normalize=True
    ).iloc[:, 0]
    churns, turnovers = [], []
    for datestamp, previous_sub in prev_subs.items():
        previous = _clean_over_universe(previous_sub, prev_sample_weights[datestamp])
        previous_weights = generate_neutralized_weights(
            previous.to_frame(),
            prev_neutralizers[datestamp],
            prev_sample_weights[datestamp],
            center_and_normalize=True,
        ).iloc[:, 0]
        try:
            churn_value = abs(churn(current, previous))
            turnover_value = abs(turnover(current_weights, previous_weights))
        except InsufficientOverlapError:
            continue
        churns.append(churn_value)
        turnovers.append(turnover_value)
    return (max(churns) if churns else 1.0, max(turnovers) if turnovers else 1.0)


def calculate_mean_neutral_churn(
    curr_sub: pd.Series,
    curr_neutralizer: pd.DataFrame,
    curr_sample_weight: pd.Series,
    prev_subs: Mapping[str, pd.Series],
    prev_neutralizers: Mapping[str, pd.DataFrame],
    prev_sample_weights: Mapping[str, pd.Series],
) -> float:
    """Mean neutral churn against the previous submissions (1.0 if none can be compared)."""
    current = _neutralize_signal(
        _clean_over_universe(curr_sub, curr_sample_weight), curr_neutralizer
    )
    if current.isna().all():
        raise DataValidationError("the current submission is constant after neutralization")
    values = []
    for datestamp, previous_sub in prev_subs.items():
        previous = _neutralize_signal(
            _clean_over_universe(previous_sub, prev_sample_weights[datestamp]),
            prev_neutralizers[datestamp],
        )
        try:
            values.append(churn(current, previous))
        except InsufficientOverlapError:
            continue
    return float(np.mean(values)) if values else 1.0


# --------------------------------------------------------------------------- batch scoring

TARGET_FOR_CORRELATIONS = "factor_neutral"
TARGET_FOR_IC = "raw"
_NEEDS_FACTOR_NEUTRAL = {"corr", "fnc", "nc", "mmc", "nmc", "alpha", "mpc"}
_NEEDS_NEUTRALIZERS = {"fnc", "nc", "nmc", "alpha", "mpc", "turnover"}
_NEEDS_SAMPLE_WEIGHTS = {"alpha", "mpc", "turnover"}
_NEEDS_META_MODEL = {"mmc", "nmc"}


def _requested_metrics(metrics: Iterable[str]) -> list[str]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    requested = list(dict.fromkeys(metrics))
    unknown = [name for name in requested if name not in METRICS]
    if unknown:
        raise DataValidationError(
            f"unknown metric {unknown[0]!r}; known metrics: {', '.join(METRICS)}"
        )
    return requested


def _require(value: object, needed_by: set[str], wanted: list[str], what: str) -> None:
    users = [name for name in wanted if name in needed_by]
    if users and value is None:
        raise DataValidationError(f"metric {users[0]!r} needs {what}; pass it or drop the metric")


def _usable_neutralizers(neutralizers: pd.DataFrame | None) -> pd.DataFrame | None:
    """Neutralizers without the columns that have no value at all in this era."""
    if neutralizers is None:
        return None
    if not isinstance(neutralizers, pd.DataFrame):
        raise DataValidationError("neutralizers must be a DataFrame (tickers x columns)")
    _check_unique(neutralizers, "neutralizers")
    return neutralizers.loc[:, neutralizers.notna().any(axis=0)]


def _valid_ids(obj: pd.Series | pd.DataFrame) -> pd.Index:
    values = as_float_matrix(obj)
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    return obj.index[finite]


def _weights_on(
    transformed: np.ndarray,
    ids: pd.Index,
    neutralizers: pd.DataFrame,
    sample_weights: pd.Series,
    ratio: float,
) -> tuple[pd.Index, np.ndarray]:
    """Centred, L1-normalized neutral weights of ``transformed`` (rows = ``ids``), as the reference
    ``generate_neutralized_weights(..., center_and_normalize=True)`` aligns and builds them."""
    rows = ids.intersection(_valid_ids(neutralizers)).intersection(_valid_ids(sample_weights))
    for obj, name in ((ids, "the predictions"), (neutralizers, "the neutralizers"),
                      (sample_weights, "the sample weights")):
        _check_overlap(len(rows), len(obj), name, "the other turnover inputs", ratio)
    rows = rows.sort_values()
    positions = ids.get_indexer(rows)
    exposures = as_float_matrix(neutralizers.loc[rows]).reshape(len(rows), -1)
    weights = neutral_weights_matrix(
        transformed[positions], exposures, _vector(sample_weights.loc[rows])
    )
    return rows, weight_normalize(center(weights))


def _rows_mask(ids: pd.Index, subset: pd.Index) -> np.ndarray:
    """Boolean (len(ids),): which of ``ids`` are in ``subset`` (a subset of ``ids``)."""
    mask = np.zeros(len(ids), dtype=bool)
    mask[ids.get_indexer(subset)] = True
    return mask


def _era_churn(
    current: ColumnSort, current_ranks: np.ndarray, ids: pd.Index,
    previous: ColumnSort, previous_ranks: np.ndarray, previous_ids: pd.Index,
    ratio: float,
) -> np.ndarray:
    """1 - Spearman of each current column with the same model's previous column.

    ``current`` / ``previous`` are the sorted cleaned signals on their sorted ids and
    ``*_ranks`` their tie-kept ranks over all those ids; ranks over the shared ids are
    derived from the sorts without sorting again.
    """
    shared = ids.intersection(previous_ids).sort_values()
    try:
        _check_overlap(len(shared), len(ids), "the predictions", "the previous predictions", ratio)
        _check_overlap(
            len(shared), len(previous_ids), "the previous predictions", "the predictions", ratio
        )
    except InsufficientOverlapError:
        return np.full(current_ranks.shape[1], np.nan)
    if len(shared) != len(ids):
        current_ranks = current.tie_kept_ranks_within(_rows_mask(ids, shared))
    if len(shared) != len(previous_ids):
        previous_ranks = previous.tie_kept_ranks_within(_rows_mask(previous_ids, shared))
    varies = (np.ptp(current_ranks, axis=0) > 0) & (np.ptp(previous_ranks, axis=0) > 0)
    return np.where(varies, 1 - _pearson_pairs(current_ranks, previous_ranks), np.nan)


def _era_turnover(current: tuple[pd.Index, np.ndarray], previous: tuple[pd.Index, np.ndarray],
                  ratio: float) -> np.ndarray:
    (ids, weights), (previous_ids, previous_weights) = current, previous
    shared = ids.intersection(previous_ids).sort_values()
    try:
        _check_overlap(len(shared), len(ids), "the weights", "the previous weights", ratio)
        _check_overlap(len(shared), len(previous_ids), "the previous weights", "the weights", ratio)
    except InsufficientOverlapError:
        return np.full(weights.shape[1], np.nan)
    change = weights[ids.get_indexer(shared)] - previous_weights[previous_ids.get_indexer(shared)]
    return np.abs(change).sum(axis=0) / 2


def score_era(
    predictions: pd.DataFrame,
    *,
    targets: pd.DataFrame,
    meta_model: pd.Series | None = None,
    neutralizers: pd.DataFrame | None = None,
    sample_weights: pd.Series | None = None,
    stakes: pd.Series | None = None,
    previous: pd.DataFrame | None = None,
    previous_neutralizers: pd.DataFrame | None = None,
    previous_sample_weights: pd.Series | None = None,
    metrics: Iterable[str] = METRICS,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.DataFrame:
    """Every requested metric for every model of one era, in one vectorized pass.

    Inputs (one era, indexed by ticker):
      predictions   (ticker x model); its index is the era's universe, NaN = not submitted.
                    Each column is cleaned first (rank over submitted names, gaps 0.5), so
                    a partial column scores like the reference on the cleaned column; a
                    column with no value at all scores NaN.
      targets       columns 'factor_neutral' (corr, fnc, nc, mmc, nmc, alpha, mpc) and
                    'raw' (ic), binned to [0, 1].
      meta_model    ticker -> value (mmc, nmc). If None while mmc/nmc are requested and
                    ``stakes`` is given, the stake-weighted meta-model of ``predictions``.
      neutralizers  (ticker x f) N for fnc, nc, nmc, alpha, mpc, turnover; all-NaN columns
                    are ignored. sample_weights ticker -> v (alpha, mpc, turnover).
      stakes        model -> stake (mpc); models without a stake count as stake 0.
      previous      (ticker x model) the models' previous submissions, cleaned over their
                    own index; churn = 1 - Spearman against it, turnover = half the L1
                    change of centred, normalized neutral weights, the previous weights
                    built with ``previous_neutralizers`` / ``previous_sample_weights``
                    (default: this era's). No previous, a model absent from it, or too
                    little overlap gives NaN.

    Every metric except churn/turnover uses the same rows: tickers with predictions and
    every needed input (80 % overlap rule on each). Each value equals the reference
    function on the cleaned column whenever targets, neutralizers, sample weights and
    meta-model cover all predicted tickers (targets are centred over all their values
    for corr/ic/fnc/nc/alpha, over the shared rows for mmc/nmc/mpc, as the reference does).

    Returns a DataFrame indexed by model (the predictions' columns), one column per metric.
    """
    wanted = _requested_metrics(metrics)
    if not isinstance(predictions, pd.DataFrame):
        raise DataValidationError("predictions must be a DataFrame (tickers x models)")
    if not isinstance(targets, pd.DataFrame):
        raise DataValidationError(
            "targets must be a DataFrame with columns 'factor_neutral' and 'raw'"
        )
    _check_unique(predictions, "predictions")
    _check_unique(targets, "targets")
    if predictions.columns.has_duplicates:
        raise DataValidationError("predictions name some models more than once")
    if stakes is not None:
        _check_unique(stakes, "stakes")
    models = predictions.columns
    result = pd.DataFrame(np.nan, index=pd.Index(models, name="model"), columns=wanted)
    if predictions.shape[1] == 0 or not wanted:
        return result

    target_columns = []
    if _NEEDS_FACTOR_NEUTRAL.intersection(wanted):
        target_columns.append(TARGET_FOR_CORRELATIONS)
    if "ic" in wanted:
        target_columns.append(TARGET_FOR_IC)
    absent = [name for name in target_columns if name not in targets.columns]
    if absent:
        raise DataValidationError(f"targets need a column {absent[0]!r} for the requested metrics")
    neutralizers = _usable_neutralizers(neutralizers)
    _require(neutralizers, _NEEDS_NEUTRALIZERS, wanted, "neutralizers")
    _require(sample_weights, _NEEDS_SAMPLE_WEIGHTS, wanted, "sample_weights")
    _require(stakes, {"mpc"}, wanted, "stakes")
    if meta_model is None and _NEEDS_META_MODEL.intersection(wanted):
        _require(stakes, _NEEDS_META_MODEL, wanted, "a meta_model (or stakes to build one)")
        meta_model = stake_weighted_meta_model(predictions, stakes)
    if sample_weights is not None:
        _check_unique(sample_weights, "sample weights")
    if meta_model is not None:
        _check_unique(meta_model, "the meta-model")

    if not predictions.index.is_monotonic_increasing:
        predictions = predictions.sort_index()
    universe = predictions.index
    raw_values = as_float_matrix(predictions).reshape(len(universe), -1)
    active = ~np.isnan(raw_values).all(axis=0)
    cleaned = fill_partial_columns(raw_values[:, active])  # ranks of cleaned columns are exact
    ratio = max_filtered_index_ratio
    signals = ColumnSort.of(cleaned)  # every rank below is derived from this one sort
    ranks = signals.tie_kept_ranks()  # over the universe
    transformed = weights = None  # power(gaussian(ranks), 1.5) and neutral weights, universe rows

    core = [name for name in wanted if name not in ("churn", "turnover")]
    if core and active.any():
        aligned = [(universe, "the predictions")]
        if target_columns:
            aligned.append((targets[target_columns], "the targets"))
        if _NEEDS_META_MODEL.intersection(core):
            aligned.append((meta_model, "the meta-model"))
        if _NEEDS_NEUTRALIZERS.intersection(core):
            aligned.append((neutralizers, "the neutralizers"))
        if _NEEDS_SAMPLE_WEIGHTS.intersection(core):
            aligned.append((sample_weights, "the sample weights"))
        rows = universe
        for obj, name in aligned[1:]:
            covered = universe.intersection(_valid_ids(obj))
            _check_overlap(len(covered), len(universe), "the predictions", name, ratio)
            rows = rows.intersection(covered)
        for obj, name in aligned:
            _check_overlap(len(rows), len(obj), name, "the other scoring inputs", ratio)
        rows = rows.sort_values()
        full = len(rows) == len(universe)
        scores, core_transformed, core_weights = _core_scores(
            core,
            ranks if full else signals.tie_kept_ranks_within(_rows_mask(universe, rows)),
            targets.loc[rows],
            targets,
            meta_model.loc[rows] if meta_model is not None else None,
            neutralizers.loc[rows] if neutralizers is not None else None,
            sample_weights.loc[rows] if sample_weights is not None else None,
            stakes.reindex(models[active]).fillna(0.0) if stakes is not None else None,
        )
        for name, values in scores.items():
            result.loc[models[active], name] = values
        if full:
            transformed, weights = core_transformed, core_weights

    if previous is not None and active.any() and {"churn", "turnover"}.intersection(wanted):
        _check_unique(previous, "the previous predictions")
        if not previous.index.is_monotonic_increasing:
            previous = previous.sort_index()
        previous_values = as_float_matrix(previous.reindex(columns=models[active]))
        previous_cleaned = fill_partial_columns(previous_values.reshape(len(previous), -1))
        previous_signals = ColumnSort.of(previous_cleaned)
        previous_ranks = previous_signals.tie_kept_ranks()
        if "churn" in wanted:
            result.loc[models[active], "churn"] = _era_churn(
                signals, ranks, universe, previous_signals, previous_ranks, previous.index, ratio
            )
        if "turnover" in wanted:
            previous_neutralizers = _usable_neutralizers(
                neutralizers if previous_neutralizers is None else previous_neutralizers
            )
            if previous_sample_weights is None:
                previous_sample_weights = sample_weights
            if transformed is None:
                transformed = power(gaussian(ranks), SIGNAL_POWER)
            if weights is not None:  # the core rows were the whole universe
                current = (universe, weight_normalize(center(weights)))
            else:
                current = _weights_on(transformed, universe, neutralizers, sample_weights, ratio)
            before = _weights_on(
                power(gaussian(previous_ranks), SIGNAL_POWER), previous.index,
                previous_neutralizers, previous_sample_weights, ratio,
            )
            result.loc[models[active], "turnover"] = _era_turnover(current, before, ratio)
    return result


def _core_scores(
    wanted: list[str],
    ranks: np.ndarray,
    targets: pd.DataFrame,
    all_targets: pd.DataFrame,
    meta_model: pd.Series | None,
    neutralizers: pd.DataFrame | None,
    sample_weights: pd.Series | None,
    stakes: pd.Series | None,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """The row-aligned metrics (all but churn/turnover) from the signals' tie-kept ranks (n, k).

    Also returns ``power(gaussian(ranks), 1.5)`` and the neutral weights (None if not needed)
    for reuse.
    """
    scores: dict[str, np.ndarray] = {}
    n_rows, n_models = ranks.shape
    gauss = gaussian(ranks)

    def centred_over_all(column: str) -> np.ndarray:
        # the reference centres these targets over every value it was given
        full = _vector(all_targets[column])
        return _vector(targets[column]) - np.nanmean(full)

    transformed = power(gauss, SIGNAL_POWER)
    if "corr" in wanted or "fnc" in wanted or "nc" in wanted or "alpha" in wanted:
        target_fn = centred_over_all(TARGET_FOR_CORRELATIONS)
    if "corr" in wanted:
        scores["corr"] = _pearson(transformed, power(target_fn, SIGNAL_POWER))
    if "ic" in wanted:
        scores["ic"] = _pearson(transformed, power(centred_over_all(TARGET_FOR_IC), SIGNAL_POWER))

    if _NEEDS_META_MODEL.intersection(wanted):
        meta = gaussian(rank_columns(as_float_matrix(meta_model).reshape(-1, 1)))[:, 0]
        contribution_target = _contribution_target(_vector(targets[TARGET_FOR_CORRELATIONS]))
    if "mmc" in wanted:
        scores["mmc"] = _contributions(gauss, meta, contribution_target)

    if {"fnc", "nc", "nmc"}.intersection(wanted):
        basis = NeutralizerBasis.from_neutralizers(neutralizers)
        if "nmc" in wanted:
            stacked = basis.residuals(np.column_stack([gauss, meta]))
            neutral, neutral_meta = stacked[:, :-1], stacked[:, -1]
        else:
            neutral = basis.residuals(gauss)
        if "nc" in wanted:
            scores["nc"] = _pearson(neutral, target_fn)
        if "nmc" in wanted:
            scores["nmc"] = _contributions(neutral, neutral_meta, contribution_target)
        if "fnc" in wanted:
            with np.errstate(invalid="ignore", divide="ignore"):
                normalized = neutral / column_stds(neutral)
            scores["fnc"] = _pearson(_signal_transform(normalized), power(target_fn, SIGNAL_POWER))

    weights = None
    if "alpha" in wanted or "mpc" in wanted:
        exposures = as_float_matrix(neutralizers).reshape(n_rows, -1)
        weights = neutral_weights_matrix(transformed, exposures, _vector(sample_weights))
        if "alpha" in wanted:
            scores["alpha"] = (target_fn @ weights) / n_rows
        if "mpc" in wanted:
            stake_values = _vector(stakes)
            if (stake_values < 0).any() or not np.isfinite(stake_values).all():
                raise DataValidationError("stakes must be finite and non-negative")
            if stake_values.sum() > 0:
                target = _vector(targets[TARGET_FOR_CORRELATIONS])
                scores["mpc"] = _mpc(weights, _stake_weights(stake_values), target - target.mean())
            else:  # no staked model submitted: the meta-portfolio does not exist
                scores["mpc"] = np.full(n_models, np.nan)
    return scores, transformed, weights


def _split_by_date(
    panel: pd.Series | pd.DataFrame | None, what: str
) -> dict[object, pd.Series | pd.DataFrame]:
    """Cross-sections of a panel indexed by (date, ticker), keyed by date."""
    if panel is None:
        return {}
    if not isinstance(panel.index, pd.MultiIndex) or panel.index.nlevels != 2:
        raise DataValidationError(f"{what} must be indexed by (date, ticker)")
    return {date: frame.droplevel(0) for date, frame in panel.groupby(level=0, sort=True)}


@limits_blas_threads
def score_eras(
    predictions: pd.DataFrame,
    *,
    targets: pd.DataFrame,
    meta_model: pd.Series | None = None,
    neutralizers: pd.DataFrame | None = None,
    sample_weights: pd.Series | None = None,
    stakes: pd.Series | pd.DataFrame | None = None,
    metrics: Iterable[str] = METRICS,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.DataFrame:
    """``score_era`` for every date of panels indexed by (date, ticker).

    ``stakes`` is one Series (model -> stake) for all eras or a DataFrame (date x model).
    churn and turnover compare each era with the previous date of the predictions panel
    (its own neutralizers and sample weights); the first date gets NaN.
    Returns a DataFrame indexed by (date, model), one column per metric.
    """
    wanted = _requested_metrics(metrics)
    eras = _split_by_date(predictions, "predictions")
    target_eras = _split_by_date(targets, "targets")
    meta_eras = _split_by_date(meta_model, "meta_model")
    neutralizer_eras = _split_by_date(neutralizers, "neutralizers")
    weight_eras = _split_by_date(sample_weights, "sample_weights")
    results = []
    previous_date = None
    for date, era_predictions in eras.items():
        era_stakes = stakes
        if isinstance(stakes, pd.DataFrame):
            if date not in stakes.index:
                raise DataValidationError(f"stakes have no row for date {date}")
            era_stakes = stakes.loc[date].dropna()
        if date not in target_eras:
            raise DataValidationError(f"targets have no values for date {date}")
        for panel, era_map, what in ((meta_model, meta_eras, "meta_model"),
                                     (neutralizers, neutralizer_eras, "neutralizers"),
                                     (sample_weights, weight_eras, "sample_weights")):
            if panel is not None and date not in era_map:
                raise DataValidationError(f"{what} have no values for date {date}")
        try:
            scores = score_era(
                era_predictions,
                targets=target_eras[date],
                meta_model=meta_eras.get(date),
                neutralizers=neutralizer_eras.get(date),
                sample_weights=weight_eras.get(date),
                stakes=era_stakes,
                previous=eras.get(previous_date),
                previous_neutralizers=neutralizer_eras.get(previous_date),
                previous_sample_weights=weight_eras.get(previous_date),
                metrics=wanted,
                max_filtered_index_ratio=max_filtered_index_ratio,
            )
        except DataValidationError as error:
            raise type(error)(f"date {date}: {error}") from error
        results.append(scores)
        previous_date = date
    if not results:
        empty = pd.MultiIndex.from_arrays([[], []], names=["date", "model"])
        return pd.DataFrame(columns=wanted, index=empty, dtype=float)
    return pd.concat(results, keys=list(eras), names=["date", "model"])

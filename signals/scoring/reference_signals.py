"""The churn scores of ``numerai_tools.signals`` (0.7.2) under its names, signatures and numbers.

How much a signal changed since a previous submission: ``churn`` (1 - Spearman),
``turnover`` (half the L1 change of portfolio weights), ``neutral_churn`` and its payout
``neutral_churn_penalty``, and the per-submission summaries against several previous eras
(``calculate_max_churn_and_turnover``, ``calculate_mean_neutral_churn``).

Differences from the reference: failed checks raise ``DataValidationError``
(``InsufficientOverlapError`` for the 80 % overlap rule); neutralized residuals within
rounding noise of 0 are set to 0 before neutral churn ranks them (the reference ranks the
noise, whose order depends on the BLAS path); submission validation (headers, value range,
minimum ticker count) is left to ``metasignal.signals.submission``.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import exp, isfinite

import numpy as np
import pandas as pd

from metasignal.errors import DataValidationError, InsufficientOverlapError
from metasignal.signals.cleaning import rank_over_universe
from metasignal.signals.neutralization import NeutralizerBasis
from metasignal.signals.scoring._alignment import filter_sort_index, vector
from metasignal.signals.scoring._kernels import pearson_pairs, snap_zero_residuals
from metasignal.signals.scoring.reference_scoring import generate_neutralized_weights
from metasignal.signals.transforms import as_float_matrix, gaussian, rank_columns

__all__ = [
    "calculate_max_churn_and_turnover",
    "calculate_mean_neutral_churn",
    "churn",
    "neutral_churn",
    "neutral_churn_penalty",
    "turnover",
]


def _top_bottom_churn(s1: pd.Series, s2: pd.Series, top_bottom: int) -> float:
    """1 - mean share of ids kept in the top ``top_bottom`` and in the bottom ``top_bottom``."""
    sets = []
    for series in (s1, s2):
        order = np.argsort(vector(series), kind="stable")
        sets.append((series.index[order[:top_bottom]], series.index[order[-top_bottom:]]))
    overlaps = [
        len(first.intersection(second)) / top_bottom for first, second in zip(sets[0], sets[1])
    ]
    return 1 - float(np.mean(overlaps))


def churn(s1: pd.Series, s2: pd.Series, top_bottom: int | None = None) -> float:
    """1 - Spearman correlation over the shared ids (80 % rule; both must vary).

    With ``top_bottom = n``: 1 - mean share of ids kept in the top n and in the bottom n.
    """
    if top_bottom is not None and top_bottom > 0:
        return _top_bottom_churn(s1, s2, top_bottom)
    s1, s2 = filter_sort_index(s1, s2)
    left, right = vector(s1), vector(s2)
    for values, name in ((left, "s1"), (right, "s2")):
        if not len(values) > 1 or values.max() == values.min():
            raise DataValidationError(f"{name} must have non-zero standard deviation for churn")
    ranks = rank_columns(np.column_stack([left, right]))
    return float(1 - pearson_pairs(ranks[:, :1], ranks[:, 1:])[0])


def turnover(s1: pd.Series, s2: pd.Series) -> float:
    """Half the L1 distance between two weight vectors over their shared ids (80 % rule)."""
    s1, s2 = filter_sort_index(s1, s2)
    return float(np.abs(vector(s1) - vector(s2)).sum() / 2)


def _neutralize_signal(signal: pd.Series, neutralizers: pd.DataFrame) -> pd.Series:
    """The rank-gauss signal neutralized to its era's neutralizers, on the shared ids
    (residuals that are rounding noise around 0 set to 0, see ``snap_zero_residuals``)."""
    signal, neutralizers = filter_sort_index(signal, neutralizers)
    basis = NeutralizerBasis.from_neutralizers(neutralizers)
    values = gaussian(rank_columns(as_float_matrix(signal).reshape(-1, 1)))
    residuals = snap_zero_residuals(basis.residuals(values), values)
    return pd.Series(residuals[:, 0], index=signal.index, name=signal.name)


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


def _normalized_weights(
    submission: pd.Series, neutralizers: pd.DataFrame, sample_weights: pd.Series
) -> pd.Series:
    """Centred, L1-normalized neutral weights of one cleaned submission (tickers,)."""
    return generate_neutralized_weights(
        submission.to_frame(), neutralizers, sample_weights, center_and_normalize=True
    ).iloc[:, 0]


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
    Submissions are expected to be validated already (``metasignal.signals.submission``).
    """
    current = _clean_over_universe(curr_sub, curr_sample_weight)
    current_weights = _normalized_weights(current, curr_neutralizer, curr_sample_weight)
    churns, turnovers = [], []
    for datestamp, previous_sub in prev_subs.items():
        previous = _clean_over_universe(previous_sub, prev_sample_weights[datestamp])
        previous_weights = _normalized_weights(
            previous, prev_neutralizers[datestamp], prev_sample_weights[datestamp]
        )
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

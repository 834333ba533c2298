"""churn, turnover and neutral churn of one era against the models' previous submissions,
for every model at once.

churn = 1 - Spearman of each model's signal with its previous one; turnover = half the L1
change of its centred, L1-normalized neutral weights; neutral_churn = churn of the
rank-gauss signals neutralized to each era's own neutralizers. Too little overlap between
the two eras (80 % rule) gives NaN rather than an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasignal.errors import InsufficientOverlapError
from metasignal.signals.neutralization import NeutralizerBasis, neutral_weights_matrix
from metasignal.signals.scoring._alignment import check_overlap, check_unique, valid_ids, vector
from metasignal.signals.scoring._era_inputs import EraInputs, usable_neutralizers
from metasignal.signals.scoring._era_scores import CoreScores
from metasignal.signals.scoring._kernels import pearson_pairs, snap_zero_residuals
from metasignal.signals.scoring._sorted_signals import SortedSignals
from metasignal.signals.transforms import (
    as_float_matrix,
    center,
    gaussian,
    rank_columns,
    weight_normalize,
)


def previous_signals(previous: pd.DataFrame, models: pd.Index) -> SortedSignals:
    """The previous submissions (ticker x model) of ``models``, cleaned over their own index."""
    check_unique(previous, "the previous predictions")
    if not previous.index.is_monotonic_increasing:
        previous = previous.sort_index()
    values = as_float_matrix(previous.reindex(columns=models))
    return SortedSignals.of(values.reshape(len(previous), -1), previous.index, models)


def _shared_ids(
    ids: pd.Index, previous_ids: pd.Index, what: str, ratio: float
) -> pd.Index | None:
    """The sorted ids of both eras, or None if either keeps less than ``1 - ratio`` of its own."""
    shared = ids.intersection(previous_ids).sort_values()
    try:
        check_overlap(len(shared), len(ids), f"the {what}", f"the previous {what}", ratio)
        check_overlap(len(shared), len(previous_ids), f"the previous {what}", f"the {what}", ratio)
    except InsufficientOverlapError:
        return None
    return shared


def era_churn(current: SortedSignals, previous: SortedSignals, ratio: float) -> np.ndarray:
    """1 - Spearman (k,) of each current column with the same model's previous column.

    Ranks over the shared ids are derived from each era's sort without sorting again;
    a column constant on the shared ids gives NaN.
    """
    shared = _shared_ids(current.ids, previous.ids, "predictions", ratio)
    if shared is None:
        return np.full(current.ranks.shape[1], np.nan)
    current_ranks = current.ranks_on(shared)
    previous_ranks = previous.ranks_on(shared)
    varies = (np.ptp(current_ranks, axis=0) > 0) & (np.ptp(previous_ranks, axis=0) > 0)
    return np.where(varies, 1 - pearson_pairs(current_ranks, previous_ranks), np.nan)


def _weights_on(
    transformed: np.ndarray,
    ids: pd.Index,
    neutralizers: pd.DataFrame,
    sample_weights: pd.Series,
    ratio: float,
) -> tuple[pd.Index, np.ndarray]:
    """Centred, L1-normalized neutral weights of ``transformed`` (rows = ``ids``), as the reference
    ``generate_neutralized_weights(..., center_and_normalize=True)`` aligns and builds them."""
    rows = ids.intersection(valid_ids(neutralizers)).intersection(valid_ids(sample_weights))
    for obj, name in ((ids, "the predictions"), (neutralizers, "the neutralizers"),
                      (sample_weights, "the sample weights")):
        check_overlap(len(rows), len(obj), name, "the other turnover inputs", ratio)
    rows = rows.sort_values()
    positions = ids.get_indexer(rows)
    exposures = as_float_matrix(neutralizers.loc[rows]).reshape(len(rows), -1)
    weights = neutral_weights_matrix(
        transformed[positions], exposures, vector(sample_weights.loc[rows])
    )
    return rows, weight_normalize(center(weights))


def _weights_change(
    current: tuple[pd.Index, np.ndarray], previous: tuple[pd.Index, np.ndarray], ratio: float
) -> np.ndarray:
    """Half the L1 change (k,) of each column of the weights over the shared ids."""
    (ids, weights), (previous_ids, previous_weights) = current, previous
    shared = _shared_ids(ids, previous_ids, "weights", ratio)
    if shared is None:
        return np.full(weights.shape[1], np.nan)
    change = weights[ids.get_indexer(shared)] - previous_weights[previous_ids.get_indexer(shared)]
    return np.abs(change).sum(axis=0) / 2


def era_turnover(
    current: SortedSignals,
    previous: SortedSignals,
    inputs: EraInputs,
    previous_neutralizers: pd.DataFrame | None,
    previous_sample_weights: pd.Series | None,
    core: CoreScores | None,
    ratio: float,
) -> np.ndarray:
    """Turnover (k,) of each model; each era's weights use its own N and v (default: this era's).

    ``core``: the core scores computed on the whole universe, whose transformed signals and
    neutral weights are reused (None when the core rows were a subset or not computed).
    """
    previous_neutralizers = usable_neutralizers(
        inputs.neutralizers if previous_neutralizers is None else previous_neutralizers
    )
    if previous_sample_weights is None:
        previous_sample_weights = inputs.sample_weights
    if core is not None and core.weights is not None:
        now = (current.ids, weight_normalize(center(core.weights)))
    else:
        transformed = current.transformed() if core is None else core.transformed
        now = _weights_on(
            transformed, current.ids, inputs.neutralizers, inputs.sample_weights, ratio
        )
    before = _weights_on(
        previous.transformed(), previous.ids, previous_neutralizers, previous_sample_weights, ratio
    )
    return _weights_change(now, before, ratio)


def _neutralized_on(
    signals: SortedSignals, neutralizers: pd.DataFrame, ratio: float
) -> tuple[pd.Index, np.ndarray]:
    """Rows and (m, k) residuals of ``gaussian(rank)`` of the signals on the ids with a finite
    neutralizer row, as the reference ``_neutralize_signal`` builds them (constant column: NaN;
    residuals within rounding noise of 0 set to 0).

    Raises ``InsufficientOverlapError`` like the reference when the signals and the
    neutralizers share too few ids.
    """
    rows = signals.ids.intersection(valid_ids(neutralizers))
    check_overlap(len(rows), len(signals.ids), "the predictions", "the neutralizers", ratio)
    check_overlap(len(rows), len(neutralizers), "the neutralizers", "the predictions", ratio)
    rows = rows.sort_values()
    basis = NeutralizerBasis.from_neutralizers(neutralizers.loc[rows])
    values = gaussian(signals.ranks_on(rows))
    return rows, snap_zero_residuals(basis.residuals(values), values)


def era_neutral_churn(
    current: SortedSignals,
    previous: SortedSignals,
    neutralizers: pd.DataFrame,
    previous_neutralizers: pd.DataFrame | None,
    ratio: float,
) -> np.ndarray:
    """Neutral churn (k,): 1 - Spearman of each model's neutralized signal with its previous
    one, each era neutralized to its own N (``previous_neutralizers`` default: this era's).

    One comparison of the reference ``calculate_mean_neutral_churn``; where the reference
    skips it (too little overlap) or refuses it (a side constant), the value is NaN.
    """
    before_n = usable_neutralizers(
        neutralizers if previous_neutralizers is None else previous_neutralizers
    )
    ids, now = _neutralized_on(current, neutralizers, ratio)
    previous_ids, before = _neutralized_on(previous, before_n, ratio)
    shared = _shared_ids(ids, previous_ids, "neutralized predictions", ratio)
    if shared is None:
        return np.full(now.shape[1], np.nan)
    now = now[ids.get_indexer(shared)]
    before = before[previous_ids.get_indexer(shared)]
    varies = (np.ptp(now, axis=0) > 0) & (np.ptp(before, axis=0) > 0)
    correlation = pearson_pairs(rank_columns(now), rank_columns(before))
    return np.where(varies, 1 - correlation, np.nan)


def change_scores(
    wanted: list[str],
    current: SortedSignals,
    previous: pd.DataFrame,
    inputs: EraInputs,
    previous_neutralizers: pd.DataFrame | None,
    previous_sample_weights: pd.Series | None,
    core: CoreScores | None,
    ratio: float,
) -> dict[str, np.ndarray]:
    """The wanted churn / turnover / neutral_churn scores (k,) against the ``previous``
    submissions."""
    before = previous_signals(previous, current.models)
    scores = {}
    if "churn" in wanted:
        scores["churn"] = era_churn(current, before, ratio)
    if "turnover" in wanted:
        scores["turnover"] = era_turnover(
            current, before, inputs, previous_neutralizers, previous_sample_weights, core, ratio
        )
    if "neutral_churn" in wanted:
        scores["neutral_churn"] = era_neutral_churn(
            current, before, inputs.neutralizers, previous_neutralizers, ratio
        )
    return scores

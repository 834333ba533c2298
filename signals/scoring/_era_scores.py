"""The row-aligned metrics of one era (all but churn/turnover), for every model at once.

Inputs are on the rows every wanted metric shares (n tickers) and the k models with a
value; each metric is one vectorized pass over (n, k) arrays, and each equals the
numerai-tools function of the same name called per model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from metasignal.signals.neutralization import NeutralizerBasis, neutral_weights_matrix
from metasignal.signals.scoring._alignment import vector
from metasignal.signals.scoring._kernels import (
    check_stakes,
    contribution_target,
    contributions,
    gaussian_rank,
    mpc,
    pearson,
    signal_transform,
    stake_weights,
)
from metasignal.signals.scoring._metrics import (
    NEEDS_META_MODEL,
    TARGET_FOR_CORRELATIONS,
    TARGET_FOR_ICV2,
)
from metasignal.signals.transforms import (
    SIGNAL_POWER,
    as_float_matrix,
    column_stds,
    gaussian,
    power,
)


@dataclass(frozen=True)
class AlignedEra:
    """One era's inputs on the shared rows (n tickers, sorted) for the k scored models.

    ``ranks`` (n, k): tie-kept ranks of the cleaned signals over the rows; ``targets``,
    ``meta_model``, ``neutralizers`` (n, f), ``sample_weights``: those rows;
    ``all_targets``: every target row given (corr, icv2, fnc, nc and alpha centre their
    target over all of it, as the reference does); ``stakes`` (k,), 0 for unstaked models.
    """

    ranks: np.ndarray
    targets: pd.DataFrame
    all_targets: pd.DataFrame
    meta_model: pd.Series | None
    neutralizers: pd.DataFrame | None
    sample_weights: pd.Series | None
    stakes: pd.Series | None


class CoreScores(NamedTuple):
    """Metric name -> scores (k,), plus intermediates for reuse by turnover.

    ``transformed`` (n, k) is ``power(gaussian(ranks), 1.5)``; ``weights`` (n, k) the
    neutral weights (None unless alpha or mpc was wanted).
    """

    scores: dict[str, np.ndarray]
    transformed: np.ndarray | None
    weights: np.ndarray | None


def _centred_over_all(era: AlignedEra, column: str) -> np.ndarray:
    """The target (n,) on the shared rows, centred over every value given (as the reference)."""
    full = vector(era.all_targets[column])
    return vector(era.targets[column]) - np.nanmean(full)


def _correlation_scores(
    wanted: list[str], transformed: np.ndarray, target_fn: np.ndarray | None, era: AlignedEra
) -> dict[str, np.ndarray]:
    """corr (factor-neutral target) and icv2 (raw target) of the transformed signals."""
    scores = {}
    if "corr" in wanted:
        scores["corr"] = pearson(transformed, power(target_fn, SIGNAL_POWER))
    if "icv2" in wanted:
        target_raw = _centred_over_all(era, TARGET_FOR_ICV2)
        scores["icv2"] = pearson(transformed, power(target_raw, SIGNAL_POWER))
    return scores


def _neutral_scores(
    wanted: list[str],
    gauss: np.ndarray,
    meta: np.ndarray | None,
    target_fn: np.ndarray | None,
    contribution: np.ndarray | None,
    neutralizers: pd.DataFrame,
) -> dict[str, np.ndarray]:
    """nc, nmc and fnc: scores of the signals (and meta-model) neutralized to ``neutralizers``."""
    basis = NeutralizerBasis.from_neutralizers(neutralizers)
    if "nmc" in wanted:
        stacked = basis.residuals(np.column_stack([gauss, meta]))
        neutral, neutral_meta = stacked[:, :-1], stacked[:, -1]
    else:
        neutral = basis.residuals(gauss)
    scores = {}
    if "nc" in wanted:
        scores["nc"] = pearson(neutral, target_fn)
    if "nmc" in wanted:
        scores["nmc"] = contributions(neutral, neutral_meta, contribution)
    if "fnc" in wanted:
        with np.errstate(invalid="ignore", divide="ignore"):
            normalized = neutral / column_stds(neutral)
        scores["fnc"] = pearson(signal_transform(normalized), power(target_fn, SIGNAL_POWER))
    return scores


def _mpc_scores(weights: np.ndarray, era: AlignedEra) -> np.ndarray:
    """mpc (k,); NaN for every model when no scored model is staked (no meta-portfolio)."""
    stake_values = vector(era.stakes)
    check_stakes(stake_values)
    if stake_values.sum() > 0:
        target = vector(era.targets[TARGET_FOR_CORRELATIONS])
        return mpc(weights, stake_weights(stake_values), target - target.mean())
    return np.full(era.ranks.shape[1], np.nan)


def _portfolio_scores(
    wanted: list[str], transformed: np.ndarray, target_fn: np.ndarray | None, era: AlignedEra
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """alpha and mpc from the neutral weights (n, k) of the transformed signals."""
    n_rows = len(transformed)
    exposures = as_float_matrix(era.neutralizers).reshape(n_rows, -1)
    weights = neutral_weights_matrix(transformed, exposures, vector(era.sample_weights))
    scores = {}
    if "alpha" in wanted:
        scores["alpha"] = (target_fn @ weights) / n_rows
    if "mpc" in wanted:
        scores["mpc"] = _mpc_scores(weights, era)
    return scores, weights


def core_scores(wanted: list[str], era: AlignedEra) -> CoreScores:
    """Every ``wanted`` metric but churn/turnover, each (k,), for the models of ``era``."""
    gauss = gaussian(era.ranks)
    transformed = power(gauss, SIGNAL_POWER)
    target_fn = None
    if "corr" in wanted or "fnc" in wanted or "nc" in wanted or "alpha" in wanted:
        target_fn = _centred_over_all(era, TARGET_FOR_CORRELATIONS)
    scores = _correlation_scores(wanted, transformed, target_fn, era)
    meta = contribution = None
    if NEEDS_META_MODEL.intersection(wanted):
        meta = gaussian_rank(vector(era.meta_model))
        contribution = contribution_target(vector(era.targets[TARGET_FOR_CORRELATIONS]))
    if "mmc" in wanted:
        scores["mmc"] = contributions(gauss, meta, contribution)
    if {"fnc", "nc", "nmc"}.intersection(wanted):
        neutral = _neutral_scores(wanted, gauss, meta, target_fn, contribution, era.neutralizers)
        scores.update(neutral)
    weights = None
    if "alpha" in wanted or "mpc" in wanted:
        portfolio, weights = _portfolio_scores(wanted, transformed, target_fn, era)
        scores.update(portfolio)
    return CoreScores(scores, transformed, weights)

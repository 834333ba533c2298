"""Numpy kernels shared by the reference-named functions and the batch scorer.

Every kernel works on whole ``(n_ids, n_models)`` arrays at once: one column per model,
rows already aligned across inputs; no per-model Python loop.
"""

from __future__ import annotations

import numpy as np

from metasignal.errors import DataValidationError
from metasignal.signals.transforms import (
    SIGNAL_POWER,
    gaussian,
    masked_pearson,
    orthogonalize,
    power,
    rank_columns,
)

ZERO_RESIDUAL_TOLERANCE = 1e-10  # relative to the column's largest |value|
TARGET_BUCKET_SCALE = 4.0  # {0, .25, .5, .75, 1} -> {0, 1, 2, 3, 4}, centred to {-2..2}
MPC_SCALE = 50.0  # numerai-tools' L2-norm MPC is divided by 50


def signal_transform(values: np.ndarray) -> np.ndarray:
    """``power(gaussian(tie_kept_rank(values)), 1.5)`` for a 2-D array (n, k)."""
    return power(gaussian(rank_columns(values)), SIGNAL_POWER)


def gaussian_rank(values: np.ndarray) -> np.ndarray:
    """``gaussian(tie_kept_rank(values))`` of one vector (n,), as a vector (n,)."""
    return gaussian(rank_columns(values.reshape(-1, 1)))[:, 0]


def snap_zero_residuals(residuals: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Residuals (n, k) of ``values`` (n, k) with every ``|r| <= 1e-10 * max |values|`` of
    its column set to exactly 0.

    A ticker the neutralizers fit exactly (e.g. alone in its country) has residual 0 in exact
    arithmetic; computed, it is rounding noise (~1e-15) whose sign and order depend on the
    BLAS path (one column or many). Ranking such residuals (neutral churn) needs them tied.
    """
    scale = np.abs(values).max(axis=0) if len(values) else np.zeros(values.shape[1:])
    return np.where(np.abs(residuals) <= ZERO_RESIDUAL_TOLERANCE * scale, 0.0, residuals)


def pearson(columns: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson correlation (k,) of each column of ``columns`` (n, k) with ``target`` (n,)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        x = columns - columns.mean(axis=0)
        y = target - target.mean()
        correlation = (y @ x) / np.sqrt((x * x).sum(axis=0) * (y @ y))
    return np.clip(correlation, -1.0, 1.0)


def pearson_pairs(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Pearson correlation (k,) of column j of ``left`` with column j of ``right`` (both (n, k))."""
    with np.errstate(invalid="ignore", divide="ignore"):
        x = left - left.mean(axis=0)
        y = right - right.mean(axis=0)
        correlation = (x * y).sum(axis=0) / np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0))
    return np.clip(correlation, -1.0, 1.0)


def top_bottom_mask(values: np.ndarray, top_bottom: int) -> np.ndarray:
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


def correlations(columns: np.ndarray, target: np.ndarray, top_bottom: int | None) -> np.ndarray:
    """``pearson`` (k,), or over each column's top and bottom ``top_bottom`` rows if given."""
    if top_bottom is not None and top_bottom > 0:
        return masked_pearson(columns, target, top_bottom_mask(columns, top_bottom))
    return pearson(columns, target)


def contribution_target(target: np.ndarray) -> np.ndarray:
    """Targets (n,) in [0, 1] are scaled by 4 (buckets -> -2..2), then centred."""
    if ((target >= 0) & (target <= 1)).all():
        target = target * TARGET_BUCKET_SCALE
    return target - target.mean()


def contributions(
    signals: np.ndarray, meta: np.ndarray, target: np.ndarray, top_bottom: int | None = None
) -> np.ndarray:
    """``t' orthogonalize(signals, meta) / n`` (k,) per column of ``signals`` (n, k).

    ``meta`` (n,) is the meta-model, ``target`` (n,) already prepared by ``contribution_target``.
    """
    neutral = orthogonalize(signals, meta)
    if top_bottom is not None and top_bottom > 0:
        mask = top_bottom_mask(neutral, top_bottom)
        return np.where(mask, neutral * target[:, None], 0.0).sum(axis=0) / (2 * top_bottom)
    return (target @ neutral) / len(target)


def mpc(weights: np.ndarray, stake_weights: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Gradient (k,) of the stake-weighted portfolio's alpha w.r.t. stake weights, / 50.

    weights (n, k) neutral weights, stake_weights (k,) summing to 1, target (n,) centred.
    """
    centred = weights - weights.mean(axis=0)
    portfolio = centred @ stake_weights
    portfolio = portfolio - portfolio.mean()
    norm = np.sqrt(np.sum(portfolio**2))
    with np.errstate(invalid="ignore", divide="ignore"):
        residual = orthogonalize(centred, portfolio)
        return (target @ residual) / norm / MPC_SCALE


def check_stakes(stakes: np.ndarray) -> None:
    """Raise ``DataValidationError`` unless every stake (k,) is finite and non-negative."""
    if (stakes < 0).any() or not np.isfinite(stakes).all():
        raise DataValidationError("stakes must be finite and non-negative")


def stake_weights(stakes: np.ndarray) -> np.ndarray:
    """Stakes (k,) / sum(|stakes|); stakes must be non-negative with a positive total."""
    check_stakes(stakes)
    total = np.abs(stakes).sum()
    if total <= 0:
        raise DataValidationError("stakes must have a positive total")
    return stakes / total

"""Meta-model (stake-weighted mean of cleaned signals) and meta-portfolio (SWP) for one era.

Pure functions over in-memory frames: ``predictions`` is (ticker x model) with NaN for
names a model did not submit, its index is the era's universe; ``stakes`` is a Series
model -> stake (NMR-like units, >= 0).

A model *qualifies* when it has a stake, its stake is >= ``min_stake`` and it
submitted at least one name. Models without a stake entry, or not in
``predictions``, are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasignal.errors import DataValidationError
from metasignal.signals.cleaning import clean_signals, rank_over_universe
from metasignal.signals.neutralization import neutral_weights_matrix
from metasignal.signals.transforms import (
    SIGNAL_POWER,
    as_float_matrix,
    gaussian,
    power,
    rank_columns,
)

DEFAULT_MIN_STAKE = 0.0  # a model counts in the meta-model when its stake is at least this


def qualifying_stakes(
    predictions: pd.DataFrame, stakes: pd.Series, min_stake: float = DEFAULT_MIN_STAKE
) -> pd.Series:
    """Stakes of the models that qualify (see module doc), in the predictions' column order.

    Raises ``DataValidationError`` for negative or missing stake values and when no model qualifies.
    """
    if not isinstance(predictions, pd.DataFrame):
        raise DataValidationError("predictions must be a DataFrame of tickers x models")
    if not isinstance(stakes, pd.Series):
        raise DataValidationError("stakes must be a Series indexed by model")
    if stakes.index.has_duplicates:
        raise DataValidationError("stakes list some models more than once")
    values = stakes.astype(float)
    v = values.to_numpy()
    bad = ~np.isfinite(v) | (v < 0)
    if bad.any():
        raise DataValidationError(
            f"stakes must be finite and non-negative; model {values.index[bad][0]!r} has {v[bad][0]}"
        )
    aligned = values.reindex(predictions.columns).to_numpy()  # NaN: a model without a stake
    submitted = predictions.notna().to_numpy().any(axis=0)
    models = predictions.columns[submitted & (aligned >= min_stake)].tolist()
    if not models:
        raise DataValidationError(
            "no model qualifies for the meta-model: "
            f"none has a stake >= {min_stake} and a submission"
        )
    chosen = values.loc[models]
    if chosen.sum() <= 0:
        raise DataValidationError("the qualifying models' stakes sum to zero")
    return chosen


def _weighted_mean(columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``columns @ weights / sum(weights)`` for columns (n, k) and weights (k,)."""
    return columns @ (weights / weights.sum())


def stake_weighted_meta_model(
    predictions: pd.DataFrame, stakes: pd.Series, *, min_stake: float = DEFAULT_MIN_STAKE
) -> pd.Series:
    """Stake-weighted mean of the qualifying models' cleaned, gaussianized signals.

    Returns ticker -> value.

    Cleaning is over the predictions' index (rank, fill 0.5, rank again, gaussianize).
    """
    chosen = qualifying_stakes(predictions, stakes, min_stake)
    cleaned = clean_signals(predictions[chosen.index.tolist()])
    meta = _weighted_mean(as_float_matrix(cleaned), chosen.to_numpy(dtype=float))
    return pd.Series(meta, index=cleaned.index, name="meta_model")


def equal_weight_meta_model(
    predictions: pd.DataFrame, stakes: pd.Series | None = None, *, min_stake: float = DEFAULT_MIN_STAKE
) -> pd.Series:
    """Equal-weight mean of cleaned, gaussianized signals (ticker -> value).

    Without ``stakes`` every model that submitted counts; with ``stakes`` only the qualifying ones.
    """
    if stakes is None:
        models = predictions.columns[predictions.notna().any(axis=0)].tolist()
        if not models:
            raise DataValidationError("no model submitted any value for the meta-model")
    else:
        models = qualifying_stakes(predictions, stakes, min_stake).index.tolist()
    cleaned = clean_signals(predictions[models])
    meta = _weighted_mean(as_float_matrix(cleaned), np.ones(len(models)))
    return pd.Series(meta, index=cleaned.index, name="meta_model")


def _aligned(frame: pd.Series | pd.DataFrame, index: pd.Index, what: str) -> np.ndarray:
    """Values of ``frame`` on ``index``; every ticker must be present and finite."""
    if frame.index.has_duplicates:
        raise DataValidationError(f"the {what} list some tickers more than once")
    values = as_float_matrix(frame.reindex(index))
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        raise DataValidationError(
            f"the {what} have no finite value for ticker {index[np.argmax(bad)]!r} of the universe"
        )
    return values


def stake_weighted_meta_portfolio(
    predictions: pd.DataFrame,
    stakes: pd.Series,
    neutralizers: pd.DataFrame,
    sample_weights: pd.Series,
    *,
    min_stake: float = DEFAULT_MIN_STAKE,
) -> pd.Series:
    """Stake-weighted portfolio (SWP): stake-weighted mean of the models' neutral weights.

    Each qualifying model's signal is cleaned over the predictions' index (rank, fill 0.5),
    turned into ``s = power(gaussian(rank(.)), 1.5)`` and then into neutral weights
    ``v * (s - N N' (v * s))``. ``neutralizers`` (ticker x f) and ``sample_weights``
    (ticker) must cover every ticker of the predictions. Returns ticker -> weight
    (un-normalized; ``X' w = 0`` when N is built as in spec section 7.2).
    """
    chosen = qualifying_stakes(predictions, stakes, min_stake)
    ranked = rank_over_universe(predictions[chosen.index.tolist()], predictions.index)
    universe = ranked.index
    exposures = _aligned(neutralizers, universe, "neutralizers")
    weights = _aligned(sample_weights, universe, "sample weights").reshape(-1)
    signals = power(gaussian(rank_columns(as_float_matrix(ranked))), SIGNAL_POWER)
    model_weights = neutral_weights_matrix(signals, exposures.reshape(len(universe), -1), weights)
    portfolio = _weighted_mean(model_weights, chosen.to_numpy(dtype=float))
    return pd.Series(portfolio, index=universe, name="meta_portfolio")

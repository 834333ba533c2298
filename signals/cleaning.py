"""Cleaning of submitted signals before scoring and before the meta-model (SCORING.md).

For one era: drop tickers outside the era's universe; tie-kept rank over the
submitted names; give the universe's missing names the neutral rank 0.5; rank
again; gaussianize. Every function works on a single signal (``Series``) or on a
whole ``(ticker x model)`` frame at once.

A model column with no value at all in the universe stays NaN: it did not submit,
which is different from submitting "no view" on every name.
"""

from __future__ import annotations

from typing import Iterable, TypeVar

import numpy as np
import pandas as pd

from metasignal.errors import DataValidationError
from metasignal.signals.transforms import as_float_matrix, gaussian, rank_columns, tie_kept_rank

Signal = TypeVar("Signal", pd.Series, pd.DataFrame)

NEUTRAL_RANK = 0.5


def fill_ranks(values: np.ndarray) -> np.ndarray:
    """Tie-kept rank each column of ``values`` (n, k) over its non-NaN rows, then fill NaN with 0.5.

    All-NaN columns stay NaN.
    """
    ranks = rank_columns(values)
    missing = np.isnan(ranks)
    submitted = ~missing.all(axis=0)
    return np.where(missing & submitted, NEUTRAL_RANK, ranks)


def fill_partial_columns(values: np.ndarray) -> np.ndarray:
    """Like ``fill_ranks`` but leaves complete columns as they are (scoring fast path).

    A later tie-kept rank gives exactly the same result as ranking ``fill_ranks(values)``,
    because ranking a complete column keeps its order and its ties.
    """
    missing = np.isnan(values)
    partial = missing.any(axis=0) & ~missing.all(axis=0)
    if not partial.any():
        return values
    result = values.copy()
    result[:, partial] = fill_ranks(values[:, partial])
    return result


def _universe_index(universe: Iterable[str] | pd.Index) -> pd.Index:
    index = universe if isinstance(universe, pd.Index) else pd.Index(list(universe))
    index = index[index.notna()]
    if index.has_duplicates:
        duplicated = index[index.duplicated()][:3].tolist()
        raise DataValidationError(
            f"the universe lists some tickers more than once, e.g. {duplicated}"
        )
    return index.sort_values()


def rank_over_universe(signal: Signal, universe: Iterable[str] | pd.Index) -> Signal:
    """Signal(s) restricted to ``universe``, tie-kept ranked over the submitted names, gaps = 0.5.

    ``signal`` is a ``Series`` (ticker -> value) or a ``DataFrame`` (ticker x model);
    NaN means "not submitted". The result is indexed by the sorted universe; values in (0, 1).
    """
    if signal.index.has_duplicates:
        duplicated = signal.index[signal.index.duplicated()][:3].tolist()
        raise DataValidationError(
            f"the signal lists some tickers more than once, e.g. {duplicated}"
        )
    index = _universe_index(universe)
    restricted = signal.reindex(index)
    values = as_float_matrix(restricted)
    filled = fill_ranks(values.reshape(len(values), -1))
    if isinstance(signal, pd.Series):
        return pd.Series(filled[:, 0], index=index, name=signal.name)
    return pd.DataFrame(filled, index=index, columns=signal.columns)


def gaussianize(ranked: Signal) -> Signal:
    """Rank again (tie-kept) and map to standard normal quantiles; NaN stays NaN."""
    return gaussian(tie_kept_rank(ranked))


def clean_signals(predictions: Signal, universe: Iterable[str] | pd.Index | None = None) -> Signal:
    """The full cleaning: ``gaussianize(rank_over_universe(predictions, universe))``.

    ``universe`` defaults to the predictions' own index.
    """
    if universe is None:
        universe = predictions.index
    return gaussianize(rank_over_universe(predictions, universe))

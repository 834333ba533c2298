"""Input alignment and checks shared by every scorer: ids, overlap, coercions to numpy.

Every scoring input is indexed by ticker id. Scores are computed on the ids the inputs
share; each input must keep at least ``1 - max_filtered_ratio`` of its ids (the 80 % rule
of numerai-tools), else ``InsufficientOverlapError``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from metasignal.errors import DataValidationError, InsufficientOverlapError
from metasignal.signals.transforms import as_float_matrix

DEFAULT_MAX_FILTERED_INDEX_RATIO = 0.2
"""Largest share of an input's ids that alignment may drop (numerai-tools' default)."""


def check_overlap(kept: int, total: int, name: str, other: str, max_filtered_ratio: float) -> None:
    """Raise ``InsufficientOverlapError`` unless ``kept`` of the ``total`` ids of ``name`` is
    at least ``1 - max_filtered_ratio``."""
    share = round(1 - max_filtered_ratio, 2) * 100
    if total == 0 or kept / total < 1 - max_filtered_ratio:
        raise InsufficientOverlapError(
            f"not enough overlapping ids between {name} and {other}: {kept} of the {total} ids "
            f"of {name} overlap, at least {share:g}% must"
        )


def check_unique(obj: pd.Series | pd.DataFrame, name: str) -> None:
    """Raise ``DataValidationError`` if the index of ``obj`` repeats an id."""
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


def _input_name(position: int, n_inputs: int) -> str:
    """How overlap messages name an input: ``s1`` / ``s2`` for a pair, else ``inputs[i]``."""
    if n_inputs == 2:
        return "s1" if position == 0 else "s2"
    return f"inputs[{position}]"


def filter_sort_index_many(
    inputs: Sequence[pd.Series | pd.DataFrame],
    max_filtered_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> list[pd.Series | pd.DataFrame]:
    """``filter_sort_index`` for any number of Series / DataFrames sharing one id space."""
    if len(inputs) == 0:
        raise DataValidationError("filter_sort_index_many needs at least one input")
    for position, obj in enumerate(inputs):
        check_unique(obj, f"inputs[{position}]")
    ids = inputs[0].dropna().index
    for obj in inputs[1:]:
        ids = ids.intersection(obj.dropna().index)
    for position, obj in enumerate(inputs):
        name = _input_name(position, len(inputs))
        check_overlap(len(ids), len(obj), name, "the others", max_filtered_ratio)
    ids = ids.sort_values()
    return [obj.loc[ids] for obj in inputs]


def as_frame(predictions: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Predictions as a (tickers x models) DataFrame (a Series becomes one column)."""
    if isinstance(predictions, pd.Series):
        return predictions.to_frame()
    if not isinstance(predictions, pd.DataFrame):
        raise DataValidationError("predictions must be a pandas DataFrame (tickers x models)")
    return predictions


def vector(series: pd.Series) -> np.ndarray:
    """The values of a Series as a 1-D float64 array (n,)."""
    return as_float_matrix(series).reshape(-1)


def require_no_nan(obj: pd.Series | pd.DataFrame, what: str) -> None:
    """Raise ``DataValidationError`` if ``obj`` holds any NaN."""
    if np.isnan(as_float_matrix(obj)).any():
        raise DataValidationError(f"{what} contain NaN")


def valid_ids(obj: pd.Series | pd.DataFrame) -> pd.Index:
    """The ids whose row of ``obj`` is finite in every column."""
    values = as_float_matrix(obj)
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    return obj.index[finite]


def rows_mask(ids: pd.Index, subset: pd.Index) -> np.ndarray:
    """Boolean (len(ids),): which of ``ids`` are in ``subset`` (a subset of ``ids``)."""
    mask = np.zeros(len(ids), dtype=bool)
    mask[ids.get_indexer(subset)] = True
    return mask

"""Column-wise primitives on cross-sections: ranks, gaussianization, powers, scaling.

Every function takes a 1-D or 2-D numpy array, a ``Series`` or a ``DataFrame``
(rows = tickers, columns = models) and returns the same kind of object with the
same index and columns. Columns are treated independently and NaN is "no value":
it stays NaN and is left out of every count, mean and sum, as pandas does.

The numbers equal numerai-tools' primitives of the same names (the reference of
SCORING.md); the work is done on whole ``(n_tickers, n_models)`` arrays at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, TypeVar

import numpy as np
import pandas as pd
from scipy import special

SIGNAL_POWER = 1.5  # numerai-tools raises gaussianized signals (and targets) to this power

from metasignal.errors import DataValidationError

ArrayLike = TypeVar("ArrayLike", np.ndarray, pd.Series, pd.DataFrame)
RankMethod = Literal["average", "first"]


def as_float_matrix(x: np.ndarray | pd.Series | pd.DataFrame) -> np.ndarray:
    """The values of ``x`` as a float64 array of shape (n,) or (n, k); pandas NA becomes NaN."""
    if isinstance(x, (pd.Series, pd.DataFrame)):
        try:
            return x.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise DataValidationError(f"values must be numeric: {error}") from None
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"values must be numeric: {error}") from None


def _columnwise(func: Callable[[np.ndarray], np.ndarray], x: ArrayLike) -> ArrayLike:
    """Apply ``func`` (2-D array -> 2-D array of the same shape) to ``x`` of any supported kind."""
    values = as_float_matrix(x)
    if values.ndim not in (1, 2):
        raise DataValidationError(
            f"expected a 1-D or 2-D cross-section, got {values.ndim} dimensions"
        )
    result = func(values.reshape(len(values), -1))
    if values.ndim == 1:
        result = result[:, 0]
    if isinstance(x, pd.DataFrame):
        return pd.DataFrame(result, index=x.index, columns=x.columns)
    if isinstance(x, pd.Series):
        return pd.Series(result, index=x.index, name=x.name)
    return result


def _tie_kept_percentiles(ordered: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Percentile of each sorted position: ``ordered`` (k, m) holds each column's sorted keys
    (missing values last), ``count`` (k,) the number of non-missing ones."""
    n_cols, n_rows = ordered.shape
    total = n_rows * n_cols
    if total == 0:
        return np.empty(ordered.shape)
    flat = ordered.reshape(-1)
    group_first = np.empty(total, dtype=bool)  # tie groups, found on the flattened array
    group_first[0] = True
    np.not_equal(flat[1:], flat[:-1], out=group_first[1:])
    group_first[::n_rows] = True  # every column starts a group
    starts = np.flatnonzero(group_first)
    sizes = np.diff(starts, append=total)
    column = starts // n_rows
    start_in_column = starts - column * n_rows
    # a group's average 1-based rank is start + (size + 1) / 2; its percentile (rank - 0.5) / count
    with np.errstate(invalid="ignore", divide="ignore"):
        group_percentile = (start_in_column + (sizes - 1) * 0.5 + 0.5) / count[column]
    group_percentile[start_in_column >= count[column]] = np.nan
    return np.repeat(group_percentile, sizes).reshape(n_cols, n_rows)


def _scatter(order: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """Put each sorted value (k, m) back at its row; returns (m, k)."""
    result = np.empty(sorted_values.shape, dtype=np.float64)
    np.put_along_axis(result, order, sorted_values, axis=1)
    return result.T


@dataclass(frozen=True)
class ColumnSort:
    """Each column of an (n, k) float array sorted once, for ranks over all rows or a subset.

    NaN is "no value": it sorts last and gets no rank.
    """

    order: np.ndarray  # (k, n) row of each sorted position
    ordered: np.ndarray  # (k, n) sorted keys
    count: np.ndarray  # (k,) non-NaN values per column

    @classmethod
    def of(cls, values: np.ndarray, *, stable: bool = False) -> "ColumnSort":
        """Sort the columns of ``values`` (n, k); ``stable`` keeps row order among ties."""
        rows = np.ascontiguousarray(values.T)  # (k, n): sorting contiguous rows is ~2x faster
        missing = np.isnan(rows)
        count = rows.shape[1] - missing.sum(axis=1)
        keys = rows
        if count.sum() < rows.size and not np.isposinf(rows).any():
            # numpy's fast sort path avoids NaN; +inf sorts to the same place (the end)
            keys = np.where(missing, np.inf, rows)
        order = np.argsort(keys, axis=1, kind="stable" if stable else None)
        return cls(order, np.take_along_axis(keys, order, axis=1), count)

    def tie_kept_ranks(self) -> np.ndarray:
        """(n, k) percentile ranks with ties sharing their average rank."""
        return _scatter(self.order, _tie_kept_percentiles(self.ordered, self.count))

    def tie_broken_ranks(self) -> np.ndarray:
        """(n, k) percentile ranks in sorted order (ties by row order if sorted ``stable``)."""
        position = np.arange(self.order.shape[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            percentile = (position + 0.5) / self.count[:, None]
        percentile[position >= self.count[:, None]] = np.nan
        return _scatter(self.order, percentile)

    def tie_kept_ranks_within(self, rows: np.ndarray) -> np.ndarray:
        """(m, k) tie-kept percentile ranks over the rows where ``rows`` (n,) is true.

        Equals ``rank_columns(values[rows])`` without sorting again.
        """
        n_cols, n_rows = self.order.shape
        n_kept = int(rows.sum())
        kept = rows[self.order]  # (k, n): sorted positions whose row is in the subset
        present = kept & (np.arange(n_rows) < self.count[:, None])
        order = (np.cumsum(rows) - 1)[self.order[kept]].reshape(n_cols, n_kept)
        ordered = self.ordered[kept].reshape(n_cols, n_kept)
        return _scatter(order, _tie_kept_percentiles(ordered, present.sum(axis=1)))


def rank_columns(values: np.ndarray, method: RankMethod = "average") -> np.ndarray:
    """Percentile ranks ``(rank - 0.5) / count`` of each column of a 2-D float array.

    ``method="average"`` gives tied values their average rank (tie-kept);
    ``"first"`` breaks ties by row order (tie-broken). NaN stays NaN and is not counted.
    """
    if method not in ("average", "first"):
        raise DataValidationError(f"rank method must be 'average' or 'first', got {method!r}")
    if values.shape[0] == 0 or values.shape[1] == 0:
        return values.astype(np.float64, copy=True)
    if method == "first":
        return ColumnSort.of(values, stable=True).tie_broken_ranks()
    return ColumnSort.of(values).tie_kept_ranks()


def rank(x: ArrayLike, method: RankMethod = "average") -> ArrayLike:
    """Percentile rank of each column, ``(rank - 0.5) / count``, in (0, 1); NaN stays NaN."""
    return _columnwise(lambda values: rank_columns(values, method), x)


def tie_kept_rank(x: ArrayLike) -> ArrayLike:
    """Percentile rank with tied values sharing their average rank."""
    return rank(x, "average")


def tie_broken_rank(x: ArrayLike) -> ArrayLike:
    """Percentile rank with ties broken by row order."""
    return rank(x, "first")


def gaussian(x: ArrayLike) -> ArrayLike:
    """Standard normal quantile of values in (0, 1) (``scipy.stats.norm.ppf``); NaN stays NaN."""
    return _columnwise(special.ndtri, x)


def power(x: ArrayLike, p: float) -> ArrayLike:
    """Signed power ``sign(x) * |x| ** p`` (order-preserving for ``p > 0``); NaN stays NaN."""
    if not np.isfinite(p) or p <= 0:
        raise DataValidationError(f"power p must be a positive finite number, got {p}")
    if p == 1.5:  # the scoring power: x * sqrt|x| is 4x faster and equal to within 1 ulp
        return _columnwise(lambda values: values * np.sqrt(np.abs(values)), x)
    return _columnwise(lambda values: np.sign(values) * np.abs(values) ** p, x)


def column_means(values: np.ndarray) -> np.ndarray:
    """Mean of each column of a 2-D array, skipping NaN (NaN for an all-NaN column)."""
    means = values.mean(axis=0)
    gaps = np.isnan(means)
    if gaps.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            present = ~np.isnan(values[:, gaps])
            means[gaps] = np.where(present, values[:, gaps], 0.0).sum(axis=0) / present.sum(axis=0)
    return means


def column_stds(values: np.ndarray) -> np.ndarray:
    """Population standard deviation (ddof=0) of each column, skipping NaN."""
    deviations = values - column_means(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        present = ~np.isnan(deviations)
        squares = np.where(present, deviations * deviations, 0.0).sum(axis=0)
        return np.sqrt(squares / present.sum(axis=0))


def center(x: ArrayLike) -> ArrayLike:
    """Subtract each column's mean (NaN skipped)."""
    return _columnwise(lambda values: values - column_means(values), x)


def variance_normalize(x: ArrayLike) -> ArrayLike:
    """Divide each column by its population standard deviation (``np.std``, ddof=0)."""
    def scale(values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return values / column_stds(values)
    return _columnwise(scale, x)


def weight_normalize(x: ArrayLike) -> ArrayLike:
    """Divide each column by the sum of its absolute values, so that ``sum(|x|) == 1``."""
    def scale(values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return values / np.nansum(np.abs(values), axis=0)
    return _columnwise(scale, x)


def orthogonalize(v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Remove from each column of ``v`` (n,) or (n, k) its projection on the vector ``u`` (n,).

    ``v - u (v'u) / (u'u)``; equals neutralizing centred columns to a single centred vector.
    A zero ``u`` gives NaN.
    """
    v_values = as_float_matrix(v)
    u_values = as_float_matrix(u).reshape(-1)
    if len(v_values) != len(u_values):
        raise DataValidationError(
            "orthogonalize needs v and u of the same length, "
            f"got {len(v_values)} and {len(u_values)}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        loadings = (u_values @ v_values) / (u_values @ u_values)
    if v_values.ndim == 1:
        return v_values - u_values * loadings
    return v_values - np.outer(u_values, loadings)


def masked_pearson(columns: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pearson correlation per column over the rows where ``mask`` is true."""
    count = mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_values = np.where(mask, columns, 0.0)
        y_values = np.where(mask, target[:, None], 0.0)
        x = np.where(mask, x_values - x_values.sum(axis=0) / count, 0.0)
        y = np.where(mask, y_values - y_values.sum(axis=0) / count, 0.0)
        correlation = (x * y).sum(axis=0) / np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0))
    return np.clip(correlation, -1.0, 1.0)

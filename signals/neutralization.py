"""Neutralization: least-squares residuals against exposures, and neutral portfolio weights.

``neutralize`` removes from each signal column its least-squares fit on the
neutralizers plus an intercept (numerai-tools' ``neutralize``: the minimum-norm
``lstsq`` solution with ``rcond=1e-6``, columns with zero spread become NaN).
The neutralizers are factorized once (thin SVD of ``[N | 1]``) and every column is
residualized with the same factors, so K models cost two matrix products.

``neutral_weights`` builds ``w = v * (s - N N' (v * s))`` (spec section 7.2): with
``N = X (X' V X)^(-1/2)`` and ``V = diag(v)`` the weights have ``X' w = 0`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from metasignal.errors import DataValidationError
from metasignal.signals.transforms import as_float_matrix

Signals = TypeVar("Signals", np.ndarray, pd.Series, pd.DataFrame)

LSTSQ_RCOND = 1e-6


@dataclass(frozen=True)
class NeutralizerBasis:
    """Thin SVD ``A = U S V'`` of the design ``A = [N | 1]`` (n x (f+1)) for one cross-section.

    Singular values at or below ``rcond * max`` are dropped (as ``numpy.linalg.lstsq``
    does), so collinear neutralizers such as one-hots plus the intercept are fine.
    """

    design: np.ndarray  # A, (n, f + 1)
    left: np.ndarray  # U_r, (n, r)
    singular: np.ndarray  # s_r, (r,)
    right: np.ndarray  # V_r', (r, f + 1)

    @classmethod
    def from_neutralizers(
        cls, neutralizers: np.ndarray | pd.DataFrame, *, rcond: float = LSTSQ_RCOND
    ) -> "NeutralizerBasis":
        """Factorize ``[neutralizers | 1]``; ``neutralizers`` is (n, f), finite."""
        exposures = as_float_matrix(neutralizers)
        if exposures.ndim == 1:
            exposures = exposures[:, None]
        if exposures.ndim != 2:
            raise DataValidationError("neutralizers must be a 2-D (tickers x columns) matrix")
        if not np.isfinite(exposures).all():
            raise DataValidationError("neutralizers contain NaN or infinite values")
        design = np.hstack([exposures, np.ones((len(exposures), 1))])
        if len(design) == 0:
            empty = np.zeros((0, 0))
            return cls(design, empty, np.zeros(0), np.zeros((0, design.shape[1])))
        left, singular, right = np.linalg.svd(design, full_matrices=False)
        keep = singular > rcond * singular[0]
        return cls(design, left[:, keep], singular[keep], right[keep])

    @property
    def n_rows(self) -> int:
        return len(self.design)

    def fitted(self, values: np.ndarray) -> np.ndarray:
        """Least-squares fit ``A B`` of each column of ``values`` (n, k), B minimum-norm.

        Computed as ``A (V_r S_r^-1 U_r' X)`` so that identical rows of ``A`` get identical fits.
        """
        coefficients = self.right.T @ ((self.left.T @ values) / self.singular[:, None])
        return self.design @ coefficients

    def residuals(self, values: np.ndarray, proportion: float = 1.0) -> np.ndarray:
        """``values - proportion * fit`` for each column of ``values`` (n,) or (n, k).

        Columns with zero spread (constant) become NaN; a NaN column stays NaN.
        """
        matrix = np.asarray(values, dtype=np.float64)
        one_dimensional = matrix.ndim == 1
        matrix = matrix.reshape(len(matrix), -1)
        if len(matrix) != self.n_rows:
            raise DataValidationError(
                f"values have {len(matrix)} rows but the neutralizers have {self.n_rows}"
            )
        if self.n_rows:
            constant = matrix.max(axis=0) == matrix.min(axis=0)
            if constant.any():
                matrix = matrix.copy()
                matrix[:, constant] = np.nan
        result = matrix - proportion * self.fitted(matrix)
        return result[:, 0] if one_dimensional else result


def _check_same_index(
    left: pd.Series | pd.DataFrame, right: pd.Series | pd.DataFrame, what: str
) -> None:
    if not left.index.equals(right.index):
        raise DataValidationError(
            f"{what} must share the same ticker index in the same order (align them first)"
        )


def neutralize(
    df: pd.DataFrame | pd.Series,
    neutralizers: pd.DataFrame,
    proportion: float = 1.0,
) -> pd.DataFrame | pd.Series:
    """Residual of each column of ``df`` after least squares on ``[neutralizers | 1]``.

    ``df`` (tickers x models) and ``neutralizers`` (tickers x f) share one index and hold
    no NaN. ``proportion`` scales the removed fit (1 = fully neutral). Columns of ``df``
    with zero spread come back as NaN.
    """
    _check_same_index(df, neutralizers, "the data and the neutralizers")
    values = as_float_matrix(df)
    if np.isnan(values).any():
        raise DataValidationError("cannot neutralize data that contains NaN")
    basis = NeutralizerBasis.from_neutralizers(neutralizers)
    result = basis.residuals(values, proportion)
    if isinstance(df, pd.Series):
        return pd.Series(result, index=df.index, name=df.name)
    return pd.DataFrame(result, index=df.index, columns=df.columns)


def neutral_weights_matrix(
    signals: np.ndarray, neutralizers: np.ndarray, sample_weights: np.ndarray
) -> np.ndarray:
    """``v * (s - N (N' (v * s)))`` for each column s of ``signals`` (n, k); N (n, f), v (n,)."""
    weighted = sample_weights[:, None] * signals
    return sample_weights[:, None] * (signals - neutralizers @ (neutralizers.T @ weighted))


def neutral_weights(
    signals: Signals,
    neutralizers: np.ndarray | pd.DataFrame,
    sample_weights: np.ndarray | pd.Series,
) -> Signals:
    """Neutral portfolio weights ``w = v * (s - N N' (v * s))`` for each signal column.

    ``signals`` (n,) or (n, k) are the transformed signals (e.g. rank-gauss-pow1.5);
    ``neutralizers`` N (n, f) and ``sample_weights`` v (n,) are finite and, for pandas
    inputs, share the signals' index. A NaN signal column gives a NaN weight column.
    """
    if isinstance(signals, (pd.Series, pd.DataFrame)):
        for other, what in ((neutralizers, "neutralizers"), (sample_weights, "sample weights")):
            if isinstance(other, (pd.Series, pd.DataFrame)):
                _check_same_index(signals, other, f"the signals and the {what}")
    values = as_float_matrix(signals)
    exposures = as_float_matrix(neutralizers)
    weights = as_float_matrix(sample_weights).reshape(-1)
    if exposures.ndim == 1:
        exposures = exposures[:, None]
    if not (len(values) == len(exposures) == len(weights)):
        raise DataValidationError(
            f"signals, neutralizers and sample weights need the same number of rows, got "
            f"{len(values)}, {len(exposures)} and {len(weights)}"
        )
    if not np.isfinite(exposures).all():
        raise DataValidationError("neutralizers contain NaN or infinite values")
    if not np.isfinite(weights).all():
        raise DataValidationError("sample weights contain NaN or infinite values")
    result = neutral_weights_matrix(values.reshape(len(values), -1), exposures, weights)
    if values.ndim == 1:
        result = result[:, 0]
    if isinstance(signals, pd.DataFrame):
        return pd.DataFrame(result, index=signals.index, columns=signals.columns)
    if isinstance(signals, pd.Series):
        return pd.Series(result, index=signals.index, name=signals.name)
    return result

"""Neutralizer matrices: exposures X and sample weights v -> N with ``N' V N = I``.

With ``V = diag(v)`` and ``N`` spanning the columns of ``X`` in the v-weighted metric,
the neutral weights ``w = v * (s - N N' (v * s))`` satisfy ``X' w = 0`` exactly for
any signal ``s`` (spec section 7.2). We build ``N = V^{-1/2} U_r`` from the thin SVD
``V^{1/2} X = U S W'`` keeping the ``r`` directions with non-negligible singular values,
so collinear columns (country one-hots summing to the constant) are handled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasignal.data.schema import STYLE_FACTORS
from metasignal.errors import DataValidationError


def exposure_matrix(
    exposures: pd.DataFrame, *, styles: tuple[str, ...] = STYLE_FACTORS, constant: bool = True
) -> pd.DataFrame:
    """One cross-section's exposure matrix X (ticker x columns).

    Columns: ``country_<XX>`` and ``sector_<name>`` one-hots, the style z-scores
    (NaN -> 0, the cross-sectional mean), and a ``constant`` column of ones.
    """
    parts = [
        pd.get_dummies(exposures["country"].astype(str), prefix="country", dtype=float),
        pd.get_dummies(exposures["sector"].astype(str), prefix="sector", dtype=float),
        exposures[list(styles)].astype(float).fillna(0.0),
    ]
    matrix = pd.concat(parts, axis=1)
    if constant:
        matrix["constant"] = 1.0
    return matrix


def neutralizer_matrix(exposures: np.ndarray, sample_weights: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """N (n x r) with ``N' diag(v) N = I`` spanning the columns of ``exposures`` (n x k).

    ``sample_weights`` must be positive and finite.
    """
    x = np.asarray(exposures, dtype=float)
    v = np.asarray(sample_weights, dtype=float)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise DataValidationError("sample weights must be positive and finite to build neutralizers")
    if not np.all(np.isfinite(x)):
        raise DataValidationError("exposures must be finite to build neutralizers")
    root = np.sqrt(v)
    u, singular, _ = np.linalg.svd(x * root[:, None], full_matrices=False)
    keep = singular > rtol * singular.max() if singular.size else np.zeros(0, bool)
    return u[:, keep] / root[:, None]


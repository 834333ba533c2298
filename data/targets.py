"""Forward targets: window returns, factor-neutral residuals, 5/20/50/20/5 % binning.

A window ``"{D}D{L}L"`` (default ``20D2L``) skips ``L`` trading days after the date and
then compounds ``D`` daily returns: the target of date ``t`` is the total return from the
close of ``t+L`` to the close of ``t+L+D``, i.e. daily returns of days ``t+L+1 .. t+L+D``.
A name that delists inside the window holds cash after its last bar (return 0).

``raw`` bins that return; ``factor_neutral`` bins the OLS residual of that return on the
date's country and sector one-hots, beta, momentum, size and a constant (exposures of
``t``). Binning ranks per date (average ranks, ``p = (rank - 0.5) / n``) into
``{0, .25, .5, .75, 1}`` with shares 5/20/50/20/5 %.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from metasignal.errors import DataValidationError

BIN_EDGES = (0.05, 0.25, 0.75, 0.95)
BIN_VALUES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
NEUTRAL_STYLES = ("beta", "momentum", "size")
DEFAULT_WINDOW = "20D2L"  # the target window of corr/fnc/mmc scores, rounds and diagnostics
LONG_WINDOW = "60D2L"  # the window Numerai pays alpha and mpc on
TARGET_WINDOWS = (DEFAULT_WINDOW, LONG_WINDOW)  # the windows a store derives by default


def parse_window(window: str) -> tuple[int, int]:
    """``"20D2L"`` -> ``(20, 2)`` (days of returns, days skipped)."""
    match = re.fullmatch(r"(\d+)D(\d+)L", window.strip().upper())
    if not match or int(match.group(1)) == 0:
        raise DataValidationError(f"target window {window!r} is not of the form <days>D<lag>L, e.g. 20D2L")
    return int(match.group(1)), int(match.group(2))


def window_length(window: str) -> int:
    """Trading days from a date to the close that ends its target window (``lag + days``)."""
    days, lag = parse_window(window)
    return days + lag


def window_returns(ret: pd.DataFrame, window: str = DEFAULT_WINDOW) -> pd.DataFrame:
    """Total return over each date's target window (NaN where the window is not complete)."""
    days, lag = parse_window(window)
    log_growth = np.log1p(ret.fillna(0.0).to_numpy())
    cumulative = np.vstack([np.zeros((1, ret.shape[1])), np.cumsum(log_growth, axis=0)])
    n = len(ret)
    out = np.full(ret.shape, np.nan)
    last = n - 1 - lag - days  # last row whose window is complete
    if last >= 0:
        start = np.arange(last + 1) + lag + 1  # index of first return in the window
        out[: last + 1] = np.expm1(cumulative[start + days] - cumulative[start])
    return pd.DataFrame(out, index=ret.index, columns=ret.columns)


def bin_targets(values: np.ndarray) -> np.ndarray:
    """Bin cross-sections by rank into 5/20/50/20/5 % (NaN stays NaN).

    ``values`` is one cross-section ``(n,)`` or one per row ``(dates, n)``.
    """
    values = np.asarray(values, dtype=float)
    rows = np.atleast_2d(values)
    ranks = pd.DataFrame(rows).rank(axis=1, method="average").to_numpy()
    counts = np.sum(~np.isnan(rows), axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (ranks - 0.5) / counts
    out = np.where(np.isnan(rows), np.nan, BIN_VALUES[np.searchsorted(BIN_EDGES, np.nan_to_num(p), side="right")])
    return out.reshape(values.shape)


def residualize(y: np.ndarray, exposures: np.ndarray) -> np.ndarray:
    """OLS residual of ``y`` (n,) on the columns of ``exposures`` (n, k), which include a constant."""
    gram = exposures.T @ exposures
    coef = np.linalg.pinv(gram, rcond=1e-10, hermitian=True) @ (exposures.T @ y)
    return y - exposures @ coef

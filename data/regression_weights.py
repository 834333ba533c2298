"""Weights of the risk model's daily cross-sectional regressions, with their degraded modes.

One function, :func:`risk_regression_weights`, used by the risk model read from a store
(:func:`metasignal.portfolio.risk_model.risk_inputs_from_store`) and by the walk-forward's
factor-return history, so both fit the same weights.

Rule, per date (row), over ``date x ticker`` market caps and 20-day dollar ADVs:

1. on a date where some name has a positive market cap: ``sqrt(market_cap)`` (the normal
   mode); a name without one that day (no bar, or no shares outstanding known) has no weight
   (NaN: the regression leaves it out of that day's fit, as before degraded modes existed);
2. on a date where no name has a market cap (a store without shares outstanding):
   ``sqrt(adv_20d)`` instead, NaN where the ADV is unknown;
3. on a date with neither (no shares and no volume): equal weights 1.

So a store without shares or volume still fits its factor regressions instead of giving
every name weight 0, and a store with both gets exactly ``sqrt(market_cap)``.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd

Panel = TypeVar("Panel", np.ndarray, pd.DataFrame)


def _root(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sqrt`` of the positive cells (NaN elsewhere), and whether each row has any."""
    root = np.sqrt(np.where(values > 0, values, np.nan))
    return root, np.isfinite(root).any(axis=1)


def risk_regression_weights(market_cap: Panel, adv: Panel) -> Panel:
    """Regression weights (same shape and type as ``market_cap``: ``date x ticker``; NaN: left
    out of the fit) from market caps and dollar ADVs (dollars; NaN when unknown), by the
    module's rule."""
    if isinstance(market_cap, pd.DataFrame) and isinstance(adv, pd.DataFrame):
        adv = adv.reindex(index=market_cap.index, columns=market_cap.columns)
    cap = np.asarray(market_cap, dtype=float)
    liquidity = np.asarray(adv, dtype=float)
    if cap.shape != liquidity.shape:
        raise ValueError(f"market_cap has shape {cap.shape} and adv {liquidity.shape}: they must match")
    by_cap, has_cap = _root(cap)
    by_adv, has_adv = _root(liquidity)
    weights = np.where(has_cap[:, None], by_cap, np.where(has_adv[:, None], by_adv, 1.0))
    if isinstance(market_cap, pd.DataFrame):
        return pd.DataFrame(weights, index=market_cap.index, columns=market_cap.columns)
    return weights

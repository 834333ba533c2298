"""Factor-return history for fast point-in-time risk models over a backtest.

:func:`metasignal.portfolio.risk_model.cross_sectional_regressions` takes the exposures as a (date,
ticker) panel; over ten years of thousands of names that panel alone is gigabytes. A
walk-forward backtest holds the exposures as wide arrays instead: static country and sector
one-hots plus a few style panels. :func:`factor_return_history` runs every day's regression
once from those (chunked over days), and the model of any date comes from
:func:`metasignal.portfolio.risk_model.risk_model_from_regressions` over the days up to it. The
regression of day ``s`` uses exposures, universe and weights of day ``s - 1``, so nothing
after a date enters its model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from metasignal.data.blas import limits_blas_threads
from metasignal.portfolio.risk_model import (
    FactorRegressions,
    RiskModel,
    RiskModelConfig,
    _cross_sectional_regressions,
    risk_model_from_regressions,
)


@dataclass(frozen=True)
class FactorReturnHistory:
    """Daily factor returns and residuals of one ticker list and factor list."""

    regressions: FactorRegressions

    def risk_model(self, as_of, exposures: pd.DataFrame, config: RiskModelConfig = RiskModelConfig()) -> RiskModel:
        """The model at ``as_of``: ``exposures`` (ticker x columns, including every factor of the
        history; other columns are ignored) known at ``as_of``."""
        factors = list(self.regressions.factor_returns.columns)
        return risk_model_from_regressions(self.regressions, exposures[factors], as_of, config=config)


@limits_blas_threads
def factor_return_history(
    returns: pd.DataFrame,
    groups: pd.DataFrame,
    styles: Mapping[str, pd.DataFrame],
    universe: pd.DataFrame,
    weights: pd.DataFrame,
    *,
    chunk: int = 64,
) -> FactorReturnHistory:
    """Regress each day's returns on the previous day's exposures, for every day.

    returns, universe, weights and each style: date x ticker frames on the same index and
    columns; groups: ticker x one-hot columns (static). Day ``s`` fits names in the universe on
    ``s - 1`` with a return on ``s``, weighted by ``weights`` of ``s - 1`` (styles NaN -> 0).
    """
    tickers, dates = returns.columns, returns.index
    g = groups.reindex(tickers).fillna(0.0).to_numpy(dtype=float)
    style_names = list(styles)
    lagged = np.stack([styles[name].reindex(index=dates, columns=tickers).shift(1).to_numpy(dtype=float)
                       for name in style_names], axis=-1)
    lagged = np.nan_to_num(lagged, nan=0.0)
    inside = universe.reindex(index=dates, columns=tickers).shift(1).fillna(False).to_numpy(dtype=bool)
    w = weights.reindex(index=dates, columns=tickers).shift(1).to_numpy(dtype=float)
    w = np.where(inside & np.isfinite(w) & (w > 0), w, 0.0)
    y = np.where(w > 0, returns.to_numpy(dtype=float), np.nan)  # names out of the fit are unobserved
    t_days, n = y.shape
    k = g.shape[1] + len(style_names)
    factor_returns = np.zeros((t_days, k))
    residuals = np.full((t_days, n), np.nan)
    for first in range(0, t_days, chunk):
        last = min(first + chunk, t_days)
        x = np.concatenate([np.broadcast_to(g, (last - first, n, g.shape[1])), lagged[first:last]], axis=2)
        f, r, observed = _cross_sectional_regressions(x, y[first:last], w[first:last])
        factor_returns[first:last] = f
        residuals[first:last] = np.where(observed, r, np.nan)
    factors = pd.Index([*groups.columns.astype(str), *style_names], name="factor")
    return FactorReturnHistory(FactorRegressions(
        pd.DataFrame(factor_returns, index=dates, columns=factors),
        pd.DataFrame(residuals, index=dates, columns=pd.Index(tickers, name="ticker")),
    ))

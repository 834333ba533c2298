"""Factor-return history for fast point-in-time risk models over a backtest.

:func:`estimate_risk_model` re-runs a year of cross-sectional regressions for each date.
A walk-forward backtest instead runs every day's regression once
(:func:`factor_return_history`, chunked over days) and then builds the model of any
date from the history up to that date (:meth:`FactorReturnHistory.risk_model`): the
regression of day ``s`` uses the exposures of day ``s - 1`` and the factor covariance and
specific variances use only days ``<= as_of``, so nothing after ``as_of`` enters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from portfolio.errors import PortfolioInputError
from portfolio.risk_model import (
    RiskModel,
    RiskModelConfig,
    _cross_sectional_regressions,
    _day_weights,
    _shrink_to_group_median,
    _shrunk_covariance,
    _specific_variance,
    group_labels,
)


@dataclass(frozen=True)
class FactorReturnHistory:
    """Daily factor returns (T x k) and residuals (T x n) of one ticker list and factor list."""

    dates: pd.DatetimeIndex
    tickers: pd.Index
    factors: pd.Index
    factor_returns: np.ndarray
    residuals: np.ndarray
    observed: np.ndarray

    def risk_model(self, as_of, exposures: pd.DataFrame, config: RiskModelConfig = RiskModelConfig()) -> RiskModel:
        """The model at ``as_of`` from the last ``config.lookback`` days up to it.

        exposures: ticker x factor (the ``factors`` columns) of ``as_of``; its index is the model's tickers.
        """
        as_of = pd.Timestamp(as_of)
        stop = int(self.dates.searchsorted(as_of, side="right"))
        start = max(0, stop - config.lookback)
        if stop - start < 2:
            raise PortfolioInputError(f"fewer than 2 days of factor returns up to {as_of.date()}")
        observed = self.observed[start:stop]
        valid = observed.sum(axis=1) > len(self.factors)
        day_weights = _day_weights(stop - start, config.halflife)
        cov, intensity = _shrunk_covariance(self.factor_returns[start:stop][valid], day_weights[valid], config.factor_shrinkage)
        columns = self.tickers.get_indexer(exposures.index)
        if (columns < 0).any():
            raise PortfolioInputError(f"ticker {exposures.index[columns < 0][0]} is not in the factor-return history")
        variance, n_obs = _specific_variance(self.residuals[start:stop][:, columns], observed[:, columns], day_weights)
        latest = exposures[list(self.factors)].astype(float)
        specific = _shrink_to_group_median(variance, n_obs, group_labels(latest, config.shrink_group), config)
        return RiskModel(
            as_of=as_of, tickers=pd.Index(latest.index.astype(str), name="ticker"), factors=self.factors,
            exposures=latest.to_numpy(), factor_covariance=cov, specific_variance=specific, shrinkage=intensity,
        )


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
    ``s - 1`` with a return on ``s``, weighted by ``weights`` of ``s - 1``.
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
    y = np.where(inside, returns.to_numpy(dtype=float), np.nan)
    t_days, n = y.shape
    k = g.shape[1] + len(style_names)
    factor_returns = np.zeros((t_days, k))
    residuals = np.zeros((t_days, n))
    observed = np.zeros((t_days, n), dtype=bool)
    for first in range(0, t_days, chunk):
        last = min(first + chunk, t_days)
        x = np.concatenate([np.broadcast_to(g, (last - first, n, g.shape[1])), lagged[first:last]], axis=2)
        f, r, o = _cross_sectional_regressions(x, y[first:last], w[first:last])
        factor_returns[first:last], residuals[first:last], observed[first:last] = f, r, o
    factors = pd.Index([*groups.columns.astype(str), *style_names], name="factor")
    return FactorReturnHistory(dates, tickers, factors, factor_returns, residuals, observed & (w > 0))

"""Trading and holding cost models, in units of capital.

One model serves the optimizer (forecast volume and volatility) and the backtest
(realized volume): the cost of trading ``x_i`` (a fraction of capital) in name ``i`` is

    spread_i + impact_i = a_i * |x_i| + b * sigma_i * |x_i| ** 1.5 * sqrt(capital / V_i)

with ``a_i`` the half-spread (fraction of traded value), ``sigma_i`` the daily return
volatility, ``V_i`` the daily traded dollar volume and ``b`` the impact coefficient. This is
the square-root-law market impact written per unit of capital: the dollar impact
``b * sigma * |X| ** 1.5 / sqrt(V)`` divided by capital ``C`` with ``X = x C``.

Borrow: a short position ``w_i < 0`` pays ``rate_i / 252 * |w_i|`` of capital per trading day.

For quadratic programs the 3/2 power can be replaced by its least-squares fit on a trade range
``[0, X]`` (:func:`linear_quadratic_impact`): ``|x|**1.5 ~ p sqrt(X) |x| + q x**2 / sqrt(X)`` with
``p = 8/21`` and ``q = 40/63`` (fit of ``u**1.5`` by ``p u + q u**2`` on ``[0, 1]``); the error is at
most ``0.016 X**1.5`` inside the range and the fit overstates the cost of larger trades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metasignal.data.calendar import TRADING_DAYS_PER_YEAR

IMPACT_FIT_LINEAR = 8.0 / 21.0
IMPACT_FIT_QUADRATIC = 40.0 / 63.0


@dataclass(frozen=True)
class TransactionCostModel:
    """Linear half-spread plus 3/2-power market impact.

    half_spread: fraction of traded value (0.0005 = 5 bp), scalar or per-name array.
    impact: dimensionless coefficient ``b`` of the 3/2-power term (0 disables impact).
    capital: fund capital in dollars, which sets the trade size relative to volume.
    """

    half_spread: float | np.ndarray = 0.0005
    impact: float = 1.0
    capital: float = 1e8

    def impact_coefficients(self, volatility: np.ndarray, dollar_volume: np.ndarray) -> np.ndarray:
        """Per-name ``c_i`` such that impact cost = ``c_i * |x_i| ** 1.5`` (fraction of capital).

        Names with no volume (0 or NaN) get an infinite coefficient: they cannot be traded.
        """
        volatility = np.nan_to_num(np.asarray(volatility, dtype=float), nan=0.0)
        dollar_volume = np.asarray(dollar_volume, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.sqrt(self.capital / dollar_volume)
        tradable = np.isfinite(root) & (dollar_volume > 0)
        # untradable names: infinite cost whatever their volatility (never 0 * inf = NaN)
        return np.where(tradable, self.impact * volatility * np.where(tradable, root, 0.0), np.inf)

    def costs(
        self, trades: np.ndarray, volatility: np.ndarray, dollar_volume: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Spread and impact cost per name for ``trades`` (fractions of capital).

        Arrays broadcast: ``trades`` may be ``(n,)`` or ``(t, n)``. Untraded names cost 0 even
        when they have no volume.
        """
        size = np.abs(np.asarray(trades, dtype=float))
        spread = np.asarray(self.half_spread, dtype=float) * size
        coef = self.impact_coefficients(volatility, dollar_volume)
        with np.errstate(invalid="ignore"):
            impact = np.where(size > 0, coef * size**1.5, 0.0)
        return spread, impact


@dataclass(frozen=True)
class BorrowCostModel:
    """Annual borrow fee on short positions, as a fraction of the short value."""

    annual_rate: float | np.ndarray = 0.005

    def daily_rate(self) -> np.ndarray | float:
        """Fee per trading day per unit of short exposure."""
        return np.asarray(self.annual_rate, dtype=float) / TRADING_DAYS_PER_YEAR

    def cost(self, weights: np.ndarray) -> np.ndarray:
        """Borrow cost per name for one day of holding ``weights`` (fractions of capital)."""
        short = np.clip(-np.asarray(weights, dtype=float), 0.0, None)
        return self.daily_rate() * short


def linear_quadratic_impact(coefficients: np.ndarray, fit_range: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-name ``(linear, quadratic)`` with ``c |x|**1.5 ~ linear |x| + quadratic x**2`` for ``|x| <= X``.

    coefficients: ``c_i`` from :meth:`TransactionCostModel.impact_coefficients` (finite);
    fit_range: ``X_i`` > 0, the largest trade (fraction of capital) the fit should be good for.
    """
    c = np.asarray(coefficients, dtype=float)
    root = np.sqrt(np.asarray(fit_range, dtype=float))
    return IMPACT_FIT_LINEAR * c * root, IMPACT_FIT_QUADRATIC * c / root

"""Performance metrics over period return series (and per-era score series).

Every function takes a ``Series`` of simple returns per period (or a ``DataFrame`` with one
column per strategy/model, giving one value per column) and skips NaN periods. Conventions:

- annualization uses ``periods_per_year`` (252 trading days by default; 52 for weekly eras,
  1 to get plain per-period figures);
- ``annualized_return`` is geometric (compounded), Sharpe and Sortino use the arithmetic mean
  with a zero risk-free rate / target;
- drawdowns are ``<= 0`` (fraction of the running peak, the peak including the starting
  wealth of 1); ``max_drawdown`` is reported as a positive magnitude (0.25 = a 25 % loss from
  peak to trough).

For per-era *scores* (correlations, not compounding returns): ``periods_per_year=1`` gives
the per-era, non-annualized Sharpe (mean / std), ``compound=False`` the drawdown of the
cumulative (additive) score, and ``skip_flat=False`` a hit rate where an era at exactly 0 is a
miss. The per-era score summaries (:func:`metasignal.backtest.diagnostics.summarize_scores`) are built
from these functions; every metric is defined here once.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd

from metasignal.data.calendar import TRADING_DAYS_PER_YEAR

SeriesOrFrame = TypeVar("SeriesOrFrame", pd.Series, pd.DataFrame)
FloatOrSeries = float | pd.Series


def _safe_ratio(numerator, denominator):
    """``numerator / denominator`` with NaN where the denominator is 0 or NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.asarray(numerator, dtype=float) / np.asarray(denominator, dtype=float)
    ratio = np.where(np.isfinite(ratio), ratio, np.nan)
    return _like(ratio, numerator)


def _like(values: np.ndarray, template) -> FloatOrSeries:
    """Wrap a per-column result like ``template`` (a float or a Series over columns)."""
    if isinstance(template, pd.Series):
        return pd.Series(values, index=template.index, dtype=float)
    return float(values)


def total_return(returns: SeriesOrFrame) -> FloatOrSeries:
    """Compounded return over the whole series: ``prod(1 + r) - 1``."""
    return (1.0 + returns).prod() - 1.0


def annualized_return(
    returns: SeriesOrFrame, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> FloatOrSeries:
    """Geometric annual growth rate: ``prod(1 + r) ** (periods_per_year / n) - 1``.

    ``n`` counts the non-NaN periods; an empty series gives NaN.
    """
    growth = (1.0 + returns).prod()
    periods = returns.count()
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.float64(periods_per_year) / np.asarray(periods, dtype=float)
        rate = np.power(np.asarray(growth, dtype=float), exponent) - 1.0
    rate = np.where(np.asarray(periods) > 0, rate, np.nan)
    return _like(rate, growth)


def annualized_volatility(
    returns: SeriesOrFrame, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> FloatOrSeries:
    """Sample standard deviation (ddof=1) scaled by ``sqrt(periods_per_year)``."""
    return returns.std(ddof=1) * np.sqrt(periods_per_year)


def sharpe_ratio(
    returns: SeriesOrFrame, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> FloatOrSeries:
    """``mean / std * sqrt(periods_per_year)`` (zero risk-free rate; NaN if std is 0).

    ``periods_per_year=1``: the plain per-period ratio ``mean / std`` (per-era scores).
    """
    return _safe_ratio(returns.mean() * np.sqrt(periods_per_year), returns.std(ddof=1))


def sortino_ratio(
    returns: SeriesOrFrame, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> FloatOrSeries:
    """``mean / downside deviation * sqrt(periods_per_year)``, target 0.

    Downside deviation is ``sqrt(mean(min(r, 0) ** 2))`` over all non-NaN periods.
    """
    downside = np.sqrt((returns.clip(upper=0.0) ** 2).mean())
    return _safe_ratio(returns.mean() * np.sqrt(periods_per_year), downside)


def drawdown_series(returns: SeriesOrFrame, *, compound: bool = True) -> SeriesOrFrame:
    """Drawdown at each period, ``<= 0``.

    compound=True: wealth ``W = cumprod(1 + r)`` from 1, drawdown ``W / max(1, cummax W) - 1``.
    compound=False: level ``S = cumsum(r)`` from 0, drawdown ``S - max(0, cummax S)``
    (in the units of ``r``; for per-era scores).
    NaN periods count as 0.
    """
    filled = returns.fillna(0.0)
    if compound:
        wealth = (1.0 + filled).cumprod()
        peak = wealth.cummax().clip(lower=1.0)
        return wealth / peak - 1.0
    level = filled.cumsum()
    peak = level.cummax().clip(lower=0.0)
    return level - peak


def max_drawdown(returns: SeriesOrFrame, *, compound: bool = True) -> FloatOrSeries:
    """Largest peak-to-trough loss as a positive number, 0 without a loss (see ``drawdown_series``).

    NaN for a series (column) without any non-NaN period: there is no path to fall along.
    """
    worst = 0.0 - drawdown_series(returns, compound=compound).min()  # 0.0 - 0.0 is +0.0
    has_periods = returns.count() > 0
    if isinstance(returns, pd.DataFrame):
        return worst.where(has_periods)
    return float(worst) if has_periods else np.nan


def calmar_ratio(
    returns: SeriesOrFrame, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> FloatOrSeries:
    """Annualized return divided by max drawdown (NaN when there is no drawdown)."""
    return _safe_ratio(annualized_return(returns, periods_per_year), max_drawdown(returns))


def hit_rate(returns: SeriesOrFrame, *, skip_flat: bool = True) -> FloatOrSeries:
    """Share of periods with a positive value (NaN periods skipped; NaN without any period).

    skip_flat=True (returns): flat periods (exactly 0, e.g. before the first trade) are
    neither hits nor misses. skip_flat=False (per-era scores): every non-NaN period counts,
    an era scoring exactly 0 is a miss.
    """
    positive = (returns > 0).sum()
    counted = ((returns != 0) & returns.notna()).sum() if skip_flat else returns.count()
    return _safe_ratio(positive, counted)


def rolling_sharpe(
    returns: SeriesOrFrame,
    window: int = 63,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
) -> SeriesOrFrame:
    """Sharpe ratio over a trailing window of ``window`` periods (NaN until it is full)."""
    rolling = returns.rolling(window, min_periods=window)
    std = rolling.std(ddof=1)
    sharpe = rolling.mean() * np.sqrt(periods_per_year) / std.where(std > 0)
    return sharpe


def monthly_returns(returns: pd.Series) -> pd.DataFrame:
    """Compounded return per calendar month: rows are years, columns months 1..12 (NaN = none).

    ``returns`` must have a DatetimeIndex.
    """
    if not isinstance(returns.index, pd.DatetimeIndex):
        raise TypeError("monthly_returns needs a Series indexed by dates (DatetimeIndex).")
    index = returns.index
    growth = (1.0 + returns.fillna(0.0)).groupby([index.year, index.month]).prod() - 1.0
    growth.index = growth.index.set_names(["year", "month"])
    table = growth.unstack("month").reindex(columns=range(1, 13))
    table.columns.name = "month"
    return table


def performance_summary(
    returns: pd.Series, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> dict[str, float]:
    """The standard set of return metrics for one return series, as a flat dict of floats."""
    return {
        "total_return": float(total_return(returns)),
        "annualized_return": float(annualized_return(returns, periods_per_year)),
        "annualized_volatility": float(annualized_volatility(returns, periods_per_year)),
        "sharpe": float(sharpe_ratio(returns, periods_per_year)),
        "sortino": float(sortino_ratio(returns, periods_per_year)),
        "max_drawdown": float(max_drawdown(returns)),
        "calmar": float(calmar_ratio(returns, periods_per_year)),
        "hit_rate": float(hit_rate(returns)),
    }


def sharpe_uncertainty(
    returns: pd.Series, periods_per_year: float = TRADING_DAYS_PER_YEAR, lag: int | None = None
) -> dict[str, float]:
    """The Sharpe ratio of ``returns`` with its autocorrelation-aware uncertainty, as a flat dict:
    sharpe, sharpe_se (delta method with a Newey-West long-run covariance, Lo 2002; annualized
    like the ratio), sharpe_ci_low / sharpe_ci_high (95 %), sharpe_psr (probability that the
    true Sharpe is above 0), sharpe_lag (Newey-West lags, default ``floor(4 (n / 100) ** (2 / 9))``).
    See :func:`metasignal.backtest.inference.sharpe_with_se`."""
    from metasignal.backtest.inference import sharpe_with_se

    estimate = sharpe_with_se(returns, periods_per_year, lag)
    return {"sharpe": estimate.sharpe, "sharpe_se": estimate.se, "sharpe_ci_low": estimate.ci_low,
            "sharpe_ci_high": estimate.ci_high, "sharpe_psr": estimate.psr, "sharpe_lag": float(estimate.lag)}


def equal_weight_market(returns: pd.DataFrame) -> pd.Series:
    """The equal-weighted mean return of the names traded each period (date x ticker ->
    date), a market benchmark for :func:`metasignal.backtest.inference.factor_regression`."""
    return returns.mean(axis=1, skipna=True).rename("market")

"""Per-date derived data from daily bars, point-in-time.

Every function maps wide ``date x ticker`` frames to wide frames of the same shape and
uses, for row ``t``, only rows ``<= t`` (rolling windows and cross-sections of ``t``):
changing bars after ``t`` cannot change anything computed for ``t``.

Definitions (documented here once):

- ``ret``: simple daily total return from ``adj_close`` since the name's previous bar
  (a gap's move lands on the next bar); NaN when the name has no bar on ``t`` and on its first bar.
- ``dollar_volume = close * volume``; ``adv_20d``: 20-day mean dollar volume (>= 10 bars).
- ``market_cap = close * shares_outstanding`` (shares as stored in ``securities``).
- ``sigma``: 60-day standard deviation of ``ret`` (>= 20 returns), daily units.
- universe on ``t``: a bar on ``t``, at least 60 returns of history, ``adv_20d > 0``.
- style exposures, each winsorized at +-3 and z-scored over the day's universe (NaN -> 0):
  ``beta``: 252-day (>= 63) regression slope on the cap-weighted universe return (weights
  = previous day's market caps); ``size``: log market cap; ``momentum``: 12-1 month return
  (``adj_close[t-21] / adj_close[t-252] - 1``); ``volatility``: log ``sigma``; ``value``: a
  documented proxy from bars only, long-term reversal ``-(adj_close[t-252] / adj_close[t-504] - 1)``;
  a lagged price on a day without a bar is the name's last close before it.
- ``sample_weight`` v: ``sqrt(adv_20d)`` over the universe, divided by its median, clipped
  to [0.1, 10] (liquid names count more without dominating), then scaled to mean
  ``sqrt(n / REFERENCE_UNIVERSE)`` over the day's ``n`` names. Alpha grows linearly with the
  scale of v and MPC does not depend on it, while MPC grows like ``sqrt(n)`` (a dot product over
  ``n`` names divided by a portfolio norm): with this scale both grow like ``sqrt(n)``, so the
  weight payouts give alpha against MPC does not depend on the universe size, and equals what
  mean-1 weights give on a universe of ``REFERENCE_UNIVERSE`` names (about Numerai's).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from metasignal.data.schema import STYLE_FACTORS

MIN_HISTORY = 60
ADV_DAYS = 20
SIGMA_DAYS = 60
BETA_DAYS = 252


def daily_returns(adj_close: pd.DataFrame) -> pd.DataFrame:
    """Simple total returns since each name's previous bar: ``adj_close[t] / adj_close[prev] - 1``.

    NaN on days without a bar and on a name's first bar. A day without a bar (a local
    holiday on a multi-market calendar, a halt) does not lose the move: the next bar's
    return spans the gap.
    """
    return adj_close / adj_close.ffill().shift(1) - 1.0


def universe_mask(ret: pd.DataFrame, adv: pd.DataFrame) -> pd.DataFrame:
    """Boolean ``date x ticker``: traded today, >= 60 returns of history and positive ADV."""
    history = ret.notna().cumsum()
    return ret.notna() & (history >= MIN_HISTORY) & (adv > 0)


def cross_sectional_zscore(values: pd.DataFrame, universe: pd.DataFrame, clip: float = 3.0) -> pd.DataFrame:
    """Per date: winsorize at ``clip`` standard deviations, z-score over the universe, NaN -> 0.

    Names outside the universe get NaN.
    """
    x = values.where(universe).to_numpy(dtype=float)
    with warnings.catch_warnings():  # dates with an empty universe give all-NaN rows
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(2):  # standardize, clip, standardize again
            mean = np.nanmean(x, axis=1, keepdims=True)
            std = np.nanstd(x, axis=1, keepdims=True)
            std = np.where(std > 0, std, 1.0)
            x = np.clip((x - mean) / std, -clip, clip)
    inside = universe.to_numpy()
    x = np.where(inside, np.nan_to_num(x, nan=0.0), np.nan)
    return pd.DataFrame(x, index=values.index, columns=values.columns)


def market_return(ret: pd.DataFrame, market_cap: pd.DataFrame, universe: pd.DataFrame) -> pd.Series:
    """Cap-weighted universe return per date, weights from the previous day's caps."""
    caps = market_cap.shift(1)
    caps = caps.T.fillna(caps.median(axis=1)).T.fillna(1.0)  # unknown caps: the day's median, else equal
    weights = caps.where(universe & ret.notna()).fillna(0.0)
    total = weights.sum(axis=1).replace(0.0, np.nan)
    return (ret.fillna(0.0) * weights).sum(axis=1) / total


def rolling_beta(ret: pd.DataFrame, market: pd.Series, window: int = BETA_DAYS, min_periods: int = 63) -> pd.DataFrame:
    """Rolling OLS slope of each name's returns on the market return (same days only)."""
    m = pd.DataFrame(np.where(ret.notna(), market.to_numpy()[:, None], np.nan), index=ret.index, columns=ret.columns)
    roll = dict(window=window, min_periods=min_periods)
    mean_rm = (ret * m).rolling(**roll).mean()
    mean_r = ret.rolling(**roll).mean()
    mean_m = m.rolling(**roll).mean()
    var_m = (m * m).rolling(**roll).mean() - mean_m**2
    return (mean_rm - mean_r * mean_m) / var_m.where(var_m > 1e-12)


REFERENCE_UNIVERSE = 5000  # names at which v has mean 1 (Numerai's Signals universe is ~5,000)


def sample_weight_scale(n_names: np.ndarray | int) -> np.ndarray | float:
    """The mean of v over a universe of ``n_names``: ``sqrt(n / REFERENCE_UNIVERSE)``."""
    return np.sqrt(np.asarray(n_names, dtype=float) / REFERENCE_UNIVERSE)


def sample_weights(adv: pd.DataFrame, universe: pd.DataFrame) -> pd.DataFrame:
    """Liquidity-aware sample weights v (date x ticker; mean ``sample_weight_scale(n)`` over
    each date's ``n`` universe names, NaN outside; module docstring)."""
    root = np.sqrt(adv.where(universe))
    median = root.median(axis=1)
    v = root.div(median, axis=0).clip(0.1, 10.0)
    return v.div(v.mean(axis=1), axis=0).mul(sample_weight_scale(v.notna().sum(axis=1).to_numpy()), axis=0)


def derive_daily(
    close: pd.DataFrame, adj_close: pd.DataFrame, volume: pd.DataFrame, shares_outstanding: pd.Series
) -> dict[str, pd.DataFrame]:
    """All derived daily fields from wide bars; keys are the ``daily`` table's columns."""
    ret = daily_returns(adj_close)
    dollar_volume = close * volume
    adv = dollar_volume.rolling(ADV_DAYS, min_periods=10).mean()
    market_cap = close.mul(shares_outstanding.reindex(close.columns), axis=1)
    sigma = ret.rolling(SIGMA_DAYS, min_periods=20).std()
    universe = universe_mask(ret, adv) & sigma.gt(0)
    last_close = adj_close.ffill()  # prices on days a name's market was closed: its last close (known at t)
    raw_styles = {
        "beta": rolling_beta(ret, market_return(ret, market_cap, universe)),
        "size": np.log(market_cap.where(market_cap > 0)),
        "momentum": last_close.shift(21) / last_close.shift(252) - 1.0,
        "volatility": np.log(sigma.where(sigma > 0)),
        "value": -(last_close.shift(252) / last_close.shift(504) - 1.0),
    }
    fields = {
        "ret": ret,
        "dollar_volume": dollar_volume,
        "adv_20d": adv,
        "market_cap": market_cap,
        "sigma": sigma,
        **{name: cross_sectional_zscore(raw_styles[name], universe) for name in STYLE_FACTORS},
        "sample_weight": sample_weights(adv, universe),
        "in_universe": universe,
    }
    return fields


def to_long(fields: dict[str, pd.DataFrame], present: pd.DataFrame) -> pd.DataFrame:
    """Stack wide fields into a long ``(date, ticker, field...)`` frame over ``present`` cells."""
    rows, cols = np.nonzero(present.to_numpy())
    frame = pd.DataFrame({"date": present.index.values[rows], "ticker": present.columns.to_numpy()[cols]})
    for name, wide in fields.items():
        frame[name] = wide.to_numpy()[rows, cols]
    return frame

"""Per-date derived data from daily bars, point-in-time.

Every function maps wide ``date x ticker`` frames to wide frames of the same shape and
uses, for row ``t``, only rows ``<= t`` (rolling windows and cross-sections of ``t``):
changing bars after ``t`` cannot change anything computed for ``t``.

Definitions (documented here once):

- inputs (:func:`metasignal.data.derive.market_inputs`): ``close`` raw and ``adj_close`` total-return
  adjusted (derived from raw closes and corporate actions), both in US dollars at the day's close.
- ``ret``: simple daily total return from ``adj_close`` since the name's previous bar
  (a gap's move lands on the next bar); NaN when the name has no bar on ``t`` and on its first bar.
- ``dollar_volume = close * volume``; ``adv_20d``: 20-day mean dollar volume (>= 10 bars).
- ``market_cap = close * shares_outstanding`` (the share count known at ``t``, carried through
  splits; the ``securities`` row's when the store has no history).
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

Degraded modes (:class:`DegradedModes`; ``derive_store`` records them in the store's meta,
``Store.info()`` shows them and derive logs a warning naming them):

- no volume: when no bar of the store has a positive volume (every volume missing or 0), the
  store carries no liquidity information. ``dollar_volume`` and ``adv_20d`` are NaN (unknown,
  not 0), the universe is by history only (a bar on ``t``, >= 60 returns, ``sigma > 0``) and
  every sample weight is equal (``sample_weight_scale(n)``). Costs and participation limits
  need volume: the portfolio and the backtest cannot trade such a store. When some bars have
  volume, a name without ADV on ``t`` is out of that day's universe (its liquidity is unknown).
- no shares outstanding: ``market_cap`` is NaN for a name without a (positive) share count.
  ``size`` on a date where no universe name has a market cap is the stated proxy log
  ``adv_20d`` (z-scored like size; 0 for every name when there is no volume either); on a date
  where some names have caps, names without one get size 0 (the cross-sectional mean). The
  cap-weighted market return behind ``beta`` gives names without a cap the day's median cap
  (equal weights when no name has one). The risk model's regression weights are
  ``sqrt(market_cap)``; on a date without any cap ``sqrt(adv_20d)``, without either equal
  (:mod:`metasignal.data.regression_weights`); a name without shares among names with caps is
  left out of the daily factor-return fit (its exposures and specific risk still count).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

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


def universe_mask(ret: pd.DataFrame, adv: pd.DataFrame | None) -> pd.DataFrame:
    """Boolean ``date x ticker``: traded today, >= 60 returns of history and positive ADV
    (``adv=None``: a store without volume, by history only)."""
    history = ret.notna().cumsum()
    mask = ret.notna() & (history >= MIN_HISTORY)
    return mask if adv is None else mask & (adv > 0)


@dataclass(frozen=True)
class DegradedModes:
    """Which inputs the whole store lacks (module docstring, "Degraded modes").

    ``no_volume``: no bar has a positive volume; ``no_shares``: no name has a positive share
    count; ``names_without_shares``: how many names have none (also when others do)."""

    no_volume: bool
    no_shares: bool
    names_without_shares: int = 0

    def messages(self) -> list[str]:
        """One line per degraded mode in force, naming the field and what replaces it."""
        lines = []
        if self.no_volume:
            lines.append("no volume in the store: universe by history only, equal sample weights, "
                         "dollar volume and ADV unknown (portfolio and backtest need volume unless participation = 'none' and impact = 0)")
        if self.no_shares:
            lines.append("no shares outstanding in the store: market cap unknown, size exposure = log ADV "
                         "proxy (0 without volume), risk regression weights sqrt(ADV) (equal without volume)")
        elif self.names_without_shares:
            lines.append(f"{self.names_without_shares} name(s) without shares outstanding: their market cap is "
                         "unknown, size 0, left out of the risk model's factor regressions")
        return lines

    def to_meta(self) -> dict[str, str]:
        """The ``meta`` entries recording the modes (``""`` when not in force)."""
        return {"degraded_volume": "none" if self.no_volume else "",
                "degraded_shares": "none" if self.no_shares else
                (f"{self.names_without_shares} names" if self.names_without_shares else "")}


def degraded_modes(volume: pd.DataFrame, shares_outstanding: pd.Series | pd.DataFrame) -> DegradedModes:
    """The store's degraded modes from its wide volumes and its share counts (a ticker Series,
    or a ``date x ticker`` frame of point-in-time counts)."""
    shares = shares_outstanding.to_numpy(dtype=float)
    positive = shares > 0
    per_name = positive.any(axis=0) if positive.ndim == 2 else positive
    return DegradedModes(
        no_volume=not bool(np.any(volume.to_numpy(dtype=float) > 0)),
        no_shares=not bool(per_name.any()),
        names_without_shares=int((~per_name).sum()),
    )


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


def _market_cap(close: pd.DataFrame, shares_outstanding: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """``close * shares`` on the ``close`` grid: a ticker Series is the same count every day, a
    ``date x ticker`` frame the count known at each date; non-positive counts are unknown."""
    if isinstance(shares_outstanding, pd.Series):
        shares = shares_outstanding.reindex(close.columns)
        return close.mul(shares.where(shares > 0), axis=1)
    grid = shares_outstanding.reindex(index=close.index, columns=close.columns)
    # C order, as close.mul(Series) gives: the style z-scores sum in the same order on both paths
    values = np.ascontiguousarray(close.to_numpy() * grid.where(grid > 0).to_numpy())
    return pd.DataFrame(values, index=close.index, columns=close.columns, copy=False)


def derive_daily(
    close: pd.DataFrame, adj_close: pd.DataFrame, volume: pd.DataFrame, shares_outstanding: pd.Series | pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """All derived daily fields from wide bars; keys are the ``daily`` table's columns.

    ``shares_outstanding``: per ticker, or ``date x ticker`` (point in time); missing volume
    or shares follow the degraded modes of the module docstring."""
    modes = degraded_modes(volume, shares_outstanding)
    ret = daily_returns(adj_close)
    if modes.no_volume:
        dollar_volume = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    else:
        dollar_volume = close * volume
    adv = dollar_volume.rolling(ADV_DAYS, min_periods=10).mean()
    market_cap = _market_cap(close, shares_outstanding)
    sigma = ret.rolling(SIGMA_DAYS, min_periods=20).std()
    universe = universe_mask(ret, None if modes.no_volume else adv) & sigma.gt(0)
    last_close = adj_close.ffill()  # prices on days a name's market was closed: its last close (known at t)
    log_cap = np.log(market_cap.where(market_cap > 0))
    capped_day = log_cap.where(universe).notna().any(axis=1).to_numpy()
    size = log_cap
    if (universe.any(axis=1).to_numpy() & ~capped_day).any():  # a day with a universe and no cap: the log-ADV proxy
        size = pd.DataFrame(np.where(capped_day[:, None], log_cap, np.log(adv.where(adv > 0))), index=close.index,
                            columns=close.columns)
    raw_styles = {
        "beta": rolling_beta(ret, market_return(ret, market_cap, universe)),
        "size": size,
        "momentum": last_close.shift(21) / last_close.shift(252) - 1.0,
        "volatility": np.log(sigma.where(sigma > 0)),
        "value": -(last_close.shift(252) / last_close.shift(504) - 1.0),
    }
    liquidity = universe.astype(float) if modes.no_volume else adv  # no volume: equal sample weights
    fields = {
        "ret": ret,
        "dollar_volume": dollar_volume,
        "adv_20d": adv,
        "market_cap": market_cap,
        "sigma": sigma,
        **{name: cross_sectional_zscore(raw_styles[name], universe) for name in STYLE_FACTORS},
        "sample_weight": sample_weights(liquidity, universe),
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

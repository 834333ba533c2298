"""Total returns and adjusted closes from raw closes and corporate actions.

Convention (ex-date based). On the ex-date ``t`` of a name with raw closes ``c`` (as traded,
not adjusted for later splits), a split ratio ``k_t`` (new shares per old share: 2 for a 2:1
split, 1 on days without one) and a cash dividend ``d_t`` per share of the ex-date's basis
(after the split; 0 on days without one), one share held at the previous close is worth
``k_t * (c_t + d_t)`` at the close of ``t``:

    ret_t = k_t * (c_t + d_t) / c_prev - 1

with ``c_prev`` the name's last close before ``t``. (When only one of the two happens, this is
``(c_t * k_t + d_t) / c_prev - 1`` read either way.) An action whose date is not a store day
applies on the next store day; one on a day the name has no bar applies through the last close
(a dividend is reinvested at the last close) and the move reaches the next bar.

The adjusted close is derived, not trusted: the cumulative product of the daily gross returns,
scaled so that the last adjusted close equals the last raw close (the usual back-adjustment).
Names without any corporate action keep the source's ``adj_close`` (a file that gives only
adjusted closes: returns as before, and its ``close`` is not raw; see ``docs/data.md``).
Splits also carry share counts between the dates they are reported on (``split_factor``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def action_grids(actions: pd.DataFrame, days: pd.DatetimeIndex, tickers: pd.Index
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wide ``days x tickers`` split ratios (1 where none) and dividends (0 where none) from long
    ``(ticker, date, split_ratio, dividend)`` rows; an action off the store calendar lands on the
    next store day, one after the last day is dropped, two on one cell compound (splits
    multiply, dividends add)."""
    split = np.ones((len(days), len(tickers)))
    dividend = np.zeros((len(days), len(tickers)))
    if len(actions):
        rows = days.searchsorted(pd.to_datetime(actions["date"]).to_numpy(), side="left")
        cols = tickers.get_indexer(actions["ticker"].to_numpy())
        keep = (rows < len(days)) & (cols >= 0)
        ratio = actions["split_ratio"].to_numpy(dtype=float)
        ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)
        cash = np.nan_to_num(actions["dividend"].to_numpy(dtype=float), nan=0.0)
        np.multiply.at(split, (rows[keep], cols[keep]), ratio[keep])
        np.add.at(dividend, (rows[keep], cols[keep]), cash[keep])
    return (pd.DataFrame(split, index=days, columns=tickers), pd.DataFrame(dividend, index=days, columns=tickers))


def gross_returns(close: pd.DataFrame, split: pd.DataFrame, dividend: pd.DataFrame) -> pd.DataFrame:
    """Daily gross total return ``k_t (c_t + d_t) / c_prev`` on every store day (``days x
    tickers``; 1 before a name's first bar; a day without a bar uses the last close)."""
    last = close.ffill()
    gross = split * (last + dividend) / last.shift(1)
    return gross.where(np.isfinite(gross), 1.0)


def adjusted_close(close: pd.DataFrame, split: pd.DataFrame, dividend: pd.DataFrame) -> pd.DataFrame:
    """Split- and dividend-adjusted closes (NaN where ``close`` is), whose ratios between bars are
    the total returns of the module's convention and whose last value is the last raw close."""
    index = gross_returns(close, split, dividend).cumprod()
    last_close = close.ffill().iloc[-1]
    return (index / index.iloc[-1] * last_close).where(close.notna())  # the last day: exactly 1 * close


def split_factor(split: pd.DataFrame) -> pd.DataFrame:
    """Cumulative split product per name up to each day (1 before any split): a share count
    reported on day ``e`` is ``count * split_factor[t] / split_factor[e]`` on day ``t``."""
    return split.cumprod()

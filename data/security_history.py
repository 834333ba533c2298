"""Point-in-time security fields on the store's calendar, from ``security_history``.

Effective dates: a row ``(ticker, effective, field = value)`` makes ``value`` the name's known
``field`` from the first store day on or after ``effective`` until the name's next row stating
that field (NULL states nothing). Before a name's first row stating a field, the field is the
``securities`` row's (the static default, also for names without history). A share count is
in the basis of its effective day: later splits multiply it (``prices.split_factor``); the
static default count is taken in the basis of the name's last store day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _row_positions(history: pd.DataFrame, days: pd.DatetimeIndex) -> np.ndarray:
    return days.searchsorted(pd.to_datetime(history["effective"]).to_numpy(), side="left")


def field_on_days(history: pd.DataFrame, field: str, days: pd.DatetimeIndex, tickers: pd.Index,
                  default: pd.Series) -> pd.DataFrame:
    """``days x tickers`` values of ``field`` known on each day (module docstring); ``default``:
    ticker -> the securities row's value."""
    base = np.broadcast_to(default.reindex(tickers).to_numpy(), (len(days), len(tickers)))
    stated = history[history[field].notna()]
    if stated.empty:
        return pd.DataFrame(base.copy(), index=days, columns=tickers)
    stated = stated.assign(_row=_row_positions(stated, days)).sort_values(["_row", "effective"])
    stated = stated[(stated["_row"] < len(days)) & stated["ticker"].isin(tickers)]
    stated = stated.drop_duplicates(["_row", "ticker"], keep="last")  # two rows on one store day: the later
    wide = stated.pivot(index="_row", columns="ticker", values=field).reindex(
        index=np.arange(len(days)), columns=tickers).ffill()
    values = np.where(wide.isna().to_numpy(), base, wide.to_numpy())
    return pd.DataFrame(values, index=days, columns=tickers)


def shares_on_days(history: pd.DataFrame, default: pd.Series, splits: pd.DataFrame) -> pd.DataFrame:
    """Share counts known on each day (``splits``' ``days x tickers`` grid), carried through
    later splits: ``count(e) * F[t] / F[e]`` with ``F`` the cumulative split factor and ``e``
    the day the count took effect; before a name's first count, ``default * F[t] / F[last]``."""
    from metasignal.data.prices import split_factor

    days, tickers = splits.index, splits.columns
    factor = split_factor(splits).to_numpy()
    base = default.reindex(tickers).to_numpy(dtype=float)[None, :] * factor / factor[-1][None, :]
    stated = history[history["shares_outstanding"].notna()]
    if stated.empty:
        return pd.DataFrame(base, index=days, columns=tickers)
    stated = stated.assign(_row=_row_positions(stated, days)).sort_values(["_row", "effective"])
    stated = stated[(stated["_row"] < len(days)) & stated["ticker"].isin(tickers)]
    stated = stated.drop_duplicates(["_row", "ticker"], keep="last")
    counts = np.full((len(days), len(tickers)), np.nan)
    rows, cols = stated["_row"].to_numpy(), tickers.get_indexer(stated["ticker"].to_numpy())
    counts[rows, cols] = stated["shares_outstanding"].to_numpy(dtype=float)
    at_effective = np.full_like(counts, np.nan)
    at_effective[rows, cols] = factor[rows, cols]
    counts = pd.DataFrame(counts).ffill().to_numpy()
    at_effective = pd.DataFrame(at_effective).ffill().to_numpy()
    known = counts * factor / at_effective
    return pd.DataFrame(np.where(np.isnan(known), base, known), index=days, columns=tickers)

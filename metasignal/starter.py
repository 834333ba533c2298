"""A starter model a new user can upload: residual momentum from the store's own prices.

The signal of date ``t`` ranks each universe name by its mean daily return over the
``lookback`` store days up to ``t``, minus that day's cross-sectional mean (so the market
drops out), using only returns known at ``t``. It is a plain, honest baseline built from open
data, like the example scripts a tournament hands its newcomers; it knows nothing of the
synthetic market's hidden truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from metasignal.data import Store, atomic_write
from metasignal.data.calendar import DateLike
from metasignal.errors import StoreError

__all__ = ["STARTER_LOOKBACK", "starter_signal", "write_starter_file"]

STARTER_LOOKBACK = 120  # store days of returns averaged


def starter_signal(store: Store, date: DateLike, lookback: int = STARTER_LOOKBACK) -> pd.Series:
    """The starter signal of ``date`` over its universe: ticker -> rank in (0, 1)."""
    day = store.as_of(date)
    universe = store.universe(day)
    days = store.trading_days(end=day)
    if len(days) < lookback:
        raise StoreError(f"the starter model needs {lookback} days of returns up to {day.date()}; the store has {len(days)}")
    returns = store.returns(days[-lookback], day, tickers=list(universe))
    demeaned = returns.sub(returns.mean(axis=1), axis=0)
    score = demeaned.mean(axis=0, skipna=True).reindex(universe)
    ranks = score.rank(method="average")
    signal = (ranks - 0.5) / ranks.notna().sum()
    return signal.dropna().rename("signal")


def write_starter_file(store: Store, path: str | Path, dates: Sequence[pd.Timestamp]) -> Path:
    """Write the starter signal of each of ``dates`` to a CSV in the submission format
    (columns ``numerai_ticker``, ``signal`` and, for several dates, ``date``)."""
    frames = []
    for day in dates:
        frame = starter_signal(store, day).rename_axis("numerai_ticker").reset_index()
        frames.append(frame.assign(date=pd.Timestamp(day).date()) if len(dates) > 1 else frame)
    table = pd.concat(frames, ignore_index=True)
    return atomic_write(path, lambda temporary: table.to_csv(temporary, index=False, float_format="%.6f"))

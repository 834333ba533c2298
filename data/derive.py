"""Recompute the store's derived tables (``daily`` and ``targets``) from its stored bars.

Logging (``logging.getLogger(__name__)``): each step's time at debug, the run's total at info.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd

from metasignal.data.blas import blas_threads
from metasignal.data.derived import degraded_modes, derive_daily, to_long
from metasignal.data.store import Store
from metasignal.data.targets import (
    NEUTRAL_STYLES,
    TARGET_WINDOWS,
    bin_targets,
    residualize,
    window_returns,
)
from metasignal.errors import StoreError

Progress = Callable[[str], None]
logger = logging.getLogger(__name__)


@contextmanager
def timed_step(say: Progress, message: str, log: logging.Logger = logger) -> Iterator[None]:
    """Announce ``message`` through ``say``, run the block, then log its time at debug on ``log``."""
    say(message)
    started = time.perf_counter()
    yield
    log.debug("%s: %.2f s", message, time.perf_counter() - started)


def _wide_bars(store: Store) -> dict[str, pd.DataFrame]:
    long = store.con.execute("SELECT date, ticker, close, adj_close, volume FROM bars").fetch_df()
    if long.empty:
        raise StoreError(f"store {store.path} holds no bars to derive from")
    long["date"] = pd.to_datetime(long["date"])
    wide = long.pivot(index="date", columns="ticker")
    return {field: wide[field].sort_index() for field in ("close", "adj_close", "volume")}


def targets_from_daily(fields: dict[str, pd.DataFrame], securities: pd.DataFrame, window: str) -> pd.DataFrame:
    """Long ``(date, ticker, raw, factor_neutral)`` targets for every date whose window passed."""
    forward = window_returns(fields["ret"], window)
    universe = fields["in_universe"].to_numpy()
    tickers = forward.columns
    groups = securities.reindex(tickers)
    one_hots = np.hstack(
        [
            pd.get_dummies(groups["country"].astype(str), dtype=float).to_numpy(),
            pd.get_dummies(groups["sector"].astype(str), dtype=float).to_numpy(),
        ]
    )
    styles = np.stack([fields[name].to_numpy() for name in NEUTRAL_STYLES], axis=-1)
    values = forward.to_numpy()
    residuals = np.full(values.shape, np.nan)
    complete = np.flatnonzero(~np.all(np.isnan(values), axis=1))
    with blas_threads():  # ~a thousand small products: BLAS threads only add overhead
        for row in complete:  # one regression per era (date), vectorized over tickers
            inside = universe[row] & ~np.isnan(values[row])
            if inside.sum() < 10:
                continue
            x = np.hstack([one_hots[inside], np.nan_to_num(styles[row, inside]), np.ones((inside.sum(), 1))])
            residuals[row, inside] = residualize(values[row, inside], x)
    raw = np.where(np.isnan(residuals), np.nan, values)
    present = ~np.isnan(residuals)
    rows, cols = np.nonzero(present)
    return pd.DataFrame(
        {
            "date": forward.index.values[rows],
            "ticker": tickers.to_numpy()[cols],
            "raw": bin_targets(raw)[rows, cols],
            "factor_neutral": bin_targets(residuals)[rows, cols],
        }
    )


def derive_store(store: Store, *, windows: Sequence[str] = TARGET_WINDOWS,
                 progress: Progress | None = None) -> dict[str, int]:
    """Recompute ``daily`` and the targets of each of ``windows`` (default 20D2L and 60D2L)
    from the stored bars, atomically.

    Returns row counts written (``targets``: over every window).
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    with timed_step(say, "reading bars"):
        bars = _wide_bars(store)
        securities = store.securities(include_future=True)
    with timed_step(say, "computing returns, liquidity and exposures"):
        shares = securities["shares_outstanding"]
        modes = degraded_modes(bars["volume"], shares)
        for line in modes.messages():
            logger.warning("derive %s: %s", store.path, line)
        fields = derive_daily(bars["close"], bars["adj_close"], bars["volume"], shares)
        daily = to_long(fields, bars["close"].notna())
    targets = []
    for window in dict.fromkeys(windows):
        with timed_step(say, f"computing {window} targets"):
            targets.append(targets_from_daily(fields, securities, window).assign(window=window))
    with timed_step(say, "writing derived tables"):
        with store.transaction():
            store.replace_derived(daily, pd.concat(targets, ignore_index=True))
            for key, value in modes.to_meta().items():
                store.set_meta(key, value)
    total = sum(len(t) for t in targets)
    logger.info("derived %d daily rows and %d target rows (%s) in %.2f s", len(daily), total,
                ", ".join(dict.fromkeys(windows)), time.perf_counter() - started)
    return {"daily": len(daily), "targets": total}

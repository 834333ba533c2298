"""Recompute the store's derived tables (``daily`` and ``targets``) from its stored bars.

Inputs (:func:`market_inputs`): bars inside each name's listing window (``listed`` to
``delisted``, both inclusive: a delisted name leaves the universe after its last day, and the
universe of each past date holds the names alive then, survivors or not); total returns from
raw closes and corporate actions (:mod:`metasignal.data.prices`); prices in US dollars at each
day's FX close (:mod:`metasignal.data.fx`); share counts and classifications known on each day
(:mod:`metasignal.data.security_history`).

Logging (``logging.getLogger(__name__)``): each step's time at debug, the run's total at info.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from metasignal.data.blas import blas_threads
from metasignal.data.derived import degraded_modes, derive_daily, to_long
from metasignal.data.fx import USD, check_rates_known, major_currency, usd_per_quote_unit
from metasignal.data.prices import action_grids, adjusted_close
from metasignal.data.security_history import field_on_days, shares_on_days
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


@dataclass
class MarketInputs:
    """What derive computes from, on the bars' ``date x ticker`` grid, in US dollars.

    close: raw closes converted at each day's FX close; adj_close: total-return adjusted closes
    (derived from raw closes and corporate actions for names with actions, the source's
    ``adj_close`` for the others), converted likewise; volume: shares traded; shares: share
    counts known on each day (a ticker Series when the store has no history nor splits);
    groups: ``country``/``sector`` labels known on each day (``date x ticker``), or ``None``
    when the store has no point-in-time classification (the securities rows hold).
    """

    close: pd.DataFrame
    adj_close: pd.DataFrame
    volume: pd.DataFrame
    shares: pd.Series | pd.DataFrame
    groups: dict[str, pd.DataFrame] | None


def _listing_window(bars: dict[str, pd.DataFrame], securities: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Bars outside a name's ``[listed, delisted]`` (both inclusive) dropped."""
    close = bars["close"]
    rows = close.index.to_numpy()[:, None]
    listed = securities["listed"].reindex(close.columns).to_numpy(dtype="datetime64[ns]")[None, :]
    delisted = securities["delisted"].reindex(close.columns).to_numpy(dtype="datetime64[ns]")[None, :]
    alive = ~(rows < listed) & ~(rows > delisted)  # NaT compares False: no bound
    if not (close.notna().to_numpy() & ~alive).any():
        return bars
    return {name: frame.where(alive) for name, frame in bars.items()}


def market_inputs(store: Store, securities: pd.DataFrame) -> MarketInputs:
    """Read the store's bars, corporate actions, FX rates and security history into
    :class:`MarketInputs` (every stored row: derive works on the whole stored market)."""
    bars = _listing_window(_wide_bars(store), securities)
    close, volume = bars["close"], bars["volume"]
    days, tickers = close.index, close.columns
    adj_close = bars["adj_close"].fillna(close)
    actions = store.corporate_actions(include_future=True)
    split = None
    if len(actions):
        split, dividend = action_grids(actions, days, tickers)
        with_actions = tickers.isin(actions["ticker"].unique())
        derived = adjusted_close(close.loc[:, with_actions], split.loc[:, with_actions], dividend.loc[:, with_actions])
        adj_close = adj_close.copy()
        adj_close.loc[:, with_actions] = derived
    currencies = securities["currency"].reindex(tickers)
    major, fraction = major_currency(currencies)
    if not ((major == USD) & (fraction == 1.0)).all():
        factors = usd_per_quote_unit(store.fx_rates(include_future=True), currencies, days)
        check_rates_known(factors, close.notna(), currencies)
        close, adj_close = close * factors, adj_close * factors
    history = store.security_history(include_future=True)
    default_shares = securities["shares_outstanding"].reindex(tickers)
    if history["shares_outstanding"].notna().any() or split is not None:
        splits = split if split is not None else pd.DataFrame(1.0, index=days, columns=tickers)
        shares: pd.Series | pd.DataFrame = shares_on_days(history, default_shares, splits)
    else:
        shares = default_shares
    groups = None
    if history[["country", "sector"]].notna().to_numpy().any():
        groups = {name: field_on_days(history, name, days, tickers, securities[name].astype(object))
                  for name in ("country", "sector")}
    return MarketInputs(close, adj_close, volume, shares, groups)


def _label_codes(labels: pd.DataFrame | pd.Series) -> tuple[np.ndarray, int]:
    """Integer codes of labels (missing: their own label, 'nan') in sorted label order (the
    columns ``get_dummies`` gives), and how many labels there are."""
    values = np.asarray(labels, dtype=object)
    codes, uniques = pd.factorize(pd.Series(values.ravel()).astype(str), sort=True)
    return codes.reshape(values.shape), len(uniques)


def targets_from_daily(fields: dict[str, pd.DataFrame], securities: pd.DataFrame, window: str,
                       groups: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Long ``(date, ticker, raw, factor_neutral)`` targets for every date whose window passed.

    Country and sector one-hots from ``groups`` (``date x ticker`` labels known on each date)
    when given, else from the securities rows."""
    forward = window_returns(fields["ret"], window)
    universe = fields["in_universe"].to_numpy()
    tickers = forward.columns
    if groups is None:
        static = securities.reindex(tickers)
        one_hots = np.hstack(
            [
                pd.get_dummies(static["country"].astype(str), dtype=float).to_numpy(),
                pd.get_dummies(static["sector"].astype(str), dtype=float).to_numpy(),
            ]
        )
        daily_codes = None
    else:
        daily_codes = [_label_codes(groups[name].reindex(index=forward.index, columns=tickers)) for name in ("country", "sector")]
    styles = np.stack([fields[name].to_numpy() for name in NEUTRAL_STYLES], axis=-1)
    values = forward.to_numpy()
    residuals = np.full(values.shape, np.nan)
    complete = np.flatnonzero(~np.all(np.isnan(values), axis=1))
    with blas_threads():  # ~a thousand small products: BLAS threads only add overhead
        for row in complete:  # one regression per era (date), vectorized over tickers
            inside = universe[row] & ~np.isnan(values[row])
            if inside.sum() < 10:
                continue
            if daily_codes is None:
                dummies = one_hots[inside]
            else:  # the classification known on the era's date
                dummies = np.hstack([np.eye(n)[codes[row, inside]] for codes, n in daily_codes])
            x = np.hstack([dummies, np.nan_to_num(styles[row, inside]), np.ones((inside.sum(), 1))])
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
        securities = store.securities(include_future=True)
        market = market_inputs(store, securities)
    with timed_step(say, "computing returns, liquidity and exposures"):
        modes = degraded_modes(market.volume, market.shares)
        for line in modes.messages():
            logger.warning("derive %s: %s", store.path, line)
        fields = derive_daily(market.close, market.adj_close, market.volume, market.shares)
        daily = to_long(fields, market.close.notna())
    targets = []
    for window in dict.fromkeys(windows):
        with timed_step(say, f"computing {window} targets"):
            targets.append(targets_from_daily(fields, securities, window, market.groups).assign(window=window))
    with timed_step(say, "writing derived tables"):
        with store.transaction():
            store.replace_derived(daily, pd.concat(targets, ignore_index=True))
            for key, value in modes.to_meta().items():
                store.set_meta(key, value)
    total = sum(len(t) for t in targets)
    logger.info("derived %d daily rows and %d target rows (%s) in %.2f s", len(daily), total,
                ", ".join(dict.fromkeys(windows)), time.perf_counter() - started)
    return {"daily": len(daily), "targets": total}

"""Real market data from Yahoo Finance (yfinance), cached into the store.

``fetch(store, symbols, start, end)`` downloads daily bars for the Yahoo symbols that the
store does not already cover over ``[start, end]`` (already-stored ranges are not fetched
again), stores them with classifications from ``Ticker.info``, and re-derives the store.

The downloader and the info getter are injectable so that the parsing is tested offline
on frames shaped exactly like ``yfinance.download`` output: columns a two-level index
``(Price, Ticker)`` with prices ``Adj Close, Close, High, Low, Open, Volume`` and a
``DatetimeIndex`` named ``Date``.

Corporate actions and FX. For each downloaded symbol the loader reads ``Ticker.actions`` (a
frame indexed by a tz-aware ``Date`` with columns ``Dividends`` and ``Stock Splits``, 0 on rows
without one; the whole history) and stores splits and dividends in ``corporate_actions``.
Yahoo's ``Close``, ``Open``, ``High``, ``Low``, ``Volume`` and dividends are adjusted for every
later split; the loader undoes that (prices and dividends times, volume divided by, the product
of the split ratios after each date) so that ``bars.close`` is the price as traded and derive
computes total returns from raw prices (:mod:`metasignal.data.prices`). For the currencies of
the downloaded securities other than USD it downloads the ``<CCY>USD=X`` pairs over the range
(from a week earlier, so the first day has a rate) and stores their closes in ``fx_rates``.
"""

from __future__ import annotations

import logging
import socket
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.derive import Progress, derive_store
from metasignal.data.fx import USD, fx_pair_symbol, major_currency
from metasignal.data.identifiers import COUNTRY_NAME_TO_ISO, canonical_from_yahoo, split_yahoo
from metasignal.data.store import Store
from metasignal.errors import DataValidationError, NetworkError

Downloader = Callable[..., pd.DataFrame]
InfoGetter = Callable[[str], dict]
ActionsGetter = Callable[[str], pd.DataFrame]
FX_LEAD = pd.Timedelta(days=7)  # FX downloaded from this long before the first bar

YAHOO_FIELDS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Adj Close": "adj_close", "Volume": "volume"}


YAHOO_HOST = "query2.finance.yahoo.com"


def _check_network(host: str = YAHOO_HOST) -> None:
    try:
        socket.getaddrinfo(host, 443)
    except OSError as error:
        raise NetworkError(f"cannot reach {host} ({error.strerror or error}): no network connection") from None


def _yfinance_download(symbols: list[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    import yfinance

    _check_network()
    logging.getLogger("yfinance").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # end is exclusive in yfinance; auto_adjust=False keeps both Close and Adj Close.
        return yfinance.download(
            symbols, start=start.date().isoformat(), end=(end + pd.Timedelta(days=1)).date().isoformat(),
            auto_adjust=False, actions=False, group_by="column", progress=False, threads=False,
        )


def _yfinance_info(symbol: str) -> dict:
    import yfinance

    return yfinance.Ticker(symbol).info or {}


def _yfinance_actions(symbol: str) -> pd.DataFrame:
    import yfinance

    _check_network()
    return yfinance.Ticker(symbol).actions


def parse_actions(frame: pd.DataFrame | None, symbol: str) -> pd.DataFrame:
    """A ``Ticker.actions`` frame -> long ``(date, symbol, split_ratio, dividend)`` rows with a
    split or a dividend (as Yahoo gives them: split-adjusted dividends; ``split_ratio`` NaN and
    ``dividend`` 0 where the row has none)."""
    columns = ["date", "symbol", "split_ratio", "dividend"]
    if frame is None or len(frame) == 0:
        return pd.DataFrame(columns=columns)
    dates = pd.DatetimeIndex(pd.to_datetime(frame.index))
    dates = (dates.tz_localize(None) if dates.tz is not None else dates).normalize()
    splits = pd.to_numeric(frame.get("Stock Splits", pd.Series(0.0, index=frame.index)), errors="coerce").fillna(0.0)
    dividends = pd.to_numeric(frame.get("Dividends", pd.Series(0.0, index=frame.index)), errors="coerce").fillna(0.0)
    long = pd.DataFrame({"date": dates, "symbol": symbol,
                         "split_ratio": np.where(splits.to_numpy() > 0, splits.to_numpy(), np.nan),
                         "dividend": dividends.to_numpy()})
    long = long[(long["split_ratio"].notna()) | (long["dividend"] > 0)]
    # two rows on one day (a split and a dividend listed apart): one row
    return long.groupby(["date", "symbol"], as_index=False).agg(
        split_ratio=("split_ratio", "max"), dividend=("dividend", "sum"))[columns]


def later_split_product(dates: pd.Series, symbols: pd.Series, actions: pd.DataFrame) -> np.ndarray:
    """For each ``(date, symbol)``, the product of the symbol's split ratios with an ex-date
    after ``date`` (1 when none): the factor Yahoo divided that day's prices by."""
    factor = np.ones(len(dates))
    splits = actions[actions["split_ratio"].notna()]
    day = pd.to_datetime(dates).to_numpy()
    for symbol, group in splits.groupby("symbol"):  # a few split events per symbol, vectorized over bars
        rows = (symbols == symbol).to_numpy()
        ex = pd.to_datetime(group["date"]).to_numpy()
        after = day[rows][:, None] < ex[None, :]
        factor[rows] = np.prod(np.where(after, group["split_ratio"].to_numpy()[None, :], 1.0), axis=1)
    return factor


def unadjust_splits(bars: pd.DataFrame, actions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Yahoo's split-adjusted bars and dividends back to raw (as traded): prices and dividends
    times :func:`later_split_product`, volume divided by it (``adj_close`` left as Yahoo's)."""
    factor = later_split_product(bars["date"], bars["symbol"], actions)
    bars = bars.copy()
    for column in ("open", "high", "low", "close"):
        bars[column] = bars[column] * factor
    bars["volume"] = bars["volume"] / factor
    actions = actions.copy()
    actions["dividend"] = actions["dividend"] * later_split_product(actions["date"], actions["symbol"], actions)
    return bars, actions


def fx_rates_from_download(frame: pd.DataFrame, currencies: Sequence[str]) -> pd.DataFrame:
    """A ``yfinance.download`` frame of ``<CCY>USD=X`` pairs -> ``(date, currency, usd_per_unit)``
    rows (the pair's close: dollars per unit)."""
    pairs = {fx_pair_symbol(c): c for c in currencies}
    bars = parse_download(frame, list(pairs))
    return pd.DataFrame({"date": bars["date"], "currency": bars["symbol"].map(pairs),
                         "usd_per_unit": bars["close"].astype(float)}).dropna().reset_index(drop=True)


def parse_download(frame: pd.DataFrame, symbols: Sequence[str]) -> pd.DataFrame:
    """A ``yfinance.download`` frame -> long bars ``(date, symbol, open..volume)``.

    Accepts the two-level ``(Price, Ticker)`` columns of multi-symbol downloads and the
    flat columns of a single symbol. Rows without a close are dropped.
    """
    if frame is None or frame.empty:
        return pd.DataFrame(columns=["date", "symbol", *YAHOO_FIELDS.values()])
    if isinstance(frame.columns, pd.MultiIndex):
        level = "Price" if "Price" in frame.columns.names else 0
        if level == 0 and frame.columns.get_level_values(0).isin(list(YAHOO_FIELDS)).sum() == 0:
            frame = frame.swaplevel(axis=1)  # group_by="ticker" layout
        long = frame.stack(level=1 if level == 0 else "Ticker", future_stack=True)
        long.index.names = ["date", "symbol"]
        long = long.reset_index()
    else:
        if len(symbols) != 1:
            raise DataValidationError("a flat yfinance frame must come from exactly one symbol")
        long = frame.reset_index().rename(columns={frame.index.name or "index": "date"})
        long["symbol"] = symbols[0]
    missing = [name for name in ("Close", "Volume") if name not in long.columns]
    if missing:
        raise DataValidationError(f"yfinance frame lacks the column(s) {', '.join(missing)}")
    if "Adj Close" not in long.columns:
        long["Adj Close"] = long["Close"]
    long = long.rename(columns=YAHOO_FIELDS)
    long.columns.name = None
    if "date" not in long.columns:
        long = long.rename(columns={"Date": "date"})
    long["date"] = pd.to_datetime(long["date"]).dt.tz_localize(None).dt.normalize()
    long = long.dropna(subset=["close"])
    return long[["date", "symbol", *YAHOO_FIELDS.values()]].reset_index(drop=True)


def securities_from_info(symbols: Sequence[str], infos: dict[str, dict]) -> pd.DataFrame:
    """Securities rows for Yahoo symbols from their ``Ticker.info`` dictionaries."""
    symbols = pd.Series(list(symbols), dtype=object)
    local, suffix_country = split_yahoo(symbols)
    rows = []
    for symbol, loc, country in zip(symbols, local, suffix_country):
        info = infos.get(symbol, {}) or {}
        iso = COUNTRY_NAME_TO_ISO.get(str(info.get("country", "")), None) if pd.isna(country) else country
        rows.append(
            {
                "ticker": f"{loc} {iso or 'US'}",
                "name": info.get("longName") or info.get("shortName") or symbol,
                "country": iso or "US",
                "sector": info.get("sector") or "Unknown",
                "industry": info.get("industry") or "Unknown",
                "exchange_code": info.get("exchange"),
                "currency": info.get("currency") or "USD",
                "shares_outstanding": float(info.get("sharesOutstanding") or np.nan),
                "yahoo_symbol": symbol,
            }
        )
    return pd.DataFrame(rows)


@dataclass
class FetchReport:
    """What a fetch did: symbols downloaded, skipped as cached, and rows stored."""

    downloaded: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    rows: int = 0


def _stored_ranges(store: Store, symbols: Sequence[str]) -> pd.DataFrame:
    tickers = canonical_from_yahoo(pd.Series(list(symbols), dtype=object))
    keys = pd.DataFrame({"symbol": list(symbols), "ticker": tickers})
    store.con.register("_wanted", keys)
    try:
        ranges = store.con.execute(
            "SELECT w.symbol, min(b.date) AS first, max(b.date) AS last FROM _wanted w "
            "LEFT JOIN bars b ON b.ticker = w.ticker GROUP BY w.symbol"
        ).fetch_df()
    finally:
        store.con.unregister("_wanted")
    return ranges.set_index("symbol")


def fetch(
    store: Store, symbols: Sequence[str], start: DateLike, end: DateLike, *,
    downloader: Downloader = _yfinance_download, info_getter: InfoGetter = _yfinance_info,
    actions_getter: ActionsGetter = _yfinance_actions, fx_downloader: Downloader | None = None,
    progress: Progress | None = None,
) -> FetchReport:
    """Download what the store lacks for ``symbols`` over ``[start, end]``, with their corporate
    actions and the FX pairs of their currencies (``fx_downloader``, default ``downloader``),
    store it, re-derive."""
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if start > end:
        raise DataValidationError(f"empty date range: start {start.date()} is after end {end.date()}")
    symbols = [s.strip().upper() for s in symbols if s.strip()]
    if not symbols:
        raise DataValidationError("no tickers given: pass --tickers AAPL,MSFT,...")
    say = progress or (lambda _msg: None)
    report = FetchReport()
    ranges = _stored_ranges(store, symbols)
    requests: dict[tuple[pd.Timestamp, pd.Timestamp], list[str]] = {}
    for symbol in symbols:
        first, last = ranges.loc[symbol, "first"], ranges.loc[symbol, "last"]
        if pd.isna(first):
            requests.setdefault((start, end), []).append(symbol)
            continue
        first, last = pd.Timestamp(first), pd.Timestamp(last)
        if start >= first and end <= last:
            report.cached.append(symbol)
            continue
        requests.setdefault((min(start, first), max(end, last)), []).append(symbol)
    frames = []
    for (lo, hi), group in requests.items():
        say(f"downloading {len(group)} symbol(s) {lo.date()}..{hi.date()}")
        try:
            raw = downloader(group, lo, hi)
        except NetworkError:
            raise
        except Exception as error:  # yfinance raises many kinds on a dead network
            raise NetworkError(f"could not download from Yahoo Finance ({type(error).__name__}: {error})") from None
        bars = parse_download(raw, group)
        got = set(bars["symbol"])
        report.downloaded += [s for s in group if s in got]
        report.empty += [s for s in group if s not in got]
        frames.append(bars)
    if requests and not report.downloaded:
        raise NetworkError(
            "Yahoo Finance returned no data for any requested symbol: the network is unreachable "
            "or the symbols/dates are wrong"
        )
    if not frames:
        return report
    bars = pd.concat(frames, ignore_index=True)
    say("reading classifications")
    infos = {symbol: info_getter(symbol) for symbol in report.downloaded}
    securities = securities_from_info(report.downloaded, infos)
    say("reading splits and dividends")
    actions = pd.concat([parse_actions(actions_getter(symbol), symbol) for symbol in report.downloaded],
                        ignore_index=True)
    bars, actions = unadjust_splits(bars, actions)
    to_ticker = dict(zip(securities["yahoo_symbol"], securities["ticker"]))
    bars["ticker"] = bars["symbol"].map(to_ticker)
    actions["ticker"] = actions["symbol"].map(to_ticker)
    firsts = bars.groupby("ticker")["date"].min()
    securities["listed"] = securities["ticker"].map(firsts)
    major, _ = major_currency(securities["currency"])
    foreign = sorted(set(major) - {USD})
    rates = pd.DataFrame(columns=["date", "currency", "usd_per_unit"])
    if foreign:
        lo, hi = bars["date"].min() - FX_LEAD, bars["date"].max()
        say(f"downloading FX for {', '.join(foreign)} {lo.date()}..{hi.date()}")
        pairs = [fx_pair_symbol(c) for c in foreign]
        try:
            rates = fx_rates_from_download((fx_downloader or downloader)(pairs, lo, hi), foreign)
        except (NetworkError, DataValidationError):
            raise
        except Exception as error:
            raise NetworkError(f"could not download FX rates from Yahoo Finance ({type(error).__name__}: {error})") from None
    with store.transaction():
        store.write_securities(securities)
        report.rows = store.write_bars(bars.drop(columns="symbol"))
        store.write_actions(actions.drop(columns="symbol"))
        store.write_fx_rates(rates)
        store.set_meta("source", "yfinance")
        derive_store(store, progress=progress)
    return report

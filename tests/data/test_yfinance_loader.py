"""The yfinance loader, offline, on frames shaped exactly like ``yfinance.download`` output."""

import numpy as np
import pandas as pd
import pytest

from metasignal.data.store import Store
from metasignal.data.yfinance_loader import fetch, parse_actions, parse_download
from metasignal.errors import NetworkError

SYMBOLS = ["AAPL", "VOD.L", "7203.T"]


def recorded_download(symbols, start, end):
    """Same layout as yfinance 0.2.5x/1.x ``download(auto_adjust=False, group_by='column')``."""
    days = pd.bdate_range(start, end)
    index = pd.DatetimeIndex(days, name="Date")
    fields = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    columns = pd.MultiIndex.from_product([fields, list(symbols)], names=["Price", "Ticker"])
    rng = np.random.default_rng(len(days))
    close = 100 * np.cumprod(1 + rng.normal(0, 0.01, size=(len(days), len(symbols))), axis=0)
    data = np.hstack([close * 0.98, close, close * 1.01, close * 0.99, close, rng.integers(1e5, 1e6, size=(len(days), len(symbols)))])
    frame = pd.DataFrame(data, index=index, columns=columns)
    frame.iloc[0, frame.columns.get_loc(("Close", symbols[-1]))] = np.nan  # a missing bar, as Yahoo has
    return frame


def recorded_actions(dividends: dict[str, float], splits: dict[str, float]) -> pd.DataFrame:
    """Same layout as yfinance ``Ticker.actions``: a tz-aware ``Date`` index (the exchange's
    zone, midnight), columns ``Dividends`` and ``Stock Splits``, 0 where a row has none."""
    days = sorted(set(dividends) | set(splits))
    index = pd.DatetimeIndex(pd.to_datetime(days), name="Date").tz_localize("America/New_York")
    return pd.DataFrame({"Dividends": [dividends.get(d, 0.0) for d in days],
                         "Stock Splits": [splits.get(d, 0.0) for d in days]}, index=index)


def no_actions(symbol):
    return pd.DataFrame({"Dividends": [], "Stock Splits": []},
                        index=pd.DatetimeIndex([], name="Date").tz_localize("America/New_York"))


FX_LEVEL = {"GBPUSD=X": 1.25, "JPYUSD=X": 0.0070}


def recorded_fx(symbols, start, end):
    """FX pairs shaped like ``yfinance.download`` of ``<CCY>USD=X`` symbols (volume 0, as Yahoo
    gives for currencies), each at a constant level plus a small daily drift."""
    days = pd.bdate_range(start, end)
    fields = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    columns = pd.MultiIndex.from_product([fields, list(symbols)], names=["Price", "Ticker"])
    drift = 1 + 0.001 * np.arange(len(days))[:, None]
    level = np.array([FX_LEVEL[s] for s in symbols])[None, :] * drift
    data = np.hstack([level, level, level, level, level, np.zeros_like(level)])
    return pd.DataFrame(data, index=pd.DatetimeIndex(days, name="Date"), columns=columns)


INFO = {
    "AAPL": {"longName": "Apple Inc.", "country": "United States", "sector": "Technology", "industry": "Consumer Electronics", "sharesOutstanding": 15e9, "currency": "USD", "exchange": "NMS"},
    "VOD.L": {"longName": "Vodafone Group", "country": "United Kingdom", "sector": "Communication Services", "sharesOutstanding": 27e9, "currency": "GBp"},
    "7203.T": {"longName": "Toyota Motor", "country": "Japan", "sector": "Consumer Cyclical", "sharesOutstanding": 13e9, "currency": "JPY"},
}


def test_parse_recorded_shape():
    frame = recorded_download(SYMBOLS, "2024-01-02", "2024-01-10")
    long = parse_download(frame, SYMBOLS)
    assert list(long.columns) == ["date", "symbol", "open", "high", "low", "close", "adj_close", "volume"]
    assert len(long) == 7 * 3 - 1  # the NaN close is dropped
    row = long[(long.symbol == "AAPL") & (long.date == "2024-01-03")].iloc[0]
    assert row["close"] == frame.loc["2024-01-03", ("Close", "AAPL")]
    assert row["adj_close"] == frame.loc["2024-01-03", ("Adj Close", "AAPL")]


def test_parse_single_symbol_flat_frame():
    frame = recorded_download(["AAPL"], "2024-01-02", "2024-01-05")
    frame.columns = frame.columns.droplevel("Ticker")
    long = parse_download(frame, ["AAPL"])
    assert set(long["symbol"]) == {"AAPL"} and len(long) == 3


def test_fetch_stores_canonical_tickers_and_caches(tmp_path):
    calls = []

    def downloader(symbols, start, end):
        calls.append((tuple(symbols), start, end))
        return recorded_download(symbols, start, end)

    with Store.open(tmp_path / "yf.duckdb", create=True) as store:
        report = fetch(store, SYMBOLS, "2023-01-02", "2023-06-30", downloader=downloader, info_getter=INFO.get,
                       actions_getter=no_actions, fx_downloader=recorded_fx)
        assert sorted(report.downloaded) == sorted(SYMBOLS)
        securities = store.securities()
        assert set(securities.index) == {"AAPL US", "VOD GB", "7203 JP"}
        assert securities.loc["7203 JP", "country"] == "JP"
        assert securities.loc["VOD GB", "yahoo_symbol"] == "VOD.L"
        assert store.universe(store.last_date()).size == 3
        # the same range again: nothing is downloaded
        again = fetch(store, SYMBOLS, "2023-02-01", "2023-06-01", downloader=downloader, info_getter=INFO.get,
                      actions_getter=no_actions, fx_downloader=recorded_fx)
        assert sorted(again.cached) == sorted(SYMBOLS) and len(calls) == 1


def test_unreachable_network_is_one_clear_error(tmp_path):
    def offline(symbols, start, end):
        return pd.DataFrame()

    with Store.open(tmp_path / "yf.duckdb", create=True) as store:
        with pytest.raises(NetworkError, match="no data"):
            fetch(store, ["AAPL"], "2023-01-02", "2023-02-01", downloader=offline, info_getter=INFO.get,
                  actions_getter=no_actions)
        assert store.one("SELECT count(*) FROM bars")[0] == 0


def test_actions_are_parsed_from_the_recorded_shape():
    frame = recorded_actions({"2023-02-10": 0.23, "2023-05-12": 0.24}, {"2023-03-01": 4.0})
    long = parse_actions(frame, "AAPL")
    assert list(long.columns) == ["date", "symbol", "split_ratio", "dividend"]
    assert list(long["date"]) == list(pd.to_datetime(["2023-02-10", "2023-03-01", "2023-05-12"]))
    assert long["split_ratio"].isna().tolist() == [True, False, True] and long["split_ratio"].iloc[1] == 4.0
    assert long["dividend"].tolist() == [0.23, 0.0, 0.24]


def test_fetch_stores_raw_prices_actions_and_fx_and_derives_usd_total_returns(tmp_path):
    split_day, dividend_day = pd.Timestamp("2023-03-01"), pd.Timestamp("2023-05-12")

    def actions(symbol):
        if symbol == "AAPL":  # split-adjusted dividends, as Yahoo gives them
            return recorded_actions({dividend_day.date().isoformat(): 0.25}, {split_day.date().isoformat(): 4.0})
        return no_actions(symbol)

    with Store.open(tmp_path / "yf.duckdb", create=True) as store:
        fetch(store, SYMBOLS, "2023-01-02", "2023-06-30", downloader=recorded_download, info_getter=INFO.get,
              actions_getter=actions, fx_downloader=recorded_fx)
        yahoo = parse_download(recorded_download(SYMBOLS, pd.Timestamp("2023-01-02"), pd.Timestamp("2023-06-30")),
                               SYMBOLS).set_index(["symbol", "date"])
        close = store.panel("close")
        before, after = pd.Timestamp("2023-02-28"), split_day
        # raw prices: Yahoo's split-adjusted close times 4 before the split, as is from it on
        assert close.loc[before, "AAPL US"] == yahoo.loc[("AAPL", before), "close"] * 4
        assert close.loc[after, "AAPL US"] == yahoo.loc[("AAPL", after), "close"]
        assert store.panel("volume").loc[before, "AAPL US"] == yahoo.loc[("AAPL", before), "volume"] / 4
        stored = store.corporate_actions().set_index("date")
        assert stored.loc[split_day, "split_ratio"] == 4.0 and stored.loc[dividend_day, "dividend"] == 0.25
        # the split day's total return: 4 new shares at the raw close against one old share
        ret = store.returns()
        raw_prev = yahoo.loc[("AAPL", before), "close"] * 4
        assert ret.loc[after, "AAPL US"] == pytest.approx(4 * yahoo.loc[("AAPL", after), "close"] / raw_prev - 1,
                                                          abs=1e-12)
        # FX: one GBP and one JPY pair, closes stored as dollars per unit; VOD's pence in dollars
        rates = store.fx_rates()
        assert set(rates["currency"]) == {"GBP", "JPY"} and rates["date"].min() < pd.Timestamp("2023-01-02")
        gbp = rates[rates["currency"] == "GBP"].set_index("date")["usd_per_unit"]
        day = pd.Timestamp("2023-04-03")
        dollar_volume = store.panel("dollar_volume").loc[day, "VOD GB"]
        expected = yahoo.loc[("VOD.L", day), "close"] / 100 * gbp.loc[day] * yahoo.loc[("VOD.L", day), "volume"]
        assert dollar_volume == pytest.approx(expected, rel=1e-14)
        r_local = yahoo.loc[("VOD.L", day), "adj_close"] / yahoo.loc[("VOD.L", pd.Timestamp("2023-03-31")), "adj_close"]
        r_fx = gbp.loc[day] / gbp.loc[pd.Timestamp("2023-03-31")]
        assert ret.loc[day, "VOD GB"] == pytest.approx(r_local * r_fx - 1, abs=1e-14)

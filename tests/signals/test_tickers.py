"""Mapping submitted ids onto canonical ``"<symbol> <ISO-2>"`` tickers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metasignal.signals.tickers import (
    BLOOMBERG_EXCHANGE_TO_COUNTRY,
    YAHOO_SUFFIX_TO_COUNTRY,
    TickerMap,
    bloomberg_to_numerai,
    match_key,
    yahoo_to_numerai,
)


def _list(series: pd.Series) -> list:
    return [None if pd.isna(x) else x for x in series]


def test_exchange_tables_have_real_size_and_iso_countries():
    assert len(BLOOMBERG_EXCHANGE_TO_COUNTRY) >= 50
    assert len(YAHOO_SUFFIX_TO_COUNTRY) >= 30
    for country in list(BLOOMBERG_EXCHANGE_TO_COUNTRY.values()) + list(YAHOO_SUFFIX_TO_COUNTRY.values()):
        assert len(country) == 2 and country.isupper()


@pytest.mark.parametrize(
    "bloomberg, numerai",
    [
        ("AAPL UW", "AAPL US"),
        ("AAPL UQ", "AAPL US"),
        ("IBM UN", "IBM US"),
        ("VOD LN", "VOD GB"),
        ("SAP GY", "SAP DE"),
        ("BMW GR", "BMW DE"),
        ("RY CN", "RY CA"),
        ("RY CT", "RY CA"),
        ("005930 KS", "005930 KR"),
        ("2330 TT", "2330 TW"),
        ("ABBN SW", "ABBN CH"),
        ("NESN SE", "NESN CH"),
        ("ENI IM", "ENI IT"),
        ("MC FP", "MC FR"),
        ("ASML NA", "ASML NL"),
        ("7203 JT", "7203 JP"),
        ("700 HK", "700 HK"),
        ("BHP AU", "BHP AU"),
        ("BHP AT", "BHP AU"),
        ("600519 CH", "600519 CN"),  # Bloomberg CH is China, not Switzerland
        ("BRK/B US", "BRK/B US"),
        ("aapl  uw", "AAPL US"),
        ("AAPL US Equity", "AAPL US"),
    ],
)
def test_bloomberg_codes_become_countries(bloomberg, numerai):
    assert _list(bloomberg_to_numerai(pd.Series([bloomberg]))) == [numerai]


def test_bloomberg_unknown_or_malformed_is_missing():
    assert _list(bloomberg_to_numerai(pd.Series(["AAPL ZZ", "AAPL", "", None]))) == [None] * 4


@pytest.mark.parametrize(
    "yahoo, numerai",
    [
        ("7203.T", "7203 JP"),
        ("VOD.L", "VOD GB"),
        ("SAP.DE", "SAP DE"),
        ("AAPL", "AAPL US"),
        ("BRK-B", "BRK/B US"),
        ("BRK/B", "BRK/B US"),
        ("BRK.B", "BRK.B US"),  # .B is no exchange suffix: a share class
        ("0700.HK", "0700 HK"),
        ("005930.KS", "005930 KR"),
        ("600519.SS", "600519 CN"),
        ("RCI-B.TO", "RCI/B CA"),
        ("NESN.SW", "NESN CH"),
        ("MC.PA", "MC FR"),
        ("bhp.ax", "BHP AU"),
    ],
)
def test_yahoo_suffixes_become_countries(yahoo, numerai):
    assert _list(yahoo_to_numerai(pd.Series([yahoo]))) == [numerai]


def test_yahoo_rejects_ids_with_spaces_and_missing():
    assert _list(yahoo_to_numerai(pd.Series(["AAPL US", None]))) == [None, None]


def test_match_key_unifies_share_class_case_and_hong_kong_zeros():
    keys = match_key(pd.Series(["brk/b us", "BRK-B US", "BRK.B US", "0700 HK", "700 HK", "0 HK"]))
    assert _list(keys) == ["BRK.B US"] * 3 + ["700 HK", "700 HK", "0 HK"]


def _securities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bloomberg_ticker": ["AAPL UW", "7203 JT", "700 HK", "BRK/B UN", "ABBN SW", "600519 CH", "VOD LN"],
            "yahoo_symbol": ["AAPL", "7203.T", "0700.HK", "BRK-B", "ABBN.SW", "600519.SS", "VOD.L"],
            "composite_figi": ["BBG000B9XRY4", "BBG000BCM915", None, None, None, None, "BBG000BDBD19"],
            "sedol": ["2046251", "6900643", "BMMV2K8", None, None, None, "BH4HKS3"],
        },
        index=pd.Index(["AAPL US", "7203 JP", "0700 HK", "BRK.B US", "ABBN CH", "600519 CN", "VOD GB"], name="ticker"),
    )


@pytest.fixture
def ticker_map() -> TickerMap:
    return TickerMap.from_securities(_securities())


@pytest.mark.parametrize(
    "column, ids, expected",
    [
        ("numerai_ticker", ["AAPL US", "aapl us", " AAPL US ", "BRK/B US", "700 HK", "MSFT US"],
         ["AAPL US", "AAPL US", "AAPL US", "BRK.B US", "0700 HK", None]),
        ("bloomberg_ticker", ["AAPL UW", "AAPL US", "AAPL US Equity", "BRK/B UN", "VOD LN", "600519 CH", "X ZZ"],
         ["AAPL US", "AAPL US", "AAPL US", "BRK.B US", "VOD GB", "600519 CN", None]),
        ("composite_figi", ["BBG000B9XRY4", "bbg000bcm915", "BBG000000000"], ["AAPL US", "7203 JP", None]),
        ("sedol", ["2046251", "BMMV2K8", "0000001"], ["AAPL US", "0700 HK", None]),
        # 'ticker' tries numerai, then yahoo, then Bloomberg
        ("ticker", ["AAPL US", "AAPL", "7203.T", "BRK-B", "VOD LN", "ABBN CH", "600519 CH", "nope"],
         ["AAPL US", "AAPL US", "7203 JP", "BRK.B US", "VOD GB", "ABBN CH", "600519 CN", None]),
    ],
)
def test_ticker_map_maps_each_id_column(ticker_map, column, ids, expected):
    mapped = ticker_map.to_canonical(pd.Series(ids, index=np.arange(10, 10 + len(ids))), column)
    assert _list(mapped) == expected
    assert list(mapped.index) == list(range(10, 10 + len(ids)))


def test_sedol_given_as_numbers_is_zero_padded():
    securities = _securities().assign(sedol=["0263494", None, None, None, None, None, None])
    mapped = TickerMap.from_securities(securities).to_canonical(pd.Series([263494]), "sedol")
    assert _list(mapped) == ["AAPL US"]


def test_ambiguous_loose_keys_match_nothing_but_exact_ids_still_do():
    securities = pd.DataFrame(index=pd.Index(["AB.C US", "AB-C US"], name="ticker"))
    mapped = TickerMap.from_securities(securities).to_canonical(
        pd.Series(["AB.C US", "AB-C US", "AB/C US"]), "numerai_ticker"
    )
    assert _list(mapped) == ["AB.C US", "AB-C US", None]


def test_unknown_id_column_is_an_error(ticker_map):
    with pytest.raises(ValueError, match="unknown id column 'isin'"):
        ticker_map.to_canonical(pd.Series(["X"]), "isin")


def test_from_canonical_maps_back(ticker_map):
    tickers = pd.Series(["AAPL US", "VOD GB", "NOPE US"])
    assert _list(ticker_map.from_canonical(tickers, "yahoo_symbol")) == ["AAPL", "VOD.L", None]
    assert _list(ticker_map.from_canonical(tickers, "bloomberg_ticker")) == ["AAPL UW", "VOD LN", None]
    assert _list(ticker_map.from_canonical(tickers, "numerai_ticker")) == ["AAPL US", "VOD GB", None]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(list(_securities().index)), min_size=1, max_size=30))
def test_every_id_type_of_a_security_maps_back_to_it(tickers):
    securities = _securities()
    ticker_map = TickerMap.from_securities(securities)
    for column in ("bloomberg_ticker", "yahoo_symbol", "composite_figi", "sedol"):
        ids = securities.loc[tickers, column]
        known = ids.notna().to_numpy()
        id_column = "ticker" if column == "yahoo_symbol" else column
        mapped = ticker_map.to_canonical(pd.Series(ids.to_numpy()[known]), id_column)
        assert _list(mapped) == list(np.asarray(tickers)[known])

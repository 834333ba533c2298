"""Map submitted ids onto the store's canonical tickers.

The canonical ticker is numerai style, ``"<local symbol> <ISO-2 country>"`` (``"AAPL US"``,
``"7203 JP"``, ``"VOD GB"``). A submission names its ids with one of the accepted id
columns; :class:`TickerMap` turns a whole column of them into canonical tickers at once:

- ``numerai_ticker``: the canonical ticker itself (matched exactly, then loosely: case,
  share-class separator ``/ - .``, leading zeros of Hong Kong numbers).
- ``bloomberg_ticker``: the securities' own ``bloomberg_ticker``; failing that the
  exchange code is swapped for its country (``"VOD LN"`` -> ``"VOD GB"``, ``"AAPL UW"`` ->
  ``"AAPL US"``; a trailing ``" Equity"`` is ignored).
- ``composite_figi`` / ``sedol``: the securities' own columns (SEDOLs zero-padded to 7).
- ``ticker``: whichever of the above fits, tried in the order numerai ticker, yahoo
  symbol (``"7203.T"`` -> ``"7203 JP"``, ``"BRK-B"`` -> ``"BRK/B US"``), Bloomberg ticker.
  Trying the canonical form first settles codes that differ between the two schemes
  (``"ABBN CH"`` is Swiss as a numerai ticker, ``"600519 CH"`` Chinese as a Bloomberg one).

The exchange-code and suffix tables live in :mod:`metasignal.data.identifiers` (one place for the
engine). Every mapping works on a whole ``pandas.Series`` with vectorized string operations and
dictionary lookups; unmapped ids come back as missing values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasignal.data.identifiers import (
    BLOOMBERG_EXCHANGE_TO_COUNTRY,
    YAHOO_SUFFIX_TO_COUNTRY,
    canonical_from_yahoo,
)

__all__ = [
    "BLOOMBERG_EXCHANGE_TO_COUNTRY",
    "ID_COLUMNS",
    "TickerMap",
    "YAHOO_SUFFIX_TO_COUNTRY",
    "bloomberg_to_numerai",
    "match_key",
    "yahoo_to_numerai",
]

ID_COLUMNS: tuple[str, ...] = ("ticker", "numerai_ticker", "bloomberg_ticker", "composite_figi", "sedol")

_CLASS_SEPARATORS = r"[/\-.]"


def _clean(ids: pd.Series) -> pd.Series:
    """Ids as upper-case strings with single inner spaces; missing stays missing."""
    text = ids.astype("str").where(ids.notna())
    return text.str.strip().str.upper().str.replace(r"[ \t\r\n\f\v]+", " ", regex=True)


def _join(symbols: pd.Series, countries: pd.Series) -> pd.Series:
    """``"<symbol> <country>"``; missing where either part is missing."""
    joined = symbols.astype("str") + " " + countries.astype("str")
    return joined.where(symbols.notna() & countries.notna())


def match_key(tickers: pd.Series) -> pd.Series:
    """A loose form of ``"<symbol> <country>"`` ids for matching spellings of one ticker.

    Upper case, share-class separators ``/``, ``-``, ``.`` all become ``.``, and Hong Kong
    numeric symbols lose their leading zeros (``"0700 HK"`` and ``"700 HK"`` match).
    """
    text = _clean(tickers)
    parts = text.str.rsplit(" ", n=1, expand=True).reindex(columns=[0, 1])
    symbol = parts[0].str.replace(_CLASS_SEPARATORS, ".", regex=True)
    country = parts[1]
    hong_kong = country.eq("HK") & symbol.str.fullmatch(r"\d+").fillna(False).astype(bool)
    symbol = symbol.mask(hong_kong, symbol.str.lstrip("0").replace("", "0"))
    return _join(symbol, country)


def bloomberg_to_numerai(ids: pd.Series) -> pd.Series:
    """``"<symbol> <exchange code>"`` -> ``"<symbol> <ISO-2 country>"`` (NA for unknown codes).

    A trailing ``" Equity"`` yellow key is ignored; the symbol keeps its share-class mark.
    """
    text = _clean(ids).str.replace(r" EQUITY$", "", regex=True)
    parts = text.str.rsplit(" ", n=1, expand=True).reindex(columns=[0, 1])
    country = parts[1].map(BLOOMBERG_EXCHANGE_TO_COUNTRY)
    return _join(parts[0], country)


def yahoo_to_numerai(ids: pd.Series) -> pd.Series:
    """Yahoo symbols -> ``"<symbol> <ISO-2 country>"`` (``"7203.T"`` -> ``"7203 JP"``).

    Follows :func:`metasignal.data.identifiers.canonical_from_yahoo` (the store's convention: a known
    suffix after the last ``.`` names the exchange, no suffix means US, ``-`` marks a share
    class and becomes ``/``). Ids with spaces are not yahoo symbols (NA).
    """
    text = _clean(ids)
    valid = text.notna() & ~text.str.contains(" ", regex=False).fillna(True).astype(bool)
    converted = canonical_from_yahoo(text.where(valid, "").astype("str"))
    return converted.astype("str").where(valid & converted.notna())


def _sedol(ids: pd.Series) -> pd.Series:
    text = _clean(ids)
    digits = text.str.fullmatch(r"\d{1,6}").fillna(False).astype(bool)
    return text.mask(digits, text.str.zfill(7))


def _unique_lookup(keys: pd.Series, tickers: pd.Index) -> dict[str, str]:
    """``key -> ticker`` for keys naming exactly one ticker (ambiguous keys are left out)."""
    frame = pd.DataFrame(
        {"key": keys.to_numpy(dtype=object, na_value=None), "ticker": tickers.to_numpy(dtype=object)}
    ).dropna()
    frame = frame.drop_duplicates()
    frame = frame[~frame["key"].duplicated(keep=False)]
    return dict(zip(frame["key"].tolist(), frame["ticker"].tolist()))


_ALIAS_NORMALIZERS = {
    "bloomberg_ticker": lambda s: _clean(s).str.replace(r" EQUITY$", "", regex=True),
    "yahoo_symbol": _clean,
    "composite_figi": _clean,
    "sedol": _sedol,
}


class TickerMap:
    """Lookups from every accepted id type to the store's canonical tickers.

    Build it once per store snapshot with :meth:`from_securities` and map whole columns
    with :meth:`to_canonical`; :meth:`from_canonical` maps back to an id column. Each
    lookup table is built the first time an id type needs it.
    """

    def __init__(self, securities: pd.DataFrame):
        self.securities = securities
        self._tickers = pd.Index(securities.index.astype("str"), name="ticker")
        self._lookups: dict[str, dict[str, str]] = {}

    @classmethod
    def from_securities(cls, securities: pd.DataFrame) -> "TickerMap":
        """``securities``: indexed by canonical ticker; optional columns ``bloomberg_ticker``,
        ``yahoo_symbol``, ``composite_figi``, ``sedol`` (as ``store.securities()`` returns)."""
        return cls(securities)

    def _lookup(self, kind: str) -> dict[str, str]:
        """``kind``: ``canonical`` (cleaned ticker), ``loose`` (:func:`match_key`) or an alias column."""
        if kind not in self._lookups:
            tickers = pd.Series(self._tickers, index=self._tickers)
            if kind == "canonical":
                keys = _clean(tickers)
            elif kind == "loose":
                keys = match_key(tickers)
            elif kind in self.securities.columns:
                keys = _ALIAS_NORMALIZERS[kind](self.securities[kind])
            else:
                keys = pd.Series(dtype="str")
                tickers = pd.Series(dtype="str")
            self._lookups[kind] = _unique_lookup(keys, pd.Index(tickers.to_numpy()))
        return self._lookups[kind]

    def _numerai(self, ids: pd.Series) -> pd.Series:
        cleaned = _clean(ids)
        exact = cleaned.map(self._lookup("canonical"))
        rest = exact.isna()
        if not rest.any():
            return exact
        return exact.fillna(match_key(cleaned[rest]).map(self._lookup("loose")))

    def _bloomberg(self, ids: pd.Series) -> pd.Series:
        own = _ALIAS_NORMALIZERS["bloomberg_ticker"](ids).map(self._lookup("bloomberg_ticker"))
        rest = own.isna()
        if not rest.any():
            return own
        return own.fillna(match_key(bloomberg_to_numerai(ids[rest])).map(self._lookup("loose")))

    def _yahoo(self, ids: pd.Series) -> pd.Series:
        own = _clean(ids).map(self._lookup("yahoo_symbol"))
        rest = own.isna()
        if not rest.any():
            return own
        return own.fillna(match_key(yahoo_to_numerai(ids[rest])).map(self._lookup("loose")))

    def to_canonical(self, ids: pd.Series, id_column: str) -> pd.Series:
        """Canonical tickers for a column of ids of type ``id_column`` (NA where unknown).

        Same index as ``ids``; dtype ``str``. Each distinct id is mapped once (a history
        file repeats its ids on every date).
        """
        if id_column not in ID_COLUMNS:
            raise ValueError(f"unknown id column {id_column!r}: choose from {', '.join(ID_COLUMNS)}")
        ids = pd.Series(ids)
        codes, distinct = pd.factorize(ids, use_na_sentinel=True)
        mapped = self._map_distinct(pd.Series(distinct, dtype=object), id_column)
        values = mapped.to_numpy(dtype=object, na_value=None)
        taken = np.where(codes >= 0, values[np.maximum(codes, 0)] if len(values) else None, None)
        result = pd.Series(taken, index=ids.index, dtype=object, name=ids.name)
        return result.astype("str").where(result.notna())

    def _map_distinct(self, ids: pd.Series, id_column: str) -> pd.Series:
        if id_column == "numerai_ticker":
            return self._numerai(ids)
        if id_column == "bloomberg_ticker":
            return self._bloomberg(ids)
        if id_column == "composite_figi":
            return _clean(ids).map(self._lookup("composite_figi"))
        if id_column == "sedol":
            return _sedol(ids).map(self._lookup("sedol"))
        mapped = self._numerai(ids)  # "ticker": numerai, then yahoo, then Bloomberg
        rest = mapped.isna()
        if rest.any():
            mapped = mapped.fillna(self._yahoo(ids[rest]))
            rest = mapped.isna()
        if rest.any():
            mapped = mapped.fillna(self._bloomberg(ids[rest]))
        return mapped

    def from_canonical(self, tickers: pd.Series, id_column: str) -> pd.Series:
        """The ``id_column`` id of each canonical ticker (NA where the store has none).

        ``id_column``: one of ``numerai_ticker``/``ticker`` (identity), ``bloomberg_ticker``,
        ``yahoo_symbol``, ``composite_figi``, ``sedol``.
        """
        tickers = pd.Series(tickers)
        if id_column in ("numerai_ticker", "ticker"):
            return tickers.where(tickers.isin(self.securities.index))
        if id_column not in self.securities.columns:
            raise ValueError(f"the securities hold no {id_column!r} column")
        return tickers.map(self.securities[id_column].dropna())

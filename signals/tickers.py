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

The exchange-code and suffix tables live in :mod:`data.identifiers` (one place for the
engine). Every mapping works on a whole ``pandas.Series`` with vectorized string operations and
dictionary lookups; unmapped ids come back as missing values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from data.identifiers import BLOOMBERG_EXCHANGE_TO_COUNTRY, YAHOO_SUFFIX_TO_COUNTRY, canonical_from_yahoo

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
    return text.str.strip().str.upper().str.replace(r"\s+", " ", regex=True)


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

    Follows :func:`data.identifiers.canonical_from_yahoo` (the store's convention: a known
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
    frame = pd.DataFrame({"key": keys.to_numpy(), "ticker": tickers.to_numpy()}).dropna()
    frame = frame.drop_duplicates()
    frame = frame[~frame["key"].duplicated(keep=False)]
    return dict(zip(frame["key"], frame["ticker"]))


@dataclass(frozen=True)
class TickerMap:
    """Lookups from every accepted id type to the store's canonical tickers.

    Build it once per store snapshot with :meth:`from_securities` and map whole columns
    with :meth:`to_canonical`; :meth:`from_canonical` maps back to an id column.
    """

    securities: pd.DataFrame
    canonical: dict[str, str] = field(repr=False)
    loose: dict[str, str] = field(repr=False)
    by_column: dict[str, dict[str, str]] = field(repr=False)

    @classmethod
    def from_securities(cls, securities: pd.DataFrame) -> "TickerMap":
        """``securities``: indexed by canonical ticker; optional columns ``bloomberg_ticker``,
        ``yahoo_symbol``, ``composite_figi``, ``sedol`` (as ``store.securities()`` returns)."""
        tickers = pd.Index(securities.index.astype("str"), name="ticker")
        cleaned = _clean(pd.Series(tickers, index=tickers))
        canonical = _unique_lookup(cleaned, tickers)
        loose = _unique_lookup(match_key(pd.Series(tickers, index=tickers)), tickers)
        normalizers = {
            "bloomberg_ticker": lambda s: _clean(s).str.replace(r" EQUITY$", "", regex=True),
            "yahoo_symbol": _clean,
            "composite_figi": _clean,
            "sedol": _sedol,
        }
        by_column = {
            column: _unique_lookup(normalize(securities[column]), tickers)
            for column, normalize in normalizers.items()
            if column in securities.columns
        }
        return cls(securities=securities, canonical=canonical, loose=loose, by_column=by_column)

    def _numerai(self, ids: pd.Series) -> pd.Series:
        cleaned = _clean(ids)
        exact = cleaned.map(self.canonical)
        return exact.fillna(match_key(cleaned).map(self.loose))

    def _bloomberg(self, ids: pd.Series) -> pd.Series:
        own = _clean(ids).str.replace(r" EQUITY$", "", regex=True).map(self.by_column.get("bloomberg_ticker", {}))
        return own.fillna(match_key(bloomberg_to_numerai(ids)).map(self.loose))

    def _yahoo(self, ids: pd.Series) -> pd.Series:
        own = _clean(ids).map(self.by_column.get("yahoo_symbol", {}))
        return own.fillna(match_key(yahoo_to_numerai(ids)).map(self.loose))

    def to_canonical(self, ids: pd.Series, id_column: str) -> pd.Series:
        """Canonical tickers for a column of ids of type ``id_column`` (NA where unknown).

        Same index as ``ids``; dtype ``str``.
        """
        ids = pd.Series(ids)
        if id_column == "numerai_ticker":
            mapped = self._numerai(ids)
        elif id_column == "bloomberg_ticker":
            mapped = self._bloomberg(ids)
        elif id_column == "composite_figi":
            mapped = _clean(ids).map(self.by_column.get("composite_figi", {}))
        elif id_column == "sedol":
            mapped = _sedol(ids).map(self.by_column.get("sedol", {}))
        elif id_column == "ticker":
            mapped = self._numerai(ids)
            rest = mapped.isna()
            if rest.any():
                mapped = mapped.fillna(self._yahoo(ids[rest]))
                rest = mapped.isna()
            if rest.any():
                mapped = mapped.fillna(self._bloomberg(ids[rest]))
        else:
            raise ValueError(f"unknown id column {id_column!r}: choose from {', '.join(ID_COLUMNS)}")
        return mapped.astype("str").where(mapped.notna()).rename(ids.name)

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

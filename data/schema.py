"""DDL of the market-data tables in the DuckDB store.

Tables (long format, one row per key):

- ``meta(key, value)``: store metadata (synthetic seed and sizes, last derived date...).
- ``securities``: one row per ticker (canonical id ``"<symbol> <ISO-2 country>"``) with its
  classifications, listing/delisting dates and id aliases.
- ``bars``: daily bars per ``(date, ticker)``; prices in the security's currency, ``adj_close``
  adjusted for splits and dividends so that its ratio is the total return (as the source gave it).
- ``daily``: derived per ``(date, ticker)`` from ``bars`` with data known at ``date`` only:
  returns, liquidity, size, risk and style exposures, the universe flag and the sample weight.
- ``targets``: forward targets per ``(window, date, ticker)``, binned 5/20/50/20/5 %.
- ``security_history``: point-in-time values per ``(ticker, effective)``: from ``effective`` on
  (until the name's next row stating the field) a non-NULL ``shares_outstanding``, ``sector``,
  ``industry`` or ``country`` is the value known; NULL states nothing. Dates before a name's
  first row stating a field use the ``securities`` row (the static default).
- ``corporate_actions``: per ``(ticker, date)`` with ``date`` the ex-date: ``split_ratio`` new
  shares per old share (2.0 for a 2:1 split; NULL or 1 for none) and ``dividend`` cash per share
  of the ex-date's (post-split) basis, in the security's currency (NULL or 0 for none).
- ``fx_rates``: per ``(date, currency)`` the US dollars one unit of the (major) currency buys at
  that date's close (``usd_per_unit``; 'GBP' 1.27 means 1 GBP = 1.27 USD).

Prices in ``bars`` are as traded: ``close`` raw (not adjusted for later splits) in the
security's quote currency (``securities.currency``, minor units such as 'GBp' allowed);
``adj_close`` is the source's adjusted close, used only for names without corporate actions
(:mod:`metasignal.data.prices`).

The big tables carry no primary-key index (bulk loads stay fast); writers keep keys
unique by replacing whole key ranges inside one transaction.
"""

from __future__ import annotations

STYLE_FACTORS: tuple[str, ...] = ("beta", "size", "momentum", "volatility", "value")

SECURITY_COLUMNS: dict[str, str] = {
    "ticker": "VARCHAR PRIMARY KEY",
    "name": "VARCHAR",
    "country": "VARCHAR",
    "sector": "VARCHAR",
    "industry": "VARCHAR",
    "exchange_code": "VARCHAR",
    "currency": "VARCHAR",
    "listed": "DATE",
    "delisted": "DATE",
    "shares_outstanding": "DOUBLE",
    "bloomberg_ticker": "VARCHAR",
    "yahoo_symbol": "VARCHAR",
    "composite_figi": "VARCHAR",
    "sedol": "VARCHAR",
}

BAR_COLUMNS: dict[str, str] = {
    "date": "DATE NOT NULL",
    "ticker": "VARCHAR NOT NULL",
    "open": "DOUBLE",
    "high": "DOUBLE",
    "low": "DOUBLE",
    "close": "DOUBLE",
    "adj_close": "DOUBLE",
    "volume": "DOUBLE",
}

DAILY_COLUMNS: dict[str, str] = {
    "date": "DATE NOT NULL",
    "ticker": "VARCHAR NOT NULL",
    "ret": "DOUBLE",
    "dollar_volume": "DOUBLE",
    "adv_20d": "DOUBLE",
    "market_cap": "DOUBLE",
    "sigma": "DOUBLE",
    **{factor: "DOUBLE" for factor in STYLE_FACTORS},
    "sample_weight": "DOUBLE",
    "in_universe": "BOOLEAN",
}

TARGET_COLUMNS: dict[str, str] = {
    "window": "VARCHAR NOT NULL",
    "date": "DATE NOT NULL",
    "ticker": "VARCHAR NOT NULL",
    "raw": "DOUBLE",
    "factor_neutral": "DOUBLE",
}

SECURITY_HISTORY_FIELDS: tuple[str, ...] = ("shares_outstanding", "sector", "industry", "country")

SECURITY_HISTORY_COLUMNS: dict[str, str] = {
    "ticker": "VARCHAR NOT NULL",
    "effective": "DATE NOT NULL",
    **{name: SECURITY_COLUMNS[name] for name in SECURITY_HISTORY_FIELDS},
}

CORPORATE_ACTION_COLUMNS: dict[str, str] = {
    "ticker": "VARCHAR NOT NULL",
    "date": "DATE NOT NULL",
    "split_ratio": "DOUBLE",
    "dividend": "DOUBLE",
}

FX_RATE_COLUMNS: dict[str, str] = {
    "date": "DATE NOT NULL",
    "currency": "VARCHAR NOT NULL",
    "usd_per_unit": "DOUBLE NOT NULL",
}

TABLES: dict[str, dict[str, str]] = {
    "securities": SECURITY_COLUMNS,
    "bars": BAR_COLUMNS,
    "daily": DAILY_COLUMNS,
    "targets": TARGET_COLUMNS,
    "security_history": SECURITY_HISTORY_COLUMNS,
    "corporate_actions": CORPORATE_ACTION_COLUMNS,
    "fx_rates": FX_RATE_COLUMNS,
}


def create_statements() -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` statements for every market-data table."""
    statements = ["CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)"]
    for table, columns in TABLES.items():
        body = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} ({body})")
    return statements

"""DDL of the market-data tables in the DuckDB store.

Tables (long format, one row per key):

- ``meta(key, value)``: store metadata (synthetic seed and sizes, last derived date...).
- ``securities``: one row per ticker (canonical id ``"<symbol> <ISO-2 country>"``) with its
  classifications, listing/delisting dates and id aliases.
- ``bars``: daily bars per ``(date, ticker)``; prices in the security's currency, ``adj_close``
  adjusted for splits and dividends so that its ratio is the total return.
- ``daily``: derived per ``(date, ticker)`` from ``bars`` with data known at ``date`` only:
  returns, liquidity, size, risk and style exposures, the universe flag and the sample weight.
- ``targets``: forward targets per ``(window, date, ticker)``, binned 5/20/50/20/5 %.

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

TABLES: dict[str, dict[str, str]] = {
    "securities": SECURITY_COLUMNS,
    "bars": BAR_COLUMNS,
    "daily": DAILY_COLUMNS,
    "targets": TARGET_COLUMNS,
}


def create_statements() -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` statements for every market-data table."""
    statements = ["CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)"]
    for table, columns in TABLES.items():
        body = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} ({body})")
    return statements

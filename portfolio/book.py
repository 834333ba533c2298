"""The fund's stored target portfolios (one per date) in the DuckDB store."""

from __future__ import annotations

import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.store import Store

_DDL = (
    "CREATE TABLE IF NOT EXISTS portfolio_weights (date DATE NOT NULL, ticker VARCHAR NOT NULL, weight DOUBLE NOT NULL)",
    "CREATE TABLE IF NOT EXISTS portfolio_runs (date DATE PRIMARY KEY, created_at TIMESTAMP, status VARCHAR, "
    "fallback VARCHAR, gross DOUBLE, net DOUBLE, n_long INTEGER, n_short INTEGER, "
    "predicted_volatility DOUBLE, turnover DOUBLE)",
)


def ensure_tables(store: Store) -> None:
    """Create the portfolio tables if the store lacks them."""
    store.ensure_tables("portfolio.book", _DDL)


def store_portfolio(store: Store, date: DateLike, weights: pd.Series, summary: dict) -> None:
    """Replace the portfolio of ``date`` (non-zero weights only) and its summary, atomically."""
    ensure_tables(store)
    day = pd.Timestamp(date).date()
    held = weights[weights.abs() > 0].rename("weight").rename_axis("ticker").reset_index().assign(date=day)
    with store.transaction():
        store.con.execute("DELETE FROM portfolio_weights WHERE date = ?", [day])
        store.con.execute("DELETE FROM portfolio_runs WHERE date = ?", [day])
        store.con.register("_weights", held[["date", "ticker", "weight"]])
        try:
            store.con.execute("INSERT INTO portfolio_weights SELECT date, ticker, weight FROM _weights")
        finally:
            store.con.unregister("_weights")
        store.con.execute(
            "INSERT INTO portfolio_runs VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?, ?)",
            [day, summary.get("status"), summary.get("fallback"), summary.get("gross"), summary.get("net"),
             summary.get("n_long"), summary.get("n_short"), summary.get("predicted_volatility"), summary.get("turnover")],
        )


def previous_portfolio(store: Store, date: DateLike) -> pd.Series:
    """The last stored portfolio strictly before ``date`` (empty Series if none)."""
    ensure_tables(store)
    row = store.one("SELECT max(date) FROM portfolio_weights WHERE date < ?", [pd.Timestamp(date).date()])
    if row is None or row[0] is None:
        return pd.Series(dtype=float, name="weight")
    frame = store.con.execute("SELECT ticker, weight FROM portfolio_weights WHERE date = ?", [row[0]]).fetch_df()
    return pd.Series(frame["weight"].to_numpy(float), index=frame["ticker"].astype(str), name="weight")

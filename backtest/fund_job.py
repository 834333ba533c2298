"""The fund's job at a round's deadline: the round's target book and when each name trades it.

:func:`run_fund_job` runs when a round closes (the replay clock's ``close`` event, or by hand
with ``metasignal portfolio``): the meta-signal of the round's on-time submissions -> the
neutral target portfolio of its data date (:func:`metasignal.portfolio.target_portfolio`),
stored as the fund's portfolio of that date, and one row per traded name in
``fund_executions(round_date, ticker, country, execution_date, previous_weight, weight, trade)``:
the name trades at the first close of its market after the deadline
(:meth:`metasignal.signals.Round.executions`). Weights are fractions of capital. Running the
job twice for a round replaces its rows (one transaction).
"""

from __future__ import annotations

import pandas as pd

from metasignal.data.store import Store
from metasignal.portfolio import PortfolioSettings, TargetPortfolio, save_target, target_portfolio
from metasignal.signals.round_calendar import Round

__all__ = ["fund_executions", "run_fund_job"]

_DDL = (
    "CREATE TABLE IF NOT EXISTS fund_executions (round_date DATE NOT NULL, ticker VARCHAR NOT NULL, "
    "country VARCHAR, execution_date DATE, previous_weight DOUBLE, weight DOUBLE, trade DOUBLE)",
)


def run_fund_job(store: Store, round_: Round, settings: PortfolioSettings = PortfolioSettings()) -> TargetPortfolio:
    """The round's target book, stored with its per-name executions (module docstring).

    Run after the round's deadline: before it, the on-time submissions are not final."""
    store.ensure_tables("backtest.fund_job", _DDL)
    target = target_portfolio(store, round_.data_date, settings)
    table = target.table
    countries = pd.Series(table["country"].to_numpy(), index=table["ticker"].to_numpy())
    executed = round_.executions(countries, _schedule(store, round_))
    rows = pd.DataFrame({
        "round_date": round_.data_date, "ticker": table["ticker"].to_numpy(), "country": table["country"].to_numpy(),
        "execution_date": executed.to_numpy(), "previous_weight": table["previous_weight"].to_numpy(),
        "weight": table["weight"].to_numpy(), "trade": table["trade"].to_numpy(),
    })
    with store.transaction():
        save_target(store, target)
        store.con.execute("DELETE FROM fund_executions WHERE round_date = ?", [round_.data_date.date()])
        store.con.register("_executions", rows)
        try:
            store.con.execute("INSERT INTO fund_executions SELECT * FROM _executions")
        finally:
            store.con.unregister("_executions")
    return target


def _schedule(store: Store, round_: Round) -> pd.DatetimeIndex:
    """The store days after the round's data date: the stored ones (a replay's schedule), then
    weekdays for a live store whose next days are not stored yet."""
    stored = store.stored_days()
    stored = stored[stored > round_.data_date]
    start = stored[-1] if len(stored) else round_.data_date
    projected = pd.bdate_range(start + pd.Timedelta(days=1), periods=10)
    return stored.append(projected)


def fund_executions(store: Store, round_date: pd.Timestamp | None = None) -> pd.DataFrame:
    """The recorded executions (all rounds, or one), sorted by round, execution date, ticker."""
    store.ensure_tables("backtest.fund_job", _DDL)
    frame = store.con.execute(
        "SELECT * FROM fund_executions WHERE (CAST(? AS DATE) IS NULL OR round_date = CAST(? AS DATE)) "
        "ORDER BY round_date, execution_date, ticker",
        [None if round_date is None else pd.Timestamp(round_date).date()] * 2,
    ).fetch_df()
    for column in ("round_date", "execution_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame

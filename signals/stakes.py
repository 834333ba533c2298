"""The stake ledger: deposits, releases and payouts per model, with their effective dates.

``stake_events(model, effective, kind, amount, round_date, created_at)`` holds deposits
(``kind='deposit'``, amount > 0), releases (``'release'``, amount < 0) and payouts
(``'payout'``, either sign, written by round resolution). An event counts for rounds
dated strictly after its ``effective`` date: deposits and releases take effect after
their request date (a pending release is no longer at risk); a payout after its round's
resolution date. A model's stake for a round dated ``t`` is the sum of the events
effective before ``t``, floored at 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.store import Store
from metasignal.errors import DataValidationError, StoreError
from metasignal.signals import storage

_DDL = (
    "CREATE TABLE IF NOT EXISTS stake_events (model VARCHAR NOT NULL, effective DATE NOT NULL, "
    "kind VARCHAR NOT NULL, amount DOUBLE NOT NULL, round_date DATE, created_at TIMESTAMP)",
)


def ensure_tables(store: Store) -> None:
    """Create the stake table if missing (and the models table it refers to)."""
    storage.ensure_tables(store)
    store.ensure_tables("signals.stakes", _DDL)


def _change_stake(store: Store, model: str, amount: float, date, kind: str) -> None:
    ensure_tables(store)
    if not np.isfinite(amount) or amount == 0:
        raise DataValidationError(f"stake change must be a non-zero finite amount, got {amount}")
    if model not in set(storage.list_models(store)["name"]):
        raise StoreError(f"unknown model {model!r}: create it with `metasignal models create {model}`")
    day = pd.Timestamp(date).normalize()
    if kind == "release":
        balance = stake_balances(store, day + pd.Timedelta(days=1)).get(model, 0.0)
        if -amount > balance + 1e-12:
            raise DataValidationError(f"cannot release {-amount:g} from {model!r}: its stake is {balance:g}")
    with store.transaction():
        store.con.execute(
            "INSERT INTO stake_events VALUES (?, ?, ?, ?, NULL, ?)",
            [model, day.date(), kind, float(amount), store.now().to_pydatetime()],
        )


def deposit_stake(store: Store, model: str, amount: float, date: DateLike) -> None:
    """Add ``amount`` to the model's stake for rounds after ``date``."""
    if amount <= 0:
        raise DataValidationError(f"a stake increase must be positive, got {amount}")
    _change_stake(store, model, amount, date, "deposit")


def release_stake(store: Store, model: str, amount: float, date: DateLike) -> None:
    """Take ``amount`` out of the model's stake for rounds after ``date``."""
    if amount <= 0:
        raise DataValidationError(f"a stake release must be positive, got {amount}")
    _change_stake(store, model, -amount, date, "release")


def latest_stamp(store: Store) -> pd.Timestamp | None:
    """The latest time stamped on the tournament's records (model creations, uploads, stake
    events), naive UTC; None for a store without any. A replay clock set before it would put
    recorded events in its future."""
    ensure_tables(store)
    value = store.one(
        "SELECT max(t) FROM (SELECT max(created_at) AS t FROM models UNION ALL SELECT max(uploaded_at) FROM submissions "
        "UNION ALL SELECT max(created_at) FROM stake_events)")[0]
    return None if value is None else pd.Timestamp(value)


def stake_balances(store: Store, date: DateLike) -> pd.Series:
    """Each model's stake for a round whose deadline falls on ``date``: the events effective
    strictly before it and recorded by the store clock."""
    ensure_tables(store)
    frame = store.con.execute(
        "SELECT m.name AS model, coalesce(sum(e.amount), 0) AS stake FROM models m "
        "LEFT JOIN stake_events e ON e.model = m.name AND e.effective < ? "
        "AND (e.created_at IS NULL OR e.created_at <= ?) GROUP BY m.name ORDER BY m.name",
        [pd.Timestamp(date).date(), store.now().to_pydatetime()],
    ).fetch_df()
    return pd.Series(frame["stake"].to_numpy(float), index=frame["model"].astype(str), name="stake").clip(lower=0.0)


def stake_history(store: Store) -> pd.DataFrame:
    """Stake of every model after each event date: date x model (cumulative sums)."""
    ensure_tables(store)
    events = store.con.execute("SELECT model, effective, amount FROM stake_events").fetch_df()
    if events.empty:
        return pd.DataFrame()
    events["effective"] = pd.to_datetime(events["effective"])
    daily = events.pivot_table(index="effective", columns="model", values="amount", aggfunc="sum").fillna(0.0)
    return daily.cumsum().clip(lower=0.0)

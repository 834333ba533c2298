"""The stake ledger: deposits, releases and payouts per model, with their effective dates.

``stake_events(model, effective, kind, amount, round_date, created_at, released)`` holds
deposits (``kind='deposit'``, amount > 0), releases (``'release'``, amount < 0), payouts
(``'payout'``, either sign, written by round resolution) and release burns
(``'release_burn'``, amount > 0: the part of a round's burn taken from a pending release,
``released`` = that release's date). An event counts for rounds whose deadline's date is
strictly after its ``effective`` date: deposits and releases after their request date, a
payout after its round's resolution date. A model's stake for a round is the sum of the
events effective before its deadline's date, floored at 0.

A release is *pending* while a round that staked it (deadline's date on or before the
request) is unresolved: it is out of every later round's stake at once, but the burn of the
rounds that staked it still applies to it (:func:`settle_burns`): a burn comes out of the
remaining balance first and then out of the pending releases, which then return less.
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
    "ALTER TABLE stake_events ADD COLUMN IF NOT EXISTS released DATE",
)
_TOLERANCE = 1e-9


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
        balance = _releasable(store, model, day)
        if -amount > balance + 1e-12:
            raise DataValidationError(f"cannot release {-amount:g} from {model!r}: its stake is {balance:g}")
    with store.transaction():
        store.con.execute(
            "INSERT INTO stake_events (model, effective, kind, amount, round_date, created_at) "
            "VALUES (?, ?, ?, ?, NULL, ?)",
            [model, day.date(), kind, float(amount), store.now().to_pydatetime()],
        )


def _releasable(store: Store, model: str, day: pd.Timestamp) -> float:
    """The most a release dated ``day`` may take: the model's balance of the events effective on
    or before ``day``, or the lowest balance at any later event already recorded (>= 0)."""
    events = _model_events(store, [model])
    running = events.groupby("effective")["amount"].sum().cumsum()
    then = float(running[running.index <= day].iloc[-1]) if (running.index <= day).any() else 0.0
    later = running[running.index > day]
    return max(0.0, min([then, *later.tolist()]))


def _model_events(store: Store, models) -> pd.DataFrame:
    """The stake events of ``models``: model, effective, kind, amount, released (dates as Timestamps)."""
    ensure_tables(store)
    frame = store.con.execute(
        "SELECT model, effective, kind, amount, released FROM stake_events WHERE list_contains(?, model) "
        "ORDER BY model, effective", [list(models)],
    ).fetch_df()
    for column in ("effective", "released"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def _lowest_from(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp | None = None) -> float:
    """The lowest running balance of ``events`` (effective, amount) over ``[start, end)``: at
    ``start`` and at every event date inside."""
    running = events.groupby("effective")["amount"].sum().sort_index().cumsum()
    before = running[running.index <= start]
    values = [float(before.iloc[-1]) if len(before) else 0.0]
    inside = running[(running.index > start) & ((running.index < end) if end is not None else True)]
    return min(values + inside.tolist())


def settle_burns(store: Store, payouts: pd.Series, deadline_date: DateLike,
                 effective: DateLike) -> tuple[pd.Series, pd.DataFrame]:
    """Cap a round's payouts so that no balance goes below 0, and take the part of a burn the
    remaining balance cannot pay from the model's pending releases that the round staked.

    ``payouts``: model -> payout of a round whose deadline falls on ``deadline_date``, to be
    written effective on ``effective`` (its resolution date). Releases dated on or after
    ``deadline_date`` were in the round's stake, so its burn may reach them: a burn is capped at
    the lowest balance, from ``effective`` on, of the ledger with those releases (net of what
    earlier burns already took from them) added back. The part above the real balance becomes
    ``release_burn`` events (model, effective, amount > 0, released): each effective at the
    later of ``effective`` and its release's date, taken from the releases in date order, as
    little as keeps every balance >= 0 (latest request first among releases of the same start).

    Returns (capped payouts, release burn rows). Gains are unchanged.
    """
    ensure_tables(store)
    deadline_day = pd.Timestamp(deadline_date).normalize()
    landed = pd.Timestamp(effective).normalize()
    paid = payouts.astype(float).copy()
    rows = []
    burning = paid.index[paid < 0]
    events = _model_events(store, burning) if len(burning) else pd.DataFrame()
    for model in burning:
        mine = events[events["model"] == model]
        pending = ((mine["kind"] == "release") & (mine["effective"] >= deadline_day)) | (
            (mine["kind"] == "release_burn") & (mine["released"] >= deadline_day))
        headroom = max(0.0, _lowest_from(mine.loc[~pending, ["effective", "amount"]], landed))
        burn = max(float(paid[model]), -headroom)
        paid[model] = burn + 0.0
        rows += _take_from_releases(model, mine, pending, burn, landed)
    columns = ["model", "effective", "amount", "released"]
    return paid, pd.DataFrame(rows, columns=columns)


def _take_from_releases(model: str, mine: pd.DataFrame, pending: pd.Series, burn: float,
                        landed: pd.Timestamp) -> list[tuple]:
    """The release burn rows that keep the balance of ``mine`` plus ``burn`` (at ``landed``) >= 0."""
    after = pd.concat([mine[["effective", "amount"]], pd.DataFrame({"effective": [landed], "amount": [burn]})])
    releases = mine[pending & (mine["kind"] == "release")].groupby("effective")["amount"].sum().mul(-1)
    taken = mine[pending & (mine["kind"] == "release_burn")].groupby("released")["amount"].sum()
    capacity = (releases - taken.reindex(releases.index, fill_value=0.0)).clip(lower=0.0)
    starts = pd.Series(np.maximum(capacity.index, landed), index=capacity.index)
    rows, extra = [], []
    for position, start in enumerate(sorted(set(starts))):
        later = sorted(set(starts))[position + 1:]
        lowest = _lowest_from(pd.concat([after, pd.DataFrame(extra, columns=["effective", "amount"])]),
                              start, later[0] if later else None)
        need = -lowest
        for released in sorted(starts.index[starts == start], reverse=True):
            if need <= _TOLERANCE:
                break
            amount = min(float(capacity[released]), need)
            if amount > 0:
                rows.append((model, start, amount, released))
                extra.append((start, amount))
                need -= amount
    return rows


def pending_release_amounts(store: Store, models: pd.Index, deadline_date: DateLike) -> pd.Series:
    """Per model (``models``), what its releases dated on or after ``deadline_date`` still hold
    (requested minus what burns already took): the part of a round's stake at risk that is
    pending release and earns nothing from the round (its burns still reach it)."""
    ensure_tables(store)
    day = pd.Timestamp(deadline_date).normalize()
    events = _model_events(store, models) if len(models) else pd.DataFrame(
        columns=["model", "effective", "kind", "amount", "released"])
    released = events[(events["kind"] == "release") & (events["effective"] >= day)]
    taken = events[(events["kind"] == "release_burn") & (events["released"] >= day)]
    held = (-released.groupby("model")["amount"].sum()).sub(taken.groupby("model")["amount"].sum(), fill_value=0.0)
    return held.reindex(models, fill_value=0.0).clip(lower=0.0).rename("pending")


def insert_payouts(store: Store, payouts: pd.Series, release_burns: pd.DataFrame, round_date: DateLike,
                   effective: DateLike) -> None:
    """Write a round's payout events (the non-zero ``payouts``, effective on ``effective``) and
    its ``release_burns`` (from :func:`settle_burns`), in the caller's transaction."""
    ensure_tables(store)
    day, landed = pd.Timestamp(round_date).date(), pd.Timestamp(effective).date()
    now = store.now().to_pydatetime()
    events = pd.DataFrame({"model": payouts.index.astype(str), "amount": payouts.to_numpy(float)})
    store.con.register("_payouts", events[events["amount"] != 0])
    try:
        store.con.execute(
            "INSERT INTO stake_events (model, effective, kind, amount, round_date, created_at) "
            "SELECT model, ?, 'payout', amount, ?, ? FROM _payouts", [landed, day, now])
    finally:
        store.con.unregister("_payouts")
    if len(release_burns):
        store.con.register("_release_burns", release_burns)
        try:
            store.con.execute(
                "INSERT INTO stake_events (model, effective, kind, amount, round_date, created_at, released) "
                "SELECT model, CAST(effective AS DATE), 'release_burn', amount, ?, ?, CAST(released AS DATE) "
                "FROM _release_burns", [day, now])
        finally:
            store.con.unregister("_release_burns")


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
    day = pd.Timestamp(date).normalize()
    return stake_balances_on(store, pd.DatetimeIndex([day])).loc[day].rename("stake")


def stake_balances_on(store: Store, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """:func:`stake_balances` on each of ``dates`` at once: date x model (models sorted), stakes
    in the tournament's currency, never below 0."""
    ensure_tables(store)
    days = pd.DatetimeIndex(dates).normalize()
    plan = pd.DataFrame({"day_id": np.arange(len(days), dtype=np.int64), "day": days.to_numpy(dtype="datetime64[ns]")})
    with store.temporary_view("_stake_days", plan):
        frame = store.con.execute(
            "SELECT d.day_id, m.name AS model, coalesce(sum(e.amount), 0) AS stake "
            "FROM (SELECT day_id, CAST(day AS DATE) AS day FROM _stake_days) d CROSS JOIN models m "
            "LEFT JOIN stake_events e ON e.model = m.name AND e.effective < d.day "
            "AND (e.created_at IS NULL OR e.created_at <= ?) GROUP BY d.day_id, m.name",
            [store.now().to_pydatetime()],
        ).fetch_df()
    models = pd.Index(sorted(frame["model"].astype(str).unique()), name="model")
    balances = np.zeros((len(days), len(models)))
    balances[frame["day_id"].to_numpy(np.int64), models.get_indexer(frame["model"].astype(str))] = frame["stake"].to_numpy(float)
    return pd.DataFrame(np.clip(balances, 0.0, None), index=pd.DatetimeIndex(days, name="date"), columns=models)


def stake_history(store: Store) -> pd.DataFrame:
    """Stake of every model after each event date: date x model (cumulative sums)."""
    ensure_tables(store)
    events = store.con.execute("SELECT model, effective, amount FROM stake_events").fetch_df()
    if events.empty:
        return pd.DataFrame()
    events["effective"] = pd.to_datetime(events["effective"])
    daily = events.pivot_table(index="effective", columns="model", values="amount", aggfunc="sum").fillna(0.0)
    return daily.cumsum().clip(lower=0.0)

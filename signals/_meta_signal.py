"""The meta-signal of a date, read from the store: submissions + stakes -> one signal.

The signal known on ``date`` comes from the latest round of the fund's calendar
(:class:`metasignal.signals.RoundCalendar`) dated on or before it that has staked
submissions: each model's on-time version (or its queued late upload), never a later
re-upload or a backfill (:func:`metasignal.signals.on_time_submissions`). A round nobody
submitted to on time is passed over: the fund keeps the last known signal. Stakes are the
models' stakes for that round, i.e. the ledger's events effective before its deadline's date
(:mod:`metasignal.signals.stakes`); when no model has a stake yet, every submitted model
counts equally. Models below ``min_stake`` are left
out (an error names the rule when none qualifies).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.store import Store
from metasignal.errors import ConfigurationError, StoreError
from metasignal.signals import stakes, storage
from metasignal.signals.round_calendar import RoundCalendar
from metasignal.signals.meta_model import (
    DEFAULT_MIN_STAKE,
    equal_weight_meta_model,
    stake_weighted_meta_model,
    stake_weighted_meta_portfolio,
)

META_SIGNAL_METHODS = ("stake_weighted", "equal", "meta_portfolio")


def latest_round(store: Store, date: DateLike) -> pd.Timestamp:
    """The data date of the last round dated on or before ``date`` with an on-time (or queued)
    submission; :class:`StoreError` when there is none."""
    storage.ensure_tables(store)
    day = pd.Timestamp(date).normalize()
    rows = store.con.execute(
        "SELECT DISTINCT date, status FROM submissions WHERE status IN ('on_time', 'late') AND date <= ? "
        "AND uploaded_at <= ?", [day.date(), store.now().to_pydatetime()],
    ).fetch_df()
    rows["date"] = pd.to_datetime(rows["date"])
    candidates = list(rows.loc[rows["status"] == "on_time", "date"])
    late = rows.loc[rows["status"] == "late", "date"]
    if len(late):  # a late upload is the next round's submission (queued): that round has one too
        calendar = RoundCalendar.of(store)
        dates = calendar.data_dates(store.trading_days(start=late.min()))
        following = dates[np.minimum(dates.searchsorted(late, side="right"), len(dates) - 1)]
        now = store.now()
        candidates += [d for p, d in zip(late, following)
                       if p < d <= day and calendar.round_of(d).opens <= now]
    if not candidates:
        raise StoreError(
            f"no round on or before {day.date()} has an on-time submission: submit to the open round (on the "
            "synthetic market, `metasignal examples` makes the example models take part) or pass --alpha FILE"
        )
    return max(candidates)


def meta_signal(store: Store, date: DateLike, *, method: str = "stake_weighted", min_stake: float = DEFAULT_MIN_STAKE) -> pd.Series:
    """Meta-signal (ticker -> value) known on ``date``, over that round's universe.

    ``stake_weighted``: stake-weighted mean of cleaned gaussianized signals; ``equal``: the
    equal-weight variant; ``meta_portfolio``: the stake-weighted mean of neutral weights (SWP).
    """
    if method not in META_SIGNAL_METHODS:
        raise ConfigurationError(f"unknown meta-signal method {method!r}: choose from {', '.join(META_SIGNAL_METHODS)}")
    round_date = latest_round(store, date)
    universe = store.universe(round_date)
    predictions = storage.on_time_submissions(store, round_date).reindex(universe)
    predictions = predictions.loc[:, predictions.notna().any(axis=0)]
    stakes.ensure_tables(store)
    deadline = RoundCalendar.of(store).round_of(round_date).deadline
    weights = stakes.stake_balances(store, deadline.normalize()).reindex(predictions.columns).fillna(0.0)
    if weights.sum() <= 0:  # no stakes yet: every submitted model counts equally
        weights = pd.Series(1.0, index=predictions.columns)
        min_stake = 0.0
    if method == "equal":
        return equal_weight_meta_model(predictions, weights, min_stake=min_stake).rename("meta_signal")
    if method == "meta_portfolio":
        return stake_weighted_meta_portfolio(
            predictions, weights, store.neutralizers(round_date), store.sample_weights(round_date), min_stake=min_stake
        ).rename("meta_signal")
    return stake_weighted_meta_model(predictions, weights, min_stake=min_stake).rename("meta_signal")

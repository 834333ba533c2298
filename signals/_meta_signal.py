"""The meta-signal of a date, read from the store: submissions + stakes -> one signal.

The signal known on ``date`` comes from the latest round (submission date) on or before
it, using only versions uploaded by that round's deadline
(:func:`metasignal.signals.submission_deadline`): a later re-upload never reaches the book. Stakes are the models' stakes for that round (:mod:`metasignal.signals.stakes`); when no model
has a stake yet, every submitted model counts equally. Models below ``min_stake`` are left
out (an error names the rule when none qualifies).
"""

from __future__ import annotations

import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.store import Store
from metasignal.errors import ConfigurationError, StoreError
from metasignal.signals import stakes, storage
from metasignal.signals.meta_model import (
    DEFAULT_MIN_STAKE,
    equal_weight_meta_model,
    stake_weighted_meta_model,
    stake_weighted_meta_portfolio,
)

META_SIGNAL_METHODS = ("stake_weighted", "equal", "meta_portfolio")


def latest_round(store: Store, date: DateLike) -> pd.Timestamp:
    """The last submission date on or before ``date``."""
    storage.ensure_tables(store)
    row = store.one("SELECT max(date) FROM submissions WHERE date <= ?", [pd.Timestamp(date).date()])
    if row is None or row[0] is None:
        raise StoreError(
            f"no submissions on or before {pd.Timestamp(date).date()}: submit signals (on the synthetic "
            "market, `metasignal examples` submits the example models) or pass --alpha FILE"
        )
    return pd.Timestamp(row[0])


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
    weights = stakes.stake_balances(store, round_date).reindex(predictions.columns).fillna(0.0)
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

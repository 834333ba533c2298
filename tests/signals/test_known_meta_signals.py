"""KnownMetaSignals (the walk-forward's bulk reader) gives what ``meta_signal`` gives date by date.

The store: the small synthetic market on a replay clock two hours into its last weekly round,
with ten rounds of uploads recorded as a log: on-time uploads, an on-time re-upload, late
uploads queued for the next round (one for a model without an on-time upload there, one from a
model that was on time), a round with only a queued upload, a round nobody submitted to,
stakes that start after the first round, deposits and a release between rounds, and the open
round with the uploads made so far.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from metasignal.data import Clock
from metasignal.data.example_models import example_signals
from metasignal.data.store import Store
from metasignal.errors import DataValidationError, StoreError
from metasignal.signals import KnownMetaSignals, RoundCalendar, latest_round, meta_signal, stakes, storage

MODELS = ("skilled", "noise", "partial", "momentum_tilt")
HOUR = pd.Timedelta(hours=1)


def _upload(store: Store, model: str, day: pd.Timestamp, signal: pd.Series, stamp: pd.Timestamp) -> str:
    """``model``'s upload of ``signal`` for round ``day`` at ``stamp``; returns its status."""
    frame = pd.DataFrame({"numerai_ticker": signal.dropna().index, "signal": signal.dropna().to_numpy(),
                          "date": day.strftime("%Y-%m-%d")})
    receipt = storage.submit(store, model, frame.to_csv(index=False).encode(), min_tickers=20, uploaded_at=stamp)
    return receipt.entries[0].status


@pytest.fixture(scope="module")
def rounds_store(small_store_path, tmp_path_factory):
    """(store path, round data dates, trading days from a week before the first round)."""
    path = tmp_path_factory.mktemp("known_meta_signals") / "store.duckdb"
    shutil.copy(small_store_path, path)
    with Store.open(path) as store:
        calendar = RoundCalendar.of(store)
        dates = calendar.data_dates(store.stored_days())[-10:]
        rounds = [calendar.round_of(day) for day in dates]
        store.set_clock(Clock("replay", rounds[-1].opens + 2 * HOUR))
        for model in MODELS:
            storage.create_model(store, model, owner="test")
        # no stake for round 0 (every model counts equally), then stakes that change
        for model, amount in (("skilled", 5000.0), ("noise", 1000.0), ("partial", 500.0)):
            stakes.deposit_stake(store, model, amount, rounds[0].deadline.normalize())
        stakes.deposit_stake(store, "skilled", 100.0, dates[2])
        stakes.deposit_stake(store, "momentum_tilt", 2000.0, dates[4])
        stakes.release_stake(store, "noise", 600.0, dates[6])

        def signal(day, model, flip=False):
            values = example_signals(store, day, models=(model,))[model]
            return 1.0 - values if flip else values

        on_time = {0: ("skilled", "noise", "partial"), 1: ("skilled", "noise"), 2: ("skilled",), 3: (),
                   4: (), 5: MODELS, 6: ("skilled", "noise", "momentum_tilt"), 7: ("skilled", "momentum_tilt"),
                   8: ("skilled", "noise"), 9: ("skilled",)}
        statuses = []
        for i, day in enumerate(dates):
            for model in on_time[i]:
                statuses.append(_upload(store, model, day, signal(day, model), rounds[i].opens + HOUR))
        # an on-time re-upload (the later version counts)
        statuses.append(_upload(store, "noise", dates[1], signal(dates[1], "noise", flip=True), rounds[1].opens + 5 * HOUR))
        late = [("partial", 1), ("noise", 2), ("momentum_tilt", 6), ("noise", 8)]
        for model, i in late:  # after the deadline: queued for the next round
            statuses.append(_upload(store, model, dates[i], signal(dates[i], model, flip=True),
                                    rounds[i].deadline + HOUR))
        assert statuses.count("late") == len(late) and statuses.count("on_time") == len(statuses) - len(late)
        days = store.trading_days(start=dates[0] - pd.Timedelta(days=8))
    return path, dates, days


def _outcome(call):
    """(the Series, None) or (None, (error type, message))."""
    try:
        return call(), None
    except (StoreError, DataValidationError) as error:
        return None, (type(error), str(error))


@pytest.mark.parametrize("method, min_stake", [("stake_weighted", 0.0), ("stake_weighted", 700.0),
                                               ("equal", 0.0), ("meta_portfolio", 0.0),
                                               ("stake_weighted", 1e9)])
def test_every_date_has_the_meta_signal_of_the_per_date_function(rounds_store, method, min_stake):
    path, dates, days = rounds_store
    with Store.open(path) as store:
        known = KnownMetaSignals(store, days, method=method, min_stake=min_stake, chunk=3)
        compared = 0
        for day in days:
            expected, error = _outcome(lambda: meta_signal(store, day, method=method, min_stake=min_stake))
            got, got_error = _outcome(lambda: known.signal(day))
            assert got_error == error, day
            if error is not None:
                assert _outcome(lambda: known.values(day))[1] == error
                continue
            assert known.round_of(day) == latest_round(store, day)
            assert got.index.equals(expected.index) and got.name == expected.name == "meta_signal"
            assert np.abs(got.to_numpy() - expected.to_numpy()).max() <= 1e-15
            grid = known.values(day)
            at = known.tickers.get_indexer(expected.index)
            assert (at >= 0).all() and np.abs(grid[at] - expected.to_numpy()).max() <= 1e-15
            outside = np.ones(len(grid), dtype=bool)
            outside[at] = False
            assert np.isnan(grid[outside]).all()
            compared += 1
    if min_stake > 1e6:  # nobody qualifies (the same error) but in round 0, where nobody has a stake yet
        assert compared == int(((days >= dates[0]) & (days < dates[1])).sum())
    else:
        assert compared > 40


def test_the_rounds_each_date_reads(rounds_store):
    path, dates, days = rounds_store
    with Store.open(path) as store:
        known = KnownMetaSignals(store, days)
        rounds = pd.Series(known.rounds, index=known.dates)
        assert rounds[rounds.index < dates[0]].isna().all()  # before the first round: none
        with pytest.raises(StoreError, match="no round on or before"):
            known.values(days[0])
        # round 3 has only a queued late upload and counts; round 4 nobody submitted to is passed over
        in_week_4 = (rounds.index >= dates[4]) & (rounds.index < dates[5])
        assert (rounds[in_week_4] == dates[3]).all()
        assert rounds[dates[9]] == dates[9]  # the open round, with the uploads made so far
        stake_free = known.signal(dates[0])  # no stake yet: the equal-weight mean of the models
        assert stake_free.equals(meta_signal(store, dates[0], method="equal"))
        with pytest.raises(StoreError, match="not one of the dates"):
            known.values(dates[-1] + pd.Timedelta(days=1))

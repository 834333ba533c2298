"""Tournament fixtures: example models with a history of on-time round submissions.

The store's rounds are the fund's calendar (weekly: the last store day of each week, opening
Saturday 12:00 UTC, deadline Sunday 14:00 UTC). ``submit_on_time_history`` records a log of
past uploads on a live store: each round's signal is stamped an hour after its round opened,
so every stored version is ``on_time`` for its round.
"""

from __future__ import annotations

import io
from typing import Sequence

import pandas as pd
import pytest

from metasignal.data import Clock
from metasignal.data.example_models import EXAMPLE_MODELS, EXAMPLE_STAKES, example_signals
from metasignal.data.store import Store
from metasignal.signals import RoundCalendar, stakes, storage

ON_TIME_AFTER_OPENING = pd.Timedelta(hours=1)


def round_dates(store: Store, start=None, end=None) -> pd.DatetimeIndex:
    """The store calendar's round data dates within ``[start, end]`` (rounds of the whole store:
    a week cut by ``end`` keeps its own last day)."""
    dates = RoundCalendar.of(store).data_dates(store.trading_days())
    keep = (dates >= pd.Timestamp(start or dates[0])) & (dates <= pd.Timestamp(end or dates[-1]))
    return dates[keep]


def on_time_log(store: Store, dates: Sequence[pd.Timestamp]) -> pd.Series:
    """A log of past uploads (data date -> upload time): an hour after each round opened."""
    calendar = RoundCalendar.of(store)
    dates = pd.DatetimeIndex(dates)
    return pd.Series([calendar.round_of(d).opens + ON_TIME_AFTER_OPENING for d in dates], index=dates)


def csv_bytes(signal: pd.Series, date=None) -> bytes:
    """A submission CSV of ``signal`` (ticker -> value), with a date column when ``date`` is given."""
    frame = signal.dropna().rename("signal").rename_axis("numerai_ticker").reset_index()
    if date is not None:
        frame["date"] = pd.Timestamp(date).strftime("%Y-%m-%d")
    return frame.to_csv(index=False).encode()  # full precision: the stored signal equals it


def submit_on_time_history(store: Store, dates: Sequence[pd.Timestamp], *, min_tickers: int = 20,
                           models: Sequence[str] = EXAMPLE_MODELS) -> dict[str, storage.SubmissionReceipt]:
    """Every example model uploads its signal of each round in ``dates`` on time (one CSV per
    model holding every date, with the upload log :func:`on_time_log`)."""
    dates = pd.DatetimeIndex(dates)
    signals = {d: example_signals(store, d) for d in dates}
    log = on_time_log(store, dates)
    receipts = {}
    for model in models:
        frames = [signals[d][model].dropna().rename("signal").rename_axis("numerai_ticker").reset_index()
                  .assign(date=d.strftime("%Y-%m-%d")) for d in dates if signals[d][model].notna().any()]
        if not frames:
            continue
        data = pd.concat(frames, ignore_index=True).to_csv(index=False, float_format="%.8f").encode()
        receipts[model] = storage.submit(store, model, data, filename=f"{model}.csv", min_tickers=min_tickers,
                                         uploaded_at=log)
    return receipts


def create_staked_models(store: Store, staked_on, models: Sequence[str] = EXAMPLE_MODELS) -> None:
    """Create the example models, each with its initial stake (``EXAMPLE_STAKES``) effective
    after ``staked_on``."""
    for name in models:
        storage.create_model(store, name, owner="examples")
        stakes.deposit_stake(store, name, EXAMPLE_STAKES[name], staked_on)


def make_tournament(store: Store, start, end) -> pd.DatetimeIndex:
    """The example models, staked before the first round and with on-time submissions to every
    round between ``start`` and ``end``; returns those rounds' data dates."""
    dates = round_dates(store, start, end)
    create_staked_models(store, dates[0] - pd.Timedelta(days=1))
    receipts = submit_on_time_history(store, dates)
    statuses = {e.status for receipt in receipts.values() for e in receipt.entries}
    assert statuses == {"on_time"}
    return dates


@pytest.fixture
def tournament(store_copy):
    """(store, round dates): the example models' on-time history of ~10 weekly rounds
    (store days 260-330 of the small store; a live clock, so every round has closed)."""
    days = store_copy.trading_days()
    return store_copy, make_tournament(store_copy, days[260], days[330])


def upload_at_clock(store: Store, model: str, date, signal: pd.Series, *, min_tickers: int = 20):
    """``model`` uploads ``signal`` for round ``date`` now, at the store clock."""
    return storage.submit(store, model, csv_bytes(signal), date=date, min_tickers=min_tickers)


def uploads_at_opening(store: Store, models: Sequence[str]):
    """An ``on_open`` callback for :func:`metasignal.backtest.advance_clock`: each of ``models``
    uploads its example signal for the round as it opens."""
    def on_open(round_) -> None:
        signals = example_signals(store, round_.data_date, models)
        for model in models:
            upload_at_clock(store, model, round_.data_date, signals[model])
    return on_open


REPLAY_MODELS = ("skilled", "noise")


@pytest.fixture
def replay_tournament(store_copy):
    """(store, first round): the small market on a replay clock at the opening of a round ~20
    weeks before the store's end, with ``REPLAY_MODELS`` staked (effective for that round) and
    uploading at each round's opening (``uploads_at_opening``: pass it to ``advance_clock``)."""
    calendar = RoundCalendar.of(store_copy)
    first = calendar.round_of(calendar.data_dates(store_copy.stored_days())[-20])
    store_copy.set_clock(Clock("replay", first.opens))
    create_staked_models(store_copy, first.data_date - pd.Timedelta(days=1), REPLAY_MODELS)
    uploads_at_opening(store_copy, REPLAY_MODELS)(first)
    return store_copy, first

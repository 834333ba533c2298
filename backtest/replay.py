"""Moving a replay clock forward: the tournament and the fund in time.

:func:`advance_clock` moves a store's replay clock from its time to a later one and, in
time order, runs what happens on the way:

- ``open``: a round of the calendar opens (``on_open(round)`` runs at that time: in the
  synthetic market, the example models upload their signals then);
- ``close``: a round's deadline passes (``on_close(round)`` runs at the deadline: the fund's
  job, the round's target book and its per-market executions);
- ``day``: a store day's data become known (its ``DATA_READY_UTC``), then every closed round
  whose target window has ended resolves (:func:`metasignal.backtest.resolve_rounds`, the
  code ``metasignal rounds resolve`` runs).

Each event and the clock move to its time are one transaction, so a crash leaves the store
at the last completed event and the same advance can be run again; advancing in several
steps gives the same store as advancing once over the same span. The clock never moves
back (:class:`metasignal.errors.ClockError`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from metasignal.backtest.payouts import PayoutPolicy
from metasignal.backtest.rounds import _EraCache, resolve_rounds
from metasignal.data.calendar import DateLike
from metasignal.data.clock import utc_naive
from metasignal.data.markets import data_known_at
from metasignal.data.store import Store
from metasignal.signals.round_calendar import Round, RoundCalendar

__all__ = ["AdvanceReport", "ClockEvent", "advance_clock", "clock_events"]

logger = logging.getLogger(__name__)

_ORDER = {"day": 0, "close": 1, "open": 2}


@dataclass(frozen=True)
class ClockEvent:
    """Something that happens at ``time`` (naive UTC): ``kind`` is ``day`` (``date``'s data
    become known), ``open`` or ``close`` (of ``round``)."""

    time: pd.Timestamp
    kind: str
    date: pd.Timestamp
    round: Round | None = None


@dataclass
class AdvanceReport:
    """What an advance did: the clock before and after, and per kind what happened."""

    started: pd.Timestamp
    now: pd.Timestamp
    days: list[pd.Timestamp] = field(default_factory=list)
    opened: list[pd.Timestamp] = field(default_factory=list)
    closed: list[pd.Timestamp] = field(default_factory=list)
    resolved: list[pd.Timestamp] = field(default_factory=list)


def clock_events(store: Store, until: DateLike) -> list[ClockEvent]:
    """The events after the store clock up to ``until`` (inclusive), in time order."""
    now, end = store.now(), utc_naive(until)
    days = store.stored_days()
    calendar = RoundCalendar.of(store)
    events = [ClockEvent(data_known_at(d), "day", d) for d in days if now < data_known_at(d) <= end]
    for day in calendar.data_dates(days):
        round_ = calendar.round_of(day)
        if now < round_.opens <= end:
            events.append(ClockEvent(round_.opens, "open", day, round_))
        if now < round_.deadline <= end:
            events.append(ClockEvent(round_.deadline, "close", day, round_))
    return sorted(events, key=lambda e: (e.time, _ORDER[e.kind]))


def advance_clock(
    store: Store, to: DateLike, *, rule: PayoutPolicy | None = None,
    on_open: Callable[[Round], None] | None = None, on_close: Callable[[Round], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> AdvanceReport:
    """Move the store's replay clock to ``to``, running every event on the way (module docstring).

    ``progress`` is called with 1 after each event. Returns what happened.
    """
    clock = store.clock()
    target = clock.moved_to(to)  # raises for a live clock or a move back
    report = AdvanceReport(started=clock.time, now=target.time)
    cache = _EraCache(store)  # the inputs of closed rounds, shared by every resolution of the advance
    for event in clock_events(store, target.time):
        with store.transaction():
            store.set_clock(clock.moved_to(event.time))
            if event.kind == "open":
                if on_open is not None:
                    on_open(event.round)
                report.opened.append(event.date)
            elif event.kind == "close":
                if on_close is not None:
                    on_close(event.round)
                report.closed.append(event.date)
            else:
                report.days.append(event.date)
                report.resolved += resolve_rounds(store, rule=rule, cache=cache)
        if progress is not None:
            progress(1)
    store.set_clock(target)
    logger.info("clock advanced from %s to %s: %d day(s), %d round(s) opened, %d closed, %d resolved",
                report.started, report.now, len(report.days), len(report.opened), len(report.closed),
                len(report.resolved))
    return report

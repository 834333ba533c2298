"""The fund's round calendar: which closes are rounds, when each opens, closes and trades.

A round is dated by its *data date*: the close its signals are built from. The calendar is
the fund's choice, recorded in the store (``metasignal rounds calendar``), never the set of
dates someone submitted for. ``ROUND_SCHEDULES``:

- ``weekly`` (default): one round a week, dated on the last store day of the week (Friday
  on a full week); it opens Saturday 12:00 UTC and its deadline is Sunday 14:00 UTC (the
  weekend round of Numerai's schedule).
- ``daily``: a round for every store day. A Monday-Thursday data date opens the next day at
  12:00 UTC with its deadline at 13:00 UTC; the week's Friday round is the weekend round.

A version is *on time* when uploaded at or before the deadline. Each name of a round trades
at the first close of its own market strictly after the deadline
(:func:`metasignal.data.markets.first_close_after`): no name trades at a price known before
the deadline. With the weekly calendar every market trades the round at Monday's close; with
the daily one Asia-Pacific names (closing before 13:00 UTC) trade a day later than Europe
and the Americas. A round resolves for a target window ``XDyL`` at the close that ends it,
``y + x`` store days after the data date.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metasignal.data.calendar import DateLike, read_day
from metasignal.data.markets import first_close_after
from metasignal.data.store import Store
from metasignal.data.targets import parse_window
from metasignal.errors import ConfigurationError, RoundError

__all__ = ["ROUND_SCHEDULES", "Round", "RoundCalendar"]

ROUND_SCHEDULES = ("weekly", "daily")
_SCHEDULE_KEY = "round_schedule"
_WEEKEND_OPEN = pd.Timedelta(days=1, hours=12)  # from the week's Friday: Saturday 12:00 UTC
_WEEKEND_DEADLINE = pd.Timedelta(days=2, hours=14)  # Sunday 14:00 UTC
_DAILY_OPEN = pd.Timedelta(days=1, hours=12)  # the next day 12:00 UTC
_DAILY_DEADLINE = pd.Timedelta(days=1, hours=13)  # the next day 13:00 UTC


def _week_friday(day: pd.Timestamp) -> pd.Timestamp:
    return day + pd.Timedelta(days=4 - day.weekday())


@dataclass(frozen=True)
class Round:
    """One round: ``data_date`` (a store day), ``opens`` and ``deadline`` (naive UTC; an upload
    at the deadline itself is on time)."""

    data_date: pd.Timestamp
    opens: pd.Timestamp
    deadline: pd.Timestamp

    def status(self, now: pd.Timestamp) -> str:
        """``upcoming`` before it opens, ``open`` until its deadline, ``closed`` after."""
        return "upcoming" if now < self.opens else "open" if now <= self.deadline else "closed"

    def executions(self, countries: pd.Series, trading_days: pd.DatetimeIndex) -> pd.Series:
        """When each name trades the round (ticker -> store day): the first close of its market
        after the deadline (``countries``: ticker -> ISO-2 country)."""
        return first_close_after(self.deadline, countries, trading_days)

    def resolution_date(self, window: str, trading_days: pd.DatetimeIndex) -> pd.Timestamp | None:
        """The close that ends the round's ``window`` target (None when not in ``trading_days``)."""
        days, lag = parse_window(window)
        position = int(pd.DatetimeIndex(trading_days).searchsorted(self.data_date)) + lag + days
        return trading_days[position] if position < len(trading_days) else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO 8601 UTC times)."""
        return {"round": self.data_date.date().isoformat(), "opens": self.opens.isoformat() + "Z",
                "deadline": self.deadline.isoformat() + "Z"}


@dataclass(frozen=True)
class RoundCalendar:
    """The fund's round schedule (``weekly`` or ``daily``, see the module docstring)."""

    schedule: str = "weekly"

    def __post_init__(self) -> None:
        if self.schedule not in ROUND_SCHEDULES:
            raise ConfigurationError(
                f"unknown round schedule {self.schedule!r}: choose from {', '.join(ROUND_SCHEDULES)}")

    # ------------------------------------------------------------------ pure rules
    def round_of(self, data_date: DateLike) -> Round:
        """The round dated ``data_date`` (which must be one of :meth:`data_dates`)."""
        day = read_day(data_date, RoundError)
        friday = _week_friday(day)
        if self.schedule == "weekly" or day.weekday() >= 4:
            return Round(day, friday + _WEEKEND_OPEN, friday + _WEEKEND_DEADLINE)
        return Round(day, day + _DAILY_OPEN, day + _DAILY_DEADLINE)

    def data_dates(self, trading_days: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """The round dates among ``trading_days`` (weekly: the last of each week; daily: all)."""
        days = pd.DatetimeIndex(trading_days)
        if self.schedule == "daily" or len(days) == 0:
            return pd.DatetimeIndex(days, name="round")
        weeks = days.to_period("W-FRI").asi8
        last_of_week = np.r_[weeks[1:] != weeks[:-1], True]
        return pd.DatetimeIndex(days[last_of_week], name="round")

    def next_data_date(self, after: DateLike) -> pd.Timestamp:
        """The projected data date of the round after the one dated ``after`` (the next Friday,
        or the next weekday for the daily schedule): future store days are not known yet."""
        day = read_day(after, RoundError)
        if self.schedule == "daily":
            return day + pd.offsets.BDay(1)
        return _week_friday(day) + pd.Timedelta(days=7)

    # ------------------------------------------------------------------ the store
    @classmethod
    def of(cls, store: Store) -> "RoundCalendar":
        """The calendar recorded in ``store`` (weekly when none is)."""
        return cls(store.get_meta(_SCHEDULE_KEY) or "weekly")

    def save(self, store: Store) -> None:
        """Record this calendar as the store's."""
        store.set_meta(_SCHEDULE_KEY, self.schedule)

    def rounds(self, store: Store, *, status: str | None = None) -> list[Round]:
        """The store's rounds that have opened by its clock, oldest first; ``status``
        (``open`` or ``closed``) keeps only those."""
        now = store.now()
        rounds = [self.round_of(d) for d in self.data_dates(store.trading_days())]
        opened = [r for r in rounds if r.opens <= now]
        if status is None:
            return opened
        return [r for r in opened if r.status(now) == status]

    def open_round(self, store: Store) -> Round | None:
        """The round open at the store's clock, if any."""
        current = self.rounds(store, status="open")
        return current[-1] if current else None

    def next_round(self, store: Store) -> Round:
        """The next round to open after the store's clock (projected from the weekday rule:
        its data date is not known yet)."""
        now = store.now()
        opened = self.rounds(store)
        start = opened[-1].data_date if opened else store.visible_through() - pd.Timedelta(days=7)
        candidate = self.round_of(self.next_data_date(start))
        while candidate.opens <= now:
            candidate = self.round_of(self.next_data_date(candidate.data_date))
        return candidate

    def round_for_upload(self, store: Store, date: DateLike) -> Round:
        """The round a signal for data date ``date`` belongs to; :class:`RoundError` naming the
        open (or next) round when ``date`` is not a round that has opened."""
        day = read_day(date, RoundError)
        for candidate in reversed(self.rounds(store)):
            if candidate.data_date == day:
                return candidate
            if candidate.data_date < day:
                break
        current = self.open_round(store)
        hint = (f"the open round is {current.data_date.date()} (deadline {current.deadline:%Y-%m-%d %H:%M} UTC)"
                if current is not None else
                f"the next round opens {self.next_round(store).opens:%Y-%m-%d %H:%M} UTC")
        raise RoundError(f"{day.date()} is not a round of the {self.schedule} calendar that has opened: {hint}")

    def previous_round(self, store: Store, data_date: DateLike) -> Round | None:
        """The round before the one dated ``data_date`` (None for the first)."""
        day = read_day(data_date, RoundError)
        previous = self.previous_data_dates(store, pd.DatetimeIndex([day]))[0]
        return None if pd.isna(previous) else self.round_of(previous)

    def previous_data_dates(self, store: Store, data_dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """(d,) the data date of the round before each of ``data_dates`` (sorted); NaT for the first."""
        days = pd.DatetimeIndex(data_dates)
        if not len(days):
            return pd.DatetimeIndex([], name="round")
        dates = self.data_dates(store.trading_days(end=days.max()))
        before = dates.searchsorted(days, side="left") - 1
        earlier = dates[np.maximum(before, 0)].to_numpy() if len(dates) else np.full(len(days), np.datetime64("NaT", "ns"))
        return pd.DatetimeIndex(np.where(before >= 0, earlier, np.datetime64("NaT", "ns")), name="round")

    def following_round(self, store: Store, data_date: DateLike) -> Round:
        """The round after the one dated ``data_date``: among the rounds that have opened when
        there is one, else projected (:meth:`next_data_date`: a week in progress has no round
        date yet)."""
        day = read_day(data_date, RoundError)
        later = [r for r in self.rounds(store) if r.data_date > day]
        return later[0] if later else self.round_of(self.next_data_date(day))

    def execution_lags(self, countries: pd.Series, trading_days: pd.DatetimeIndex) -> pd.Series:
        """Per name, the most store days between a round's data date and the close it trades at,
        over the rounds of ``trading_days`` whose executions fall inside them (ticker -> int).

        The backtest trades every decision with these lags, so no name ever trades before the
        deadline of the round whose signal it uses."""
        days = pd.DatetimeIndex(trading_days)
        lags = np.zeros(len(countries), dtype=np.int64)
        for day in self.data_dates(days):
            executed = self.round_of(day).executions(countries, days)
            known = executed.notna().to_numpy()
            if not known.any():
                continue
            steps = days.searchsorted(executed[known]) - days.searchsorted(day)
            lags[known] = np.maximum(lags[known], steps)
        return pd.Series(np.maximum(lags, 1), index=countries.index, name="lag")

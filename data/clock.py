"""The store clock: what time it is for the data a store holds.

Every store has a clock, kept in its ``meta`` table:

- ``live``: the wall clock (UTC). The default for a store without a clock setting, e.g. a
  store of real data fetched up to yesterday.
- ``replay``: a simulated time, set and moved forward explicitly (``metasignal clock
  advance``); the synthetic market is generated with a future tail that a replay clock
  reveals day by day. A replay clock never moves back.

Readers see only what is known at the clock (:meth:`metasignal.data.Store.visible_through`):
the bars and derived fields of a store day from :data:`metasignal.data.markets.DATA_READY_UTC`
on that day, a target once the last day of its window is known. Times are naive UTC
``pandas.Timestamp`` throughout.

``CLOCK_MODES``: ``("live", "replay")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.errors import ClockError

__all__ = ["CLOCK_MODES", "Clock", "utc_naive"]

CLOCK_MODES = ("live", "replay")
_MODE_KEY, _TIME_KEY = "clock_mode", "clock_time"


def utc_naive(value: DateLike | None = None) -> pd.Timestamp:
    """``value`` (default: the wall clock now) as a naive UTC timestamp; aware times are converted."""
    stamp = pd.Timestamp.now(tz="UTC") if value is None else pd.Timestamp(value)
    if stamp is pd.NaT:
        raise ClockError(f"cannot read {value!r} as a time")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp


@dataclass(frozen=True)
class Clock:
    """A store's clock: ``mode`` (``live`` or ``replay``) and, for a replay, its ``time``."""

    mode: str = "live"
    time: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        if self.mode not in CLOCK_MODES:
            raise ClockError(f"unknown clock mode {self.mode!r}: choose from {', '.join(CLOCK_MODES)}")
        if self.mode == "replay" and self.time is None:
            raise ClockError("a replay clock needs a time")

    def now(self) -> pd.Timestamp:
        """The current time of the clock (naive UTC)."""
        return utc_naive() if self.mode == "live" else self.time

    @classmethod
    def read(cls, meta: dict[str, str | None]) -> "Clock":
        """The clock recorded in a store's metadata (``live`` when none is)."""
        mode = meta.get(_MODE_KEY) or "live"
        time = meta.get(_TIME_KEY) or None
        return cls(mode, None if mode == "live" or time is None else pd.Timestamp(time))

    def to_meta(self) -> dict[str, str]:
        """The metadata rows that record this clock."""
        return {_MODE_KEY: self.mode, _TIME_KEY: "" if self.time is None else self.time.isoformat()}

    def moved_to(self, time: DateLike) -> "Clock":
        """This replay clock at a later ``time``; :class:`ClockError` for a live clock or a move back."""
        if self.mode != "replay":
            raise ClockError("the store clock is live (the wall clock): only a replay clock can be moved")
        target = utc_naive(time)
        if target < self.time:
            raise ClockError(
                f"the clock never moves back: it is {self.time:%Y-%m-%d %H:%M} UTC, asked for {target:%Y-%m-%d %H:%M}"
            )
        return Clock("replay", target)

"""When each market closes, in UTC, and when a store day's data are known.

``MARKET_CLOSE_UTC``: the regular closing time of each country's main exchange as a UTC
time of day, at *standard* time (no daylight saving): US and CA 21:00 (16:00 New York), BR
20:00 (17:00 Sao Paulo), GB 16:30, the euro markets, CH and the Nordics 16:30 (17:30 CET;
Oslo 16:20 CET is rounded to 15:20), JP and KR 06:30 (15:30 Tokyo/Seoul), TW 05:30, HK 08:00,
AU 06:00 (16:00 Sydney), IN 10:00 (15:30 Mumbai), SG 09:00. A country not listed is taken to
close at 00:00 UTC: the earliest time possible, so a name of unknown market is never modelled
as trading at a close that may already have happened (see :func:`first_close_after`).

Daylight saving moves the US, CA, European and AU closes by one hour. The round deadlines of
:mod:`metasignal.signals.round_calendar` are at 13:00 UTC on weekdays and 14:00 UTC on Sundays
(no market closes then). The modelled close nearest a weekday deadline is Oslo's, 2 h 20 min
after it (1 h 20 min in summer), then India's, 3 h before it: daylight saving never moves a
close across a deadline, so which close comes first after one does not depend on the season.

``DATA_READY_UTC``: 22:00, the time of day from which a store day's bars and everything
derived from them (returns, exposures, universe, neutralizers, targets ending that day) are
known: an hour after the last modelled close (New York, 21:00 UTC).
"""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd

__all__ = ["DATA_READY_UTC", "MARKET_CLOSE_UTC", "close_times", "data_known_at", "first_close_after"]

MARKET_CLOSE_UTC: dict[str, datetime.time] = {
    country: datetime.time(*hhmm)
    for country, hhmm in {
        "US": (21, 0), "CA": (21, 0), "BR": (20, 0),
        "GB": (16, 30), "FR": (16, 30), "DE": (16, 30), "NL": (16, 30), "IT": (16, 30), "ES": (16, 30),
        "CH": (16, 30), "SE": (16, 30), "DK": (16, 30), "NO": (15, 20),
        "JP": (6, 30), "KR": (6, 30), "TW": (5, 30), "HK": (8, 0), "AU": (6, 0), "IN": (10, 0), "SG": (9, 0),
    }.items()
}
UNKNOWN_MARKET_CLOSE = datetime.time(0, 0)
DATA_READY_UTC = datetime.time(22, 0)


def _offset(time_of_day: datetime.time) -> pd.Timedelta:
    return pd.Timedelta(hours=time_of_day.hour, minutes=time_of_day.minute)


def data_known_at(day: pd.Timestamp) -> pd.Timestamp:
    """The naive-UTC time from which the data of store day ``day`` are known."""
    return pd.Timestamp(day).normalize() + _offset(DATA_READY_UTC)


def close_times(countries: pd.Series) -> pd.Series:
    """Each name's market close as a UTC offset from midnight (``Timedelta``), by ticker."""
    offsets = {c: _offset(t) for c, t in MARKET_CLOSE_UTC.items()}
    closes = countries.map(offsets)
    return closes.fillna(_offset(UNKNOWN_MARKET_CLOSE)).astype("timedelta64[ns]")


def first_close_after(moment: pd.Timestamp, countries: pd.Series, trading_days: pd.DatetimeIndex) -> pd.Series:
    """Per name (``countries``: ticker -> ISO-2 country), the first store day of
    ``trading_days`` whose close in that name's market is strictly after ``moment`` (naive
    UTC); NaT when ``trading_days`` ends before it."""
    days = pd.DatetimeIndex(trading_days).normalize()
    closes = close_times(countries)
    # the first day d with d + close > moment, i.e. d > moment - close; positions per name
    cutoff = (pd.Timestamp(moment) - pd.to_timedelta(closes.to_numpy())).to_numpy()
    position = np.searchsorted(days.to_numpy(), cutoff, side="right")
    # a day equal to the cutoff has its close exactly at ``moment``: not after it
    found = position < len(days)
    values = np.full(len(countries), np.datetime64("NaT"), dtype="datetime64[ns]")
    values[found] = days.to_numpy()[position[found]]
    return pd.Series(values, index=countries.index, name="execution_date")

"""The fund's round calendar: which closes are rounds, when each opens, closes and trades."""

from __future__ import annotations

import pandas as pd
import pytest
from submission_fixtures import DAYS

from metasignal.data import Clock, close_times, first_close_after
from metasignal.errors import ConfigurationError
from metasignal.signals import ROUND_SCHEDULES, RoundCalendar, RoundError

WEEKLY, DAILY = RoundCalendar("weekly"), RoundCalendar("daily")
# two weeks of store days, 2024-06-24 (Mon) to 2024-07-05 (Fri)
JUNE = pd.bdate_range("2024-06-24", "2024-07-05")
NAMES = pd.Series({"AAPL US": "US", "7203 JP": "JP", "VOD GB": "GB"})


def test_the_weekly_round_is_the_weekend_round_of_the_weeks_friday():
    round_ = WEEKLY.round_of("2024-06-28")
    assert round_.data_date == pd.Timestamp("2024-06-28")
    assert round_.opens == pd.Timestamp("2024-06-29 12:00")  # Saturday
    assert round_.deadline == pd.Timestamp("2024-06-30 14:00")  # Sunday
    assert [round_.status(pd.Timestamp(t)) for t in ("2024-06-29 11:59", "2024-06-29 12:00", "2024-06-30 14:00",
                                                     "2024-06-30 14:00:01")] == ["upcoming", "open", "open", "closed"]
    assert round_.to_dict() == {"round": "2024-06-28", "opens": "2024-06-29T12:00:00Z",
                                "deadline": "2024-06-30T14:00:00Z"}
    # a week cut short (Thursday its last store day) has its round on the weekend all the same
    thursday = WEEKLY.round_of("2024-07-04")
    assert (thursday.opens, thursday.deadline) == (pd.Timestamp("2024-07-06 12:00"), pd.Timestamp("2024-07-07 14:00"))


def test_a_daily_round_opens_the_next_day_and_fridays_is_the_weekend_round():
    tuesday = DAILY.round_of("2024-06-25")
    assert (tuesday.opens, tuesday.deadline) == (pd.Timestamp("2024-06-26 12:00"), pd.Timestamp("2024-06-26 13:00"))
    friday = DAILY.round_of("2024-06-28")
    assert (friday.opens, friday.deadline) == (WEEKLY.round_of("2024-06-28").opens, WEEKLY.round_of("2024-06-28").deadline)
    assert list(DAILY.data_dates(JUNE)) == list(JUNE)
    assert DAILY.next_data_date("2024-06-28") == pd.Timestamp("2024-07-01")  # the next weekday
    assert WEEKLY.next_data_date("2024-06-26") == pd.Timestamp("2024-07-05")  # the next week's Friday


def test_schedules_are_weekly_and_daily():
    assert ROUND_SCHEDULES == ("weekly", "daily") and RoundCalendar().schedule == "weekly"
    with pytest.raises(ConfigurationError, match="unknown round schedule 'hourly'"):
        RoundCalendar("hourly")


def test_weekly_data_dates_are_each_weeks_last_store_day():
    assert list(WEEKLY.data_dates(JUNE)) == [pd.Timestamp("2024-06-28"), pd.Timestamp("2024-07-05")]
    without_friday = JUNE[JUNE != pd.Timestamp("2024-07-05")]  # a holiday Friday
    assert list(WEEKLY.data_dates(without_friday)) == [pd.Timestamp("2024-06-28"), pd.Timestamp("2024-07-04")]
    assert WEEKLY.data_dates(pd.DatetimeIndex([])).empty


def test_weekly_rounds_trade_every_market_at_mondays_close():
    executions = WEEKLY.round_of("2024-06-28").executions(NAMES, JUNE)
    assert (executions == pd.Timestamp("2024-07-01")).all()
    assert list(executions.index) == list(NAMES.index)


def test_daily_rounds_trade_asia_pacific_a_day_after_the_americas():
    # Tuesday's round closes Wednesday 13:00 UTC: Tokyo (06:30 UTC) has closed by then, New York not
    executions = DAILY.round_of("2024-06-25").executions(NAMES, JUNE)
    assert executions["AAPL US"] == pd.Timestamp("2024-06-26")
    assert executions["VOD GB"] == pd.Timestamp("2024-06-26")
    assert executions["7203 JP"] == pd.Timestamp("2024-06-27")
    assert executions.equals(first_close_after(DAILY.round_of("2024-06-25").deadline, NAMES, JUNE))
    # a round whose deadline is after the last store day does not trade yet
    assert WEEKLY.round_of("2024-07-05").executions(NAMES, JUNE).isna().all()


def test_execution_lags_are_the_most_store_days_to_the_trade():
    assert WEEKLY.execution_lags(NAMES, JUNE).to_dict() == {"AAPL US": 1, "7203 JP": 1, "VOD GB": 1}
    assert DAILY.execution_lags(NAMES, JUNE).to_dict() == {"AAPL US": 1, "7203 JP": 2, "VOD GB": 1}


def test_a_round_resolves_at_the_close_that_ends_its_target_window():
    round_ = WEEKLY.round_of("2024-06-28")
    assert round_.resolution_date("2D1L", JUNE) == pd.Timestamp("2024-07-03")  # 1 + 2 store days later
    assert round_.resolution_date("20D2L", JUNE) is None  # not in the store yet


# --------------------------------------------------------------------------- on a store
def test_rounds_of_a_store_follow_its_clock(submission_store):
    store = submission_store  # store days 2024-01-01 to 2024-01-10 (a Wednesday)
    store.set_clock(Clock("replay", pd.Timestamp("2024-01-06 13:00")))  # an hour into Friday's round
    calendar = RoundCalendar.of(store)
    assert calendar == WEEKLY  # the default
    assert [r.data_date for r in calendar.rounds(store)] == [DAYS[4]]
    assert calendar.open_round(store).data_date == DAYS[4]
    assert calendar.round_for_upload(store, DAYS[4]) == calendar.round_of(DAYS[4])
    with pytest.raises(RoundError, match="2024-01-04 is not a round of the weekly calendar that has opened: "
                                         r"the open round is 2024-01-05 \(deadline 2024-01-07 14:00 UTC\)"):
        calendar.round_for_upload(store, DAYS[3])  # a Thursday
    assert calendar.previous_round(store, DAYS[4]) is None  # the store's first round
    # the next round, projected while its week is not known: Friday 2024-01-12
    assert calendar.following_round(store, DAYS[4]).data_date == pd.Timestamp("2024-01-12")
    assert calendar.next_round(store).opens == pd.Timestamp("2024-01-13 12:00")
    store.set_clock(Clock("replay", pd.Timestamp("2024-01-11 09:00")))  # Wednesday's data are known
    # ... but the week is in progress: its round date is not known until the round opens
    assert calendar.following_round(store, DAYS[4]).data_date == pd.Timestamp("2024-01-12")
    assert calendar.next_round(store).opens == pd.Timestamp("2024-01-13 12:00")
    assert calendar.previous_round(store, DAYS[7]).data_date == DAYS[4]
    assert calendar.open_round(store) is None and [r.data_date for r in calendar.rounds(store)] == [DAYS[4]]
    assert [r.data_date for r in calendar.rounds(store, status="closed")] == [DAYS[4]]
    with pytest.raises(RoundError, match="the next round opens 2024-01-13 12:00 UTC"):
        calendar.round_for_upload(store, DAYS[7])  # not open yet
    store.set_clock(Clock("replay", pd.Timestamp("2024-01-13 12:00")))  # the round of the week's last day opens
    assert calendar.following_round(store, DAYS[4]).data_date == DAYS[7]  # Wednesday: the week's last store day
    assert calendar.open_round(store) == calendar.round_for_upload(store, DAYS[7]) == calendar.round_of(DAYS[7])
    assert calendar.next_round(store).data_date == pd.Timestamp("2024-01-19")  # projected


def test_the_calendar_is_recorded_in_the_store(submission_store):
    DAILY.save(submission_store)
    assert RoundCalendar.of(submission_store) == DAILY
    assert list(RoundCalendar.of(submission_store).data_dates(submission_store.trading_days())) == list(DAYS)


@pytest.mark.parametrize("schedule", ROUND_SCHEDULES)
def test_every_name_trades_at_the_first_close_after_its_rounds_deadline(store_copy, schedule):
    """No look-ahead: for every round over the small store's days, each name's execution close
    (its market's close on the execution date) is strictly after the round's deadline, and its
    close on the store day before is not (the execution is the first close after the deadline)."""
    calendar = RoundCalendar(schedule)
    days = store_copy.trading_days()
    countries = store_copy.securities()["country"]
    closes = close_times(countries)
    assert countries.nunique() > 10  # markets closing across the day, Asia-Pacific to the Americas
    checked = 0
    for day in calendar.data_dates(days):
        round_ = calendar.round_of(day)
        executions = round_.executions(countries, days)
        known = executions.notna()
        if not known.any():
            continue
        execution = pd.DatetimeIndex(executions[known])
        execution_close = execution + pd.to_timedelta(closes[known].to_numpy())
        assert (execution_close > round_.deadline).all(), day
        assert (execution > day).all()
        position = days.get_indexer(execution)
        assert (position >= 1).all()
        previous_close = days[position - 1] + pd.to_timedelta(closes[known].to_numpy())
        assert (previous_close <= round_.deadline).all(), day
        checked += 1
    assert checked >= len(calendar.data_dates(days)) - 2

"""`metasignal clock [advance|set]`, `rounds calendar` and the stakes' default date, in-process.

The replay store is the shared small synthetic market with a replay clock at the opening of its
tenth-last weekly round: ten weeks of stored days are hidden ahead of the clock.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from metasignal.backtest import resolved_rounds
from metasignal.backtest.payouts import payout_policy
from metasignal.data.clock import Clock
from metasignal.data.example_models import example_signals
from metasignal.data.store import Store
from metasignal.signals.round_calendar import RoundCalendar
from metasignal.signals.storage import create_model, submit
from tests.metasignal.cli_runner import cli, one_line_error

BACK = 10  # rounds from the end


@pytest.fixture
def replay_db(small_store_path, tmp_path):
    """A copy of the small store with a replay clock at the opening of its BACK-th last round."""
    path = tmp_path / "replay.duckdb"
    shutil.copy(small_store_path, path)
    with Store.open(path) as store:
        store.set_clock(Clock("replay", _round(store, BACK).opens))
        TWENTY_DAY_ALPHA_MPC.save(store)
    return path


# these tests are about the clock: rounds pay at 20D2L here (the 60D2L default has its own tests)
TWENTY_DAY_ALPHA_MPC = payout_policy("custom", {"alpha": 0.3, "mpc": 0.8}, clip=0.017)


@pytest.fixture
def live_db(small_store_path, tmp_path):
    path = tmp_path / "live.duckdb"
    shutil.copy(small_store_path, path)
    return path


def _round(store: Store, back: int):
    calendar = RoundCalendar.of(store)
    return calendar.round_of(calendar.data_dates(store.stored_days())[-back])


def _submit_skilled(db) -> pd.Timestamp:
    """An on-time upload of the example model ``skilled`` for the open round; returns its date."""
    with Store.open(db) as store:
        day = RoundCalendar.of(store).open_round(store).data_date
        signal = example_signals(store, day, ("skilled",))["skilled"].dropna()
        create_model(store, "skilled")
        csv = signal.rename("signal").rename_axis("numerai_ticker").to_csv().encode()
        assert submit(store, "skilled", csv, min_tickers=50).entries[0].status == "on_time"
    return day


def test_clock_shows_mode_time_horizon_and_open_round(replay_db, capsys, monkeypatch):
    with Store.open(replay_db) as store:
        open_round = _round(store, BACK)
    code, out, err = cli(capsys, monkeypatch, "--db", replay_db, "clock")
    assert code == 0, err
    assert "replay" in out and f"{open_round.opens:%Y-%m-%d %H:%M} UTC" in out
    assert f"data known through │ {open_round.data_date:%Y-%m-%d}" in out and "weekly" in out
    assert f"open round {open_round.data_date:%Y-%m-%d} (deadline {open_round.deadline:%Y-%m-%d %H:%M} UTC)" in out


def test_live_clock_shows_the_next_round(live_db, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "--db", live_db, "clock")
    assert code == 0, err
    assert "live (the wall clock)" in out and "no round open: the next" in out


def test_advance_by_weeks_reveals_days_and_resolves_rounds(replay_db, capsys, monkeypatch):
    day = _submit_skilled(replay_db)
    with Store.open(replay_db) as store:
        start, hidden = store.now(), store.stored_days()[store.stored_days() > store.visible_through()]
    code, out, err = cli(capsys, monkeypatch, "--db", replay_db, "clock", "advance", "--weeks", "6")
    assert code == 0, err
    with Store.open(replay_db) as store:
        assert store.now() == start + pd.Timedelta(weeks=6)
        revealed = hidden[hidden <= store.visible_through()]
        resolved = resolved_rounds(store)
        assert resolved[0] == day and len(resolved) == 2  # the next round (nobody in it) resolves too
        open_round = RoundCalendar.of(store).open_round(store)
    assert f"advanced the clock from {start:%Y-%m-%d %H:%M} UTC to {start + pd.Timedelta(weeks=6):%Y-%m-%d %H:%M} UTC" in out
    assert f"days revealed: {len(revealed)} ({revealed[0]:%Y-%m-%d} to {revealed[-1]:%Y-%m-%d})" in out
    assert "rounds opened: 6" in out and "rounds closed: 6" in out
    assert f"rounds resolved: 2 ({day:%Y-%m-%d}, {resolved[1]:%Y-%m-%d})" in out
    assert f"open round {open_round.data_date:%Y-%m-%d}" in out


def test_advance_to_a_bare_date_means_the_end_of_that_day(replay_db, capsys, monkeypatch):
    with Store.open(replay_db) as store:
        target = (store.now() + pd.Timedelta(days=3)).normalize()
    code, _, err = cli(capsys, monkeypatch, "--db", replay_db, "clock", "advance", "--to", f"{target:%Y-%m-%d}")
    assert code == 0, err
    with Store.open(replay_db) as store:
        assert store.now() == target + pd.Timedelta(hours=23, minutes=59, seconds=59)
    code, _, err = cli(capsys, monkeypatch, "--db", replay_db, "clock", "advance", "--to",
                       f"{target + pd.Timedelta(days=1):%Y-%m-%d}T06:30:00+02:00")
    assert code == 0, err
    with Store.open(replay_db) as store:
        assert store.now() == target + pd.Timedelta(days=1, hours=4, minutes=30)


def test_advance_mistakes_are_one_line(replay_db, live_db, capsys, monkeypatch):
    one_line_error(cli(capsys, monkeypatch, "--db", replay_db, "clock", "advance", "--to", "2000-01-03"),
                   "the clock never moves back")
    one_line_error(cli(capsys, monkeypatch, "--db", live_db, "clock", "advance", "--days", "1"),
                   "the store clock is live", "only a replay clock can be moved")
    one_line_error(cli(capsys, monkeypatch, "--db", replay_db, "clock", "advance", "--days", "1", "--weeks", "1"),
                   "exactly one of --to, --days, --weeks (got --days, --weeks)")
    one_line_error(cli(capsys, monkeypatch, "--db", replay_db, "clock", "advance"), "exactly one of")
    one_line_error(cli(capsys, monkeypatch, "--db", replay_db, "clock", "advance", "--to", "soon"),
                   "--to: cannot read 'soon'")


def test_clock_set_replay_and_live(replay_db, live_db, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "--db", live_db, "clock", "set", "--replay", "2020-06-06T12:00")
    assert code == 0, err
    assert "clock set: replay at 2020-06-06 12:00 UTC; data known through 2020-06-05" in out
    one_line_error(cli(capsys, monkeypatch, "--db", live_db, "clock", "set", "--replay", "2020-06-01"),
                   "the clock never moves back")
    one_line_error(cli(capsys, monkeypatch, "--db", live_db, "clock", "set"), "exactly one of --replay")
    code, out, err = cli(capsys, monkeypatch, "--db", live_db, "clock", "set", "--live")
    assert code == 0, err
    with Store.open(live_db) as store:
        assert store.clock() == Clock("live")


def test_rounds_calendar_shows_rounds_and_executions_per_market(replay_db, capsys, monkeypatch):
    with Store.open(replay_db) as store:
        open_round, closed = _round(store, BACK), _round(store, BACK + 1)
        countries = sorted(store.securities()["country"].unique())
    code, out, err = cli(capsys, monkeypatch, "--db", replay_db, "rounds", "calendar")
    assert code == 0, err
    assert "round schedule: weekly" in out
    assert f"{closed.data_date:%Y-%m-%d}" in out and "closed" in out
    assert f"{open_round.data_date:%Y-%m-%d}" in out and "open" in out
    monday = open_round.deadline.normalize() + pd.Timedelta(days=1)
    rows = [line for line in out.splitlines() if f"{monday:%Y-%m-%d} Mon" in line]
    assert len(rows) == len(countries)  # the weekend round trades at Monday's close everywhere


def test_rounds_calendar_sets_the_schedule_until_a_round_is_resolved(replay_db, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "--db", replay_db, "rounds", "calendar", "--schedule", "daily")
    assert code == 0, err
    assert "set the round schedule to daily (was weekly)" in out and "round schedule: daily" in out
    code, out, err = cli(capsys, monkeypatch, "--db", replay_db, "rounds", "calendar", "--schedule", "weekly")
    assert code == 0 and "set the round schedule to weekly" in out
    one_line_error(cli(capsys, monkeypatch, "--db", replay_db, "rounds", "calendar", "--schedule", "hourly"),
                   "unknown round schedule 'hourly'")
    _submit_skilled(replay_db)
    assert cli(capsys, monkeypatch, "--db", replay_db, "clock", "advance", "--weeks", "6")[0] == 0
    one_line_error(cli(capsys, monkeypatch, "--db", replay_db, "rounds", "calendar", "--schedule", "daily"),
                   "cannot change the round schedule from weekly to daily", "2 round(s) are resolved")
    code, out, _ = cli(capsys, monkeypatch, "--db", replay_db, "rounds", "calendar", "--schedule", "weekly")
    assert code == 0 and "already weekly" in out


def test_stakes_default_to_the_clock_date(replay_db, capsys, monkeypatch):
    with Store.open(replay_db) as store:
        create_model(store, "alpha")
        today = store.now().normalize()
    code, out, err = cli(capsys, monkeypatch, "--db", replay_db, "stakes", "add", "alpha", "5")
    assert code == 0, err
    assert f"staked 5 more on alpha for rounds whose deadline is after {today:%Y-%m-%d}" in out
    code, out, err = cli(capsys, monkeypatch, "--db", replay_db, "stakes", "release", "alpha", "2")
    assert code == 0, err
    assert f"released 2 of alpha's stake for rounds whose deadline is after {today:%Y-%m-%d}" in out


def test_the_fund_job_books_each_closed_round_and_trades_it_after_its_deadline(replay_db, capsys, monkeypatch):
    day = _submit_skilled(replay_db)
    # the rounds closed so far had no upload: no signal to book yet
    one_line_error(cli(capsys, monkeypatch, "--db", replay_db, "fund", "run"), "has an on-time submission")
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", replay_db, "fund", "job")
    assert code == 0 and "fund job: off" in stdout
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", replay_db, "fund", "job", "on")
    assert code == 0 and "fund job: on" in stdout
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", replay_db, "clock", "advance", "--days", "2")
    assert code == 0, stderr
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", replay_db, "fund", "executions")
    assert code == 0, stderr
    assert f"executions of round {day:%Y-%m-%d}" in " ".join(stdout.split())
    from metasignal.backtest import fund_executions
    from metasignal.data.markets import close_times

    with Store.open(replay_db) as store:
        rows = fund_executions(store, day)
        deadline = RoundCalendar.of(store).round_of(day).deadline
        closes = close_times(rows.set_index("ticker")["country"])
        assert len(rows) > 0 and (rows["round_date"] == day).all()
        assert ((rows["execution_date"] + closes.to_numpy()) > deadline).all()
        assert store.one("SELECT count(*) FROM portfolio_runs WHERE date = ?", [day.date()])[0] == 1
    one_line_error(cli(capsys, monkeypatch, "--db", replay_db, "fund", "job", "maybe"), "on or off")


def test_a_replay_clock_cannot_start_before_recorded_uploads(live_db, capsys, monkeypatch):
    with Store.open(live_db) as store:
        store.set_clock(Clock("replay", _round(store, 3).opens))
    _submit_skilled(live_db)
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", live_db, "clock", "set", "--live")
    assert code == 0, stderr
    with Store.open(live_db) as store:
        before = _round(store, 5).opens
    one_line_error(cli(capsys, monkeypatch, "--db", live_db, "clock", "set", "--replay", before.isoformat()),
                   "cannot start before them")

"""The replay clock: advancing runs the tournament in time, atomically and point in time."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from metasignal.backtest import (
    advance_clock, clock_events, fund_executions, resolved_rounds, round_results, run_fund_job,
)
from metasignal.backtest.payouts import payout_policy
from metasignal.data import Clock, ClockError, Store, derive_store, example_signals
from metasignal.signals import (
    RoundCalendar, create_model, deposit_stake, late_submissions, list_submissions, meta_signal,
    on_time_submissions, submit,
)

MODELS = ("skilled", "noise")


def _upload(store: Store, model: str, date: pd.Timestamp, like: str | None = None) -> None:
    """``model`` uploads (the example model ``like``'s, default its own) signal for ``date``."""
    like = like or model
    signal = example_signals(store, date, models=(like,))[like].dropna()
    csv = signal.rename("signal").rename_axis("numerai_ticker").reset_index().to_csv(index=False)
    submit(store, model, csv.encode(), date=date, min_tickers=10)


def _participants(store: Store):
    def on_open(round_) -> None:
        for model in MODELS:
            _upload(store, model, round_.data_date)
    return on_open


@pytest.fixture
def replay(small_store_path, tmp_path) -> Store:
    """The small market with a replay clock at the opening of the round 14 weeks before its end,
    two staked models that upload at each round's opening."""
    path = tmp_path / "replay.duckdb"
    shutil.copy(small_store_path, path)
    store = Store.open(path)
    first = RoundCalendar().data_dates(store.stored_days())[-15]
    store.set_clock(Clock("replay", RoundCalendar().round_of(first).opens))
    # these tests are about the clock: rounds pay at 20D2L here (the 60D2L default: test_rounds.py)
    payout_policy("custom", {"alpha": 0.3, "mpc": 0.8}, clip=0.017).save(store)
    for model in MODELS:
        create_model(store, model)
        deposit_stake(store, model, 1000.0, store.now())
    _participants(store)(RoundCalendar().round_of(first))
    yield store
    store.close()


def _twin(store: Store, path) -> None:
    """Copy the store's file (after a checkpoint, so the copy holds everything written)."""
    store.con.execute("CHECKPOINT")
    shutil.copy(store.path, path)


def _ledger(store: Store) -> dict[str, pd.DataFrame]:
    """Every table an advance writes, in a canonical order (created_at stamps left out)."""
    return {
        "results": round_results(store),
        "stakes": store.con.execute(
            "SELECT model, effective, kind, amount, round_date FROM stake_events ORDER BY ALL").fetch_df(),
        "submissions": list_submissions(store).drop(columns=["source"]),
        "clock": pd.DataFrame([store.clock().to_meta()]),
    }


def _assert_same(left: dict, right: dict) -> None:
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=True, obj=name)


def test_the_clock_hides_the_future_tail(replay):
    horizon = replay.visible_through()
    assert replay.last_date() <= horizon < replay.stored_days()[-1]
    assert replay.trading_days()[-1] == replay.last_date()
    assert replay.target_dates().max() < replay.last_date()
    with pytest.raises(Exception, match="not known yet"):
        replay.universe(replay.stored_days()[-1])


def test_advancing_resolves_rounds_and_pays_stakes(replay):
    report = advance_clock(replay, replay.now() + pd.Timedelta(weeks=8), on_open=_participants(replay))
    assert len(report.opened) == 8 and len(report.closed) == 8  # the 8th opening is at the end time
    assert report.resolved, "rounds whose 20D2L window ended in 8 weeks resolve"
    results = round_results(replay)
    assert set(results["model"]) == set(MODELS)
    skilled = results[results["model"] == "skilled"]
    # its first round has nothing to compare with (a new model: nothing at risk); later ones stake it all
    first, later = skilled.iloc[0], skilled.iloc[1:]
    assert first["at_risk"] == 0 and first["reason"] == "nothing to compare (new or returning model)"
    assert len(later) and (later["at_risk"] == later["stake"]).all() and (skilled["stake"] > 0).all()
    assert (results["payout"] != 0).any()
    assert (list_submissions(replay)["status"] == "on_time").all()


def test_week_by_week_equals_one_advance(replay, tmp_path):
    _twin(replay, tmp_path / "twin.duckdb")
    end = replay.now() + pd.Timedelta(weeks=7, hours=3)
    advance_clock(replay, end, on_open=_participants(replay))
    with Store.open(tmp_path / "twin.duckdb") as twin:
        on_open = _participants(twin)
        step = twin.now()
        while step < end:
            step = min(step + pd.Timedelta(weeks=1), end)
            advance_clock(twin, step, on_open=on_open)
        _assert_same(_ledger(replay), _ledger(twin))


def test_the_clock_never_moves_back(replay):
    with pytest.raises(ClockError, match="never moves back"):
        advance_clock(replay, replay.now() - pd.Timedelta(minutes=1))
    live = Clock("live")
    with pytest.raises(ClockError, match="live"):
        live.moved_to("2030-01-01")


def test_a_crash_mid_advance_leaves_a_consistent_store_and_the_advance_can_run_again(replay, tmp_path):
    _twin(replay, tmp_path / "twin.duckdb")
    end = replay.now() + pd.Timedelta(weeks=6)
    opened = []

    def crashing(round_) -> None:
        opened.append(round_.data_date)
        if len(opened) == 3:  # the third round's uploads crash half-way
            _upload(replay, MODELS[0], round_.data_date)
            raise RuntimeError("power cut")
        _participants(replay)(round_)

    with pytest.raises(RuntimeError, match="power cut"):
        advance_clock(replay, end, on_open=crashing)
    crashed_at = replay.now()
    third = RoundCalendar().round_of(opened[2])
    assert crashed_at < third.opens, "the clock stays at the last completed event"
    assert on_time_submissions(replay, opened[2]).empty, "the half-done event left nothing"
    advance_clock(replay, end, on_open=_participants(replay))
    with Store.open(tmp_path / "twin.duckdb") as twin:
        advance_clock(twin, end, on_open=_participants(twin))
        _assert_same(_ledger(replay), _ledger(twin))


def test_changing_data_after_the_clock_changes_nothing_known_at_it(replay, tmp_path):
    advance_clock(replay, replay.now() + pd.Timedelta(weeks=7), on_open=_participants(replay))
    _twin(replay, tmp_path / "twin.duckdb")
    horizon = replay.visible_through()
    with Store.open(tmp_path / "twin.duckdb") as twin:
        twin.con.execute("UPDATE bars SET close = close * 1.5, adj_close = adj_close * 0.7, volume = volume * 3 "
                         "WHERE date > ?", [horizon.date()])
        derive_store(twin)
        last = replay.last_date()
        assert twin.last_date() == last and twin.visible_through() == horizon
        pd.testing.assert_frame_equal(replay.exposures(last), twin.exposures(last), check_exact=True)
        pd.testing.assert_frame_equal(replay.returns(), twin.returns(), check_exact=True)
        known = replay.target_dates()
        pd.testing.assert_index_equal(known, twin.target_dates())
        pd.testing.assert_frame_equal(replay.targets(known[-1]), twin.targets(known[-1]), check_exact=True)
        pd.testing.assert_series_equal(meta_signal(replay, last), meta_signal(twin, last), check_exact=True)
        _assert_same(_ledger(replay), _ledger(twin))
        # and what the next advance does with the known part is the same too
        advance_clock(replay, replay.now() + pd.Timedelta(hours=1), on_open=_participants(replay))
        advance_clock(twin, twin.now() + pd.Timedelta(hours=1), on_open=_participants(twin))
        _assert_same(_ledger(replay), _ledger(twin))


def test_a_late_upload_is_scored_without_stake_and_queued_for_the_next_round(replay):
    calendar = RoundCalendar()
    round_ = calendar.open_round(replay)
    create_model(replay, "tardy")
    deposit_stake(replay, "tardy", 500.0, replay.now())
    replay.set_clock(Clock("replay", round_.deadline + pd.Timedelta(hours=2)))
    _upload(replay, "tardy", round_.data_date, like="skilled")
    assert "tardy" in late_submissions(replay, round_.data_date).columns
    assert "tardy" not in on_time_submissions(replay, round_.data_date).columns
    following = calendar.following_round(replay, round_.data_date)
    advance_clock(replay, following.deadline + pd.Timedelta(minutes=1), on_open=_participants(replay))
    assert "tardy" in on_time_submissions(replay, following.data_date).columns, "queued for the next round"
    advance_clock(replay, replay.now() + pd.Timedelta(weeks=6), on_open=_participants(replay))
    results = round_results(replay, model="tardy").set_index("round_date")
    late_row = results.loc[round_.data_date]
    assert bool(late_row["late"]) and late_row["at_risk"] == 0 and late_row["payout"] == 0
    assert np.isfinite(late_row["corr"]), "a late upload is scored"
    queued_row = results.loc[following.data_date]
    # the queued upload is its first on-time submission: nothing to compare with, nothing at risk yet
    assert not bool(queued_row["late"]) and queued_row["stake"] == 500.0 and queued_row["at_risk"] == 0
    assert queued_row["reason"] == "nothing to compare (new or returning model)"


def test_an_on_time_upload_reaches_the_fund_book_and_trades_after_the_deadline(replay):
    round_ = RoundCalendar().open_round(replay)
    advance_clock(replay, round_.deadline)
    target = run_fund_job(replay, round_)
    assert meta_signal(replay, round_.data_date).notna().sum() > 100
    assert target.date == round_.data_date and target.table["weight"].abs().sum() > 0
    executions = fund_executions(replay, round_.data_date)
    assert len(executions) == len(target.table)
    assert (executions["execution_date"] > round_.data_date).all()
    assert (executions["execution_date"] + pd.Timedelta(hours=5) > round_.deadline).all()


def test_events_come_in_time_order_and_only_after_the_clock(replay):
    events = clock_events(replay, replay.now() + pd.Timedelta(weeks=2))
    times = [e.time for e in events]
    assert times == sorted(times) and times[0] > replay.now()
    assert {e.kind for e in events} == {"day", "open", "close"}
    assert resolved_rounds(replay).empty


def test_an_on_time_upload_changes_the_rounds_meta_signal_and_book(replay, tmp_path):
    round_ = RoundCalendar().open_round(replay)
    _twin(replay, tmp_path / "without.duckdb")
    create_model(replay, "mine")
    deposit_stake(replay, "mine", 3000.0, replay.now())
    _upload(replay, "mine", round_.data_date, like="copycat")
    assert list_submissions(replay, "mine")["status"].tolist() == ["on_time"]
    advance_clock(replay, round_.deadline)
    with Store.open(tmp_path / "without.duckdb") as without:
        advance_clock(without, round_.deadline)
        assert "mine" in on_time_submissions(replay, round_.data_date).columns
        with_mine, without_mine = meta_signal(replay, round_.data_date), meta_signal(without, round_.data_date)
        assert not np.allclose(with_mine.to_numpy(), without_mine.reindex(with_mine.index).to_numpy())
        booked, other = run_fund_job(replay, round_), run_fund_job(without, round_)
        weights = booked.table.set_index("ticker")["weight"]
        assert not np.allclose(weights, other.table.set_index("ticker")["weight"].reindex(weights.index).fillna(0))


def test_a_round_whose_only_submission_is_queued_is_the_latest_round(small_store_path, tmp_path):
    from metasignal.signals import latest_round

    path = tmp_path / "queued.duckdb"
    shutil.copy(small_store_path, path)
    with Store.open(path) as store:
        calendar = RoundCalendar()
        first = calendar.round_of(calendar.data_dates(store.stored_days())[-8])
        store.set_clock(Clock("replay", first.deadline + pd.Timedelta(hours=1)))
        create_model(store, "tardy")
        _upload(store, "tardy", first.data_date, like="skilled")  # late for the first, queued for the next
        with pytest.raises(Exception, match="has an on-time submission"):
            latest_round(store, first.data_date)
        following = calendar.following_round(store, first.data_date)
        advance_clock(store, following.opens)
        assert latest_round(store, following.data_date + pd.Timedelta(days=3)) == following.data_date
        assert list(on_time_submissions(store, following.data_date).columns) == ["tardy"]
        assert meta_signal(store, following.data_date).notna().sum() > 100

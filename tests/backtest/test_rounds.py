"""Round resolution on a small synthetic store with the example models."""

import shutil

import pandas as pd
import pytest

from metasignal.backtest import advance_clock, rounds
from metasignal.backtest.payouts import PAYOUT_PRESETS, payout_policy
from metasignal.data.example_models import EXAMPLE_STAKES
from metasignal.data import Store
from metasignal.signals import RoundCalendar, meta_signal, stakes, storage
from tests.backtest.conftest import (
    ON_TIME_AFTER_OPENING,
    REPLAY_MODELS,
    csv_bytes,
    submit_on_time_history,
    upload_at_clock,
    uploads_at_opening,
)

# the ``tournament`` fixture (tests/backtest/conftest.py): example models with on-time rounds


def _ledger(store):
    return (
        store.con.execute("SELECT * FROM rounds ORDER BY round_date").fetch_df(),
        store.con.execute("SELECT * FROM round_results ORDER BY round_date, model").fetch_df(),
        store.con.execute("SELECT model, effective, kind, amount, round_date FROM stake_events ORDER BY ALL").fetch_df(),
    )


def test_resolving_twice_changes_nothing(tournament):
    store, dates = tournament
    done = rounds.resolve_rounds(store, through=dates[3])
    assert list(done) == list(dates[:4])
    before = _ledger(store)
    assert rounds.resolve_rounds(store, through=dates[3]) == []
    assert rounds.resolve_round(store, dates[0]) is False
    for first, second in zip(before, _ledger(store)):
        pd.testing.assert_frame_equal(first, second)


def test_a_crash_mid_resolution_leaves_the_ledger_unchanged(tournament):
    store, dates = tournament
    rounds.resolve_rounds(store, through=dates[1])
    before = _ledger(store)

    def crash():
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        rounds.resolve_round(store, dates[2], _before_commit=crash)
    for first, second in zip(before, _ledger(store)):
        pd.testing.assert_frame_equal(first, second)
    assert rounds.resolve_round(store, dates[2]) is True  # and it resolves cleanly afterwards


def test_payouts_follow_the_policy_and_compound_after_resolution(tournament):
    store, dates = tournament
    rounds.resolve_rounds(store, through=dates[-1])
    results = rounds.round_results(store)
    first = results[results.round_date == dates[0]].set_index("model")
    # at-risk stake is the deposit for eligible submitters, and the payout is the preset's formula
    rule = PAYOUT_PRESETS["alpha_mpc"]
    factor = min(1.0, rule.stake_threshold / first["at_risk"].sum())
    expected = first["at_risk"] * (factor * (0.3 * first["alpha"] + 0.8 * first["mpc"])).clip(-rule.clip, rule.clip)
    pd.testing.assert_series_equal(first["payout"], expected, check_names=False, atol=1e-9)
    # the first round's payout is in the stake of rounds after its resolution date (t + 22 trading days)
    resolution = pd.Timestamp(store.one("SELECT resolution_date FROM rounds WHERE round_date = ?", [dates[0].date()])[0])
    later = [d for d in dates if d > resolution]
    if later:
        balance = stakes.stake_balances(store, later[0])
        paid_before = results[results.round_date.isin([d for d in dates if d < later[0]])]
        resolutions = store.con.execute("SELECT round_date, resolution_date FROM rounds").fetch_df()
        resolved_by = set(pd.to_datetime(resolutions.loc[pd.to_datetime(resolutions.resolution_date) < later[0], "round_date"]))
        paid = paid_before[paid_before.round_date.isin(resolved_by)].groupby("model")["payout"].sum()
        deposits = pd.Series(EXAMPLE_STAKES).reindex(paid.index)
        pd.testing.assert_series_equal(balance[paid.index], (deposits + paid).clip(lower=0), check_names=False, atol=1e-9)


def test_high_churn_model_is_cut_and_missing_submissions_stake_nothing(tournament):
    store, dates = tournament
    rounds.resolve_rounds(store, through=dates[-1])
    results = rounds.round_results(store).set_index(["round_date", "model"])
    later = results.xs(dates[-1], level="round_date")
    assert not later.loc["churner", "eligible"] and later.loc["churner", "at_risk"] == 0.0
    assert later.loc["churner", "reason"] == "churn >= 0.15"
    assert later.loc["skilled", "eligible"]


def test_stake_changes_take_effect_after_their_date(tournament):
    store, dates = tournament
    stakes.deposit_stake(store, "skilled", 500.0, dates[2])
    initial = EXAMPLE_STAKES["skilled"]
    assert stakes.stake_balances(store, dates[2])["skilled"] == initial
    assert stakes.stake_balances(store, dates[3])["skilled"] == initial + 500.0
    stakes.release_stake(store, "skilled", initial + 500.0, dates[3])
    assert stakes.stake_balances(store, dates[4])["skilled"] == 0.0
    from metasignal.errors import DataValidationError

    with pytest.raises(DataValidationError, match="cannot release"):
        stakes.release_stake(store, "skilled", 1.0, dates[5])


def test_overlapping_rounds_never_burn_a_stake_below_zero(tournament):
    # Weekly rounds with a 20D2L window overlap, so several rounds stake the same balance. With an
    # unclipped policy each round may burn its whole stake at risk; the ledger must still never
    # hold a negative balance (a later deposit would otherwise be eaten by an old debt).
    store, dates = tournament
    rule = payout_policy("custom", {"alpha": 1e6}, clip=None)
    rounds.resolve_rounds(store, through=dates[-1], rule=rule)
    events = store.con.execute(
        "SELECT model, effective, sum(amount) AS amount FROM stake_events GROUP BY ALL ORDER BY model, effective"
    ).fetch_df()
    running = events.groupby("model")["amount"].cumsum()
    assert (events["amount"] < 0).any()  # the policy does burn
    assert running.min() >= -1e-9
    paid = rounds.round_results(store).groupby("model")["payout"].sum()
    ledger = events[events.model.isin(paid.index)].groupby("model")["amount"].sum()
    deposits = pd.Series(EXAMPLE_STAKES).reindex(ledger.index)
    pd.testing.assert_series_equal(ledger - deposits, paid.reindex(ledger.index), check_names=False, atol=1e-6)


def test_eligibility_compares_with_the_models_last_submissions_across_skipped_rounds(tournament):
    # A model that sits out five rounds and returns with the opposite signal must still be
    # compared with its own last submissions (SCORING.md: "the model's last 5 submissions").
    store, dates = tournament
    storage.create_model(store, "returner")
    first = storage.stored_submission(store, "skilled", dates[0])
    for day, values in ((dates[0], first), (dates[6], 1.0 - first)):
        on_time = RoundCalendar.of(store).round_of(day).opens + ON_TIME_AFTER_OPENING  # before the deadline
        receipt = storage.submit(store, "returner", csv_bytes(values, day), min_tickers=20, uploaded_at=on_time)
        assert receipt.entries[0].status == "on_time"
    rounds.resolve_rounds(store, through=dates[6])
    row = rounds.round_results(store, dates[6], "returner").iloc[0]
    assert row["submitted"] and row["churn"] > 0.15
    assert not row["eligible"] and row["reason"] == "churn >= 0.15"


def _twin(store, path):
    """A copy of the store's file now (after a checkpoint, so it holds everything written)."""
    store.con.execute("CHECKPOINT")
    shutil.copy(store.path, path)
    return Store.open(path)


def test_a_late_reupload_is_neither_traded_nor_staked_and_a_late_only_upload_is_scored_unstaked(
        replay_tournament, tmp_path):
    """After a round's deadline (when more of the outcome is known) an upload is ``late``: a model
    that was on time keeps its on-time version staked, scored and traded; a model whose only
    upload is late is scored without stake (``late``, payout 0), outside the meta-model, and
    the late upload is queued as its submission of the next round."""
    store, first = replay_tournament
    calendar = RoundCalendar.of(store)
    on_open = uploads_at_opening(store, REPLAY_MODELS)
    day = calendar.following_round(store, first.data_date).data_date  # the second round
    round_ = calendar.round_of(day)
    storage.create_model(store, "latecomer")
    stakes.deposit_stake(store, "latecomer", 500.0, first.data_date)
    advance_clock(store, round_.deadline + pd.Timedelta(hours=1), on_open=on_open)
    twin = _twin(store, tmp_path / "twin.duckdb")  # the same tournament without the late uploads
    before_signal = meta_signal(store, day)
    before_stakes = stakes.stake_balances(store, round_.deadline.normalize())
    on_time = storage.stored_submission(store, "skilled", day)
    following = calendar.following_round(store, day)
    receipts = [upload_at_clock(store, model, day, 1.0 - on_time) for model in ("skilled", "latecomer")]
    for receipt in receipts:
        (entry,) = receipt.entries
        assert (entry.status, entry.deadline, entry.queued_for) == ("late", round_.deadline, following.data_date)
    assert storage.stored_submission(store, "skilled", day).equals(1.0 - on_time)  # stored as the newest version
    pd.testing.assert_frame_equal(storage.on_time_submissions(store, day), storage.on_time_submissions(twin, day))
    assert list(storage.late_submissions(store, day).columns) == ["latecomer", "skilled"]
    pd.testing.assert_series_equal(meta_signal(store, day), before_signal)  # not traded
    pd.testing.assert_series_equal(stakes.stake_balances(store, round_.deadline.normalize()), before_stakes)

    resolved = following.resolution_date("20D2L", store.stored_days()) + pd.Timedelta(days=2)
    for replayed in (store, twin):
        advance_clock(replayed, resolved, on_open=uploads_at_opening(replayed, REPLAY_MODELS))
    # queued: the late upload is the next round's submission of the model without one of its own
    queued = storage.on_time_submissions(store, following.data_date)
    pd.testing.assert_series_equal(queued["latecomer"].dropna(), (1.0 - on_time).rename("latecomer"),
                                   check_index_type=False)
    assert queued["skilled"].equals(storage.on_time_submissions(twin, following.data_date)["skilled"])
    results = rounds.round_results(store, day).set_index("model")
    twin_results = rounds.round_results(twin, day).set_index("model")
    # the on-time models' round is exactly as without the late uploads: scores, meta-model, payouts
    pd.testing.assert_frame_equal(results.loc[list(REPLAY_MODELS)], twin_results.loc[list(REPLAY_MODELS)])
    assert not results.loc["skilled", "late"] and results.loc["skilled", "corr"] > 0  # its on-time view
    assert results.loc["skilled", "at_risk"] == before_stakes["skilled"] > 0
    latecomer = results.loc["latecomer"]
    assert latecomer["late"] and latecomer["at_risk"] == 0 and latecomer["payout"] == 0
    assert latecomer["corr"] < 0  # the late reversal is scored
    assert latecomer["reason"] == "late: scored without stake"
    next_round = rounds.round_results(store, following.data_date, "latecomer").iloc[0]
    assert next_round["submitted"] and not next_round["late"] and next_round["at_risk"] == 500.0
    # stakes change only by payouts of resolved rounds: nothing for the late round's latecomer
    events = store.con.execute(
        "SELECT model, round_date, amount FROM stake_events WHERE kind = 'payout' AND round_date = ?", [day.date()]
    ).fetch_df()
    twin_events = twin.con.execute(
        "SELECT model, round_date, amount FROM stake_events WHERE kind = 'payout' AND round_date = ?", [day.date()]
    ).fetch_df()
    pd.testing.assert_frame_equal(events.sort_values("model", ignore_index=True),
                                  twin_events.sort_values("model", ignore_index=True))
    twin.close()


def test_resolution_logs_each_round_and_the_skipped_ones(tournament, caplog):
    import logging

    store, dates = tournament
    calendar_rounds = RoundCalendar.of(store).data_dates(store.trading_days())
    calendar_rounds = calendar_rounds[calendar_rounds >= dates[0]]  # rounds start at the first uploaded to
    waiting = calendar_rounds[~calendar_rounds.isin(store.target_dates("20D2L"))]  # windows not passed yet
    late = waiting[-1]
    submit_on_time_history(store, pd.DatetimeIndex([late]))
    with caplog.at_level(logging.DEBUG, logger="metasignal.backtest.rounds"):
        done = rounds.resolve_rounds(store, through=dates[1])
        assert rounds.resolve_round(store, dates[0]) is False
        rounds.resolve_rounds(store)
    messages = [r.getMessage() for r in caplog.records]
    resolved = [m for m in messages if m.startswith("resolved round ")]
    assert [m.split()[2] for m in resolved[:2]] == [str(day.date()) for day in done]
    assert all(m.endswith(" s") for m in resolved)
    assert f"round {dates[0].date()} is already resolved: skipped" in messages
    assert any(m.startswith("resolved 2 round(s) in") for m in messages)
    # every closed calendar round from the first uploaded to resolves, with or without uploads...
    assert list(rounds.resolved_rounds(store)) == list(calendar_rounds[~calendar_rounds.isin(waiting)])
    # ... but those whose target window has not passed are skipped, with their dates
    assert len(waiting) > 1
    listed = ", ".join(str(day.date()) for day in waiting)
    assert f"skipping {len(waiting)} round(s) whose 20D2L target window has not passed: {listed}" in messages

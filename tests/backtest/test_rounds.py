"""Round resolution on a small synthetic store with the example models."""

import shutil

import numpy as np
import pandas as pd
import pytest

from metasignal.backtest import advance_clock, rounds
from metasignal.backtest.payouts import PAYOUT_PRESETS, payout_policy
from metasignal.data.example_models import EXAMPLE_STAKES
from metasignal.data import Store
from metasignal.errors import DataValidationError
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
    # the first round has nothing to compare with: nobody is at risk and nobody is paid
    opening = results[results.round_date == dates[0]].set_index("model")
    assert (opening["at_risk"] == 0).all() and (opening["payout"] == 0).all()
    assert set(opening["reason"]) == {rounds.NOTHING_TO_COMPARE}
    assert (opening[["churn", "turnover"]] == 1.0).all().all()
    first = results[results.round_date == dates[1]].set_index("model")
    assert first.loc["skilled", "at_risk"] == EXAMPLE_STAKES["skilled"]
    # at-risk stake is the deposit for eligible submitters, and the payout is the preset's formula
    rule = PAYOUT_PRESETS["alpha_mpc"]
    factor = min(1.0, rule.stake_threshold / first["at_risk"].sum())
    expected = first["at_risk"] * (factor * (0.3 * first["alpha"] + 0.8 * first["mpc"])).clip(-rule.clip, rule.clip)
    pd.testing.assert_series_equal(first["payout"], expected, check_names=False, atol=1e-9)
    # the first round's payout is in the stake of rounds after its resolution date (t + 22 trading days)
    resolution = pd.Timestamp(store.one("SELECT resolution_date FROM rounds WHERE round_date = ?", [dates[1].date()])[0])
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


def _upload_on_time(store, model, day, values):
    on_time = RoundCalendar.of(store).round_of(day).opens + ON_TIME_AFTER_OPENING  # before the deadline
    receipt = storage.submit(store, model, csv_bytes(values, day), min_tickers=20, uploaded_at=on_time)
    assert receipt.entries[0].status == "on_time"


def test_eligibility_compares_with_the_previous_five_rounds_only(tournament):
    # Numerai compares with the model's submissions of the last 5 rounds: a model back after
    # missing four rounds is compared with its last one (and cut for its reversed signal); one
    # back after missing five has nothing to compare and stakes nothing, like a new model.
    store, dates = tournament
    first = storage.stored_submission(store, "skilled", dates[0])
    for model, back in (("returner", dates[5]), ("away", dates[6])):
        storage.create_model(store, model)
        stakes.deposit_stake(store, model, 1000.0, dates[0] - pd.Timedelta(days=1))
        _upload_on_time(store, model, dates[0], first)
        _upload_on_time(store, model, back, 1.0 - first)
    assert list(rounds.previous_rounds(store, dates[6])) == list(dates[1:6])
    rounds.resolve_rounds(store, through=dates[6])
    row = rounds.round_results(store, dates[5], "returner").iloc[0]
    assert row["submitted"] and row["churn"] == pytest.approx(2.0, abs=1e-3)  # compared: the reversal
    assert not row["eligible"] and row["reason"] == "churn >= 0.15" and row["at_risk"] == 0
    row = rounds.round_results(store, dates[6], "away").iloc[0]
    assert row["submitted"] and row["churn"] == 1.0 and row["turnover"] == 1.0
    assert not row["eligible"] and row["reason"] == rounds.NOTHING_TO_COMPARE
    assert row["at_risk"] == 0 and row["payout"] == 0


def _reference_comparisons(store, days):
    """Per submitting model of each round in ``days``: its ``round_results`` row and the
    arguments of the reference's ``calculate_max_churn_and_turnover`` /
    ``calculate_mean_neutral_churn`` (its submission, N and v, and those of its submissions of
    the previous rounds)."""
    for day in days:
        results = rounds.round_results(store, day).set_index("model")
        submitted = storage.on_time_submissions(store, day)
        universe = store.neutralizers(day).index
        previous = {d: storage.on_time_submissions(store, d) for d in rounds.previous_rounds(store, day)}
        for model in results.index[results["submitted"]]:
            prev_subs = {str(d.date()): frame[model].dropna() for d, frame in previous.items()
                         if model in frame.columns and frame[model].notna().any()}
            yield results.loc[model], (
                submitted[model].reindex(universe).dropna(), store.neutralizers(day),
                store.sample_weights(day).reindex(universe),
                prev_subs, {k: store.neutralizers(k) for k in prev_subs},
                {k: store.sample_weights(k).reindex(store.neutralizers(k).index) for k in prev_subs},
            )


def test_round_churn_and_turnover_are_numerai_tools_calculate_max_churn_and_turnover(tournament):
    from metasignal.signals.scoring import calculate_max_churn_and_turnover

    store, dates = tournament
    first = storage.stored_submission(store, "skilled", dates[0])
    storage.create_model(store, "returner")
    _upload_on_time(store, "returner", dates[0], first)
    _upload_on_time(store, "returner", dates[3], 1.0 - first)  # compared with dates[0] only
    rounds.resolve_rounds(store, through=dates[6])
    checked = 0
    for row, inputs in _reference_comparisons(store, (dates[0], dates[3], dates[6])):
        expected = calculate_max_churn_and_turnover(*inputs)
        assert row[["churn", "turnover"]].tolist() == pytest.approx(list(expected), abs=1e-12)
        checked += 1
    assert checked >= 15
    assert rounds.round_results(store, dates[3], "returner").iloc[0]["churn"] > 0.15


def test_the_meta_model_counts_stakes_at_risk_of_at_least_min_meta_stake():
    from metasignal.backtest.rounds import MIN_META_STAKE, _EraInputs, _round_scores
    from metasignal.signals.neutralization import NeutralizerBasis  # noqa: F401  (import check only)
    import numpy as np

    rng = np.random.default_rng(0)
    tickers = pd.Index([f"T{i}" for i in range(300)])
    neutralizers = pd.DataFrame({"one": 1.0 / np.sqrt(300), "x": rng.normal(size=300) / np.sqrt(300)}, index=tickers)
    era = _EraInputs(tickers, neutralizers, pd.Series(1.0, index=tickers), pd.DataFrame(index=tickers))
    targets = pd.DataFrame({"factor_neutral": rng.choice([0, .25, .5, .75, 1.0], 300),
                            "raw": rng.choice([0, .25, .5, .75, 1.0], 300)}, index=tickers)
    scored = pd.DataFrame(rng.uniform(size=(300, 3)), index=tickers, columns=["a", "b", "tiny"])
    staked = pd.Series(True, index=scored.columns)
    big = pd.Series({"a": 1000.0, "b": 500.0})
    without = _round_scores(scored, big.reindex(scored.columns, fill_value=0.0), targets, era, staked)
    below = _round_scores(scored, pd.concat([big, pd.Series({"tiny": MIN_META_STAKE - 1e-6})]), targets, era, staked)
    at = _round_scores(scored, pd.concat([big, pd.Series({"tiny": MIN_META_STAKE})]), targets, era, staked)
    pd.testing.assert_frame_equal(below, without)  # a stake below the minimum weighs nothing
    assert (at.loc["a", ["mmc", "mpc"]] - without.loc["a", ["mmc", "mpc"]]).abs().max() > 1e-9
    nobody = _round_scores(scored, pd.Series({"a": 5.0, "b": 5.0, "tiny": 0.0}), targets, era, staked)
    assert nobody[["mmc", "nmc", "mpc"]].isna().all().all()  # nobody qualifies: no meta-model scores
    pd.testing.assert_frame_equal(nobody.drop(columns=["mmc", "nmc", "mpc"]),
                                  without.drop(columns=["mmc", "nmc", "mpc"]))
    assert MIN_META_STAKE == 10.0


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

    resolved = following.resolution_date(PAYOUT_PRESETS["alpha_mpc"].payout_window, store.stored_days()) + pd.Timedelta(days=2)
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
    # ... and, the model's first on-time submission, has nothing to compare with: not at risk yet
    assert next_round["submitted"] and not next_round["late"] and next_round["stake"] == 500.0
    assert next_round["at_risk"] == 0 and next_round["reason"] == rounds.NOTHING_TO_COMPARE
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
    unpaid = calendar_rounds[~calendar_rounds.isin(store.target_dates("60D2L"))]  # payout window not passed
    late = waiting[-1]
    submit_on_time_history(store, pd.DatetimeIndex([late]))
    with caplog.at_level(logging.DEBUG, logger="metasignal.backtest.rounds"):
        done = rounds.resolve_rounds(store, through=dates[1])
        assert rounds.resolve_round(store, dates[0]) is False
        rounds.resolve_rounds(store)
    messages = [r.getMessage() for r in caplog.records]
    scored = [m for m in messages if m.startswith("round ") and " s" in m and "scored" in m]
    assert [m.split()[1].rstrip(":") for m in scored[:2]] == [str(day.date()) for day in done]
    assert all(m.endswith(" s") and "scored 20D2L, 60D2L and paid" in m for m in scored[:2])
    assert f"round {dates[0].date()} is already resolved: skipped" in messages
    assert any(m.startswith("paid 2 round(s) in") for m in messages)
    # every closed calendar round from the first uploaded to is paid, with or without uploads, once
    # its 60D2L window has passed; those with only 20D2L known are scored on it and wait
    assert list(rounds.resolved_rounds(store)) == list(calendar_rounds[~calendar_rounds.isin(unpaid)])
    short_only = unpaid[~unpaid.isin(waiting)]
    assert len(short_only) > 1
    assert list(rounds.scored_windows(store).query("window == '20D2L'")["round_date"]) == list(
        calendar_rounds[~calendar_rounds.isin(waiting)])
    # ... and those whose shortest target window has not passed are skipped, with their dates
    assert len(waiting) > 1
    listed = ", ".join(str(day.date()) for day in waiting)
    assert f"skipping {len(waiting)} round(s) whose 20D2L target window has not passed: {listed}" in messages


def _stayer_and_escaper(store, dates, rule):
    """Two models with 1000 each and the same signal (skilled's reversed) in every round; the
    escaper releases everything the day after round ``dates[1]``'s deadline. Returns the release
    day and the pending releases just before the round resolves."""
    for model in ("stayer", "escaper"):
        storage.create_model(store, model)
        stakes.deposit_stake(store, model, 1000.0, dates[0] - pd.Timedelta(days=1))
        for day in dates:
            _upload_on_time(store, model, day, 1.0 - storage.stored_submission(store, "skilled", day))
    release_day = RoundCalendar.of(store).round_of(dates[1]).deadline.normalize() + pd.Timedelta(days=1)
    stakes.release_stake(store, "escaper", 1000.0, release_day)
    rounds.resolve_rounds(store, through=dates[0], rule=rule)
    pending = rounds.pending_releases(store, rule)
    rounds.resolve_rounds(store, through=dates[-1], rule=rule)
    return release_day, pending


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["losing", "winning"])
def test_a_release_after_a_rounds_deadline_stays_at_risk_until_the_round_resolves(tournament, sign):
    store, dates = tournament
    rule = payout_policy("custom", {"alpha": sign}, clip=0.017)  # sign -1: the reversed view wins
    release_day, pending = _stayer_and_escaper(store, dates, rule)
    # before the round resolves, the release is pending until its resolution date
    resolution = pd.Timestamp(rounds.rounds_table(store).set_index("round_date").loc[dates[1], "resolution_date"])
    assert pending[["model", "amount", "requested", "completes"]].values.tolist() == [
        ["escaper", 1000.0, release_day, resolution]]
    assert rounds.pending_releases(store, rule).empty  # complete once the round has resolved
    results = rounds.round_results(store).set_index(["round_date", "model"])
    both = results.xs(dates[1], level="round_date").loc[["stayer", "escaper"]]
    assert (both["at_risk"] == 1000.0).all()
    assert sign * both.loc["stayer", "payout"] < 0  # negative when losing, positive when winning
    if sign > 0:  # losing: the pending release is burned like the stayer's stake
        assert both.loc["escaper", "payout"] == pytest.approx(both.loc["stayer", "payout"], abs=1e-12)
    else:  # winning: money pending release earns nothing
        assert both.loc["escaper", "payout"] == 0.0
    # later rounds stake nothing of the escaper: the burn came out of the pending release, and a
    # release pending at a round earns nothing from it
    escaper = results.xs("escaper", level="model")
    after = [d for d in dates if RoundCalendar.of(store).round_of(d).deadline.normalize() > release_day]
    for day in after:
        assert escaper.loc[day, "stake"] == pytest.approx(0.0, abs=1e-9)
    assert (escaper["payout"] <= 1e-12).all()
    stayer = results.xs("stayer", level="model")
    assert stayer.loc[after[-1], "stake"] > 900
    ledger = store.con.execute(
        "SELECT model, effective, sum(sum(amount)) OVER (PARTITION BY model ORDER BY effective) AS balance "
        "FROM stake_events GROUP BY model, effective").fetch_df()
    assert ledger["balance"].min() >= -1e-9  # releases never make a balance negative
    assert stakes.stake_balances(store, "2262-01-01")["escaper"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(DataValidationError, match="cannot release"):
        stakes.release_stake(store, "stayer", 1e6, release_day)


def test_a_partial_release_earns_nothing_of_a_winning_round_and_the_rest_earns_in_full(tournament):
    store, dates = tournament
    rule = payout_policy("custom", {"alpha": -1.0}, clip=0.017)  # the reversed view wins
    for model in ("stayer", "trimmer"):
        storage.create_model(store, model)
        stakes.deposit_stake(store, model, 1000.0, dates[0] - pd.Timedelta(days=1))
        for day in dates[:3]:
            _upload_on_time(store, model, day, 1.0 - storage.stored_submission(store, "skilled", day))
    release_day = RoundCalendar.of(store).round_of(dates[1]).deadline.normalize() + pd.Timedelta(days=1)
    stakes.release_stake(store, "trimmer", 400.0, release_day)
    assert stakes.pending_release_amounts(store, pd.Index(["stayer", "trimmer"]),
                                          RoundCalendar.of(store).round_of(dates[1]).deadline).tolist() == [0.0, 400.0]
    rounds.resolve_rounds(store, through=dates[1], rule=rule)
    both = rounds.round_results(store, dates[1]).set_index("model").loc[["stayer", "trimmer"]]
    assert (both["at_risk"] == 1000.0).all() and both.loc["stayer", "payout"] > 0
    assert both.loc["trimmer", "payout"] == pytest.approx(0.6 * both.loc["stayer", "payout"], rel=1e-12)


def test_a_newcomers_first_round_stakes_nothing_and_the_cli_says_why(tournament, capsys, monkeypatch):
    from tests.metasignal.cli_runner import cli

    store, dates = tournament
    storage.create_model(store, "newcomer")
    stakes.deposit_stake(store, "newcomer", 1000.0, dates[0])
    for day in dates[3:5]:
        _upload_on_time(store, "newcomer", day, storage.stored_submission(store, "skilled", day))
    rounds.resolve_rounds(store, through=dates[3])
    release_day = RoundCalendar.of(store).round_of(dates[4]).deadline.normalize() + pd.Timedelta(days=1)
    stakes.release_stake(store, "newcomer", 400.0, release_day)  # round dates[4] staked it: pending
    path = store.path
    store.close()
    code, out, err = cli(capsys, monkeypatch, "--db", path, "stakes", "list")
    assert code == 0, err
    assert "pending releases" in out and "newcomer" in out.split("pending releases")[1]
    assert f"{release_day:%Y-%m-%d}" in out
    code, out, err = cli(capsys, monkeypatch, "--db", path, "rounds", "resolve", "--through", f"{dates[4]:%Y-%m-%d}")
    assert code == 0, err
    code, out, err = cli(capsys, monkeypatch, "--db", path, "stakes", "list")
    assert code == 0 and "no pending releases" in out
    code, out, err = cli(capsys, monkeypatch, "--db", path, "payouts", "--model", "newcomer")
    assert code == 0, err
    assert "nothing to" in out and "compare" in out  # the reason (a narrow table may wrap it)
    with Store.open(path) as reopened:
        results = rounds.round_results(reopened, model="newcomer").set_index("round_date")
    first, second = results.loc[dates[3]], results.loc[dates[4]]
    assert first["stake"] == 1000.0 and first["at_risk"] == 0 and first["payout"] == 0
    assert first["reason"] == rounds.NOTHING_TO_COMPARE and not first["eligible"]
    assert second["eligible"] and second["at_risk"] == 1000.0 and second["payout"] != 0


def test_the_leaderboards_churn_leaves_out_rounds_with_nothing_to_compare(tournament):
    store, dates = tournament
    rounds.resolve_rounds(store)
    results = rounds.round_results(store)
    first = results["reason"] == rounds.NOTHING_TO_COMPARE
    assert first.any() and (results.loc[first, "churn"] == 1.0).all()  # the reference's sentinel is stored
    board = rounds.leaderboard(store).set_index("model")
    expected = results[~first].groupby("model")["churn"].mean()
    pd.testing.assert_series_equal(board["churn"].reindex(expected.index), expected, check_names=False)


# ----------------------------------------------------------------------------- target windows
def test_a_60_day_payout_resolves_62_trading_days_after_its_round_and_stakes_stay_at_risk(replay_tournament):
    store, opening = replay_tournament
    first = RoundCalendar.of(store).following_round(store, opening.data_date)  # skilled is at risk in it
    days = store.stored_days()
    start = days.get_loc(first.data_date)
    models = uploads_at_opening(store, REPLAY_MODELS)
    # ~5 weeks on, the round's 20D2L window has ended: it is scored, not paid
    advance_clock(store, pd.Timestamp(days[start + 26]) + pd.Timedelta(hours=23), on_open=models)
    windows = rounds.scored_windows(store, first.data_date)
    assert windows["window"].tolist() == ["20D2L"] and windows["end_date"].tolist() == [days[start + 22]]
    assert first.data_date not in rounds.resolved_rounds(store)
    stakes.release_stake(store, "skilled", 100.0, store.now().normalize())  # pending: the open rounds staked it
    pending = rounds.pending_releases(store)
    assert pending["model"].tolist() == ["skilled"]
    # until the 60D2L window ends (62 trading days), the round stays unpaid
    advance_clock(store, pd.Timestamp(days[start + 61]) + pd.Timedelta(hours=23), on_open=models)
    assert first.data_date not in rounds.resolved_rounds(store)
    advance_clock(store, pd.Timestamp(days[start + 62]) + pd.Timedelta(hours=23), on_open=models)
    paid = rounds.rounds_table(store).set_index("round_date").loc[first.data_date]
    assert paid["window"] == "60D2L" and paid["resolution_date"] == days[start + 62]
    assert paid["policy"] == "alpha_mpc"
    # alpha and mpc are paid from the 60D2L scores; the unpaid scores are the 20D2L ones
    results = rounds.round_results(store, first.data_date).set_index("model")
    scores = rounds.round_scores(store, first.data_date).set_index(["window", "model"])
    long, short = scores.xs("60D2L"), scores.xs("20D2L")
    for metric in ("alpha", "mpc"):
        pd.testing.assert_series_equal(results[metric], long[metric].reindex(results.index), check_names=False)
    for metric in ("corr", "fnc", "icv2"):
        pd.testing.assert_series_equal(results[metric], short[metric].reindex(results.index), check_names=False)
    assert not np.allclose(long["alpha"], short["alpha"])  # two different windows
    # the payout is a stake event dated at the 60D resolution, 62 trading days after the round
    events = store.con.execute("SELECT effective FROM stake_events WHERE kind = 'payout' AND round_date = ?",
                               [first.data_date.date()]).fetch_df()
    assert set(pd.to_datetime(events["effective"])) == {days[start + 62]}


def test_a_policy_pays_each_metric_on_its_own_window(tournament):
    store, dates = tournament
    rule = payout_policy("custom", {"corr": 0.5, "alpha": 1.0}, clip=None, windows={"alpha": "60D2L"})
    rounds.resolve_rounds(store, through=dates[2], rule=rule)
    results = rounds.round_results(store).set_index(["round_date", "model"])
    scores = rounds.round_scores(store).set_index(["window", "round_date", "model"])
    expected = 0.5 * scores.xs("20D2L")["corr"] + 1.0 * scores.xs("60D2L")["alpha"]
    pd.testing.assert_series_equal(results["payout_score"], expected.reindex(results.index), check_names=False,
                                   atol=1e-15)
    assert set(rounds.rounds_table(store)["window"]) == {"60D2L"}


def test_the_stored_policy_decides_how_rounds_pay(tournament, capsys, monkeypatch):
    from tests.metasignal.cli_runner import cli

    store, dates = tournament
    path = store.path
    store.close()
    code, out, err = cli(capsys, monkeypatch, "--db", path, "rounds", "policy", "--preset", "fnc_mmc", "--clip", "0.02")
    assert code == 0, err
    assert "fnc x 1 on 20D2L" in out and "+/-0.02" in out
    code, out, err = cli(capsys, monkeypatch, "--db", path, "rounds", "resolve", "--through", f"{dates[2]:%Y-%m-%d}")
    assert code == 0, err
    assert "paid 3 round(s) (fnc_mmc: paid on 20D2L)" in out
    code, out, err = cli(capsys, monkeypatch, "--db", path, "rounds", "policy", "--multiplier", "mmc=oops")
    assert code == 1 and "--multiplier mmc: 'oops' is not a number" in out + err
    with Store.open(path) as reopened:
        results = rounds.round_results(reopened, dates[1]).set_index("model")
        assert set(rounds.rounds_table(reopened)["policy"]) == {"fnc_mmc"}
    raw = results["fnc"] + 2 * results["mmc"].fillna(0.0)
    factor = min(1.0, 36_000.0 / results["at_risk"].sum())
    expected = results["at_risk"] * (factor * raw).clip(-0.02, 0.02)
    pd.testing.assert_series_equal(results["payout"], expected, check_names=False, atol=1e-9)


def test_the_neutral_churn_penalty_scales_gains_by_the_reference_retention_and_spares_burns(tournament):
    from metasignal.backtest.payouts import neutral_churn_retention
    from metasignal.signals.scoring.reference_signals import calculate_mean_neutral_churn, neutral_churn_penalty

    store, dates = tournament
    rule = payout_policy("custom", {"alpha": 1.0}, clip=0.017, neutral_churn_penalty=True)
    rounds.resolve_rounds(store, through=dates[4], rule=rule)
    checked = 0
    for row, inputs in _reference_comparisons(store, dates[1:5]):
        expected = calculate_mean_neutral_churn(*inputs)
        assert row["neutral_churn"] == pytest.approx(expected, abs=1e-12)
        total_at_risk = rounds.round_results(store, row["round_date"])["at_risk"].sum()
        factor = min(1.0, 36_000.0 / total_at_risk)
        unpenalized = row["at_risk"] * float(np.clip(factor * row["alpha"], -0.017, 0.017))
        kept = neutral_churn_penalty(expected) if unpenalized > 0 else 1.0  # burns are not reduced
        assert row["payout"] == pytest.approx(unpenalized * kept, abs=1e-9)
        checked += 1
    assert checked >= 12
    assert (rounds.round_results(store)["payout"] > 0).any() and (rounds.round_results(store)["payout"] < 0).any()
    assert neutral_churn_retention(rounds.round_results(store)["neutral_churn"]).lt(1).any()  # it bites

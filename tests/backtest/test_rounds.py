"""Round resolution on a small synthetic store with the example models."""

import pandas as pd
import pytest

from metasignal.backtest import rounds
from metasignal.backtest.payouts import PAYOUT_PRESETS, payout_policy
from metasignal.data.example_models import EXAMPLE_STAKES
from metasignal.examples import create_example_models, submit_example_history, weekly_round_dates
from metasignal.signals import stakes, storage


@pytest.fixture
def tournament(store_copy):
    days = store_copy.trading_days()
    dates = weekly_round_dates(store_copy, start=days[260], end=days[330])
    create_example_models(store_copy, dates[0])
    submit_example_history(store_copy, dates, min_tickers=20)
    return store_copy, dates


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
        frame = pd.DataFrame({"ticker": values.index, "signal": values.to_numpy(), "date": day.date()})
        on_time = day + pd.Timedelta(hours=20)  # uploaded before the round's deadline
        storage.submit(store, "returner", frame.to_csv(index=False).encode(), min_tickers=20, uploaded_at=on_time)
    rounds.resolve_rounds(store, through=dates[6])
    row = rounds.round_results(store, dates[6], "returner").iloc[0]
    assert row["submitted"] and row["churn"] > 0.15
    assert not row["eligible"] and row["reason"] == "churn >= 0.15"


def test_a_late_reupload_is_neither_scored_nor_traded(tournament):
    """A version uploaded after the round's deadline (when the outcome is known) changes nothing."""
    import io

    from metasignal.signals import meta_signal, storage

    store, dates = tournament
    day = dates[1]
    before_signal = meta_signal(store, day)
    on_time = storage.stored_submission(store, "skilled", day)
    reversed_view = (1.0 - on_time).rename("signal").rename_axis("numerai_ticker").reset_index()
    buffer = io.StringIO()
    reversed_view.to_csv(buffer, index=False)
    late = storage.submission_deadline(day) + pd.Timedelta(days=30)
    storage.submit(store, "skilled", buffer.getvalue().encode(), date=day, min_tickers=20, uploaded_at=late)
    assert storage.stored_submission(store, "skilled", day).equals(1.0 - on_time)  # stored as the newest version
    pd.testing.assert_series_equal(meta_signal(store, day), before_signal)  # but not traded
    rounds.resolve_rounds(store, through=dates[1])
    skilled = rounds.round_results(store, day, "skilled").iloc[0]
    assert skilled["corr"] > 0  # the on-time (skilled) view was scored, not its late reversal


def test_submission_deadline_is_the_end_of_the_next_business_day():
    from metasignal.signals.storage import submission_deadline

    assert submission_deadline("2024-06-28") == pd.Timestamp("2024-07-01 23:59:59.999999")  # Friday -> Monday
    assert submission_deadline("2024-06-26") == pd.Timestamp("2024-06-27 23:59:59.999999")


def test_resolution_logs_each_round_and_the_skipped_ones(tournament, caplog):
    import logging

    store, dates = tournament
    late = store.trading_days()[-5]  # its 20D2L window has not passed yet
    submit_example_history(store, pd.DatetimeIndex([late]), min_tickers=20)
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
    assert f"skipping 1 round(s) whose 20D2L target window has not passed: {late.date()}" in messages

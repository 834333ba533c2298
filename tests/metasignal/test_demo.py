"""The demo end to end on a small market (a replay of the tournament in time), and the ledger
commands on its store."""

import pandas as pd
import pytest

from metasignal.backtest import rounds_table, scored_windows
from metasignal.data import Store, data_known_at
from metasignal.data.synthetic import SyntheticConfig
from metasignal.demo import DemoConfig, run_demo
from metasignal.signals import RoundCalendar, list_submissions, stake_balances
from tests.metasignal.cli_runner import assert_one_line_error, run_cli

pytestmark = pytest.mark.slow  # the whole demo, end to end


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    config = DemoConfig(out=out, market=SyntheticConfig(n_tickers=250, years=1.6, seed=3))
    return out, run_demo(config)


def test_demo_writes_the_report_and_leaderboard(demo):
    out, result = demo
    page = (out / "report.html").read_text(encoding="utf-8")
    for section in ("Leaderboard", "Stake evolution", "Score distributions", "Equity and drawdown", "Sector net exposure"):
        assert section in page
    board = pd.read_csv(out / "leaderboard.csv")
    assert {"model", "stake", "cumulative_payout", "corr", "mmc", "alpha", "mpc", "churn"} <= set(board.columns)
    assert set(board["model"]) == {"skilled", "momentum_tilt", "size_tilt", "noise", "copycat", "churner", "partial"}
    for name in ("returns.csv", "weights.parquet", "metrics.json"):
        assert (out / "backtest" / name).exists()
    churner = board.set_index("model").loc["churner"]
    assert churner["eligible_rounds"] <= 1  # re-drawn every round: cut by the churn rule
    assert result.metrics["average_gross_exposure"] > 0
    assert set(result.timings) == {"generate", "examples", "replay", "backtest", "report"}


def test_the_demo_is_the_users_path_in_time(demo):
    out, result = demo
    with Store.open(out / "metasignal.duckdb") as store:
        days = store.stored_days()
        assert store.clock().mode == "replay" and store.now() == data_known_at(days[-1])  # every day revealed
        calendar = RoundCalendar.of(store)
        uploads = list_submissions(store)
        assert set(uploads["status"]) == {"on_time"}  # no backfill, no hand-stamped history
        by_round = {r.data_date: r for r in calendar.rounds(store)}
        opened = uploads["date"].map(lambda d: by_round[d].opens)
        deadline = uploads["date"].map(lambda d: by_round[d].deadline)
        assert (uploads["uploaded_at"] == opened).all() and (uploads["uploaded_at"] <= deadline).all()
        assert uploads.groupby("date")["model"].nunique().eq(7).all()  # every model, every round
        assert result.rounds_opened == uploads["date"].nunique()
        known = store.target_dates("60D2L")  # the default policy pays at the end of 60D2L
        closed = [r.data_date for r in calendar.rounds(store, status="closed")
                  if r.data_date >= uploads["date"].min() and r.data_date in known]
        short = store.target_dates("20D2L")
        scored = scored_windows(store)
        waiting = [r.data_date for r in calendar.rounds(store, status="closed")
                   if r.data_date >= uploads["date"].min() and r.data_date in short and r.data_date not in known]
        assert len(waiting) > 5  # rounds scored on 20D2L that wait for their 60D2L payout
        assert set(scored.loc[scored["window"] == "20D2L", "round_date"]) == set(closed) | set(waiting)
        resolved = list(rounds_table(store)["round_date"])
        assert resolved == closed and result.rounds_resolved == len(closed) > 10
        board = result.leaderboard.set_index("model")
        on_time_rounds = uploads[uploads["date"].isin(resolved)].groupby("model")["date"].nunique()
        assert (board["rounds"] == on_time_rounds.reindex(board.index)).all()


def test_ledger_commands_on_the_demo_store(demo, tmp_path):
    out, _ = demo
    db = out / "metasignal.duckdb"
    again = run_cli("--db", db, "rounds", "resolve")
    assert again.code == 0 and "paid 0 round(s)" in again.out  # idempotent
    csv = tmp_path / "board.csv"
    assert run_cli("--db", db, "leaderboard", "--csv", csv).code == 0
    assert list(pd.read_csv(csv).columns[:3]) == ["model", "stake", "cumulative_payout"]
    payouts = run_cli("--db", db, "payouts", "--model", "skilled")
    assert payouts.code == 0 and "payouts of skilled" in payouts.out
    assert_one_line_error(run_cli("--db", db, "payouts", "--model", "nobody"), "no resolved rounds")
    assert_one_line_error(run_cli("--db", db, "stakes", "release", "skilled", "1e12"), "cannot release")


def test_examples_command_takes_part_in_time(tmp_path):
    db = tmp_path / "m.duckdb"
    assert run_cli("--db", db, "data", "generate", "--tickers", "250", "--years", "1.6", "--seed", "3").code == 0
    first = run_cli("--db", db, "examples", "--history")
    assert first.code == 0, first.err
    assert "created 7 example model(s)" in first.out and "uploaded to the open round" in first.out
    again = run_cli("--db", db, "examples")
    assert again.code == 0 and "created 0 example model(s)" in again.out
    with Store.open(db) as store:
        open_round = RoundCalendar.of(store).open_round(store)
        deposited_on = store.now().normalize()
        uploads = list_submissions(store, current_only=True)
        assert store.get_meta("example_models_submit") == "on"
    assert set(uploads.loc[uploads["date"] == open_round.data_date, "status"]) == {"on_time"}
    history = uploads[uploads["date"] < open_round.data_date]
    assert len(history) and set(history["status"]) == {"backfill"}  # research data, never staked or paid
    assert run_cli("--db", db, "clock", "advance", "--weeks", "2").code == 0
    with Store.open(db) as store:
        later = list_submissions(store, current_only=True)
        later = later[later["date"] > open_round.data_date]
        rounds = {r.data_date: r for r in RoundCalendar.of(store).rounds(store)}
        stake = stake_balances(store, open_round.deadline.normalize())  # what counts for the round
    assert later["date"].nunique() == 2 and set(later["status"]) == {"on_time"}  # uploaded at each opening
    assert (later["uploaded_at"] == later["date"].map(lambda d: rounds[d].opens)).all()
    assert stake["skilled"] == 5000.0 and deposited_on < open_round.deadline.normalize()


"""`metasignal leaderboard` before any round is paid: an empty board with every column, not a KeyError."""

from __future__ import annotations

from metasignal.backtest.rounds import INFERENCE_METRICS, leaderboard
from metasignal.data.store import Store
from tests.metasignal.cli_runner import run_cli


def test_a_store_with_no_paid_round_prints_an_empty_leaderboard(tmp_path):
    db = tmp_path / "store.duckdb"
    assert run_cli("--db", db, "data", "generate", "--tickers", "40", "--years", "0.3").code == 0
    with Store.open(db) as store:
        board = leaderboard(store)
    assert board.empty
    wanted = {"model", "stake", "cumulative_payout", "return_on_stake", "rounds", "eligible_rounds", "churn",
              "turnover"} | {f"{m}_{s}" for m in INFERENCE_METRICS for s in ("t", "ci", "ns")}
    assert wanted <= set(board.columns)
    run = run_cli("--db", db, "leaderboard")
    assert run.code == 0, run.err
    assert "leaderboard" in run.out and "Traceback" not in run.err

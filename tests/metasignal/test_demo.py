"""The demo end to end on a small market, and the ledger commands on its store."""

import pandas as pd
import pytest

from metasignal.data.synthetic import SyntheticConfig
from metasignal.demo import DemoConfig, run_demo
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


def test_ledger_commands_on_the_demo_store(demo, tmp_path):
    out, _ = demo
    db = out / "metasignal.duckdb"
    again = run_cli("--db", db, "rounds", "resolve")
    assert again.code == 0 and "resolved 0 round(s)" in again.out  # idempotent
    csv = tmp_path / "board.csv"
    assert run_cli("--db", db, "leaderboard", "--csv", csv).code == 0
    assert list(pd.read_csv(csv).columns[:3]) == ["model", "stake", "cumulative_payout"]
    payouts = run_cli("--db", db, "payouts", "--model", "skilled")
    assert payouts.code == 0 and "payouts of skilled" in payouts.out
    assert_one_line_error(run_cli("--db", db, "payouts", "--model", "nobody"), "no resolved rounds")
    assert_one_line_error(run_cli("--db", db, "stakes", "release", "skilled", "1e12"), "cannot release")

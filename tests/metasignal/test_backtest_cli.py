"""`metasignal backtest`: outputs, config, signal files, the vectorbt check, one-line errors."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest

from metasignal.data.example_models import example_signals
from metasignal.data.store import Store
from metasignal.signals import create_model, on_time_submissions, submit
from tests.backtest.test_walk_forward import make_tournament
from tests.metasignal.cli_runner import assert_one_line_error, cli, one_line_error, run_cli

CONFIG = """
[portfolio]
capital = 1e6
max_weight = 0.05

[backtest]
rebalance = "weekly"
lag = 1
"""


@pytest.fixture(scope="module")
def tournament(small_store_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("backtest_cli")
    path, rounds, days = make_tournament(small_store_path, folder)
    config = folder / "metasignal.toml"
    config.write_text(CONFIG)
    return path, rounds, days, config


@pytest.mark.slow
def test_a_backtest_writes_every_output_prints_metrics_and_matches_vectorbt(tournament, tmp_path, capsys, monkeypatch):
    path, rounds, days, config = tournament
    out = tmp_path / "run"
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", path, "backtest", "--start", rounds[0].date(),
                               "--end", days[300].date(), "--config", config, "--out", out, "--vectorbt-check")
    assert code == 0, stderr
    names = {p.name for p in out.iterdir()}
    assert {"returns.csv", "weights.parquet", "metrics.json", "metrics.csv", "rebalances.csv", "report.html"} <= names
    returns = pd.read_csv(out / "returns.csv", parse_dates=["date"])
    assert list(returns.columns) == ["date", "gross", "net"] and returns["net"].iloc[0] == 0.0
    assert returns["date"].iloc[0] == rounds[0] and returns["date"].iloc[-1] == days[300]
    metrics = json.loads((out / "metrics.json").read_text())
    table = pd.read_csv(out / "metrics.csv").set_index("metric")["value"]
    assert table["sharpe"] == pytest.approx(metrics["sharpe"])
    assert "sharpe" in stdout and "annualized_return" in stdout and "backtest (weekly" in stderr
    page = (out / "report.html").read_text()
    assert "Sector net exposure" in page and "Country net exposure" in page and "solve diagnostics" in page
    gap = float(re.search(r"max \|equity difference\| ([0-9.e+-]+)", stdout).group(1))
    assert gap < 1e-8


def test_a_signal_file_replaces_the_submissions(tournament, tmp_path, capsys, monkeypatch):
    path, rounds, days, config = tournament
    with Store.open(path) as store:
        rows = []
        for day in rounds[:3]:
            signal = example_signals(store, day, models=("momentum_tilt",))["momentum_tilt"].dropna()
            rows.append(pd.DataFrame({"ticker": signal.index, "signal": signal.to_numpy(), "date": day.date()}))
    file = tmp_path / "signals.csv"
    pd.concat(rows).to_csv(file, index=False)
    out = tmp_path / "from_file"
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", path, "backtest", "--start", rounds[0].date(),
                               "--end", rounds[4].date(), "--rebalance", "daily", "--config", config,
                               "--out", out, "--signals", file)
    assert code == 0, stderr
    assert "signals.csv (3 dates" in stdout
    solves = pd.read_csv(out / "rebalances.csv")
    assert len(solves) == len(days[(days >= rounds[0]) & (days < rounds[4])])  # daily, the last does not trade

    undated = tmp_path / "undated.csv"
    rows[0].drop(columns="date").to_csv(undated, index=False)
    one_line_error(cli(capsys, monkeypatch, "--db", path, "backtest", "--start", rounds[0].date(), "--end",
                        rounds[4].date(), "--out", out, "--signals", undated), "no date column")
    late = tmp_path / "late.csv"
    rows[2].to_csv(late, index=False)
    one_line_error(cli(capsys, monkeypatch, "--db", path, "backtest", "--start", rounds[0].date(), "--end",
                        rounds[4].date(), "--out", out, "--signals", late), "no date on or before")


def test_a_research_backtest_and_diagnostics_read_a_models_backfilled_history(tournament, tmp_path, capsys,
                                                                             monkeypatch):
    path, rounds, days, config = tournament
    research = tmp_path / "research.duckdb"
    with Store.open(path) as store:
        store.con.execute("CHECKPOINT")
    shutil.copy(path, research)
    with Store.open(research) as store:
        create_model(store, "researcher")
        rows = [example_signals(store, day, models=("skilled",))["skilled"].dropna()
                .rename("signal").rename_axis("ticker").reset_index().assign(date=day.date()) for day in rounds[:4]]
        receipt = submit(store, "researcher", pd.concat(rows).to_csv(index=False).encode(), min_tickers=20,
                         backfill=True)
        assert {e.status for e in receipt.entries} == {"backfill"}
        assert "researcher" not in on_time_submissions(store, rounds[0]).columns
    out = tmp_path / "research_out"
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", research, "backtest", "--start", rounds[0].date(),
                               "--end", rounds[5].date(), "--config", config, "--out", out, "--model", "researcher")
    assert code == 0, stderr
    assert "model researcher's stored history (4 dates, backfills included)" in " ".join(stdout.split())
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", research, "diagnostics", "--model", "researcher",
                               "--out", tmp_path / "diag")
    assert code == 0, stderr
    assert "model researcher:" in stdout and (tmp_path / "diag" / "diagnostics.html").exists()
    one_line_error(cli(capsys, monkeypatch, "--db", research, "diagnostics", "--out", tmp_path / "diag"),
                   "--model NAME")


def test_bad_input_is_one_line(tournament, tmp_path, capsys, monkeypatch):
    path, rounds, days, config = tournament
    window = ["--start", rounds[0].date(), "--end", days[300].date(), "--out", tmp_path / "x"]
    one_line_error(cli(capsys, monkeypatch, "--db", path, "backtest", *window, "--rebalance", "hourly"),
                    "unknown rebalance schedule 'hourly'")
    one_line_error(cli(capsys, monkeypatch, "--db", path, "backtest", "--start", days[300].date(), "--end",
                        days[290].date()), "after its end")
    one_line_error(cli(capsys, monkeypatch, "--db", path, "backtest", "--start", "yesterday-ish", "--end",
                        days[290].date()), "not a date")
    one_line_error(cli(capsys, monkeypatch, "--db", path, "backtest", *window, "--lag", "-1"), "lag")
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[backtest]\ncadence = 'weekly'\n")
    one_line_error(cli(capsys, monkeypatch, "--db", path, "backtest", *window, "--config", bad_config),
                    "unknown backtest setting(s) cadence")
    one_line_error(cli(capsys, monkeypatch, "--db", path, "backtest", "--start", days[10].date(), "--end",
                        days[20].date()), "has an on-time submission")
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_missing_store_is_one_line_in_a_real_process(tmp_path):
    run = run_cli("--db", tmp_path / "nowhere.duckdb", "backtest", "--start", "2021-01-01", "--end", "2021-03-01",
                  "--out", tmp_path / "out")
    assert_one_line_error(run, "nowhere.duckdb")


def test_the_example_config_lists_every_key_with_its_default():
    from dataclasses import fields
    from pathlib import Path

    from metasignal.backtest.walk_forward import WalkForwardSettings
    from metasignal.config import portfolio_settings, read_toml, walk_forward_settings
    from metasignal.portfolio.settings import PortfolioSettings

    values = read_toml(Path(__file__).resolve().parents[2] / "metasignal.example.toml")
    assert set(values) == {"portfolio", "backtest"}
    assert set(values["portfolio"]) == {f.name for f in fields(PortfolioSettings)}
    assert set(values["backtest"]) == {f.name for f in fields(WalkForwardSettings)}
    assert portfolio_settings(values) == PortfolioSettings()
    assert walk_forward_settings(values) == WalkForwardSettings()

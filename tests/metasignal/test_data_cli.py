"""``metasignal data``: generate and info, and one-line errors for bad input.

One test runs the real process end to end (slow); the others call the entry point in-process.
"""

from __future__ import annotations

import pandas as pd
import pytest

from metasignal.data.store import Store
from metasignal.signals.round_calendar import RoundCalendar
from tests.metasignal.cli_runner import assert_one_line_error, cli, one_line_error, run_cli


@pytest.mark.slow
def test_generate_then_info(tmp_path):
    db = tmp_path / "m.duckdb"
    run = run_cli("--db", db, "data", "generate", "--tickers", "60", "--years", "0.5", "--seed", "1")
    assert run.code == 0, run.err
    assert "generated 60 tickers" in run.out
    info = run_cli("--db", db, "data", "info")
    assert info.code == 0 and "countries" in info.out and "2020-01-02" in info.out


def test_generate_then_info_in_process(capsys, monkeypatch, tmp_path):
    db = tmp_path / "m.duckdb"
    code, out, err = cli(capsys, monkeypatch, "--db", db, "data", "generate", "--tickers", "60", "--years", "0.5",
                         "--seed", "1")
    assert code == 0, err
    assert "generated 60 tickers" in out
    code, out, err = cli(capsys, monkeypatch, "--db", db, "data", "info")
    assert code == 0 and "countries" in out and "2020-01-02" in out
    assert "clock" in out and "replay" in out and "data known through" in out


def test_generate_sets_a_replay_clock_before_the_tail(capsys, monkeypatch, tmp_path):
    db = tmp_path / "m.duckdb"
    code, out, err = cli(capsys, monkeypatch, "--db", db, "data", "generate", "--tickers", "40", "--years", "0.5",
                         "--seed", "1", "--tail-weeks", "5")
    assert code == 0, err
    with Store.open(db) as store:
        calendar = RoundCalendar.of(store)
        dates = calendar.data_dates(store.stored_days())
        opens = calendar.round_of(dates[-6]).opens
        assert store.clock().mode == "replay" and store.now() == opens
        assert store.visible_through() == dates[-6]
        assert calendar.open_round(store).data_date == dates[-6]
    assert f"replay clock at {opens:%Y-%m-%d %H:%M} UTC: 5 weeks of market data ahead stay hidden" in out


def test_generate_with_no_tail_is_a_live_store(capsys, monkeypatch, tmp_path):
    db = tmp_path / "m.duckdb"
    code, out, err = cli(capsys, monkeypatch, "--db", db, "data", "generate", "--tickers", "40", "--years", "0.3",
                         "--tail-weeks", "0")
    assert code == 0, err
    with Store.open(db) as store:
        assert store.clock().mode == "live" and store.visible_through() > pd.Timestamp("2024-01-01")
    assert "live clock" in out


def test_a_tail_longer_than_the_market_is_one_line(capsys, monkeypatch, tmp_path):
    one_line_error(cli(capsys, monkeypatch, "--db", tmp_path / "m.duckdb", "data", "generate", "--tickers", "40",
                       "--years", "0.3", "--tail-weeks", "40"), "--tail-weeks 40 leaves no past")


def test_missing_store_is_one_line(capsys, monkeypatch, tmp_path):
    one_line_error(cli(capsys, monkeypatch, "--db", tmp_path / "none.duckdb", "data", "info"), "no store at")


def test_malformed_import_is_one_line(capsys, monkeypatch, tmp_path):
    bad = tmp_path / "bars.csv"
    bad.write_text("date,ticker,volume\n2024-01-02,AAPL US,1\n")
    one_line_error(cli(capsys, monkeypatch, "--db", tmp_path / "m.duckdb", "data", "import", bad),
                   "missing required column(s) close (a long bars file has columns date,ticker,close[,volume")


def test_unknown_ticker_and_empty_range_are_one_line(capsys, monkeypatch, tmp_path):
    db = tmp_path / "m.duckdb"
    bars = tmp_path / "bars.csv"
    bars.write_text("date,ticker,close,volume\n2024-01-02,NOPE US,1,1\n")
    one_line_error(cli(capsys, monkeypatch, "--db", db, "data", "import", bars), "unknown ticker(s) NOPE US")
    one_line_error(
        cli(capsys, monkeypatch, "--db", db, "data", "fetch", "--tickers", "AAPL", "--start", "2024-02-01",
            "--end", "2024-01-01"),
        "empty date range",
    )


@pytest.mark.slow
def test_offline_fetch_fails_cleanly(tmp_path):
    """A real process: yfinance's own import and network stack, with no network."""
    run = run_cli("--db", tmp_path / "m.duckdb", "data", "fetch", "--tickers", "AAPL", "--start", "2024-01-01",
                  "--end", "2024-01-31")
    assert_one_line_error(run)

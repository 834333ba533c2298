"""``metasignal data``: generate and info, and one-line errors for bad input.

One test runs the real process end to end (slow); the others call the entry point in-process.
"""

from __future__ import annotations

import pytest

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


def test_missing_store_is_one_line(capsys, monkeypatch, tmp_path):
    one_line_error(cli(capsys, monkeypatch, "--db", tmp_path / "none.duckdb", "data", "info"), "no store at")


def test_malformed_import_is_one_line(capsys, monkeypatch, tmp_path):
    bad = tmp_path / "bars.csv"
    bad.write_text("date,ticker,close\n2024-01-02,AAPL US,1\n")
    one_line_error(cli(capsys, monkeypatch, "--db", tmp_path / "m.duckdb", "data", "import", bad),
                   "missing required column(s) volume")


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

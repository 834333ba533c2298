from tests.metasignal.cli_runner import assert_one_line_error, run_cli


def test_generate_then_info(tmp_path):
    db = tmp_path / "m.duckdb"
    run = run_cli("--db", db, "data", "generate", "--tickers", "60", "--years", "0.5", "--seed", "1")
    assert run.code == 0, run.err
    assert "generated 60 tickers" in run.out
    info = run_cli("--db", db, "data", "info")
    assert info.code == 0 and "countries" in info.out and "2020-01-02" in info.out


def test_missing_store_is_one_line(tmp_path):
    assert_one_line_error(run_cli("--db", tmp_path / "none.duckdb", "data", "info"), "no store at")


def test_malformed_import_is_one_line(tmp_path):
    bad = tmp_path / "bars.csv"
    bad.write_text("date,ticker,close\n2024-01-02,AAPL US,1\n")
    assert_one_line_error(run_cli("--db", tmp_path / "m.duckdb", "data", "import", bad), "missing required column(s) volume")


def test_unknown_ticker_and_empty_range_are_one_line(tmp_path):
    db = tmp_path / "m.duckdb"
    bars = tmp_path / "bars.csv"
    bars.write_text("date,ticker,close,volume\n2024-01-02,NOPE US,1,1\n")
    assert_one_line_error(run_cli("--db", db, "data", "import", bars), "unknown ticker(s) NOPE US")
    assert_one_line_error(
        run_cli("--db", db, "data", "fetch", "--tickers", "AAPL", "--start", "2024-02-01", "--end", "2024-01-01"),
        "empty date range",
    )


def test_offline_fetch_fails_cleanly(tmp_path):
    run = run_cli("--db", tmp_path / "m.duckdb", "data", "fetch", "--tickers", "AAPL", "--start", "2024-01-01", "--end", "2024-01-31")
    assert_one_line_error(run)

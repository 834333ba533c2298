"""Date options read with one-line errors naming the option (no pandas DateParseError)."""

from __future__ import annotations

import pytest

from tests.metasignal.cli_runner import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("dates") / "store.duckdb"
    assert run_cli("--db", path, "data", "generate", "--tickers", "40", "--years", "0.3").code == 0
    return path


@pytest.mark.parametrize("args, option", [
    (("portfolio", "--date", "2021-13-45"), "--date"),
    (("starter", "out.csv", "--date", "nope"), "--date"),
    (("stakes", "add", "m", "10", "--date", "notadate"), "--date"),
    (("examples", "--history", "--start", "soon"), "--start"),
])
def test_a_bad_date_names_its_option(db, tmp_path, args, option):
    run = run_cli("--db", db, *args, cwd=tmp_path)
    assert_one_line_error(run, f"{option}: cannot read", "as a date")
    assert "DateParseError" not in run.err

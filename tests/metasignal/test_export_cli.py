"""`metasignal universe` and `metasignal targets`: exports a participant builds a valid file from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metasignal.data.store import Store
from metasignal.signals.storage import current_round
from tests.metasignal.cli_runner import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "store.duckdb"
    assert run_cli("--db", path, "data", "generate", "--tickers", "150", "--years", "1").code == 0
    return path


def test_the_exported_universe_is_the_open_round_and_makes_a_valid_submission(db, tmp_path):
    run = run_cli("--db", db, "universe", "--out", tmp_path / "universe.csv")
    assert run.code == 0, run.err
    universe = pd.read_csv(tmp_path / "universe.csv")
    with Store.open(db) as store:
        day = current_round(store).data_date
        assert list(universe["ticker"]) == list(store.universe(day))
    assert set(universe["date"]) == {day.date().isoformat()}
    assert {"bloomberg_ticker", "country", "sector"} <= set(universe.columns)
    signal = universe[["bloomberg_ticker"]].assign(signal=np.linspace(0, 1, len(universe)))
    signal.to_csv(tmp_path / "mine.csv", index=False)
    assert run_cli("--db", db, "models", "create", "mine").code == 0
    submitted = run_cli("--db", db, "submit", tmp_path / "mine.csv", "--model", "mine")
    assert submitted.code == 0, submitted.err
    assert f"accepted {len(universe)} tickers, dropped 0" in submitted.out


def test_targets_export_the_known_window_between_two_dates(db, tmp_path):
    run = run_cli("--db", db, "targets", "--start", "2020-03-01", "--end", "2020-04-30", "--window", "20D2L",
                  "--out", tmp_path / "targets.parquet")
    assert run.code == 0, run.err
    targets = pd.read_parquet(tmp_path / "targets.parquet")
    with Store.open(db) as store:
        dates = store.target_dates("20D2L")
        wanted = dates[(dates >= "2020-03-01") & (dates <= "2020-04-30")]
        first = store.targets(wanted[0], "20D2L")
    assert sorted(targets["date"].unique()) == [d.date().isoformat() for d in wanted]
    day_one = targets[targets["date"] == wanted[0].date().isoformat()].set_index("ticker")
    assert np.array_equal(day_one[["raw", "factor_neutral"]].to_numpy(), first[["raw", "factor_neutral"]].to_numpy())


def test_exports_refuse_in_one_line(db, tmp_path):
    assert_one_line_error(run_cli("--db", db, "universe", "--out", tmp_path / "u.txt"), "use a .csv or .parquet")
    assert_one_line_error(run_cli("--db", db, "targets", "--start", "2031-01-01", "--out", tmp_path / "t.csv"),
                          "no 20D2L targets known")
    assert_one_line_error(run_cli("--db", db, "targets", "--start", "2020-05-01", "--end", "2020-04-01",
                                  "--out", tmp_path / "t.csv"), "is before --start")
    assert not (tmp_path / "u.txt").exists() and not (tmp_path / "t.csv").exists()

"""The starter model: ranks in (0, 1) over the universe, from returns known at its date only,
written in the submission format and uploaded on time through the CLI."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd

from metasignal.data import Clock, Store, derive_store
from metasignal.signals import RoundCalendar, create_model, list_submissions
from metasignal.starter import starter_signal
from tests.metasignal.cli_runner import cli


def test_the_starter_ranks_the_universe_from_past_returns_only(store_copy, tmp_path):
    day = store_copy.trading_days()[-60]
    signal = starter_signal(store_copy, day)
    universe = store_copy.universe(day)
    assert signal.index.isin(universe).all() and len(signal) == len(universe)
    assert signal.between(0, 1, inclusive="neither").all()
    assert np.isclose(signal.mean(), 0.5)
    store_copy.con.execute("CHECKPOINT")
    shutil.copy(store_copy.path, tmp_path / "twin.duckdb")
    with Store.open(tmp_path / "twin.duckdb") as twin:
        twin.con.execute("UPDATE bars SET close = close * 2, adj_close = adj_close * 0.5 WHERE date > ?", [day.date()])
        derive_store(twin)
        pd.testing.assert_series_equal(starter_signal(twin, day), signal, check_exact=True)


def test_the_starter_file_goes_to_the_open_round_on_time(small_store_path, tmp_path, capsys, monkeypatch):
    db = tmp_path / "starter.duckdb"
    shutil.copy(small_store_path, db)
    with Store.open(db) as store:
        calendar = RoundCalendar()
        round_ = calendar.round_of(calendar.data_dates(store.stored_days())[-5])
        store.set_clock(Clock("replay", round_.opens))
        create_model(store, "mine")
    file = tmp_path / "signals.csv"
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", db, "starter", file)
    assert code == 0, stderr
    assert f"starter signal for {round_.data_date:%Y-%m-%d}" in stdout
    assert list(pd.read_csv(file).columns) == ["numerai_ticker", "signal"]
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "mine", "--min-tickers", "50")
    assert code == 0, stderr
    with Store.open(db) as store:
        assert list_submissions(store, "mine")["status"].tolist() == ["on_time"]
    history = tmp_path / "history.csv"
    code, stdout, stderr = cli(capsys, monkeypatch, "--db", db, "starter", history, "--history", "4")
    assert code == 0, stderr
    assert pd.read_csv(history)["date"].nunique() == 4

"""`metasignal diagnostics FILE`: tables, output files and one-line errors.

The command runs through ``metasignal.cli.main`` in-process (same error handling as the
console script); ``diagnostics_commands.register`` is applied to the root app when the app
does not list the command yet.
"""

from __future__ import annotations

import shutil
import sys

import pandas as pd
import pytest

from metasignal.cli import app, main
from metasignal.cli.diagnostics_commands import register
from metasignal.data.example_models import example_signals
from metasignal.data.store import Store
from metasignal.signals import storage
from tests.metasignal.cli_runner import Run, assert_one_line_error

if not any(command.name == "diagnostics" for command in app.registered_commands):
    register(app)


def run(capsys, monkeypatch, *args) -> Run:
    monkeypatch.setattr(sys, "argv", ["metasignal", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


@pytest.fixture(scope="module")
def setup(small_store_path, tmp_path_factory):
    """A store copy with model ``skilled`` stored and staked-free, a weekly history file of
    skilled (12 dates with targets, 1 without) and a file whose dates all lack targets."""
    folder = tmp_path_factory.mktemp("diagnostics_cli")
    db = folder / "store.duckdb"
    shutil.copy(small_store_path, db)
    with Store.open(db) as store:
        days = store.trading_days()
        dates = list(days[250:310:5]) + [days[398]]
        history = pd.concat(
            [example_signals(store, d, ("skilled",)).rename_axis("ticker").reset_index().assign(date=d.date()) for d in dates]
        ).rename(columns={"skilled": "signal", "ticker": "numerai_ticker"})
        storage.create_model(store, "skilled")
    good = folder / "skilled.csv"
    history.to_csv(good, index=False)
    late = folder / "late.csv"
    history[history["date"] == days[398].date()].to_csv(late, index=False)
    return {"db": db, "good": good, "late": late, "folder": folder}


def test_writes_tables_and_files(setup, capsys, monkeypatch, tmp_path):
    out = tmp_path / "diag"
    result = run(capsys, monkeypatch, "--db", setup["db"], "diagnostics", setup["good"], "--model", "skilled", "--out", out)
    assert result.code == 0, result.err
    assert "summary per metric" in result.out and "style exposure" in result.out
    assert "model skilled: 12 era(s) scored" in result.out and "1 skipped" in result.out
    assert "per era: first 5 of 12" in result.out and "per era: last 5 of 12" in result.out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["diagnostics.html", "diagnostics_per_era.csv", "diagnostics_summary.csv"]
    per_era = pd.read_csv(out / "diagnostics_per_era.csv", index_col="date")
    assert len(per_era) == 12 and per_era["corr"].mean() > 0
    summary = pd.read_csv(out / "diagnostics_summary.csv", index_col="metric")
    assert summary.loc["corr", "mean"] == pytest.approx(per_era["corr"].mean())
    assert "mmc" not in per_era  # nothing stored apart from the file's own model


def test_default_output_folder(setup, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = run(capsys, monkeypatch, "--db", setup["db"], "diagnostics", setup["good"])
    assert result.code == 0, result.err
    assert (tmp_path / "diagnostics_out" / "diagnostics.html").is_file()


def test_file_without_date_column_takes_date_option(setup, capsys, monkeypatch, tmp_path):
    history = pd.read_csv(setup["good"])
    day = history["date"].iloc[0]
    single = tmp_path / "single.csv"
    history[history["date"] == day].drop(columns="date").to_csv(single, index=False)
    result = run(capsys, monkeypatch, "--db", setup["db"], "diagnostics", single, "--date", day, "--out", tmp_path / "o")
    assert result.code == 0, result.err
    assert f"1 era(s) scored, {day} to {day}" in result.out


@pytest.mark.parametrize(
    "case, fragments",
    [
        ("missing", ("no submission file at",)),
        ("late", ("none of the file's 1 dates", "no 20D2L targets yet")),
        ("unknown_model", ("unknown model 'nobody'",)),
    ],
)
def test_bad_input_is_one_line(setup, capsys, monkeypatch, tmp_path, case, fragments):
    args = {
        "missing": [setup["folder"] / "absent.csv"],
        "late": [setup["late"]],
        "unknown_model": [setup["good"], "--model", "nobody"],
    }[case]
    result = run(capsys, monkeypatch, "--db", setup["db"], "diagnostics", *args, "--out", tmp_path / "o")
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "o").exists()

"""`metasignal models|submit|submissions|serve`: output, store effects, round statuses, one-line errors.

The fixture store has a replay clock at the opening of the round of Friday 2024-01-05 (Saturday
12:00 UTC; deadline Sunday 14:00 UTC): the days after it are stored but not known yet.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

import json

import httpx
import numpy as np
import pandas as pd
import pytest

from metasignal.data.clock import Clock
from metasignal.data.example_models import example_signals
from metasignal.data.store import Store
from metasignal.signals.round_calendar import RoundCalendar
from metasignal.signals.storage import list_submissions, stored_submission, submissions_for_date
from tests.metasignal.cli_runner import assert_one_line_error, cli, one_line_error, run_cli
from tests.signals.submission_fixtures import DAYS, build_store, submission_csv, universe_members

MEMBERS = list(universe_members(DAYS[-1]))
ROUND = RoundCalendar().round_of("2024-01-05")  # opens 2024-01-06 12:00, deadline 2024-01-07 14:00 UTC


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "template.duckdb"
    with build_store(path) as store:
        store.set_clock(Clock("replay", ROUND.opens))
    return path


def _set_clock(db, time) -> None:
    with Store.open(db) as store:
        store.set_clock(Clock("replay", pd.Timestamp(time)))


@pytest.fixture
def db(template, tmp_path):
    path = tmp_path / "store.duckdb"
    shutil.copyfile(template, path)
    return path


def test_models_create_and_list(db, capsys, monkeypatch):
    code, out, _ = cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha", "--owner", "ann")
    assert code == 0 and "created model alpha (owner ann)" in out
    code, out, _ = cli(capsys, monkeypatch, "--db", db, "models", "list")
    assert code == 0 and "alpha" in out and "ann" in out


def test_submit_prints_counts_and_stores(db, tmp_path, capsys, monkeypatch):
    cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha")
    file = tmp_path / "sig.csv"
    file.write_bytes(submission_csv(MEMBERS[:120] + ["NOPE US", "ZZZ GB"]))
    code, out, _ = cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "alpha", "--date", "2024-01-05")
    assert code == 0
    assert "accepted 120 tickers, dropped 2 for model alpha on 2024-01-05: version 1" in out
    assert "on time for round 2024-01-05 (deadline 2024-01-07 14:00 UTC)" in out
    assert "NOPE US, ZZZ GB" in out
    code, out, _ = cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "alpha", "--date", "2024-01-05")
    assert "version 1 (unchanged" in out
    code, out, _ = cli(capsys, monkeypatch, "--db", db, "submissions", "list", "--model", "alpha")
    assert code == 0 and "2024-01-05" in out and "sig.csv" in out and "1 *" in out
    assert "on time" in out and "2024-01-07 14:00" in out and "2024-01-06 12:00:00" in out

    with Store.open(db) as store:
        assert len(stored_submission(store, "alpha", "2024-01-05")) == 120


def test_submit_multi_date_file_prints_a_table(db, tmp_path, capsys, monkeypatch):
    cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha")
    file = tmp_path / "history.csv"
    file.write_bytes(submission_csv(MEMBERS[:110], date=DAYS[1]) + submission_csv(MEMBERS[:110], date=DAYS[2]).split(b"\n", 1)[1])
    one_line_error(cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "alpha"),
                   "holds 2 dates", "submit --backfill")
    code, out, _ = cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "alpha", "--backfill")
    assert code == 0 and "alpha: 2 dates" in out and "2024-01-02" in out and "2024-01-03" in out
    assert "accepted 220 rows" in out and out.count("backfill") == 2


def test_submit_defaults_to_the_open_round(db, tmp_path, capsys, monkeypatch):
    cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha")
    file = tmp_path / "sig.csv"
    file.write_bytes(submission_csv(MEMBERS[:120]))
    code, out, err = cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "alpha")
    assert code == 0, err
    assert "on 2024-01-05" in out and "on time for round 2024-01-05" in out


def test_late_upload_is_scored_without_stake_and_queued(db, tmp_path, capsys, monkeypatch):
    cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha")
    _set_clock(db, "2024-01-08 09:00")  # after the deadline of 2024-01-05, before the next round's
    file = tmp_path / "sig.csv"
    file.write_bytes(submission_csv(MEMBERS[:120]))
    code, out, err = cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "alpha", "--date", "2024-01-05")
    assert code == 0, err
    assert "late for round 2024-01-05 (deadline 2024-01-07 14:00 UTC passed): scored without stake; " \
           "queued as your submission for the next round (expected 2024-01-12)" in " ".join(out.split())
    code, out, _ = cli(capsys, monkeypatch, "--db", db, "submissions", "list")
    assert "late" in out


def test_a_date_that_is_not_an_open_round_is_refused_naming_the_open_round(db, tmp_path, capsys, monkeypatch):
    cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha")
    file = tmp_path / "sig.csv"
    file.write_bytes(submission_csv(MEMBERS[:120]))
    one_line_error(cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "alpha", "--date", "2024-01-04"),
                   "2024-01-04 is not a round of the weekly calendar",
                   "the open round is 2024-01-05 (deadline 2024-01-07 14:00 UTC)")
    with Store.open(db) as store:
        assert list_submissions(store).empty


def test_backfill_of_a_single_past_day(db, tmp_path, capsys, monkeypatch):
    cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha")
    file = tmp_path / "sig.csv"
    file.write_bytes(submission_csv(MEMBERS[:120]))
    code, out, err = cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "alpha", "--date", "2024-01-03",
                         "--backfill")
    assert code == 0, err
    assert "on 2024-01-03" in out and "backfill (research data: never staked or paid)" in out


def test_submit_json_prints_the_receipt(db, tmp_path, capsys, monkeypatch):
    cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha")
    file = tmp_path / "sig.csv"
    file.write_bytes(submission_csv(MEMBERS[:120]))
    code, out, err = cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "alpha", "--json")
    assert code == 0, err
    receipt = json.loads(out)
    assert receipt["uploaded_at"].startswith("2024-01-06T12:00")
    assert receipt["dates"] == [{"date": "2024-01-05", "version": 1, "new_version": True, "n_accepted": 120,
                                 "n_dropped": 0, "status": "on_time", "deadline": "2024-01-07T14:00:00Z",
                                 "queued_for": None}]


def test_submit_warns_about_data_type(db, tmp_path, capsys, monkeypatch):
    cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha")
    frame = pd.DataFrame({"ticker": MEMBERS[:110], "signal": np.linspace(0, 1, 110), "data_type": "live"})
    file = tmp_path / "sig.csv"
    frame.to_csv(file, index=False)
    code, out, _ = cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "alpha")
    assert code == 0 and "warning: column 'data_type' is deprecated" in out


@pytest.mark.parametrize(
    "content, args, fragments",
    [
        (b"ticker,signal\nA,0.5\nB,2\n", (), ("column 'signal' at line 3 ('2')", "outside [0, 1]")),
        (b"ticker,signal,extra\nA,0.5,1\n", (), ("unexpected column 'extra' (column 3)",)),
        (b"", (), ("file is empty",)),
        (b"\xff\xfe", (), ("line 1", "UTF-8")),
        (b"ticker,signal\nA,0.5\n", ("--date", "someday"), ("cannot read 'someday' as a date",)),
        (b"ticker,signal\nA,0.5\n", ("--date", "2024-01-06"), ("2024-01-06 is not a trading day",)),
        (b"ticker,signal\nA,0.5\n", ("--date", "2024-01-09"), ("2024-01-09 is not a trading day", "covers 2024-01-01 to 2024-01-05")),
        (b"ticker,signal\nA,0.5\nB,0.6\n", (), ("only 0 tickers on 2024-01-05", "at least 100")),
        (b"ticker,signal\nA,0.5\n" * 100, ("--max-mb", "0.001"), ("over the size limit",)),
    ],
    ids=["range", "extra", "empty", "encoding", "bad-date", "weekend", "future", "too-few", "too-large"],
)
def test_bad_files_are_one_line_and_change_nothing(db, tmp_path, capsys, monkeypatch, content, args, fragments):
    cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha")
    file = tmp_path / "bad.csv"
    file.write_bytes(content)
    one_line_error(cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "alpha", *args), *fragments)
    with Store.open(db) as store:
        assert list_submissions(store).empty


def test_other_mistakes_are_one_line(db, tmp_path, capsys, monkeypatch):
    file = tmp_path / "sig.csv"
    file.write_bytes(submission_csv(MEMBERS[:120]))
    one_line_error(cli(capsys, monkeypatch, "--db", db, "submit", file, "--model", "ghost"), "unknown model 'ghost'")
    cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha")
    one_line_error(cli(capsys, monkeypatch, "--db", db, "models", "create", "alpha"), "already exists")
    one_line_error(cli(capsys, monkeypatch, "--db", db, "models", "create", "bad name"), "invalid model name")
    one_line_error(cli(capsys, monkeypatch, "--db", db, "submit", tmp_path / "none.csv", "--model", "alpha"),
                    "no submission file at")
    one_line_error(cli(capsys, monkeypatch, "--db", tmp_path / "none.duckdb", "models", "list"), "no store at")
    one_line_error(cli(capsys, monkeypatch, "--db", db, "submissions", "list", "--model", "ghost"), "unknown model")


@pytest.mark.slow
def test_subprocess_bad_submission_has_no_traceback(db, tmp_path):
    """The installed entry point (python -m metasignal) on a bad file: one line, exit 1."""
    assert run_cli("--db", db, "models", "create", "alpha").code == 0
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xef\xbb\xbfticker,signal\r\nA,0.5\r\nB,nan\r\n")
    run = run_cli("--db", db, "submit", bad, "--model", "alpha")
    assert run.code == 1
    assert_one_line_error(run, "column 'signal' at line 3 ('nan')", "missing or NaN")


def test_example_models_of_the_synthetic_market_submit_through_the_cli(store_copy, tmp_path, capsys, monkeypatch):
    """End to end on the shared synthetic store: every example model's signal is accepted on time."""
    calendar = RoundCalendar.of(store_copy)
    day = calendar.data_dates(store_copy.stored_days())[-3]
    store_copy.set_clock(Clock("replay", calendar.round_of(day).opens))
    signals = example_signals(store_copy, day, ("skilled", "noise"))
    path = store_copy.path
    store_copy.close()
    for name in signals.columns:
        cli(capsys, monkeypatch, "--db", path, "models", "create", name)
        file = tmp_path / f"{name}.csv"
        signals[name].dropna().rename("signal").rename_axis("numerai_ticker").to_csv(file)
        code, out, err = cli(capsys, monkeypatch, "--db", path, "submit", file, "--model", name, "--min-tickers", "50")
        assert code == 0, err
        assert f"accepted {signals[name].notna().sum()} tickers, dropped 0" in out
        assert f"on time for round {day:%Y-%m-%d}" in out
    with Store.open(path) as store:
        wide = submissions_for_date(store, day)
    assert list(wide.columns) == ["noise", "skilled"]
    np.testing.assert_allclose(wide["skilled"].to_numpy(), signals["skilled"].reindex(wide.index).to_numpy())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_serve_runs_the_upload_api(db):
    created = run_cli("--db", db, "users", "create", "ann")
    assert created.code == 0
    key = next(line for line in created.out.splitlines() if line.startswith("msk_"))
    assert run_cli("--db", db, "models", "create", "alpha", "--owner", "ann").code == 0
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "metasignal", "--db", str(db), "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        assert health.json()["last_trading_day"] == "2024-01-05"
        upload = {"files": {"file": ("s.csv", submission_csv(MEMBERS[:120]), "text/csv")}}
        assert httpx.post(f"{base}/models/alpha/submissions", **upload).status_code == 401  # no key
        response = httpx.post(f"{base}/models/alpha/submissions", headers={"Authorization": f"Bearer {key}"},
                              **upload)
        assert response.status_code == 201 and response.json()["n_accepted"] == 120
    finally:
        server.terminate()
        server.wait(timeout=20)

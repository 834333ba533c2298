"""Fixtures for the submission tests: a small store built once per session, copied per test."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from submission_fixtures import build_store  # noqa: E402

from metasignal.data.store import Store  # noqa: E402


@pytest.fixture(scope="session")
def submission_store_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("submission_store") / "template.duckdb"
    build_store(path).close()
    return path


@pytest.fixture
def submission_store(submission_store_template, tmp_path) -> Store:
    """A fresh copy of the fixture store (see submission_fixtures.py), open for the test."""
    path = tmp_path / "store.duckdb"
    shutil.copyfile(submission_store_template, path)
    store = Store.open(path)
    yield store
    store.close()


@pytest.fixture
def round_store(submission_store) -> Store:
    """The fixture store on a replay clock an hour into its first weekly round: the round of
    Friday 2024-01-05 (DAYS[4]) opens Saturday 2024-01-06 12:00 UTC, deadline Sunday 14:00 UTC."""
    from metasignal.data import Clock
    from metasignal.signals import RoundCalendar

    round_ = RoundCalendar.of(submission_store).round_of("2024-01-05")
    submission_store.set_clock(Clock("replay", round_.opens + pd.Timedelta(hours=1)))
    return submission_store

"""Shared fixtures: small synthetic stores built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from metasignal.data.generate import generate_store
from metasignal.data.store import Store
from metasignal.data.synthetic import SyntheticConfig

SMALL_MARKET = SyntheticConfig(n_tickers=150, years=1.6, seed=7)
threadpool_limits(1, user_api="blas")  # as the CLI does: importing the engine sets nothing


@pytest.fixture(scope="session")
def small_store_path(tmp_path_factory) -> Path:
    """A synthetic store (150 tickers, ~400 days), generated once; copy it before writing."""
    path = tmp_path_factory.mktemp("market") / "small.duckdb"
    with Store.open(path, create=True) as store:
        generate_store(store, SMALL_MARKET)
    return path


@pytest.fixture
def store_copy(small_store_path, tmp_path) -> Store:
    """A private writable copy of the small synthetic store."""
    path = tmp_path / "copy.duckdb"
    shutil.copy(small_store_path, path)
    store = Store.open(path)
    yield store
    store.close()

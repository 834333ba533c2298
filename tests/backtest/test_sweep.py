"""Sweeps: snapshot fidelity, serial vs a 2-worker LocalCluster, failures, reruns, the report."""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from metasignal.backtest import advance_clock, run_walk_forward
from metasignal.backtest.snapshot import SnapshotStore
from metasignal.backtest.sweep import expand_grid, run_config, run_sweep, snapshot_for
from metasignal.backtest.walk_forward import WalkForwardSettings
from metasignal.data import Clock, data_known_at
from metasignal.data.store import Store
from metasignal.errors import ConfigurationError
from metasignal.examples import create_example_models, submit_example_round
from metasignal.portfolio.settings import PortfolioSettings
from metasignal.reports.sweep import write_sweep_report
from metasignal.signals import RoundCalendar


def replayed_tournament(small_store_path: Path, folder: Path, first: int = 260, last: int = 290,
                        known: int = 360) -> tuple[Path, pd.DatetimeIndex, pd.DatetimeIndex]:
    """(store path, round dates, trading days): a copy of the small store where the example
    models uploaded at the opening of each weekly round from trading day ``first`` to ``last``,
    on a replay clock advanced (resolving every round that matured) until day ``known`` is known."""
    path = folder / "tournament.duckdb"
    shutil.copy(small_store_path, path)
    with Store.open(path) as store:
        days = store.trading_days()
        rounds = RoundCalendar().data_dates(days)
        rounds = rounds[(rounds >= days[first]) & (rounds <= days[last])]
        store.set_clock(Clock("replay", RoundCalendar().round_of(rounds[0]).opens))
        create_example_models(store)

        def on_open(round_) -> None:
            if round_.data_date <= rounds[-1]:
                submit_example_round(store, round_, min_tickers=20)

        on_open(RoundCalendar().round_of(rounds[0]))
        advance_clock(store, data_known_at(store.stored_days()[known]), on_open=on_open)
    return path, rounds, days


@pytest.fixture(scope="module")
def tournament(small_store_path, tmp_path_factory):
    return replayed_tournament(small_store_path, tmp_path_factory.mktemp("sweep"))


def _grid(rounds: pd.DatetimeIndex, days: pd.DatetimeIndex) -> dict:
    """Two configs x two ranges: one range inside the rounds, one before the first round (its
    walk-forward has no signal: the task raises)."""
    return tomllib.loads(f"""
[portfolio]
capital = 1e6
max_weight = 0.05
[grid]
"portfolio.risk_aversion" = [1.0, 10.0]
[[ranges]]
start = {rounds[0].date()}
end = {days[days.get_loc(rounds[-1]) + 3].date()}
[[ranges]]
start = {days[200].date()}
end = {days[230].date()}
""")


@pytest.fixture(scope="module")
def swept(tournament, tmp_path_factory):
    """(configs, snapshot folder, serial result, serial out folder)."""
    path, rounds, days = tournament
    configs = expand_grid(_grid(rounds, days))
    folder = tmp_path_factory.mktemp("swept")
    with Store.open(path) as store:
        snapshot = snapshot_for(store, configs, folder / "snapshot")
    return configs, snapshot, run_sweep(configs, snapshot, folder / "serial"), folder / "serial"


def test_the_snapshot_runs_the_walk_forward_bit_identical_to_the_store(tournament, swept):
    path, rounds, days = tournament
    configs, snapshot, _, _ = swept
    config = configs[0]
    with Store.open(path) as store:
        portfolio, schedule = config.settings()
        direct = run_walk_forward(store, config.start, config.end, portfolio, schedule)
    task = run_config(snapshot, config.to_dict())
    assert task["status"] == "ok"
    assert task["metrics"] == {**direct.simulation.metrics(), "rebalances": float(len(direct.solves)),
                               "fallbacks": float(direct.solves["fallback"].notna().sum())}
    pd.testing.assert_series_equal(task["returns"]["net"], direct.simulation.net_returns, check_names=False,
                                   check_freq=False, rtol=0, atol=0)


def test_serial_and_a_two_worker_cluster_give_identical_metrics_and_failures_are_reported(swept, tmp_path):
    from distributed import Client, LocalCluster

    configs, snapshot, serial, _ = swept
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        clustered = run_sweep(configs, snapshot, tmp_path / "cluster", client=client)
    pids = {json.loads(p.read_text())["pid"] for p in (tmp_path / "cluster" / "results").glob("*.json")}
    assert pids and os.getpid() not in pids  # the tasks ran in the worker processes
    pd.testing.assert_frame_equal(serial.table, clustered.table, check_exact=True)
    table = serial.table.set_index("label")
    ok, failed = table[table["status"] == "ok"], table[table["status"] == "error"]
    assert len(ok) == 2 and len(failed) == 2  # the range before the first round has no signal
    assert failed["error"].str.startswith("StoreError: no round on or before").all()
    assert set(serial.failures) == set(failed["key"]) == set(clustered.failures)
    assert ok["sharpe"].notna().all() and ok["cost_drag_bp_per_year"].gt(0).all()
    assert ok["sharpe"].nunique() == 2  # the grid's two risk aversions give two different books


def test_a_rerun_skips_the_finished_configs_and_retries_the_failed_ones(swept, tmp_path):
    configs, snapshot, serial, out = swept
    again = tmp_path / "again"
    shutil.copytree(out, again)
    stamps = {p.name: p.stat().st_mtime_ns for p in (again / "returns").glob("*.parquet")}
    rerun = run_sweep(configs, snapshot, again)
    ok = set(serial.table.loc[serial.table["status"] == "ok", "key"])
    assert set(rerun.skipped) == ok and set(rerun.ran) == set(serial.failures)
    assert {p.name: p.stat().st_mtime_ns for p in (again / "returns").glob("*.parquet")} == stamps
    pd.testing.assert_frame_equal(rerun.table, serial.table)


def test_a_snapshot_is_keyed_by_its_content(tournament, swept, tmp_path):
    path, rounds, days = tournament
    configs, snapshot, _, _ = swept
    with Store.open(path) as store:
        again = snapshot_for(store, configs, snapshot.parent)
        other = snapshot_for(store, configs[:1], tmp_path)  # one range only: other content
    assert again == snapshot and other.name != snapshot.name
    reader = SnapshotStore(snapshot)
    assert len(reader.trading_days()) > 0 and reader.hash.startswith(snapshot.name)
    assert configs[0].key(reader.hash) != configs[0].key(SnapshotStore(other).hash)


def test_grids_expand_to_the_product_and_bad_keys_are_one_line_errors():
    grid = {"grid": {"portfolio.risk_aversion": [1.0, 5.0], "backtest.lag": [1, 2]},
            "ranges": [{"start": "2021-01-01", "end": "2021-03-01"}, {"start": "2021-04-01", "end": "2021-06-01"}],
            "configs": [{"portfolio": {"meta_method": "equal"}}]}
    configs = expand_grid(grid)
    assert len(configs) == (2 * 2 + 1) * 2
    assert {c.settings()[1].lag for c in configs} == {1, 2}
    assert {c.settings()[0] for c in configs} >= {PortfolioSettings(risk_aversion=5.0)}
    assert WalkForwardSettings(lag=2) in {c.settings()[1] for c in configs}
    with pytest.raises(ConfigurationError, match="portfolio.KEY"):
        expand_grid({"grid": {"risk_aversion": [1.0]}, "ranges": grid["ranges"]})
    with pytest.raises(ConfigurationError, match="risk_aversio"):
        expand_grid({"grid": {"portfolio.risk_aversio": [1.0]}, "ranges": grid["ranges"]})
    with pytest.raises(ConfigurationError, match="ranges"):
        expand_grid({"grid": {"portfolio.risk_aversion": [1.0]}})


def test_the_report_inlines_plotly_and_stars_the_best_configs(swept, tmp_path):
    _, _, serial, _ = swept
    page = write_sweep_report(serial.table, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script src" not in page and len(page) > 1_000_000  # plotly.js inlined, nothing fetched
    assert "best 2" in page and "Failed configs" in page and "no round on or before" in page

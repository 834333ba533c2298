"""Benchmark: a 16-config sweep of 3-year weekly walk-forwards at N = 1000 on 1 vs 2 Dask workers.

    python benchmarks/bench_sweep.py [--tickers 1000 --years 4 --configs 16] [--store PATH]

1. Generates a synthetic store (a year of warm-up for the risk model, then the backtest years),
   creates the example models and records their weekly uploads from the end of the warm-up
   (``--store PATH`` reuses, or creates and keeps, a store).
2. Expands a grid of 16 configs (risk aversion x turnover cap, full optimization otherwise) over
   the last 3 years and writes the sweep's snapshot (timed).
3. Runs the sweep on a LocalCluster of 1 single-threaded worker process, then of 2, each into a
   fresh folder (cluster start-up timed apart), and prints the wall times, the speedup, and the
   cluster's per-task overhead: (wall time on 1 worker - the tasks' own seconds) / tasks.
   The two runs' metrics must be identical.

The load average is printed before and after: the figures are wall times on a shared machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

threadpool_limits(1)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metasignal.backtest.sweep import expand_grid, run_sweep, snapshot_for  # noqa: E402
from metasignal.data import Clock, data_known_at  # noqa: E402
from metasignal.data.example_models import EXAMPLE_MODELS, EXAMPLE_STAKES, example_signals  # noqa: E402
from metasignal.data.generate import generate_store  # noqa: E402
from metasignal.data.store import Store  # noqa: E402
from metasignal.data.synthetic import SyntheticConfig  # noqa: E402
from metasignal.signals import RoundCalendar, create_model, deposit_stake, submit  # noqa: E402

WARMUP = 260  # trading days before the backtest (the risk model's 252-day lookback)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def prepare_store(path: Path, n_tickers: int, years: float) -> None:
    """The market, a replay clock at its end, and the example models' weekly on-time history."""
    with Store.open(path, create=True) as store:
        began = time.perf_counter()
        generate_store(store, SyntheticConfig(n_tickers=n_tickers, years=years))
        calendar = RoundCalendar.of(store)
        last_round = calendar.round_of(calendar.data_dates(store.stored_days())[-1])
        store.set_clock(Clock("replay", max(last_round.deadline, data_known_at(store.stored_days()[-1]))))
        rounds = calendar.data_dates(store.trading_days(start=store.trading_days()[WARMUP]))
        signals = pd.concat([example_signals(store, day).assign(date=day.date()) for day in rounds])
        stamps = pd.Series([calendar.round_of(day).opens + pd.Timedelta(hours=1) for day in rounds], index=rounds)
        for model in EXAMPLE_MODELS:
            create_model(store, model, owner="examples")
            deposit_stake(store, model, EXAMPLE_STAKES[model], rounds[0] - pd.Timedelta(days=1))
            rows = signals[[model, "date"]].dropna().rename(columns={model: "signal"}).rename_axis("ticker")
            submit(store, model, rows.reset_index().to_csv(index=False).encode(), uploaded_at=stamps)
        print(f"store: {n_tickers} tickers x {years} years, {len(rounds)} weekly rounds, "
              f"built in {time.perf_counter() - began:.1f} s")


def grid(start: pd.Timestamp, end: pd.Timestamp, n_configs: int) -> dict:
    """risk_aversion x turnover: the first ``n_configs`` of a 4 x 4 grid (and more aversions if asked)."""
    turnovers = [0.1, 0.2, 0.3, 0.5]
    aversions = [1.0, 5.0, 10.0, 20.0, 40.0, 80.0][:max(1, -(-n_configs // len(turnovers)))]
    return {"portfolio": {"capital": 1e7}, "backtest": {"rebalance": "weekly"},
            "grid": {"portfolio.risk_aversion": aversions, "portfolio.turnover": turnovers},
            "ranges": [{"start": str(start.date()), "end": str(end.date())}]}


def sweep_on(workers: int, configs, snapshot: Path, out: Path) -> tuple[float, float, object]:
    """(cluster start-up seconds, sweep wall seconds, SweepResult) on ``workers`` processes."""
    from distributed import Client, LocalCluster

    began = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        started = time.perf_counter() - began
        result = run_sweep(configs, snapshot, out, client=client)
    return started, result.wall_seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=1000)
    parser.add_argument("--years", type=float, default=4.0)
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--store", type=Path, default=None)
    args = parser.parse_args()
    print(load(), "at the start")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = args.store or folder / "bench.duckdb"
        if not path.exists():
            prepare_store(path, args.tickers, args.years)
        with Store.open(path) as store:
            days = store.trading_days()
            start, end = days[WARMUP], days[-1]
            configs = expand_grid(grid(start, end, args.configs))[:args.configs]
            began = time.perf_counter()
            snapshot = snapshot_for(store, configs, folder / "snapshot")
            print(f"snapshot: {time.perf_counter() - began:.1f} s, "
                  f"{sum(p.stat().st_size for p in snapshot.iterdir()) / 2**20:.1f} MB on disk")
        print(f"{len(configs)} configs, weekly walk-forward {start.date()} to {end.date()} "
              f"({len(days) - WARMUP} trading days) at N = {args.tickers}")
        timings = {}
        for workers in (1, 2):
            started, wall, result = sweep_on(workers, configs, snapshot, folder / f"out{workers}")
            if result.failures:
                raise SystemExit(f"failed configs: {result.failures}")
            timings[workers] = (started, wall, result)
            print(f"{workers} worker(s): cluster start {started:.1f} s, sweep {wall:.1f} s "
                  f"({wall / len(configs):.2f} s a config), {load()}")
        (_, one, first), (_, two, second) = timings[1], timings[2]
        same = first.table.equals(second.table)
        in_tasks = sum(first.task_seconds.values())
        overhead = (one - in_tasks) / len(configs)
        print(f"speedup 1 -> 2 workers: {one / two:.2f}x (target >= 1.7x); metrics identical: {same}")
        print(f"per-task cluster overhead on 1 worker: {overhead * 1e3:.0f} ms "
              f"(wall {one:.1f} s - {in_tasks:.1f} s inside the tasks, over {len(configs)} tasks); "
              f"a task's own time {in_tasks / len(configs):.2f} s")
    print(f"a task's own time on 2 workers: {sum(second.task_seconds.values()) / len(configs):.2f} s "
          "(above the 1-worker figure: the two workers' processes were slowed by each other or by other load)")
    print(load(), "at the end (other processes share the machine)")


if __name__ == "__main__":
    main()

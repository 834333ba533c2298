"""Benchmark: the weekly walk-forward backtest on a synthetic market, and the simulation vs vectorbt.

    python benchmarks/bench_walk_forward.py [--tickers 3000 --years 10] [--store PATH]

1. Generates a synthetic store (``data.generate.generate_store``) in a temporary folder, creates
   the example models and submits their weekly history from trading day ``--warmup`` on
   (``metasignal.examples``); ``--store PATH`` reuses (or creates and keeps) a store instead.
2. Runs ``run_walk_forward`` with weekly rebalancing, lag 1 and the default
   ``PortfolioSettings`` (full optimization: factor risk, neutrality, style bounds, caps, ADV
   participation, turnover, spread + impact + borrow) over the submitted rounds. Prints the
   total time, the factor-return history (panels + regressions), the time per rebalance and
   the solver's share.
3. Times ``backtest.simulate.simulate`` alone (zero costs, and with the walk-forward's costs)
   on the walk-forward's targets and returns, next to ``vectorbt_equity`` on the same weights
   (numba warmed up first), and prints their ratio and the largest equity difference.

BLAS is limited to one thread (many small problems). The machine load average is printed
before and after: the figures are wall times on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

threadpool_limits(1)  # after numpy is loaded: the limit applies to the BLAS libraries loaded so far

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metasignal.backtest import simulate  # noqa: E402
from metasignal.backtest.vectorbt_check import vectorbt_equity  # noqa: E402
from metasignal.backtest.walk_forward import WalkForwardSettings, run_walk_forward  # noqa: E402
from metasignal.data.generate import generate_store  # noqa: E402
from metasignal.data.store import Store  # noqa: E402
from metasignal.data.synthetic import SyntheticConfig  # noqa: E402
from metasignal.data import Clock, data_known_at  # noqa: E402
from metasignal.data.example_models import EXAMPLE_MODELS, EXAMPLE_STAKES, example_signals  # noqa: E402
from metasignal.signals import RoundCalendar, create_model, deposit_stake, submit  # noqa: E402
from metasignal.portfolio.settings import PortfolioSettings  # noqa: E402


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def prepare_store(path: Path, n_tickers: int, years: float, warmup: int) -> None:
    """Generate the market and record the example models' weekly uploads (timed): each round's
    signal uploaded an hour after the round opened, as a log of past uploads on the live store."""
    with Store.open(path, create=True) as store:
        began = time.perf_counter()
        generate_store(store, SyntheticConfig(n_tickers=n_tickers, years=years))
        print(f"generate store: {time.perf_counter() - began:.1f} s")
        # the 10-year market runs past today's date: a replay clock at the last round's deadline
        # makes all of it known (and every recorded upload in its past)
        calendar = RoundCalendar.of(store)
        last_round = calendar.round_of(calendar.data_dates(store.stored_days())[-1])
        store.set_clock(Clock("replay", max(last_round.deadline, data_known_at(store.stored_days()[-1]))))
        rounds = calendar.data_dates(store.trading_days(start=store.trading_days()[warmup]))
        began = time.perf_counter()
        signals = pd.concat([example_signals(store, day).assign(date=day.date()) for day in rounds])
        stamps = pd.Series([calendar.round_of(day).opens + pd.Timedelta(hours=1) for day in rounds], index=rounds)
        for model in EXAMPLE_MODELS:
            create_model(store, model, owner="examples")
            deposit_stake(store, model, EXAMPLE_STAKES[model], rounds[0] - pd.Timedelta(days=1))
            rows = signals[[model, "date"]].dropna().rename(columns={model: "signal"}).rename_axis("ticker")
            submit(store, model, rows.reset_index().to_csv(index=False).encode(), uploaded_at=stamps)
        print(f"example models' history: {len(rounds)} weekly rounds in {time.perf_counter() - began:.1f} s")


def best_time(function, repeats: int):
    best, value = np.inf, None
    for _ in range(repeats):
        began = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - began)
    return best, value


def run(path: Path, repeats: int, limit: int | None) -> None:
    settings = PortfolioSettings()
    with Store.open(path) as store:
        first_round = pd.Timestamp(store.one("SELECT min(date) FROM submissions")[0])
        days = store.trading_days(start=first_round)
        end = days[-1] if limit is None else days[min(len(days) - 1, 5 * limit)]
        n_tickers = len(store.securities())
        print(f"walk-forward {first_round.date()} .. {end.date()} ({len(store.trading_days(first_round, end))} days, "
              f"{n_tickers} securities), weekly, lag 1, default PortfolioSettings; {load()}")
        count = {"n": 0}
        began = time.perf_counter()
        result = run_walk_forward(store, first_round, end, settings, WalkForwardSettings(rebalance="weekly"),
                                  progress=lambda n: count.__setitem__("n", count["n"] + n))
        total = time.perf_counter() - began
        returns = store.returns(result.simulation.equity.index[0], end).reindex(columns=result.targets.columns)
        volume, volatility = (store.panel(name, returns.index[0], end).reindex_like(returns)
                              for name in ("dollar_volume", "sigma"))
    timings = result.timings
    n = len(result.targets)
    solves = result.solves
    print(f"total {total:.1f} s for {n} rebalances ({count['n']} progress ticks): "
          + ", ".join(f"{key} {value:.1f} s" for key, value in timings.items()))
    print(f"per rebalance: {timings['rebalances'] / n:.3f} s, of which solver (optimizer.solve) "
          f"{timings['solver'] / n:.3f} s and Clarabel itself {solves['solver_seconds'].mean():.3f} s"
          if "solver_seconds" in solves else
          f"per rebalance: {timings['rebalances'] / n:.3f} s, of which solver {timings['solver'] / n:.3f} s")
    print(f"statuses: {solves['status'].value_counts().to_dict()}, fallbacks: {int(solves['fallback'].notna().sum())}; "
          f"largest |net| {solves['net'].abs().max():.2e}; {load()}")
    metrics = result.simulation.metrics()
    print("net sharpe {sharpe:.2f}, annual return {annualized_return:.2%}, average gross {average_gross_exposure:.2f}, "
          "cost drag {cost_drag_bp_per_year:.1f} bp/yr".format(**metrics))

    targets = result.targets
    print(f"\nsimulation alone: {returns.shape[1]} tickers x {returns.shape[0]} days, {n} rebalances, best of {repeats}")
    warm = time.perf_counter()
    vectorbt_equity(targets.iloc[:2, :5], returns.iloc[:20, :5])
    print(f"vectorbt import + numba warm-up (not counted): {time.perf_counter() - warm:.1f} s")
    ours, simulated = best_time(lambda: simulate(targets, returns, lag=1, capital=1.0), repeats)
    theirs, reference = best_time(lambda: vectorbt_equity(targets, returns, lag=1, capital=1.0), repeats)
    difference = float(np.max(np.abs(reference.to_numpy() - simulated.equity.to_numpy())))
    costs = settings.transaction_costs()
    with_costs, _ = best_time(lambda: simulate(
        targets, returns, lag=1, costs=costs, borrow=settings.borrow_costs(), volume=volume, volatility=volatility),
        repeats)
    print(f"simulate (zero costs)              {ours:7.3f} s")
    print(f"vectorbt from_orders (zero costs)  {theirs:7.3f} s   ratio vectorbt / simulate = {theirs / ours:.1f}")
    print(f"simulate (spread+impact+borrow)    {with_costs:7.3f} s   (vectorbt models none of these costs)")
    print(f"max |equity difference| (capital 1): {difference:.2e}; {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=3000)
    parser.add_argument("--years", type=float, default=10.0)
    parser.add_argument("--warmup", type=int, default=260, help="trading days before the first round")
    parser.add_argument("--store", type=Path, default=None, help="reuse this store (created and kept if missing)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT weeks (quick runs)")
    args = parser.parse_args()
    print(load())
    with tempfile.TemporaryDirectory() as folder:
        path = args.store or Path(folder) / "bench.duckdb"
        if not path.exists():
            prepare_store(path, args.tickers, args.years, args.warmup)
        run(path, args.repeats, args.limit)


if __name__ == "__main__":
    main()

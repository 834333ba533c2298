"""Benchmark: backtest.simulate vs vectorbt on the same weekly long/short book.

    python benchmarks/bench_simulate.py [--tickers 3000] [--days 2500] [--repeats 3]

Random daily returns (2 % vol), random dollar-neutral target weights (gross 2) decided every
5th trading day, lag 1, zero costs. Prints the best-of-``repeats`` wall time of
``simulate`` and of ``vectorbt_equity`` (price path + orders + ``Portfolio.from_orders`` +
``value()``, numba already compiled by a warm-up run), their ratio, and the max absolute
equity difference (capital 1). Also times ``simulate`` with spread + impact + borrow costs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metasignal.backtest import simulate  # noqa: E402
from metasignal.backtest.vectorbt_check import vectorbt_equity  # noqa: E402
from metasignal.portfolio.costs import BorrowCostModel, TransactionCostModel  # noqa: E402


def make_book(n_tickers: int, n_days: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2015-01-01", periods=n_days)
    names = [f"T{i:05d}" for i in range(n_tickers)]
    returns = pd.DataFrame(rng.normal(0.0002, 0.02, (n_days, n_tickers)), days, names)
    decisions = days[::5]
    raw = rng.normal(size=(len(decisions), n_tickers))
    raw -= raw.mean(axis=1, keepdims=True)
    weights = pd.DataFrame(raw / np.abs(raw).sum(axis=1, keepdims=True) * 2.0, decisions, names)
    volume = pd.DataFrame(rng.uniform(1e6, 1e9, (n_days, n_tickers)), days, names)
    volatility = pd.DataFrame(0.02, days, names)
    return returns, weights, volume, volatility


def best_time(function, repeats: int):
    best, value = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    returns, weights, volume, volatility = make_book(args.tickers, args.days)
    print(
        f"book: {args.tickers} tickers x {args.days} days, {len(weights)} weekly rebalances, "
        f"lag 1, zero costs; best of {args.repeats}"
    )

    start = time.perf_counter()
    small_returns, small_weights, _, _ = make_book(5, 30, seed=1)
    vectorbt_equity(small_weights, small_returns)
    print(f"vectorbt import + numba warm-up (not counted): {time.perf_counter() - start:.2f} s")

    ours, result = best_time(lambda: simulate(weights, returns, lag=1, capital=1.0), args.repeats)
    theirs, reference = best_time(
        lambda: vectorbt_equity(weights, returns, lag=1, capital=1.0), args.repeats
    )
    difference = float(np.max(np.abs(reference.to_numpy() - result.equity.to_numpy())))
    with_costs, _ = best_time(
        lambda: simulate(
            weights,
            returns,
            lag=1,
            costs=TransactionCostModel(capital=1e8),
            borrow=BorrowCostModel(),
            volume=volume,
            volatility=volatility,
        ),
        args.repeats,
    )

    print(f"simulate (zero costs)          : {ours:8.3f} s")
    print(f"vectorbt from_orders + value   : {theirs:8.3f} s")
    print(f"ratio vectorbt / simulate      : {theirs / ours:8.2f} x")
    print(f"max |equity difference|        : {difference:.3g} (capital 1.0)")
    print(f"simulate with spread+impact+borrow: {with_costs:8.3f} s "
          f"({with_costs / ours:.2f} x zero-cost simulate)")


if __name__ == "__main__":
    main()

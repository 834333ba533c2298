"""Benchmark: batch scoring (signals.scoring.score_era) against numerai-tools on whole frames.

Run: python benchmarks/bench_scoring.py [--models 200] [--tickers 5000] [--eras 500]
     [--batch-tickers 3000] [--skip-batch] [--blas-threads N]

Part 1 scores one era of 200 models x 5000 tickers x 50 neutralizer columns on corr, mmc, fnc,
alpha and mpc three ways: numerai-tools 0.7.2 called as its API allows (each function on the
whole tickers x models frame: the baseline the ratio is quoted against), numerai-tools looped
one model at a time (a second, labelled line), and ``score_era`` in one call; it checks the
numbers agree and prints the times and both ratios.
Part 2 times ``score_era`` over 500 eras x 200 models x 3000 tickers (all ten metrics,
churn/turnover against the previous era), generating the data era by era to bound memory.
``--blas-threads N`` limits OpenBLAS threads for both sides (threadpoolctl); on a busy
2-core machine the default multi-threaded BLAS spends most of its time waiting.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from metasignal.signals.scoring import score_era  # noqa: E402
from metasignal.signals.transforms import rank_columns  # noqa: E402

BINS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
BIN_SHARES = np.array([0.05, 0.20, 0.50, 0.20, 0.05])
N_COUNTRIES, N_SECTORS = 20, 11
N_STYLES = 20  # with the country and sector one-hots: 50 independent neutralizer columns


def binned(values: np.ndarray) -> np.ndarray:
    """Rank-bin values into {0, .25, .5, .75, 1} with shares 5/20/50/20/5 %."""
    edges = np.cumsum(BIN_SHARES)[:-1] * len(values)
    order = np.argsort(values, kind="stable")
    result = np.empty(len(values))
    result[order] = BINS[np.searchsorted(edges, np.arange(len(values)), side="right")]
    return result


def make_era(rng: np.random.Generator, tickers: pd.Index, n_models: int) -> dict[str, object]:
    """One synthetic era: signals with a shared alpha, exposures, N with N'VN = I, targets."""
    n = len(tickers)
    country = rng.integers(0, N_COUNTRIES, n)
    sector = rng.integers(0, N_SECTORS, n)
    styles = rng.standard_normal((n, N_STYLES))
    exposures = np.hstack([np.eye(N_COUNTRIES)[country], np.eye(N_SECTORS)[sector], styles])
    sample_weights = rng.uniform(0.1, 1.0, n)
    root = np.sqrt(sample_weights)
    left, singular, _ = np.linalg.svd(exposures * root[:, None], full_matrices=False)
    neutralizers = left[:, singular > 1e-10 * singular[0]] / root[:, None]
    alpha_signal = rng.standard_normal(n)
    style_returns = styles @ rng.standard_normal(N_STYLES) * 0.3
    returns = 0.1 * alpha_signal + style_returns + rng.standard_normal(n)
    residual = returns - styles @ np.linalg.lstsq(styles, returns, rcond=None)[0]
    skill = rng.uniform(0.0, 0.3, n_models)
    signals = skill * alpha_signal[:, None] + rng.standard_normal((n, n_models))
    signals = np.round(signals, 2)  # ties, as real submissions have
    models = [f"model_{k:03d}" for k in range(n_models)]
    predictions = pd.DataFrame(signals, index=tickers, columns=models)
    return {
        "predictions": predictions,
        "targets": pd.DataFrame(
            {"factor_neutral": binned(residual),
             "raw": binned(returns)},
            index=tickers,
        ),
        "meta_model": pd.Series(signals.mean(axis=1), index=tickers, name="meta_model"),
        "neutralizers": pd.DataFrame(neutralizers, index=tickers).add_prefix("n"),
        "sample_weights": pd.Series(sample_weights, index=tickers, name="weight"),
        "stakes": pd.Series(rng.uniform(1, 100, n_models), index=models, name="stake"),
    }


def reference_loop(era: dict[str, object]) -> pd.DataFrame:
    """numerai-tools, looped over models for per-model scores, mpc in one joint call."""
    from numerai_tools import scoring as nt

    predictions = era["predictions"]
    target = era["targets"]["factor_neutral"].rename("target")
    rows = {}
    for model in predictions.columns:
        column = predictions[[model]]
        rows[model] = {
            "corr": nt.numerai_corr(column, target).iloc[0],
            "mmc": nt.correlation_contribution(column, era["meta_model"], target).iloc[0],
            "fnc": nt.feature_neutral_corr(column, era["neutralizers"], target).iloc[0],
            "alpha": nt.alpha(column, era["neutralizers"], era["sample_weights"], target).iloc[0],
        }
    scores = pd.DataFrame.from_dict(rows, orient="index")
    scores["mpc"] = nt.meta_portfolio_contribution(
        predictions, era["stakes"], era["neutralizers"], era["sample_weights"], target
    )
    return scores


def reference_whole_frame(era: dict[str, object]) -> pd.DataFrame:
    """numerai-tools called as its API allows: each function on the whole tickers x models frame."""
    from numerai_tools import scoring as nt

    predictions = era["predictions"]
    target = era["targets"]["factor_neutral"].rename("target")
    scores = pd.DataFrame({
        "corr": nt.numerai_corr(predictions, target),
        "mmc": nt.correlation_contribution(predictions, era["meta_model"], target),
        "fnc": nt.feature_neutral_corr(predictions, era["neutralizers"], target),
        "alpha": nt.alpha(predictions, era["neutralizers"], era["sample_weights"], target),
    })
    scores["mpc"] = nt.meta_portfolio_contribution(
        predictions, era["stakes"], era["neutralizers"], era["sample_weights"], target
    )
    return scores


def ours(era: dict[str, object], metrics, previous=None) -> pd.DataFrame:
    return score_era(
        era["predictions"],
        targets=era["targets"],
        meta_model=era["meta_model"],
        neutralizers=era["neutralizers"],
        sample_weights=era["sample_weights"],
        stakes=era["stakes"],
        previous=previous,
        metrics=metrics,
    )


def best_of(function, repeats: int = 5) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return min(timings)


def rank_comparison(n_models: int, n_tickers: int) -> None:
    """Tie-kept percentile ranks of a (tickers x models) matrix with ties and 5 % NaN."""
    from scipy import stats

    rng = np.random.default_rng(3)
    values = np.round(rng.standard_normal((n_tickers, n_models)), 2)
    values[rng.random(values.shape) < 0.05] = np.nan
    frame = pd.DataFrame(values)
    ours = best_of(lambda: rank_columns(values))
    scipy_time = best_of(
        lambda: (stats.rankdata(values, axis=0, nan_policy="omit") - 0.5)
        / np.count_nonzero(~np.isnan(values), axis=0)
    )
    pandas_time = best_of(lambda: (frame.rank() - 0.5) / frame.count())
    print(f"tie-kept rank of {n_tickers} x {n_models} (ties, 5 % NaN), best of 5:")
    print(f"  signals.transforms.rank_columns: {ours * 1000:8.1f} ms")
    print(f"  scipy.stats.rankdata(axis=0)   : {scipy_time * 1000:8.1f} ms")
    print(f"  pandas DataFrame.rank          : {pandas_time * 1000:8.1f} ms")


def one_era_comparison(n_models: int, n_tickers: int) -> None:
    rng = np.random.default_rng(7)
    tickers = pd.Index([f"T{i:05d}" for i in range(n_tickers)], name="ticker")
    era = make_era(rng, tickers, n_models)
    metrics = ("corr", "mmc", "fnc", "alpha", "mpc")
    print(f"one era: {n_models} models x {n_tickers} tickers, "
          f"{era['neutralizers'].shape[1]} neutralizer columns, metrics {', '.join(metrics)}")
    ours(era, metrics)  # warm-up (imports, BLAS threads)
    wall, cpu = [], []
    for _ in range(5):
        start, start_cpu = time.perf_counter(), time.process_time()
        batch = ours(era, metrics)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    whole_wall, whole_cpu = [], []
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        whole = reference_whole_frame(era)
        whole_wall.append(time.perf_counter() - start)
        whole_cpu.append(time.process_time() - start_cpu)
    start, start_cpu = time.perf_counter(), time.process_time()
    reference = reference_loop(era)
    reference_wall, reference_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    ours_wall, ours_cpu = float(np.median(wall)), float(np.median(cpu))
    whole_wall_median, whole_cpu_median = float(np.median(whole_wall)), float(np.median(whole_cpu))
    columns = list(metrics)
    difference = np.nanmax(np.abs(batch[columns].to_numpy() - whole[columns].to_numpy()))
    loop_difference = np.nanmax(np.abs(batch[columns].to_numpy() - reference[columns].to_numpy()))
    print("                                          wall time     CPU time")
    print(f"  numerai-tools on the whole frame    : {whole_wall_median:8.3f} s   {whole_cpu_median:8.3f} s"
          "   (median of 3: the reference as its API allows)")
    print(f"  numerai-tools looped per model      : {reference_wall:8.3f} s   {reference_cpu:8.3f} s")
    print(f"  signals.scoring.score_era           : {ours_wall:8.3f} s   {ours_cpu:8.3f} s"
          f"   (median of 5; best wall {min(wall):.3f} s)")
    print(f"  speed-up vs the whole-frame call    : {whole_wall_median / ours_wall:8.1f} x   "
          f"{whole_cpu_median / ours_cpu:8.1f} x")
    print(f"  speed-up vs the per-model loop      : {reference_wall / ours_wall:8.1f} x   "
          f"{reference_cpu / ours_cpu:8.1f} x")
    print(f"  max |difference| (whole frame, loop): {difference:.2e}, {loop_difference:.2e}")


def many_eras(n_eras: int, n_models: int, n_tickers: int) -> None:
    rng = np.random.default_rng(11)
    universe = pd.Index([f"T{i:05d}" for i in range(int(n_tickers * 1.05))], name="ticker")
    print(f"batch: {n_eras} eras x {n_models} models x {n_tickers} tickers, all ten metrics")
    previous = None
    scoring_time = scoring_cpu = generation_time = 0.0
    for _ in range(n_eras):
        start = time.perf_counter()
        tickers = universe[np.sort(rng.choice(len(universe), n_tickers, replace=False))]
        era = make_era(rng, tickers, n_models)
        generation_time += time.perf_counter() - start
        start, start_cpu = time.perf_counter(), time.process_time()
        scores = score_era(
            era["predictions"], targets=era["targets"], meta_model=era["meta_model"],
            neutralizers=era["neutralizers"], sample_weights=era["sample_weights"],
            stakes=era["stakes"], previous=None if previous is None else previous["predictions"],
            previous_neutralizers=None if previous is None else previous["neutralizers"],
            previous_sample_weights=None if previous is None else previous["sample_weights"],
        )
        scoring_time += time.perf_counter() - start
        scoring_cpu += time.process_time() - start_cpu
        previous = era
    assert scores.shape == (n_models, 10)
    print("                                     wall time     CPU time")
    print(f"  scoring total                  : {scoring_time:8.2f} s   {scoring_cpu:8.2f} s")
    print(f"  scoring per era                : {scoring_time / n_eras * 1000:8.1f} ms  "
          f"{scoring_cpu / n_eras * 1000:8.1f} ms")
    print(f"  (data generation, not timed    : {generation_time:8.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--tickers", type=int, default=5000)
    parser.add_argument("--eras", type=int, default=500)
    parser.add_argument("--batch-tickers", type=int, default=3000)
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--blas-threads", type=int, default=None)
    args = parser.parse_args()
    limit = contextlib.nullcontext()
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(args.blas_threads, user_api="blas")
    with limit:
        print(f"BLAS threads: {'default' if args.blas_threads is None else args.blas_threads}, "
              f"cores: {os.cpu_count()}")
        rank_comparison(args.models, args.tickers)
        one_era_comparison(args.models, args.tickers)
        if not args.skip_batch:
            many_eras(args.eras, args.models, args.batch_tickers)


if __name__ == "__main__":
    main()

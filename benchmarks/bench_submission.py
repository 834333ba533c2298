"""Benchmark: submission ingestion (parse -> validate against the store -> versioned write).

Run: python benchmarks/bench_submission.py [--tickers 6000] [--history-dates 100] [--repeat 3]

Builds a synthetic store (6000 tickers, ~150 trading days) in a temporary directory, then
times, best of ``--repeat``:

1. a live file: one date, the whole universe plus 2 % unknown ids, as CSV bytes, through
   ``parse_submission``, ``validate_for_store`` and ``store_submission`` (a new version and
   an identical re-upload, stored as research history: the live-clock store has no open round); baseline in the same run: ``pandas.read_csv`` followed by
   numerai-tools' ``validate_submission_signals`` on the same bytes and universe (which
   checks less: no id mapping, no line numbers, no per-date rules);
2. a history file: the universe on the last ``--history-dates`` days (a diagnostics-style
   upload) through parse, validate and store; baselines: ``pandas.read_csv`` of the same
   bytes, typed and as text (``dtype=str``, what the parser needs to quote bad values).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from metasignal.data.generate import generate_store  # noqa: E402
from metasignal.data.store import Store  # noqa: E402
from metasignal.data.synthetic import SyntheticConfig  # noqa: E402
from metasignal.signals.storage import create_model, store_submission  # noqa: E402
from metasignal.signals.submission import parse_submission, validate_for_store  # noqa: E402


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=6000)
    parser.add_argument("--history-dates", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from numerai_tools.submissions import validate_submission_signals

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(Path(folder) / "bench.duckdb", create=True)
        began = time.perf_counter()
        generate_store(store, SyntheticConfig(n_tickers=args.tickers, years=0.6, seed=5))
        print(f"store: {args.tickers} tickers, {len(store.trading_days())} days, built in {time.perf_counter() - began:.1f} s")
        create_model(store, "bench")
        day = store.last_date()
        universe = store.universe(day)
        unknown = [f"ZZ{i:04d} US" for i in range(len(universe) // 50)]
        ids = list(universe) + unknown
        live = pd.DataFrame({"numerai_ticker": ids, "signal": rng.random(len(ids))}).to_csv(index=False).encode()

        t_parse, parsed = best(lambda: parse_submission(live), args.repeat)
        t_validate, validated = best(lambda: validate_for_store(store, parsed), args.repeat)
        t_first, receipt = best(lambda: store_submission(store, "bench", validated, backfill=True), 1)
        t_again, again = best(lambda: store_submission(store, "bench", validated, backfill=True), args.repeat)
        ours = t_parse + t_validate

        def baseline():
            frame = pd.read_csv(io.BytesIO(live))
            return validate_submission_signals(pd.DataFrame({"numerai_ticker": universe}), frame)

        t_base, base = best(baseline, args.repeat)
        assert len(base[3]) == validated.n_accepted == len(universe)
        assert receipt.entries[0].new_version and not again.entries[0].new_version
        print(f"\nlive file: {len(ids)} rows ({len(live) / 2**20:.2f} MiB), {validated.n_accepted} accepted, "
              f"{validated.n_dropped} dropped")
        print(f"  parse              {t_parse * 1e3:8.1f} ms")
        print(f"  validate_for_store {t_validate * 1e3:8.1f} ms")
        print(f"  store (new)        {t_first * 1e3:8.1f} ms")
        print(f"  store (identical)  {t_again * 1e3:8.1f} ms")
        print(f"  baseline read_csv + numerai-tools validate: {t_base * 1e3:.1f} ms; "
              f"parse+validate / baseline = {ours / t_base:.2f}x")

        days = store.trading_days()[-args.history_dates:]
        frames = [
            pd.DataFrame({"date": d.strftime("%Y-%m-%d"), "numerai_ticker": store.universe(d)}) for d in days
        ]
        history = pd.concat(frames, ignore_index=True)
        history["signal"] = rng.random(len(history))
        data = history.to_csv(index=False).encode()
        t_hparse, hparsed = best(lambda: parse_submission(data, max_bytes=2**31), args.repeat)
        t_hvalidate, hvalidated = best(lambda: validate_for_store(store, hparsed), args.repeat)
        t_hstore, _ = best(lambda: store_submission(store, "bench", hvalidated, backfill=True), 1)
        t_read, _ = best(lambda: pd.read_csv(io.BytesIO(data)), args.repeat)
        t_read_text, _ = best(lambda: pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False), args.repeat)
        print(f"\nhistory file: {len(history):,} rows, {len(days)} dates ({len(data) / 2**20:.1f} MiB), "
              f"{hvalidated.n_accepted:,} accepted")
        print(f"  parse              {t_hparse:8.2f} s")
        print(f"  validate_for_store {t_hvalidate:8.2f} s")
        print(f"  store (new)        {t_hstore:8.2f} s")
        print(f"  baseline read_csv (typed): {t_read:.2f} s; parse / it = {t_hparse / t_read:.1f}x, "
              f"parse+validate / it = {(t_hparse + t_hvalidate) / t_read:.1f}x")
        print(f"  baseline read_csv (as text, what parse needs for messages): {t_read_text:.2f} s; "
              f"parse / it = {t_hparse / t_read_text:.2f}x")
        store.close()


if __name__ == "__main__":
    main()

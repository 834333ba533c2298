"""Benchmark: the HTTP upload API under a burst of concurrent uploads (`metasignal serve`).

Run: python benchmarks/bench_api.py [--uploads 200] [--rows 5000] [--retry-uploads 20]

1. Builds a store in a temporary directory (`metasignal data generate --tickers 5000 --years 1
   --tail-weeks 8`), a user and one model per upload, and N distinct CSV files of ``--rows``
   tickers of the universe of the round an upload made now goes to.
2. Baseline, in the same run: the same N files stored serially in-process with
   ``metasignal.signals.storage.submit`` on a copy of the store.
3. Starts `metasignal serve` as a subprocess, waits for /health, then fires the N uploads at
   once from N client threads over loopback while a poller asks /health every 50 ms. Prints
   throughput (and its ratio to the baseline), latency percentiles, /health latency during the
   burst and the non-201 replies by status.
4. Retry scenario: ``--retry-uploads`` more uploads at once from clients whose first attempt
   times out after 0.2 s and that retry (up to 3 attempts, the burst's timeout) with the same
   ``Idempotency-Key``; counts the retries answered with the original receipt
   (``Idempotent-Replayed: true``) and the uploads the server processed (its audit log).
5. Stops the server and checks from the store that every acknowledged upload is stored exactly
   once (versions per model against acknowledgements: 0 lost, 0 doubled).

Only the HTTP contract of metasignal/api.py is used, so the figures follow the server's internals.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from metasignal.data.store import Store  # noqa: E402
from metasignal.signals import accounts, storage  # noqa: E402

TARGETS = {"concurrent": 200, "p99_s": 10.0, "health_s": 0.5}
HEALTH_EVERY = 0.05
RETRY_TIMEOUT = 0.2  # the first attempt's timeout in the retry scenario (shorter than an upload under load)
RETRY_ATTEMPTS = 3


@dataclass
class Reply:
    """One upload as the client saw it."""

    model: str
    status: int | None  # None: no answer (a transport error)
    seconds: float
    error: str = ""
    attempts: int = 1
    replayed: list[bool] = field(default_factory=list)  # per retry answered: Idempotent-Replayed
    new_version: list[bool] = field(default_factory=list)  # per retry answered with 201: the receipt's new_version


def metasignal(db: Path, *args: str) -> str:
    """Run the CLI on ``db``; its stdout (exits on failure)."""
    done = subprocess.run([sys.executable, "-m", "metasignal", "--db", str(db), *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"metasignal {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def prepare(db: Path, n_models: int, rows: int, seed: int = 0) -> tuple[str, list[str], dict[str, bytes]]:
    """A user, ``n_models`` models and one distinct CSV file each: (key, models, files)."""
    rng = np.random.default_rng(seed)
    with Store.open(db) as store:
        storage.ensure_tables(store)
        accounts.ensure_tables(store)
        _, key = accounts.create_user(store, "bench")
        round_ = storage.current_round(store)
        universe = list(store.universe(store.as_of(round_.data_date)))
        if len(universe) < rows:
            sys.exit(f"the universe holds {len(universe)} tickers, fewer than --rows {rows}")
        models = [f"bench_{i:04d}" for i in range(n_models)]
        files = {}
        for model in models:
            storage.create_model(store, model, owner="bench")
            tickers = rng.choice(universe, size=rows, replace=False)
            frame = pd.DataFrame({"numerai_ticker": tickers, "signal": rng.random(rows)})
            files[model] = frame.to_csv(index=False).encode()
    size = np.mean([len(f) for f in files.values()]) / 2**10
    print(f"round {round_.data_date:%Y-%m-%d} (deadline {round_.deadline:%Y-%m-%d %H:%M} UTC), universe "
          f"{len(universe)}; {n_models} models, one file each of {rows} rows ({size:.0f} KiB)")
    return key, models, files


def baseline(db: Path, models: list[str], files: dict[str, bytes]) -> float:
    """Seconds to store the files serially in-process with ``storage.submit``."""
    with Store.open(db) as store:
        began = time.perf_counter()
        for model in models:
            storage.submit(store, model, files[model], filename=f"{model}.csv")
        return time.perf_counter() - began


def start_server(db: Path, port: int, log: Path) -> subprocess.Popen:
    """`metasignal serve` on ``port``, once /health answers."""
    handle = log.open("wb")
    server = subprocess.Popen([sys.executable, "-m", "metasignal", "--db", str(db), "serve", "--port", str(port)],
                              stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            sys.exit(f"the server did not come up: {log.read_text()[-2000:]}")
        time.sleep(0.2)


def upload(base: str, key: str, model: str, data: bytes, *, timeout: float, attempts: int, gate: threading.Barrier,
           replies: list[Reply], first_timeout: float | None = None) -> None:
    """One upload, retried with the same Idempotency-Key on a timeout or transport error
    (``first_timeout``: the first attempt's timeout, ``timeout`` the others')."""
    idempotency_key = uuid.uuid4().hex
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key}
    with httpx.Client(base_url=base, headers=headers, timeout=timeout) as client:
        gate.wait()
        began = time.perf_counter()
        reply = Reply(model, None, 0.0)
        for attempt in range(1, attempts + 1):
            reply.attempts = attempt
            try:
                response = client.post(f"/models/{model}/submissions",
                                       files={"file": (f"{model}.csv", data, "text/csv")},
                                       timeout=first_timeout if attempt == 1 and first_timeout else timeout)
            except httpx.TransportError as error:
                reply.error = type(error).__name__
                continue
            reply.status, reply.error = response.status_code, ""
            if attempt > 1:
                reply.replayed.append(response.headers.get("idempotent-replayed", "").lower() == "true")
                if response.status_code == 201:
                    reply.new_version.append(bool(response.json()["dates"][0]["new_version"]))
            if response.status_code != 201:
                reply.error = response.text[:200]
            break
        reply.seconds = time.perf_counter() - began
        replies.append(reply)


def burst(base: str, key: str, models: list[str], files: dict[str, bytes], *, timeout: float, attempts: int,
          first_timeout: float | None = None) -> tuple[list[Reply], float, list[float], int]:
    """All uploads at once, /health polled meanwhile: (replies, wall seconds, health latencies, health failures)."""
    replies: list[Reply] = []
    gate = threading.Barrier(len(models) + 1)
    threads = [threading.Thread(target=upload, args=(base, key, m, files[m]),
                                kwargs=dict(timeout=timeout, attempts=attempts, gate=gate, replies=replies,
                                            first_timeout=first_timeout))
               for m in models]
    for thread in threads:
        thread.start()
    health: list[float] = []
    failures = [0]
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while not done.is_set():
                began = time.perf_counter()
                try:
                    client.get("/health").raise_for_status()
                    health.append(time.perf_counter() - began)
                except httpx.HTTPError:
                    failures[0] += 1
                done.wait(max(0.0, HEALTH_EVERY - (time.perf_counter() - began)))

    poller = threading.Thread(target=poll)
    gate.wait()
    began = time.perf_counter()
    poller.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    done.set()
    poller.join()
    return replies, wall, health, failures[0]


def stored_versions(db: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Per model: submission versions stored, and uploads the server processed (its audit log)."""
    with Store.open(db) as store:
        rows = store.con.execute("SELECT model, count(*) FROM submissions GROUP BY model").fetchall()
        log = accounts.audit_log(store)
    processed = log.loc[log["action"] == "upload", "target"].value_counts()
    return {model: int(n) for model, n in rows}, {str(m): int(n) for m, n in processed.items()}


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--tickers", type=int, default=5000)
    parser.add_argument("--retry-uploads", type=int, default=20, help="0 skips the retry scenario")
    parser.add_argument("--timeout", type=float, default=600.0, help="client timeout of the burst, seconds")
    args = parser.parse_args()
    if args.rows > args.tickers:
        parser.error("--rows must not exceed --tickers")

    with tempfile.TemporaryDirectory() as folder:
        db, copy = Path(folder) / "bench.duckdb", Path(folder) / "baseline.duckdb"
        print(f"load average at the start: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs")
        began = time.perf_counter()
        metasignal(db, "data", "generate", "--tickers", str(args.tickers), "--years", "1", "--tail-weeks", "8")
        print(f"store: {args.tickers} tickers, 1 year, built in {time.perf_counter() - began:.1f} s")
        key, models, files = prepare(db, args.uploads + args.retry_uploads, args.rows)
        burst_models, retry_models = models[:args.uploads], models[args.uploads:]
        shutil.copyfile(db, copy)

        t_base = baseline(copy, burst_models, files)
        base_rate = len(burst_models) / t_base
        print(f"\nbaseline: {len(burst_models)} uploads serially in-process (storage.submit): {t_base:.1f} s, "
              f"{base_rate:.1f} uploads/s, {t_base / len(burst_models) * 1e3:.0f} ms each")

        port = free_port()
        server = start_server(db, port, Path(folder) / "server.log")
        base = f"http://127.0.0.1:{port}"
        try:
            replies, wall, health, health_failures = burst(base, key, burst_models, files, timeout=args.timeout,
                                                           attempts=1)
            retried: list[Reply] = []
            if retry_models:
                retried, _, _, _ = burst(base, key, retry_models, files, timeout=args.timeout,
                                         attempts=RETRY_ATTEMPTS, first_timeout=RETRY_TIMEOUT)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

        latencies = sorted(r.seconds for r in replies if r.status == 201)
        statuses: dict[str, int] = {}
        for r in replies:
            if r.status != 201:
                label = str(r.status) if r.status is not None else f"no answer ({r.error})"
                statuses[label] = statuses.get(label, 0) + 1
        rate = len(latencies) / wall
        p99 = percentile(latencies, 99)
        health_max = max(health) if health else float("nan")
        print(f"\nserver: {len(replies)} concurrent uploads in {wall:.1f} s: {rate:.1f} acknowledged uploads/s, "
              f"{rate / base_rate:.2f}x the in-process baseline")
        print(f"  latency (201s)  p50 {percentile(latencies, 50):.2f} s   p90 {percentile(latencies, 90):.2f} s   "
              f"p99 {p99:.2f} s   max {max(latencies, default=float('nan')):.2f} s")
        print(f"  /health during the burst: {len(health)} answers, p99 {percentile(health, 99):.3f} s, "
              f"max {health_max:.3f} s, {health_failures} failed")
        print(f"  non-201 replies: {sum(statuses.values())}" + (f" ({statuses})" if statuses else ""))
        for r in [r for r in replies if r.status != 201][:3]:
            print(f"    {r.model}: {r.status} {r.error[:120]}")

        stored, processed = stored_versions(db)
        acked = {r.model for r in replies if r.status == 201}
        lost = sum(1 for m in acked if stored.get(m, 0) == 0)
        doubled = sum(max(0, stored.get(m, 0) - 1) for m in burst_models)
        unacked_stored = sum(1 for r in replies if r.status != 201 and stored.get(r.model, 0) > 0)
        print(f"  store: {len(acked)} acknowledged, {sum(stored.get(m, 0) for m in burst_models)} versions stored; "
              f"lost {lost}, doubled {doubled}, stored without acknowledgement {unacked_stored}")

        if retried:
            with_retry = [r for r in retried if r.attempts > 1]
            answered = [flag for r in retried for flag in r.replayed]
            r_acked = {r.model for r in retried if r.status == 201}
            r_lost = sum(1 for m in r_acked if stored.get(m, 0) == 0)
            r_doubled = sum(max(0, stored.get(m, 0) - 1) for m in retry_models)
            r_statuses: dict[str, int] = {}
            for r in retried:
                label = "201" if r.status == 201 else str(r.status) if r.status else f"no answer ({r.error})"
                r_statuses[label] = r_statuses.get(label, 0) + 1
            fresh = sum(flag for r in retried for flag in r.new_version)
            print(f"\nretry scenario: {len(retried)} concurrent uploads whose first attempt times out after "
                  f"{RETRY_TIMEOUT:g} s; retries (up to {RETRY_ATTEMPTS} attempts, timeout {args.timeout:.0f} s) "
                  "send the same Idempotency-Key")
            print(f"  {len(with_retry)} uploads timed out and retried; {len(answered)} retries answered, "
                  f"{sum(answered)} with the original receipt (Idempotent-Replayed: true), "
                  f"{fresh} with new_version true; outcomes {r_statuses}")
            print(f"  store: lost {r_lost}, doubled (extra versions) {r_doubled}; the server processed "
                  f"{sum(processed.get(m, 0) for m in retry_models)} uploads for {len(retry_models)} files "
                  "(audit log: a retry that was not replayed is processed again, an identical re-upload "
                  "adds no version)")

        print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (1 min; other processes share the machine)")
        print("\ntargets")
        print(f"  concurrent uploads  {len(replies):>8}   target {TARGETS['concurrent']:>6}   "
              f"{verdict(len(replies) >= TARGETS['concurrent'])}")
        print(f"  lost                {lost:>8}   target {0:>6}   {verdict(lost == 0)}")
        print(f"  doubled             {doubled:>8}   target {0:>6}   {verdict(doubled == 0)}")
        print(f"  non-201             {sum(statuses.values()):>8}   target {0:>6}   {verdict(not statuses)}")
        print(f"  latency p99 (s)     {p99:>8.2f}   target < {TARGETS['p99_s']:<4}   {verdict(p99 < TARGETS['p99_s'])}")
        print(f"  /health max (s)     {health_max:>8.3f}   target < {TARGETS['health_s']:<4}   "
              f"{verdict(health_max < TARGETS['health_s'] and health_failures == 0)}")


if __name__ == "__main__":
    main()

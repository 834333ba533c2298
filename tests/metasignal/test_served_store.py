"""One store, many processes: while `metasignal serve` owns a store and takes uploads, the fund's
daily commands run from the command line (forwarded to the server as jobs) and succeed, and
every acknowledged upload is stored exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pandas as pd
import pytest

from metasignal.data.store import Store
from metasignal.served_store import find_server, server_file
from metasignal.signals.storage import current_round

pytestmark = pytest.mark.slow


def _cli(db, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metasignal", "--db", str(db), *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "COLUMNS": "200"})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_daily_jobs_run_while_the_server_takes_uploads(tmp_path):
    db = tmp_path / "fund.duckdb"
    assert _cli(db, "data", "generate", "--tickers", "300", "--years", "1", "--tail-weeks", "20").returncode == 0
    key = next(word for word in _cli(db, "users", "create", "ann").stdout.split() if word.startswith("msk_"))
    assert _cli(db, "models", "create", "alpha", "--owner", "ann").returncode == 0
    with Store.open(db) as store:
        tickers = list(store.universe(store.as_of(current_round(store).data_date)))

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "metasignal", "--db", str(db), "serve", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert find_server(db) is not None

        acknowledged, failures, stop = [], [], threading.Event()

        def upload_until_stopped() -> None:
            rng = np.random.default_rng(0)
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
                while not stop.is_set():
                    frame = pd.DataFrame({"ticker": tickers, "signal": rng.random(len(tickers))})
                    reply = client.post("/models/alpha/submissions",
                                        files={"file": ("s.csv", frame.to_csv(index=False).encode())})
                    (acknowledged if reply.status_code == 201 else failures).append(reply)

        uploader = threading.Thread(target=upload_until_stopped)
        uploader.start()
        try:
            read = _cli(db, "data", "info")
            assert read.returncode == 0, read.stderr
            assert "data known through" in read.stdout
            resolved = _cli(db, "rounds", "resolve")
            assert resolved.returncode == 0, resolved.stderr
            assert "paid" in resolved.stdout
            book = _cli(db, "portfolio")
            assert book.returncode == 0, book.stderr
            assert "net exposure per sector" in book.stdout
            board = _cli(db, "leaderboard")
            assert board.returncode == 0, board.stderr
        finally:
            stop.set()
            uploader.join(120)
        assert not failures, [r.text for r in failures[:3]]
        assert len(acknowledged) >= 3  # uploads kept committing while the jobs ran
        versions = sorted(r.json()["dates"][0]["version"] for r in acknowledged)
        assert versions == list(range(1, len(acknowledged) + 1))  # each acknowledged once, none lost
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert not server_file(db).exists()  # the announcement goes with the server
    with Store.open(db) as store:
        stored = store.one("SELECT count(*), max(version) FROM submissions WHERE model = 'alpha'")
    assert stored == (len(acknowledged), len(acknowledged))
    assert _cli(db, "data", "info").returncode == 0  # and the store is the command line's again

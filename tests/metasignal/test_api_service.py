"""The upload server as a service: idempotent retries, bounded bodies and slow clients, store
faults as one-line JSON, jobs run inside the server, /health that never waits.

In-process cases use FastAPI's TestClient; timing cases run a real uvicorn server on a free
port (the store of tests/metasignal/test_api.py: replay clock at the opening of round 2024-01-05).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time

import duckdb
import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from metasignal.api import create_app
from metasignal.data.clock import Clock
from metasignal.http_limits import HeaderTimeoutH11Protocol
from metasignal.signals import storage
from metasignal.signals.accounts import audit_log, create_user
from metasignal.signals.round_calendar import RoundCalendar
from tests.signals.submission_fixtures import (
    DAYS,
    build_store,
    submission_csv,
    universe_members,
    write_adversarial_files,
)
from tests.metasignal.live_server import live_server

ROUND_DAY, EARLIER = pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-04")  # known at the clock
MEMBERS = list(universe_members(ROUND_DAY))
ROUND = RoundCalendar().round_of("2024-01-05")
KEYS: dict[str, str] = {}


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[user]}"}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("service") / "template.duckdb"
    with build_store(path) as store:
        store.set_clock(Clock("replay", ROUND.opens))
        for name, role in (("ann", "participant"), ("bob", "participant"), ("ops", "operator")):
            KEYS[name] = create_user(store, name, role)[1]
        storage.create_model(store, "alpha", owner="ann")
    return path


@pytest.fixture
def db(template, tmp_path):
    path = tmp_path / "store.duckdb"
    shutil.copyfile(template, path)
    return path


@pytest.fixture(scope="module")
def adversarial_files(tmp_path_factory):
    return write_adversarial_files(tmp_path_factory.mktemp("adversarial"))


def _upload(client, data: bytes, *, headers=None, model="alpha"):
    return client.post(f"/models/{model}/submissions", files={"file": ("sub.csv", data, "text/csv")},
                       headers=headers or {})


def _versions(app) -> int:
    return app.state.store.con.execute("SELECT count(*) FROM submissions").fetchone()[0]


# --------------------------------------------------------------------------- idempotency
def test_a_retry_with_the_same_key_gets_the_original_receipt_even_after_the_deadline(db):
    app = create_app(db)
    with TestClient(app, headers=bearer("ann")) as client:
        first = _upload(client, submission_csv(MEMBERS[:120]), headers={"Idempotency-Key": "try-1"})
        assert first.status_code == 201 and first.json()["dates"][0]["status"] == "on_time"
        app.state.store.set_clock(Clock("replay", ROUND.deadline + pd.Timedelta(hours=3)))  # the client retries late
        retry = _upload(client, submission_csv(MEMBERS[:120]), headers={"Idempotency-Key": "try-1"})
        assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
        assert retry.json() == first.json()
        assert _versions(app) == 1
        reused = _upload(client, submission_csv(MEMBERS[:110]), headers={"Idempotency-Key": "try-1"})
        assert reused.status_code == 422 and "used for a different upload" in reused.json()["error"]
        bad = _upload(client, submission_csv(MEMBERS[:120]), headers={"Idempotency-Key": "has space"})
        assert bad.status_code == 422 and "invalid Idempotency-Key" in bad.json()["error"]


def test_uploads_checked_in_a_worker_process_match_the_in_thread_path(db, tmp_path):
    shutil.copyfile(db, tmp_path / "twin.duckdb")
    file = submission_csv(MEMBERS[:120] + ["NOPE US"])
    broken = submission_csv(MEMBERS[:50])  # too few tickers: a SubmissionError from the worker
    replies = {}
    for processes, path in ((1, db), (0, tmp_path / "twin.duckdb")):
        app = create_app(path, upload_processes=processes)
        with TestClient(app, headers=bearer("ann")) as client:
            good = _upload(client, file)
            bad = _upload(client, broken)
            history = client.post("/models/alpha/submissions", data={"backfill": "true"}, files={
                "file": ("h.csv", submission_csv(list(universe_members(EARLIER))[:120], date=EARLIER) +
                         submission_csv(MEMBERS[:120], date=ROUND_DAY).split(b"\n", 1)[1])})
        replies[processes] = (good, bad, history)
    for worker, thread in zip(replies[1], replies[0]):
        assert worker.status_code == thread.status_code
        assert worker.json() == thread.json()
    good, bad, history = replies[1]
    assert good.status_code == 201 and good.json()["dropped_ids"] == ["NOPE US"]
    assert bad.status_code == 422 and bad.json()["rule"] == "too_few_tickers"
    assert history.status_code == 201 and [d["date"] for d in history.json()["dates"]] == ["2024-01-04", "2024-01-05"]


def test_keys_belong_to_their_user(db):
    app = create_app(db)
    with TestClient(app) as client:
        mine = _upload(client, submission_csv(MEMBERS[:120]), headers={**bearer("ann"), "Idempotency-Key": "k"})
        other = _upload(client, submission_csv(MEMBERS[:130]), headers={**bearer("ops"), "Idempotency-Key": "k"})
        assert mine.status_code == other.status_code == 201
        assert "Idempotent-Replayed" not in other.headers and other.json()["dates"][0]["version"] == 2


# --------------------------------------------------------------------------- bodies and faults
def test_a_chunked_body_is_cut_off_at_the_limit_and_nothing_is_stored(db):
    app = create_app(db, max_bytes=20_000)
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()
    def body():  # no Content-Length: the server only learns the size by counting
        yield head
        for _ in range(2_000):
            yield b"x" * 1_000

    with TestClient(app, headers=bearer("ann")) as client:
        reply = client.post("/models/alpha/submissions", content=body(),
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert reply.status_code == 413 and reply.json()["rule"] == "file_too_large"
        assert _versions(app) == 0


def test_a_full_disk_is_a_one_line_507_and_nothing_is_stored(db, monkeypatch):
    def disk_full(*_args, **_kwargs):
        raise duckdb.IOException('IO Error: Could not write file "store.duckdb.wal": No space left on device')

    monkeypatch.setattr(storage, "write_submission", disk_full)
    app = create_app(db)
    with TestClient(app, headers=bearer("ann")) as client:
        reply = _upload(client, submission_csv(MEMBERS[:120]))
        assert reply.status_code == 507
        error = reply.json()["error"]
        assert error.startswith("the store's disk is full; nothing of this request was stored") and "\n" not in error
        assert _versions(app) == 0


@pytest.mark.parametrize("rule", ["too_many_rows", "too_many_columns"])
def test_the_server_rejects_adversarial_files_fast(db, adversarial_files, rule):
    app = create_app(db)
    content = adversarial_files[rule].read_bytes()
    with TestClient(app, headers=bearer("ann")) as client:
        began = time.monotonic()
        reply = client.post("/models/alpha/submissions", files={"file": ("adversarial", content)})
        assert time.monotonic() - began < 2.0
        assert reply.status_code == 422 and reply.json()["rule"] == rule and len(reply.content) < 2_000
        assert _versions(app) == 0


# --------------------------------------------------------------------------- jobs
def test_jobs_run_commands_in_the_server_for_operators_and_the_job_token(db):
    app = create_app(db, job_token="local-secret")
    with TestClient(app) as client:
        assert client.post("/jobs", json={"argv": ["data", "info"]}).status_code == 401
        assert client.post("/jobs", json={"argv": ["data", "info"]}, headers=bearer("ann")).status_code == 403
        assert client.post("/jobs", json={"argv": ["serve"]}, headers=bearer("ops")).status_code == 422
        assert client.post("/jobs", json={"argv": ["--db", "x", "data", "info"]},
                           headers=bearer("ops")).status_code == 422
        token = {"X-Metasignal-Job-Token": "local-secret"}
        started = client.post("/jobs", json={"argv": ["data", "info"]}, headers=token)
        assert started.status_code == 202
        job = started.json()
        for _ in range(200):
            job = client.get(f"/jobs/{job['id']}", headers=token).json()
            if job["state"] == "done":
                break
            time.sleep(0.05)
        assert job["exit_code"] == 0 and "data known through" in job["stdout"] and "2024-01-05" in job["stdout"]
        failed = client.post("/jobs", json={"argv": ["models", "create", "alpha"]}, headers=bearer("ops")).json()
        for _ in range(200):
            failed = client.get(f"/jobs/{failed['id']}", headers=bearer("ops")).json()
            if failed["state"] == "done":
                break
            time.sleep(0.05)
        assert failed["exit_code"] == 1 and "already exists" in failed["stderr"]
        assert client.get("/jobs/nope", headers=token).status_code == 404
        actions = audit_log(app.state.store)
        assert {"job"} <= set(actions["action"]) and "command line" in set(actions["actor"])


# --------------------------------------------------------------------------- a real server
def _multipart(data: bytes, boundary: str = "zz") -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()


def test_slow_clients_are_timed_out_and_health_never_waits(db):
    app = create_app(db, idle_timeout=0.5, body_timeout=3.0)
    protocol = type("Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": 0.5})
    with live_server(app, http=protocol) as (url, server):
        port = int(url.rsplit(":", 1)[1])
        # headers never finished: the connection is closed after the header timeout
        with socket.create_connection(("127.0.0.1", port)) as silent:
            silent.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            silent.settimeout(5)
            began = time.monotonic()
            assert silent.recv(1024) == b""
            assert time.monotonic() - began < 2.0
        # a body that stalls: 408 after the idle timeout, nothing stored
        body = _multipart(submission_csv(MEMBERS[:120]))
        with socket.create_connection(("127.0.0.1", port)) as drip:
            drip.sendall((f"POST /models/alpha/submissions HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: Bearer {KEYS['ann']}\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:100])
            drip.settimeout(5)
            began = time.monotonic()
            reply = b""
            while chunk := drip.recv(4096):  # the server closes the connection after its reply
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 408") and b"body_timeout" in reply
            assert time.monotonic() - began < 2.5
        # while the commit lock is held (a commit in progress), /health answers at once
        service = app.state.service
        with service.commit_lock:
            pending = threading.Thread(target=lambda: httpx.post(
                f"{url}/models/alpha/submissions", files={"file": ("s.csv", submission_csv(MEMBERS[:120]))},
                headers=bearer("ann"), timeout=30))
            pending.start()
            for _ in range(100):
                if service.uploads_in_progress:
                    break
                time.sleep(0.02)
            began = time.monotonic()
            health = httpx.get(f"{url}/health", timeout=5).json()
            assert time.monotonic() - began < 0.5 and health["uploads_in_progress"] == 1
        pending.join(30)
        assert _versions(app) == 1

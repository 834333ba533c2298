"""metasignal.client and `metasignal submit --server`: uploads to a real server, credentials, retries.

A uvicorn server runs the upload API in a thread on a free port over the small submission store
(replay clock at the opening of the round of Friday 2024-01-05; deadline 2024-01-07 14:00 UTC).
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from metasignal.api import create_app
from metasignal.client import SignalsClient, read_config, receipt_from_json
from metasignal.data.clock import Clock
from metasignal.errors import AuthenticationError, ConfigurationError, NetworkError, ServerError
from metasignal.signals.accounts import create_user
from metasignal.signals.round_calendar import RoundCalendar
from metasignal.signals.storage import create_model
from tests.metasignal.cli_runner import cli, one_line_error
from tests.signals.submission_fixtures import DAYS, build_store, submission_csv, universe_members

MEMBERS = list(universe_members(DAYS[-1]))
ROUND = RoundCalendar().round_of("2024-01-05")
KEYS: dict[str, str] = {}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of a live upload API; ann owns alpha and beta, bob owns bobs."""
    path = tmp_path_factory.mktemp("client") / "server.duckdb"
    with build_store(path) as store:
        store.set_clock(Clock("replay", ROUND.opens))
        for name in ("ann", "bob"):
            KEYS[name] = create_user(store, name)[1]
        for model, owner in (("alpha", "ann"), ("beta", "ann"), ("bobs", "bob")):
            create_model(store, model, owner=owner)
    port = _free_port()
    running = uvicorn.Server(uvicorn.Config(create_app(path), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """No credentials from the machine: an empty HOME, no client variables, no store."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("METASIGNAL_API_KEY", "METASIGNAL_SERVER", "METASIGNAL_CONFIG", "METASIGNAL_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def signal_file(tmp_path):
    file = tmp_path / "sig.csv"
    file.write_bytes(submission_csv(MEMBERS[:120] + ["NOPE US"]))
    return file


def _write_config(path, text: str, mode: int = 0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_submit_to_the_server_with_the_key_from_the_environment(server, home, signal_file, capsys, monkeypatch):
    monkeypatch.setenv("METASIGNAL_API_KEY", KEYS["ann"])
    code, out, err = cli(capsys, monkeypatch, "submit", signal_file, "--model", "alpha", "--server", server)
    assert code == 0, err
    assert f"uploaded to {server}" in out
    assert "accepted 120 tickers, dropped 1 for model alpha on 2024-01-05: version 1" in out
    assert "on time for round 2024-01-05 (deadline 2024-01-07 14:00 UTC)" in out
    assert "dropped ids (unknown or outside the universe): NOPE US" in out
    assert not (home / "metasignal.duckdb").exists()  # no local store was opened or made
    code, out, _ = cli(capsys, monkeypatch, "submit", signal_file, "--model", "alpha", "--server", server, "--json")
    receipt = json.loads(out)
    assert code == 0 and receipt["dates"][0]["version"] == 1 and receipt["dates"][0]["new_version"] is False
    with SignalsClient(server, KEYS["ann"]) as client:
        listed = client.submissions("alpha")
    assert [(s["date"], s["version"]) for s in listed] == [("2024-01-05", 1)]


def test_server_from_the_environment_only_when_no_store_is_named(server, home, signal_file, capsys, monkeypatch):
    monkeypatch.setenv("METASIGNAL_API_KEY", KEYS["ann"])
    monkeypatch.setenv("METASIGNAL_SERVER", server)
    code, out, err = cli(capsys, monkeypatch, "submit", signal_file, "--model", "beta")
    assert code == 0 and f"uploaded to {server}" in out, err
    # naming a store keeps the upload local (here: a store that does not exist, a one-line error)
    one_line_error(cli(capsys, monkeypatch, "--db", home / "none.duckdb", "submit", signal_file, "--model", "beta"),
                   "none.duckdb")


def test_the_key_from_the_config_file(server, home, signal_file, capsys, monkeypatch):
    _write_config(home / ".config" / "metasignal" / "client.toml",
                  f'[client]\nserver = "{server}"\napi_key = "{KEYS["bob"]}"\n')
    code, out, err = cli(capsys, monkeypatch, "submit", signal_file, "--model", "bobs", "--server", server)
    assert code == 0 and "for model bobs on 2024-01-05" in out, err
    with SignalsClient.from_environment() as client:  # the server from the file too
        assert client.server_url == server and client.clock()["open_round"]["round"] == "2024-01-05"
    # the key is someone else's model: the server's 403 line
    one_line_error(cli(capsys, monkeypatch, "submit", signal_file, "--model", "alpha", "--server", server),
                   "403", "may not upload to")


def test_a_config_file_with_a_key_readable_by_others_is_refused(home, monkeypatch):
    path = _write_config(home / "loose.toml", '[client]\napi_key = "msk_x"\n', mode=0o644)
    monkeypatch.setenv("METASIGNAL_CONFIG", str(path))
    with pytest.raises(ConfigurationError, match="readable by others .*chmod 600"):
        read_config()
    path.chmod(0o600)
    assert read_config() == {"api_key": "msk_x"}
    _write_config(path, '[client]\napikey = "msk_x"\n')
    with pytest.raises(ConfigurationError, match="unknown key 'apikey'"):
        read_config()
    monkeypatch.setenv("METASIGNAL_CONFIG", str(home / "missing.toml"))
    with pytest.raises(ConfigurationError, match="does not exist"):
        read_config()


def test_a_missing_key_is_one_line(server, home, signal_file, capsys, monkeypatch):
    result = cli(capsys, monkeypatch, "submit", signal_file, "--model", "alpha", "--server", server)
    one_line_error(result, "no API key", "METASIGNAL_API_KEY", "metasignal users create NAME")
    with pytest.raises(AuthenticationError):
        SignalsClient.from_environment(server)


def test_a_wrong_key_is_the_401_line(server, home, signal_file, capsys, monkeypatch):
    monkeypatch.setenv("METASIGNAL_API_KEY", "msk_not_a_key")
    result = cli(capsys, monkeypatch, "submit", signal_file, "--model", "alpha", "--server", server)
    one_line_error(result, "refused the API key (401", "metasignal users create NAME")


def test_server_errors_carry_status_and_message(server, home, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("METASIGNAL_API_KEY", KEYS["ann"])
    bad = tmp_path / "bad.csv"
    bad.write_bytes(submission_csv(MEMBERS[:20]))
    one_line_error(cli(capsys, monkeypatch, "submit", bad, "--model", "alpha", "--server", server), "422")
    with SignalsClient(server, KEYS["ann"]) as client:
        with pytest.raises(ServerError) as raised:
            client.upload("nobody", bad)
        assert raised.value.status == 404 and "unknown model 'nobody'" in str(raised.value)
        made = client.create_model("gamma")
        assert made["owner"] == "ann" and "gamma" in [m["name"] for m in client.models()]
        with pytest.raises(ServerError, match="409"):
            client.create_model("gamma")
    one_line_error(cli(capsys, monkeypatch, "submit", bad, "--model", "alpha", "--server", server,
                       "--min-tickers", "5"), "--min-tickers")


def test_an_unreachable_server_is_one_line_after_the_retries(home, signal_file):
    with SignalsClient(f"http://127.0.0.1:{_free_port()}", "msk_x", backoff=0.01) as client:
        with pytest.raises(NetworkError, match="after 3 attempts"):
            client.upload("alpha", signal_file)


def _receipt() -> dict:
    return {"model": "alpha", "uploaded_at": "2024-01-06T12:00:00", "id_column": "numerai_ticker",
            "n_accepted": 120, "n_dropped": 0, "dropped_ids": [], "warnings": [],
            "dates": [{"date": "2024-01-05", "version": 1, "new_version": True, "n_accepted": 120, "n_dropped": 0,
                       "status": "on_time", "deadline": "2024-01-07T14:00:00Z", "queued_for": None}]}


def _flaky(first: str, keys: list[str]) -> httpx.MockTransport:
    """A server whose first answer to an upload is ``first`` (a timeout or a status), then a receipt."""

    def handle(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get("Idempotency-Key"))
        if len(keys) == 1:
            if first == "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            return httpx.Response(int(first), text="<html>bad gateway</html>")
        return httpx.Response(201, json=_receipt(), headers={"Idempotent-Replayed": "true"})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("first", ["timeout", "503"])
def test_a_retry_reuses_the_idempotency_key(first, signal_file):
    keys: list[str] = []
    with SignalsClient("http://signals.test", "msk_x", backoff=0.01, transport=_flaky(first, keys)) as client:
        body = client.upload("alpha", signal_file)
    assert body == _receipt() and len(keys) == 2
    assert keys[0] == keys[1] and len(keys[0]) == 32
    keys.clear()
    with SignalsClient("http://signals.test", "msk_x", backoff=0.01, transport=_flaky(first, keys)) as client:
        client.upload("alpha", signal_file, idempotency_key="mine-1")
        client.upload("alpha", signal_file)
    assert keys[:2] == ["mine-1", "mine-1"] and keys[2] not in ("mine-1", None)
    receipt = receipt_from_json(body)
    assert receipt.entries[0].deadline.isoformat() == "2024-01-07T14:00:00" and receipt.n_accepted == 120


def test_a_model_is_not_created_twice_by_a_retry(signal_file):
    keys: list[str] = []
    with SignalsClient("http://signals.test", "msk_x", backoff=0.01, transport=_flaky("timeout", keys)) as client:
        with pytest.raises(NetworkError, match="not retried"):
            client.create_model("gamma")
    assert len(keys) == 1

"""Finding the server that owns a store, and sending a command to it.

``metasignal serve`` announces itself next to the store in ``<store>.server.json`` (mode 0600:
its URL, process id and a job token). Whoever can read that file can read the store file
itself, so the token grants nothing the file system did not already grant. A command run on a
served store is forwarded to the server (:func:`forward`) and runs there as a job
(:mod:`metasignal.jobs`); its output is streamed back and its exit code becomes the command's.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from metasignal.data import atomic_write
from metasignal.errors import StoreError

JOB_TOKEN_HEADER = "X-Metasignal-Job-Token"
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int
    token: str
    store: str


def server_file(db_path: str | os.PathLike) -> Path:
    """Where the server of store ``db_path`` announces itself."""
    path = Path(db_path)
    return path.with_name(path.name + ".server.json")


def announce(db_path: str | os.PathLike, url: str) -> ServerInfo:
    """Write the announcement of a server at ``url`` for this process (atomic, mode 0600)."""
    info = ServerInfo(url=url.rstrip("/"), pid=os.getpid(), token=secrets.token_urlsafe(32),
                      store=str(Path(db_path).resolve()))

    def write(temporary: str) -> None:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(info.__dict__, handle)

    atomic_write(server_file(db_path), write)
    return info


def withdraw(db_path: str | os.PathLike, info: ServerInfo) -> None:
    """Remove the announcement if it is still ``info``'s (a newer server's stays)."""
    path = server_file(db_path)
    current = _read(path)
    if current is not None and current.token == info.token:
        path.unlink(missing_ok=True)


def _read(path: Path) -> ServerInfo | None:
    try:
        return ServerInfo(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_server(db_path: str | os.PathLike) -> ServerInfo | None:
    """The live server announced for store ``db_path`` (``None``: none, or its process is gone)."""
    info = _read(server_file(db_path))
    if info is None or info.pid == os.getpid() or not _alive(info.pid):
        return None
    return info


def forward(info: ServerInfo, argv: list[str]) -> int:
    """Run ``argv`` (a command line without ``--db``) in the server; print its output as it comes
    and return its exit code."""
    import httpx

    headers = {JOB_TOKEN_HEADER: info.token}
    try:
        with httpx.Client(base_url=info.url, headers=headers, timeout=30.0) as client:
            reply = client.post("/jobs", json={"argv": argv})
            if reply.status_code != 202:
                raise StoreError(f"the server of this store ({info.url}) refused the command: {_error(reply)}")
            job = reply.json()
            shown_out = shown_err = 0
            while True:
                state = client.get(f"/jobs/{job['id']}", params={"stdout_from": shown_out, "stderr_from": shown_err})
                if state.status_code != 200:
                    raise StoreError(f"lost the command's job on the server ({info.url}): {_error(state)}")
                body = state.json()
                sys.stdout.write(body["stdout"])
                sys.stderr.write(body["stderr"])
                sys.stdout.flush()
                shown_out += len(body["stdout"])
                shown_err += len(body["stderr"])
                if body["state"] == "done":
                    return int(body["exit_code"])
                time.sleep(POLL_SECONDS)
    except httpx.HTTPError as error:
        raise StoreError(f"store {info.store} is served by process {info.pid} at {info.url}, which does not answer "
                         f"({type(error).__name__}); stop it or wait") from None


def _error(reply) -> str:
    try:
        return str(reply.json().get("error", reply.text[:200]))
    except ValueError:
        return reply.text[:200] or f"HTTP {reply.status_code}"

"""An app behind a real uvicorn server on a free loopback port, in a thread (for tests)."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from typing import Iterator

import uvicorn


@contextmanager
def live_server(app, *, http=None) -> Iterator[tuple[str, uvicorn.Server]]:
    """Serve ``app`` (optionally with uvicorn protocol class ``http``); yields (base URL, server)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = {"log_level": "warning", "lifespan": "on"}
    if http is not None:
        options["http"] = http
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        thread.join(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()

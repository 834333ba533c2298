"""`metasignal serve`: the HTTP upload API on the store (metasignal/api.py)."""

from __future__ import annotations

import os

import typer
from rich.markup import escape

from metasignal.cli.context import db_path
from metasignal.cli.display import out
from metasignal.errors import StoreError
from metasignal.http_limits import DEFAULT_HEADER_TIMEOUT
from metasignal.signals.submission import DEFAULT_MAX_BYTES, DEFAULT_MIN_TICKERS


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    min_tickers: int = typer.Option(DEFAULT_MIN_TICKERS, "--min-tickers", min=1, help="Tickers that must match each date's universe."),
    max_mb: float = typer.Option(DEFAULT_MAX_BYTES / 2**20, "--max-mb", min=0.001, help="Largest accepted upload, in MiB."),
    workers: int = typer.Option(os.cpu_count() or 1, "--workers", min=0,
                                help="Processes that parse and validate uploads (0: the server's own threads)."),
    header_timeout: float = typer.Option(DEFAULT_HEADER_TIMEOUT, "--header-timeout", min=0.1,
                                         help="Seconds a client has to send a request's headers."),
) -> None:
    """Run the HTTP upload API (see metasignal/api.py) on the store. While it runs it owns the
    store: every other metasignal command on this store runs inside it (rounds resolve, clock
    advance, portfolio, reads...), beside the uploads."""
    import uvicorn

    from metasignal.api import create_app
    from metasignal.http_limits import HeaderTimeoutH11Protocol
    from metasignal.served_store import announce, find_server, withdraw

    running = find_server(db_path())
    if running is not None:
        raise StoreError(f"store {db_path()} is already served by process {running.pid} at {running.url}")
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    info = announce(db_path(), url)
    try:
        app = create_app(db_path(), min_tickers=min_tickers, max_bytes=int(max_mb * 2**20), job_token=info.token,
                         upload_processes=workers,
                         on_shutdown=lambda: withdraw(db_path(), info))
        protocol = type("HeaderTimeoutProtocol", (HeaderTimeoutH11Protocol,), {"header_timeout": header_timeout})
        out.print(f"serving {escape(str(db_path()))} on {url} (Ctrl+C to stop); requests carry "
                  "'Authorization: Bearer KEY' (metasignal users create NAME); other metasignal commands on this "
                  "store now run in this server")
        uvicorn.run(app, host=host, port=port, log_level="warning", http=protocol, timeout_keep_alive=5)
    finally:
        withdraw(db_path(), info)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the root app."""
    app.command("serve")(serve_command)

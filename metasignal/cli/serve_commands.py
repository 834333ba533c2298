"""`metasignal serve`: the HTTP upload API on the store (metasignal/api.py)."""

from __future__ import annotations

import typer

from metasignal.cli.context import db_path
from metasignal.cli.display import out
from metasignal.signals.submission import DEFAULT_MAX_BYTES, DEFAULT_MIN_TICKERS


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    min_tickers: int = typer.Option(DEFAULT_MIN_TICKERS, "--min-tickers", min=1, help="Tickers that must match each date's universe."),
    max_mb: float = typer.Option(DEFAULT_MAX_BYTES / 2**20, "--max-mb", min=0.001, help="Largest accepted upload, in MiB."),
) -> None:
    """Run the HTTP upload API (see metasignal/api.py) on the store."""
    import uvicorn

    from metasignal.api import create_app

    app = create_app(db_path(), min_tickers=min_tickers, max_bytes=int(max_mb * 2**20))
    out.print(f"serving {db_path()} on http://{host}:{port} (Ctrl+C to stop); requests carry "
                  "'Authorization: Bearer KEY' (metasignal users create NAME)")
    uvicorn.run(app, host=host, port=port, log_level="warning")



def register(app: typer.Typer) -> None:
    """Add ``serve`` to the root app."""
    app.command("serve")(serve_command)

"""The ``metasignal`` command line: one typer app, one module per command group.

Every anticipated failure is a :class:`metasignal.errors.MetasignalError`; ``main`` prints it
as one line and exits 1. Unexpected exceptions are also reduced to one line (set
``METASIGNAL_DEBUG=1`` to see the traceback). ``METASIGNAL_LOG=info`` (or ``debug``) prints
the engine's log records (fallbacks, skipped dates, timings) to standard error.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from metasignal.cli.app import app
from metasignal.data.blas import blas_threads
from metasignal.errors import ConfigurationError, MetasignalError

LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str | None) -> None:
    """Send the engine's ``metasignal.*`` log records at ``level`` and above to standard error."""
    if not level:
        return
    if level.lower() not in LOG_LEVELS:
        raise ConfigurationError(f"METASIGNAL_LOG must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    engine = logging.getLogger("metasignal")
    engine.addHandler(handler)
    engine.setLevel(level.upper())


def main() -> None:
    """Entry point of the console script."""
    try:
        configure_logging(os.environ.get("METASIGNAL_LOG"))
    except MetasignalError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        sys.exit(1)
    sys.exit(run(sys.argv[1:]))


def run(argv: list[str], *, forward: bool = True) -> int:
    """Run one command line; returns its exit code, errors printed as one line.

    ``forward``: a command on a store that a running ``metasignal serve`` owns is sent to that
    server and runs there (:mod:`metasignal.served_store`); the server runs its jobs with
    ``forward=False``."""
    try:
        if forward:
            served = _served(argv)
            if served is not None:
                from metasignal.served_store import forward as forward_to

                return forward_to(*served)
        with blas_threads():  # small per-era problems: BLAS threads only contend (data/blas.py)
            app(args=argv, prog_name="metasignal", standalone_mode=False)
        return 0
    except MetasignalError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        return 1
    except (typer.Abort, KeyboardInterrupt):
        typer.secho("aborted", fg="red", err=True)
        return 130
    except typer.Exit as done:
        return done.exit_code
    except Exception as error:  # noqa: BLE001 - the CLI contract is one line, never a traceback
        if os.environ.get("METASIGNAL_DEBUG"):
            raise
        if callable(getattr(error, "show", None)) and isinstance(getattr(error, "exit_code", None), int):
            error.show()  # a usage error (click's, or the copy typer ships): usage and one line
            return error.exit_code
        typer.secho(f"error: {type(error).__name__}: {error}", fg="red", err=True)
        return 1


NOT_FORWARDED = frozenset({"serve"})  # commands that never run inside a server


def _served(argv: list[str]):
    """``(server, argv without --db)`` when ``argv`` acts on a store a live server owns, else None.

    Help, ``serve`` itself and ``submit --server`` (a client of some server) run here."""
    db, rest, i = None, [], 0
    while i < len(argv) and argv[i].startswith("--db"):  # global options come first
        if argv[i] == "--db" and i + 1 < len(argv):
            db, i = argv[i + 1], i + 2
        elif argv[i].startswith("--db="):
            db, i = argv[i][len("--db="):], i + 1
        else:
            return None
    rest = argv[i:]
    if not rest or rest[0] in NOT_FORWARDED or "--help" in rest or rest[0].startswith("-"):
        return None
    if rest[0] == "submit" and any(a == "--server" or a.startswith("--server=") for a in rest):
        return None
    from metasignal.data.store import resolve_db_path
    from metasignal.served_store import find_server

    server = find_server(resolve_db_path(db))
    return None if server is None else (server, rest)

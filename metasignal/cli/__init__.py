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
        with blas_threads():  # small per-era problems: BLAS threads only contend (data/blas.py)
            app(standalone_mode=False)
    except MetasignalError as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        typer.secho("aborted", fg="red", err=True)
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except Exception as error:  # noqa: BLE001 - the CLI contract is one line, never a traceback
        if os.environ.get("METASIGNAL_DEBUG"):
            raise
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        typer.secho(f"error: {type(error).__name__}: {error}", fg="red", err=True)
        sys.exit(1)

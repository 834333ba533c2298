"""The ``metasignal`` command line: one typer app, one module per command group.

Every anticipated failure is a :class:`data.errors.MetasignalError`; ``main`` prints it
as one line and exits 1. Unexpected exceptions are also reduced to one line (set
``METASIGNAL_DEBUG=1`` to see the traceback).
"""

from __future__ import annotations

import os
import sys

import typer

from metasignal.data.errors import MetasignalError  # first engine import: sets single-threaded BLAS (see data/__init__.py)
from metasignal.cli.app import app


def main() -> None:
    """Entry point of the console script."""
    try:
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

"""The ``metasignal`` command line: one typer app, one module per command group.

Every anticipated failure is a :class:`data.errors.MetasignalError`; ``main`` prints it
as one line and exits 1. Unexpected exceptions are also reduced to one line (set
``METASIGNAL_DEBUG=1`` to see the traceback).
"""

from __future__ import annotations

import os
import sys

# BLAS runs single-threaded (METASIGNAL_BLAS_THREADS overrides): the engine's linear algebra
# is thousands of small per-era problems, where BLAS threads only contend. Set before numpy
# (and scipy's own OpenBLAS) load, so every BLAS library picks it up.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, os.environ.get("METASIGNAL_BLAS_THREADS", "1"))

import typer  # noqa: E402

from data.errors import MetasignalError  # noqa: E402
from metasignal.cli.app import app  # noqa: E402


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

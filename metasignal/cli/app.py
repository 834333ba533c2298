"""Root typer application: global options and the command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from metasignal.cli import context

app = typer.Typer(
    name="metasignal",
    help="A Signals-style fund engine: data, submissions, scores, portfolios, backtests, payouts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    db: Optional[Path] = typer.Option(
        None, "--db", help="DuckDB store file (default: $METASIGNAL_DB or ./metasignal.duckdb)."
    ),
) -> None:
    context.set_db(db)


def _register_groups() -> None:
    # Each module owns one command group and adds its commands to ``app``.
    from metasignal.cli import (  # noqa: F401  (imported for their registration side effect)
        backtest_commands,
        clock_commands,
        data_commands,
        demo_commands,
        diagnostics_commands,
        fund_commands,
        portfolio_commands,
        rounds_commands,
        serve_commands,
        signals_commands,
        users_commands,
    )

    for module in (
        data_commands,
        clock_commands,
        signals_commands,
        users_commands,
        diagnostics_commands,
        fund_commands,
        portfolio_commands,
        fund_commands,
        backtest_commands,
        rounds_commands,
        demo_commands,
        serve_commands,
    ):
        module.register(app)


_register_groups()

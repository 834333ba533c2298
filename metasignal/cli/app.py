"""Root typer application: global options and the command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup
from typer.models import CommandInfo

from metasignal.cli import context

# The root --help lists commands by workflow, panel by panel, in this order.
WORKFLOW = (
    ("Start: the market and its clock", ("data", "clock", "examples", "demo")),
    ("Participants: models and signals", ("models", "universe", "targets", "starter", "submit", "submissions", "diagnostics")),
    ("Tournament: rounds, stakes, payouts", ("rounds", "stakes", "leaderboard", "payouts")),
    ("The fund", ("portfolio", "fund", "backtest")),
    ("The upload service", ("users", "serve")),
    ("Research on a cluster", ("sweep", "rescore")),
)


_RANK = {name: (i, j) for i, (_, names) in enumerate(WORKFLOW) for j, name in enumerate(names)}


class WorkflowGroup(TyperGroup):
    """The root command: its commands listed in workflow order (typer lists commands before groups)."""

    def list_commands(self, ctx) -> list[str]:
        return sorted(super().list_commands(ctx), key=lambda name: _RANK.get(name, (len(WORKFLOW), 0)))


app = typer.Typer(
    cls=WorkflowGroup,
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
        export_commands,
        fund_commands,
        portfolio_commands,
        rounds_commands,
        serve_commands,
        signals_commands,
        sweep_commands,
        users_commands,
    )

    for module in (
        data_commands,
        clock_commands,
        signals_commands,
        export_commands,
        users_commands,
        diagnostics_commands,
        fund_commands,
        portfolio_commands,
        backtest_commands,
        rounds_commands,
        demo_commands,
        serve_commands,
        sweep_commands,
    ):
        module.register(app)


def _order_help() -> None:
    """Put each command and group in its workflow panel (order: :class:`WorkflowGroup`)."""
    panel = {name: title for title, names in WORKFLOW for name in names}
    entries = [(c.name or c.callback.__name__, c) for c in app.registered_commands]
    entries += [(g.name, g) for g in app.registered_groups]
    unplaced = [name for name, _ in entries if name not in _RANK]
    if unplaced:  # a new command must be placed in WORKFLOW
        raise RuntimeError(f"commands missing from metasignal.cli.app.WORKFLOW: {', '.join(unplaced)}")
    for name, info in entries:
        info.rich_help_panel = panel[name]
        if isinstance(info, CommandInfo) and info.short_help is None and info.callback.__doc__:
            # the list shows one line: the docstring's first paragraph, its hard line breaks removed
            info.short_help = " ".join(info.callback.__doc__.strip().split("\n\n")[0].split())


_register_groups()
_order_help()

"""`metasignal fund ...`: the fund's job at each round's deadline, and the trades it recorded."""

from __future__ import annotations

from typing import Optional

import typer

from metasignal.cli.context import open_store
from metasignal.cli.display import frame_table, out

fund_app = typer.Typer(help="The fund's job: each round's target book and when each market trades it.",
                       no_args_is_help=True)


@fund_app.command("job")
def job_command(
    state: Optional[str] = typer.Argument(None, help="on or off (default: show whether it is on)."),
) -> None:
    """Turn the fund's job on or off for `metasignal clock advance` (it runs at every round deadline)."""
    from metasignal.errors import ConfigurationError
    from metasignal.tournament import FUND_JOB_KEY

    with open_store() as store:
        if state is not None:
            if state not in ("on", "off"):
                raise ConfigurationError(f"fund job takes on or off, got {state!r}")
            store.set_meta(FUND_JOB_KEY, state)
        current = store.get_meta(FUND_JOB_KEY) or "off"
    out.print(f"fund job: {current}" + (" (runs at every round deadline of `metasignal clock advance`)"
                                         if current == "on" else ""))


@fund_app.command("run")
def run_command(
    round_date: Optional[str] = typer.Option(None, "--round", help="Round data date (default: the last closed round)."),
) -> None:
    """Run the fund's job now for a closed round: its target book and per-market executions."""
    import pandas as pd

    from metasignal.backtest import run_fund_job
    from metasignal.errors import RoundError
    from metasignal.signals import RoundCalendar

    with open_store() as store:
        calendar = RoundCalendar.of(store)
        closed = calendar.rounds(store, status="closed")
        if round_date is None:
            if not closed:
                raise RoundError("no round has closed yet: the fund's job runs after a round's deadline")
            chosen = closed[-1]
        else:
            chosen = next((r for r in closed if r.data_date == pd.Timestamp(round_date)), None)
            if chosen is None:
                raise RoundError(f"{round_date} is not a closed round of the {calendar.schedule} calendar")
        target = run_fund_job(store, chosen)
    out.print(f"[green]booked[/] round {chosen.data_date:%Y-%m-%d}: {len(target.table)} names, "
              f"gross {target.table['weight'].abs().sum():.2f}, {target.result.status}")
    _print_executions(chosen.data_date)


@fund_app.command("executions")
def executions_command(
    round_date: Optional[str] = typer.Option(None, "--round", help="Round data date (default: the last booked round)."),
) -> None:
    """When each market trades a booked round: names, execution date, gross trade per country."""
    _print_executions(round_date)


def _print_executions(round_date) -> None:
    import pandas as pd

    from metasignal.backtest import fund_executions

    with open_store() as store:
        rows = fund_executions(store, None if round_date is None else pd.Timestamp(round_date))
    if rows.empty:
        out.print("no booked round yet: `metasignal fund run` books the last closed round")
        return
    last = rows["round_date"].max()
    rows = rows[rows["round_date"] == last]
    summary = rows.groupby(["country", "execution_date"]).agg(
        names=("ticker", "size"), gross_trade=("trade", lambda t: float(t.abs().sum()))).reset_index()
    summary["execution_date"] = summary["execution_date"].dt.strftime("%Y-%m-%d %a")
    out.print(frame_table(summary, f"executions of round {last:%Y-%m-%d} (first close after its deadline)"))


def register(app: typer.Typer) -> None:
    """Add the ``fund`` command group to the root app."""
    app.add_typer(fund_app, name="fund")

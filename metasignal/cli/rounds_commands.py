"""`metasignal rounds|leaderboard|payouts|stakes`: resolve rounds and read the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import typer

from metasignal.backtest.payouts import DEFAULT_PAYOUT_POLICY
from metasignal.cli.context import open_store
from metasignal.cli.display import bar, frame_table
from metasignal.cli.display import out as console
from metasignal.data.targets import DEFAULT_WINDOW

rounds_app = typer.Typer(help="Tournament rounds: resolve and list.", no_args_is_help=True)
stakes_app = typer.Typer(help="Stakes: add, release, list.", no_args_is_help=True)


@rounds_app.command("resolve")
def resolve_command(
    through: Optional[str] = typer.Option(None, "--through", help="Resolve rounds dated up to this date."),
    policy: str = typer.Option(DEFAULT_PAYOUT_POLICY, "--policy", help="Payout policy: alpha_mpc, fnc_mmc or atomic."),
    window: str = typer.Option(DEFAULT_WINDOW, "--window", help="Target window of the scores."),
) -> None:
    """Resolve every round whose target window has passed (idempotent)."""
    from metasignal.backtest import rounds
    from metasignal.backtest.payouts import payout_policy as named_policy

    rule = named_policy(policy)
    with open_store() as store:
        rounds.ensure_tables(store)
        pending = rounds.round_dates(store).difference(rounds.resolved_rounds(store))
        with bar(len(pending), "resolving rounds") as advance:
            done = rounds.resolve_rounds(store, through, rule=rule, window=window, progress=advance)
        left = len(rounds.round_dates(store).difference(rounds.resolved_rounds(store)))
    console.print(f"[green]resolved[/] {len(done)} round(s); {left} still open (window not passed or after --through)")


@rounds_app.command("list")
def list_command() -> None:
    """Resolved rounds with their payout factor and stake at risk."""
    from metasignal.backtest import rounds

    with open_store() as store:
        frame = rounds.rounds_table(store)
    frame["round_date"] = frame["round_date"].dt.date.astype(str)
    frame["resolution_date"] = frame["resolution_date"].dt.date.astype(str)
    console.print(frame_table(frame, "rounds"))


def leaderboard_command(
    round_date: Optional[str] = typer.Option(None, "--round", help="Scores of one round only."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Also write the leaderboard to this CSV file."),
) -> None:
    """Models ranked by cumulative payout, with stakes and mean scores."""
    from metasignal.backtest import rounds

    with open_store() as store:
        board = rounds.leaderboard(store, round_date)
    if csv is not None:
        board.to_csv(csv, index=False)
    columns = ["model", "stake", "cumulative_payout", "return_on_stake", "rounds", "eligible_rounds",
               "corr", "fnc", "mmc", "alpha", "mpc", "churn", "turnover"]
    console.print(frame_table(board[[c for c in columns if c in board.columns]], "leaderboard"))


def payouts_command(model: str = typer.Option(..., "--model", help="Model name.")) -> None:
    """One model's per-round scores, stake at risk and payouts."""
    from metasignal.backtest import rounds
    from metasignal.errors import StoreError

    with open_store() as store:
        results = rounds.round_results(store, model=model)
        if results.empty:
            raise StoreError(f"model {model!r} has no resolved rounds")
    results["cumulative"] = results["payout"].cumsum()
    shown = results[["round_date", "stake", "at_risk", "eligible", "reason", "corr", "alpha", "mpc", "payout", "cumulative"]]
    console.print(frame_table(shown.astype({"round_date": str}), f"payouts of {model}"))


@stakes_app.command("add")
def stake_add(model: str, amount: float, date: Optional[str] = typer.Option(None, "--date")) -> None:
    """Increase a model's stake for rounds after DATE (default: the store's last day)."""
    from metasignal.signals import stakes

    with open_store() as store:
        day = store.last_date() if date is None else pd.Timestamp(date)
        stakes.deposit_stake(store, model, amount, day)
    console.print(f"[green]staked[/] {amount:g} more on {model} for rounds after {day.date()}")


@stakes_app.command("release")
def stake_release(model: str, amount: float, date: Optional[str] = typer.Option(None, "--date")) -> None:
    """Release part of a model's stake for rounds after DATE (default: the store's last day)."""
    from metasignal.signals import stakes

    with open_store() as store:
        day = store.last_date() if date is None else pd.Timestamp(date)
        stakes.release_stake(store, model, amount, day)
    console.print(f"[green]released[/] {amount:g} of {model}'s stake for rounds after {day.date()}")


@stakes_app.command("list")
def stake_list(date: Optional[str] = typer.Option(None, "--date")) -> None:
    """Each model's stake for a round on DATE (default: after everything recorded)."""
    from metasignal.signals import stakes

    with open_store() as store:
        day = pd.Timestamp("2262-01-01") if date is None else pd.Timestamp(date)
        balances = stakes.stake_balances(store, day)
    console.print(frame_table(balances.rename_axis("model").reset_index(), "stakes"))


def register(app: typer.Typer) -> None:
    """Add the rounds, stakes, leaderboard and payouts commands to the root app."""
    app.add_typer(rounds_app, name="rounds")
    app.add_typer(stakes_app, name="stakes")
    app.command("leaderboard")(leaderboard_command)
    app.command("payouts")(payouts_command)

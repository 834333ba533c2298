"""`metasignal clock [advance|set]`: the store clock, what it reveals, and moving a replay forward."""

from __future__ import annotations

import re
from typing import Optional

import pandas as pd
import typer
from rich.table import Table

from metasignal.cli.context import open_store
from metasignal.cli.display import bar
from metasignal.cli.display import out as console
from metasignal.data.clock import Clock, utc_naive
from metasignal.data.store import Store
from metasignal.errors import ClockError, ConfigurationError

clock_app = typer.Typer(
    help="The store clock: show it, advance a replay clock, switch between live and replay.",
    invoke_without_command=True,
)

_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_END_OF_DAY = pd.Timedelta(hours=23, minutes=59, seconds=59)
TIME_HELP = ("A bare date (YYYY-MM-DD) means the end of that day, 23:59:59 UTC (its data are known and its "
             "rounds' events have run); or an ISO datetime (2024-06-08T12:00, UTC unless it has an offset).")


def parse_time(text: str, option: str) -> pd.Timestamp:
    """``text`` as a naive UTC time: a bare date is the end of that day (see :data:`TIME_HELP`)."""
    try:
        stamp = utc_naive(text.strip())
    except (ValueError, TypeError):
        raise ClockError(f"{option}: cannot read {text!r} as a date or time (use YYYY-MM-DD or an ISO datetime)") from None
    return stamp + _END_OF_DAY if _BARE_DATE.fullmatch(text.strip()) else stamp


def fmt(stamp: pd.Timestamp | None) -> str:
    """A naive UTC time as ``YYYY-MM-DD HH:MM UTC`` (seconds shown when not zero)."""
    if stamp is None or pd.isna(stamp):
        return "-"
    return f"{stamp:%Y-%m-%d %H:%M:%S} UTC" if stamp.second else f"{stamp:%Y-%m-%d %H:%M} UTC"


def round_line(store: Store) -> str:
    """The open round (data date, deadline) or, when none is open, the next one and its opening."""
    from metasignal.signals.round_calendar import RoundCalendar

    calendar = RoundCalendar.of(store)
    current = calendar.open_round(store)
    if current is not None:
        return f"open round {current.data_date.date()} (deadline {fmt(current.deadline)})"
    upcoming = calendar.next_round(store)
    return f"no round open: the next, {upcoming.data_date.date()}, opens {fmt(upcoming.opens)}"


def clock_table(store: Store) -> Table:
    """Mode, time, the last date whose data are known, the schedule and the open or next round."""
    from metasignal.signals.round_calendar import RoundCalendar

    clock = store.clock()
    table = Table(title=f"clock of {store.path}", show_header=False)
    table.add_row("mode", clock.mode + (" (the wall clock)" if clock.mode == "live" else ""))
    table.add_row("now", fmt(store.now().floor("s")))
    table.add_row("data known through", str(store.visible_through().date()))
    table.add_row("round schedule", RoundCalendar.of(store).schedule)
    table.add_row("round", round_line(store))
    return table


@clock_app.callback()
def clock_show(ctx: typer.Context) -> None:
    """Show the store clock: mode, time (UTC), data known through, schedule, open or next round."""
    if ctx.invoked_subcommand is not None:
        return
    with open_store() as store:
        console.print(clock_table(store))


def advance_target(store: Store, to: Optional[str], days: Optional[int], weeks: Optional[int]) -> pd.Timestamp:
    """The time to advance to from exactly one of ``--to``, ``--days``, ``--weeks``."""
    given = [name for name, value in (("--to", to), ("--days", days), ("--weeks", weeks)) if value is not None]
    if len(given) != 1:
        raise ConfigurationError("clock advance takes exactly one of --to, --days, --weeks"
                                 + (f" (got {', '.join(given)})" if given else ""))
    if to is not None:
        return parse_time(to, "--to")
    return store.now() + pd.Timedelta(days=days if days is not None else 7 * weeks)


def _span(dates: list[pd.Timestamp]) -> str:
    """``N``, then the dates (up to four) or their range."""
    if not dates:
        return "0"
    shown = sorted({pd.Timestamp(d).date() for d in dates})
    listed = ", ".join(map(str, shown)) if len(shown) <= 4 else f"{shown[0]} to {shown[-1]}"
    return f"{len(dates)} ({listed})"


@clock_app.command("advance")
def advance_command(
    to: Optional[str] = typer.Option(None, "--to", help="Advance to this time. " + TIME_HELP),
    days: Optional[int] = typer.Option(None, "--days", min=0, help="Advance by N days."),
    weeks: Optional[int] = typer.Option(None, "--weeks", min=0, help="Advance by N weeks."),
) -> None:
    """Move a replay clock forward (exactly one of --to, --days, --weeks): reveal days, open and close
    rounds (example models upload, the fund's job runs), resolve rounds whose targets have ended."""
    from metasignal.backtest import clock_events
    from metasignal.tournament import advance

    with open_store() as store:
        target = advance_target(store, to, days, weeks)
        store.clock().moved_to(target)  # a live clock or a move back: one line before any work
        with bar(len(clock_events(store, target)), "advancing the clock") as step:
            report = advance(store, target, progress=step)
        console.print(f"[green]advanced[/] the clock from {fmt(report.started)} to {fmt(report.now)}")
        for label, dates in (("days revealed", report.days), ("rounds opened", report.opened),
                             ("rounds closed", report.closed), ("rounds resolved", report.resolved)):
            console.print(f"  {label}: {_span(dates)}")
        console.print(f"  {_waiting_line(store)}")
        console.print(round_line(store))


def _waiting_line(store) -> str:
    """How many closed rounds are scored on a shorter window and wait for the payout window."""
    from metasignal.backtest import PayoutPolicy, resolved_rounds, scored_windows

    scored = scored_windows(store)
    waiting = scored.loc[~scored["round_date"].isin(resolved_rounds(store)), "round_date"].unique()
    window = PayoutPolicy.of(store).payout_window
    return f"rounds scored, waiting for their {window} payout: {len(waiting)}"


@clock_app.command("set")
def set_command(
    replay: Optional[str] = typer.Option(None, "--replay", help="Switch to a replay clock at this time. " + TIME_HELP),
    live: bool = typer.Option(False, "--live", help="Switch to the live clock (the wall clock)."),
) -> None:
    """Set the store clock: a replay clock at a time (never back for a replay), or the live clock."""
    if (replay is None) == (not live):
        raise ConfigurationError("clock set takes exactly one of --replay DATETIME, --live")
    with open_store() as store:
        current = store.clock()
        if live:
            new = Clock("live")
        elif current.mode == "replay":
            new = current.moved_to(parse_time(replay, "--replay"))  # raises for a move back
        else:
            new = Clock("replay", parse_time(replay, "--replay"))
        _refuse_before_records(store, new)
        store.set_clock(new)
        console.print(f"[green]clock set[/]: {new.mode} at {fmt(store.now().floor('s'))}; "
                      f"data known through {store.visible_through().date()}; {round_line(store)}")


def _refuse_before_records(store, clock: Clock) -> None:
    """A replay clock may not start before the store's latest recorded upload or stake event."""
    from metasignal.errors import ClockError
    from metasignal.signals import latest_stamp

    last = latest_stamp(store) if clock.mode == "replay" else None
    if last is not None and clock.time < last:
        raise ClockError(f"the store holds records stamped up to {fmt(last.floor('s'))}: a replay clock cannot start "
                         "before them (they would be in its future)")


def register(app: typer.Typer) -> None:
    """Add the ``clock`` group to the root app."""
    app.add_typer(clock_app, name="clock")

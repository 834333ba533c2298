"""`metasignal rounds|leaderboard|payouts|stakes`: resolve rounds and read the ledger."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import typer
from rich.markup import escape

from metasignal.cli.context import open_store
from metasignal.cli.display import bar, frame_table
from metasignal.cli.display import out as console

rounds_app = typer.Typer(help="Tournament rounds: resolve and list.", no_args_is_help=True)
stakes_app = typer.Typer(help="Stakes: add, release, list.", no_args_is_help=True)


@rounds_app.command("resolve")
def resolve_command(
    through: Optional[str] = typer.Option(None, "--through", help="Resolve rounds dated up to this date."),
) -> None:
    """Score every closed round on each window of the payout policy that has ended, and pay the
    rounds whose payout window has ended (idempotent; the policy: `metasignal rounds policy`)."""
    from metasignal.backtest import rounds
    from metasignal.backtest.payouts import PayoutPolicy

    with open_store() as store:
        rounds.ensure_tables(store)
        rule = PayoutPolicy.of(store)
        pending = rounds.round_dates(store).difference(rounds.resolved_rounds(store))
        with bar(len(pending), "resolving rounds") as advance:
            done = rounds.resolve_rounds(store, through, rule=rule, progress=advance)
        unpaid = rounds.round_dates(store).difference(rounds.resolved_rounds(store))
        waiting = rounds.scored_windows(store).query("round_date in @unpaid")["round_date"].nunique()
    console.print(f"[green]paid[/] {len(done)} round(s) ({rule.name}: paid on {rule.payout_window}); "
                  f"{len(unpaid)} unpaid, of which {waiting} scored on a shorter window and waiting for "
                  f"{rule.payout_window} to end")


@rounds_app.command("policy")
def policy_command(
    preset: Optional[str] = typer.Option(None, "--preset", help="Start from a preset: alpha_mpc, fnc_mmc, atomic or custom."),
    multiplier: Optional[list[str]] = typer.Option(None, "--multiplier", help="METRIC=VALUE, e.g. alpha=0.3 (repeatable; replaces the multipliers)."),
    window: Optional[list[str]] = typer.Option(None, "--window", help="METRIC=WINDOW, e.g. mpc=60D2L (repeatable; replaces the windows)."),
    clip: Optional[float] = typer.Option(None, "--clip", help="Symmetric clip of the payout score."),
    no_clip: bool = typer.Option(False, "--no-clip", help="Unclipped payouts."),
    stake_threshold: Optional[float] = typer.Option(None, "--stake-threshold", help="Payout-factor threshold (total stake at risk)."),
    payout_factor: Optional[bool] = typer.Option(None, "--payout-factor/--no-payout-factor", help="Apply the payout factor."),
    neutral_churn_penalty: Optional[bool] = typer.Option(
        None, "--neutral-churn-penalty/--no-neutral-churn-penalty", help="Scale gains by numerai-tools' neutral-churn retention."),
) -> None:
    """Show the store's payout policy; any option changes it for the rounds paid from now on."""
    from metasignal.backtest.payouts import PayoutPolicy, payout_policy

    with open_store() as store:
        current = PayoutPolicy.of(store)
        changes: dict = {}
        if multiplier:
            changes["multipliers"] = {k: _number(v, f"--multiplier {k}") for k, v in _pairs(multiplier, "--multiplier").items()}
        if window:
            changes["windows"] = _pairs(window, "--window")
        if no_clip or clip is not None:
            changes["clip"] = None if no_clip else clip
        if stake_threshold is not None:
            changes["stake_threshold"] = stake_threshold
        if payout_factor is not None:
            changes["use_payout_factor"] = payout_factor
        if neutral_churn_penalty is not None:
            changes["neutral_churn_penalty"] = neutral_churn_penalty
        if preset is not None:
            multipliers = changes.pop("multipliers", None)
            rule = payout_policy(preset, multipliers, **changes)
        elif changes:
            if "multipliers" in changes and "windows" not in changes:  # keep the windows of scores still paid
                changes["windows"] = {m: w for m, w in current.windows.items() if m in changes["multipliers"]}
            rule = replace(current, **changes)
        else:
            rule = current
        if rule != current:
            rule.save(store)
            console.print("[green]set[/] the payout policy: rounds paid from now on pay by it")
    console.print(_policy_table(rule))


def _pairs(values: list[str], option: str) -> dict[str, str]:
    """``["alpha=0.3", ...]`` -> ``{"alpha": "0.3"}``; one-line error for a malformed pair."""
    from metasignal.errors import ConfigurationError

    pairs = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key.strip() or not item.strip():
            raise ConfigurationError(f"{option} takes METRIC=VALUE, got {value!r}")
        pairs[key.strip()] = item.strip()
    return pairs


def _number(text: str, what: str) -> float:
    from metasignal.errors import ConfigurationError

    try:
        return float(text)
    except ValueError:
        raise ConfigurationError(f"{what}: {text!r} is not a number") from None


def _policy_table(rule):
    from rich.table import Table

    table = Table(title=f"payout policy {rule.name}")
    for column in ("setting", "value"):
        table.add_column(column)
    paid = ", ".join(f"{m} x {v:g} on {rule.window_of(m)}" for m, v in rule.multipliers.items())
    table.add_row("paid scores", paid)
    table.add_row("clip", "none" if rule.clip is None else f"+/-{rule.clip:g}")
    table.add_row("payout factor", f"min(1, {rule.stake_threshold:,.0f} / total at risk)" if rule.use_payout_factor else "off (1)")
    table.add_row("neutral-churn penalty", "on (gains only)" if rule.neutral_churn_penalty else "off")
    table.add_row("scored windows", ", ".join(rule.score_windows))
    table.add_row("paid when", f"{rule.payout_window} has ended (~{_length(rule.payout_window)} trading days after the round)")
    return table


def _length(window: str) -> int:
    from metasignal.data.targets import window_length

    return window_length(window)


@rounds_app.command("list")
def list_command() -> None:
    """Resolved rounds with their payout factor and stake at risk."""
    from metasignal.backtest import rounds

    with open_store() as store:
        frame = rounds.rounds_table(store)
    frame["round_date"] = frame["round_date"].dt.date.astype(str)
    frame["resolution_date"] = frame["resolution_date"].dt.date.astype(str)
    console.print(frame_table(frame, "rounds"))


SHOWN_CLOSED = 5


@rounds_app.command("calendar")
def calendar_command(
    schedule: Optional[str] = typer.Option(
        None, "--schedule", help="Set the round schedule: weekly or daily (refused once a round is resolved)."),
) -> None:
    """The fund's round calendar: schedule, recent rounds, the open or next round and when each market
    trades it; --schedule sets it."""
    from metasignal.signals.round_calendar import RoundCalendar

    with open_store() as store:
        if schedule is not None:
            _set_schedule(store, RoundCalendar(schedule))
        calendar = RoundCalendar.of(store)
        console.print(f"round schedule: [bold]{calendar.schedule}[/]; clock {store.clock().mode} at "
                      f"{store.now():%Y-%m-%d %H:%M} UTC")
        console.print(_rounds_table(store, calendar))
        console.print(_executions_table(store, _current_or_next(store, calendar)))


def _set_schedule(store, calendar) -> None:
    """Record ``calendar`` unless the store's differs and a round is already resolved."""
    from metasignal.backtest import resolved_rounds
    from metasignal.errors import RoundError
    from metasignal.signals.round_calendar import RoundCalendar

    current = RoundCalendar.of(store)
    if calendar == current:
        console.print(f"the round schedule is already {calendar.schedule}")
        return
    resolved = resolved_rounds(store)
    if len(resolved):
        raise RoundError(f"cannot change the round schedule from {current.schedule} to {calendar.schedule}: "
                         f"{len(resolved)} round(s) are resolved (the last {resolved[-1].date()}) under it")
    calendar.save(store)
    console.print(f"[green]set[/] the round schedule to {calendar.schedule} (was {current.schedule})")


def _current_or_next(store, calendar):
    """The open round, else the next one to open."""
    current = calendar.open_round(store)
    return current if current is not None else calendar.next_round(store)


def _rounds_table(store, calendar):
    """The last few closed rounds, then the open or next round."""
    from rich.table import Table

    now = store.now()
    shown = calendar.rounds(store, status="closed")[-SHOWN_CLOSED:] + [_current_or_next(store, calendar)]
    table = Table(title="rounds")
    for column in ("round (data date)", "opens (UTC)", "deadline (UTC)", "status"):
        table.add_column(column)
    for round_ in shown:
        status = round_.status(now)
        style = {"open": "green", "upcoming": "cyan"}.get(status, "")
        table.add_row(f"{round_.data_date:%Y-%m-%d}", f"{round_.opens:%Y-%m-%d %a %H:%M}",
                      f"{round_.deadline:%Y-%m-%d %a %H:%M}", f"[{style}]{status}[/]" if style else status)
    return table


def _executions_table(store, round_):
    """When each market country trades ``round_``: the first close of its market after the deadline."""
    from rich.table import Table

    from metasignal.data.markets import MARKET_CLOSE_UTC, UNKNOWN_MARKET_CLOSE

    names = store.securities()["country"].dropna().astype(str)
    countries = sorted(names.unique())
    executed = round_.executions(pd.Series(countries, index=countries), _schedule_after(store, round_.data_date))
    table = Table(title=f"round {round_.data_date:%Y-%m-%d}: execution per market "
                        f"(first close after the deadline {round_.deadline:%Y-%m-%d %H:%M} UTC)")
    for column in ("country", "names", "close (UTC)", "trades at close of"):
        table.add_column(column)
    counts = names.value_counts()
    for country in countries:
        close = MARKET_CLOSE_UTC.get(country, UNKNOWN_MARKET_CLOSE)
        day = executed[country]
        table.add_row(country, str(counts[country]), f"{close:%H:%M}", "-" if pd.isna(day) else f"{day:%Y-%m-%d %a}")
    return table


def _schedule_after(store, data_date: pd.Timestamp) -> pd.DatetimeIndex:
    """The store days after ``data_date`` (the stored schedule), then projected weekdays."""
    stored = store.stored_days()
    stored = stored[stored > data_date]
    start = stored[-1] if len(stored) else data_date
    return stored.append(pd.bdate_range(start + pd.Timedelta(days=1), periods=10))


LEADERBOARD_SCORES = ("corr", "mmc", "alpha", "mpc", "fnc")  # shown as mean ± interval; fnc optional
WIDE_SCORES = ("icv2", "nc", "nmc")  # means only, with --wide


def _score_cell(board: pd.DataFrame, metric: str) -> pd.Series:
    """``"0.0575 ±0.0056"`` per model, with `` ~0`` when the mean is not distinguishable from zero."""
    from metasignal.backtest.inference import format_interval

    cells = [format_interval(mean, half) for mean, half in zip(board[metric], board[f"{metric}_ci"])]
    marked = board[f"{metric}_ns"].to_numpy() & np.isfinite(board[f"{metric}_ci"].to_numpy(dtype=float))
    return pd.Series([f"{cell} ~0" if flag else cell for cell, flag in zip(cells, marked)], index=board.index)


def leaderboard_command(
    round_date: Optional[str] = typer.Option(None, "--round", help="Scores of one round only."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Also write the leaderboard to this CSV file."),
    wide: bool = typer.Option(False, "--wide", help="Every column (fnc, churn, turnover, icv2, ...), "
                              "even when the terminal is too narrow for them; default: what fits."),
) -> None:
    """Models ranked by cumulative payout, with stakes and mean scores per round ± their HAC
    95 % interval (~0: not distinguishable from zero). The table fits the terminal (columns it
    has no room for are named under it; --wide shows them all); a pipe gets every column whole."""
    from rich.table import Table

    from metasignal.backtest import rounds
    from metasignal.backtest.inference import ALPHA
    from metasignal.backtest.payouts import PayoutPolicy
    from metasignal.cli.display import optional_columns, wrappable_columns

    with open_store() as store:
        board = rounds.leaderboard(store, round_date)
        lags = rounds.leaderboard_lags(store)
        rule = PayoutPolicy.of(store)
    if csv is not None:
        board.to_csv(csv, index=False)
    shown = pd.DataFrame({"model": board["model"], "stake": board["stake"].map("{:,.0f}".format),
                          "payout": board["cumulative_payout"].map("{:,.0f}".format),
                          "return": board["return_on_stake"].map("{:.1%}".format),
                          "rounds": [f"{e}/{r}" for e, r in zip(board["eligible_rounds"], board["rounds"])]})
    for metric in LEADERBOARD_SCORES:
        shown[metric] = _score_cell(board, metric)
    shown["churn"] = board["churn"].map("{:.3f}".format)
    shown["turnover"] = board["turnover"].map("{:.3f}".format)
    if wide:
        for metric in WIDE_SCORES:
            shown[metric] = board[metric].map("{:.4f}".format)
    table = Table(title="leaderboard (rounds: eligible/submitted; scores: mean per round ± 95 % HAC interval)")
    for column in shown.columns:
        table.add_column(column, justify="left" if column == "model" else "right")
    table.columns[0].no_wrap = True  # names stay whole; the score cells wrap at the ± instead
    for row in shown.itertuples(index=False):
        table.add_row(*(escape(str(v)) for v in row))
    wrappable_columns(table, *LEADERBOARD_SCORES)
    # a narrow terminal leaves out these, fnc first (named under the table); --wide keeps them
    console.print(optional_columns(table, "return", "mmc", "churn", "turnover", "fnc"), wide=wide)
    by_window: dict[tuple[str, int], list[str]] = {}
    for metric in LEADERBOARD_SCORES:
        by_window.setdefault((rule.window_of(metric), lags[metric]), []).append(metric)
    windows = "; ".join(f"{', '.join(ms)} on {w}: overlap lag {lag} rounds" for (w, lag), ms in by_window.items())
    console.print(f"~0 = not distinguishable from zero (two-sided test at {ALPHA:.0%}); ± = half-width of the "
                  f"{1 - ALPHA:.0%} interval of the mean, Newey-West over the model's rounds, bandwidth "
                  f"max(2 x lag, 1.3 sqrt(rounds)), fixed-b critical values ({windows}); fewer than 3 rounds: "
                  "no interval", highlight=False)


PAYOUT_ROUNDS = 10  # rounds `metasignal payouts` shows by default (the latest)


def payouts_command(
    model: str = typer.Option(..., "--model", help="Model name."),
    last: Optional[int] = typer.Option(None, "--last", min=1, help=f"The last N resolved rounds (default {PAYOUT_ROUNDS})."),
    since: Optional[str] = typer.Option(None, "--since", help="Rounds from this date on (YYYY-MM-DD), every one."),
    wide: bool = typer.Option(False, "--wide", help="Every column (mmc, fnc, payout score, ...), even when the "
                              "terminal is too narrow for them; default: what fits."),
) -> None:
    """One model's per-round scores, stake at risk and payouts: the last 10 rounds unless
    --last N or --since DATE says otherwise (a line says how many earlier rounds are hidden);
    the cumulative payout counts every round."""
    from metasignal.backtest import rounds
    from metasignal.cli.display import optional_columns
    from metasignal.data.calendar import read_day
    from metasignal.errors import DataValidationError, StoreError

    if last is not None and since is not None:
        raise DataValidationError("give either --last N or --since DATE, not both")
    start = None if since is None else read_day(since, what="--since")
    with open_store() as store:
        results = rounds.round_results(store, model=model)
        if results.empty:
            raise StoreError(f"model {model!r} has no resolved rounds")
    results["cumulative"] = results["payout"].cumsum()
    chosen = results[results["round_date"] >= start] if start is not None else results.tail(last or PAYOUT_ROUNDS)
    columns = ["round_date", "stake", "at_risk", "eligible", "reason", "corr", "alpha", "mpc", "payout", "cumulative"]
    extra = [c for c in ("mmc", "fnc", "payout_score", "churn", "turnover") if c in results.columns]
    shown = chosen[columns + (extra if wide else [])].astype({"round_date": str})
    money = {c: shown[c].map("{:,.2f}".format) for c in ("stake", "at_risk", "payout", "cumulative")}
    shown = shown.assign(reason=shown["reason"].fillna(""), eligible=np.where(shown["eligible"], "yes", "no"), **money)
    table = frame_table(shown, f"payouts of {model}", right=tuple(money))
    console.print(optional_columns(table, "at_risk", "mpc", "alpha", "reason"), wide=wide)
    hidden = len(results) - len(chosen)
    if hidden:
        how = f"from {start.date()} on" if start is not None else f"the last {len(chosen)}"
        console.print(f"{len(chosen)} of {len(results)} resolved rounds shown ({how}); {hidden} earlier "
                      f"round(s) hidden: --last N or --since YYYY-MM-DD shows more", highlight=False)
    elif start is not None and chosen.empty:
        console.print(f"no resolved round on or after {start.date()}", highlight=False)


STAKE_DATE_HELP = "Rounds whose deadline is after this date (YYYY-MM-DD); default: the store clock's date."


@stakes_app.command("add")
def stake_add(model: str, amount: float, date: Optional[str] = typer.Option(None, "--date", help=STAKE_DATE_HELP)) -> None:
    """Increase a model's stake for rounds whose deadline is after DATE (default: the clock's date)."""
    from metasignal.signals import stakes

    with open_store() as store:
        day = _stake_date(store, date)
        stakes.deposit_stake(store, model, amount, day)
    console.print(f"[green]staked[/] {amount:g} more on {model} for rounds whose deadline is after {day.date()}")


@stakes_app.command("release")
def stake_release(model: str, amount: float, date: Optional[str] = typer.Option(None, "--date", help=STAKE_DATE_HELP)) -> None:
    """Release part of a model's stake for rounds whose deadline is after DATE (default: the clock's date)."""
    from metasignal.signals import stakes

    with open_store() as store:
        day = _stake_date(store, date)
        stakes.release_stake(store, model, amount, day)
    console.print(f"[green]released[/] {amount:g} of {model}'s stake for rounds whose deadline is after {day.date()}")


def _stake_date(store, date: Optional[str]) -> pd.Timestamp:
    """``--date`` as a day (one-line error when unreadable), default the store clock's date."""
    from metasignal.data.calendar import read_day

    return store.now().normalize() if date is None else read_day(date, what="--date")


@stakes_app.command("list")
def stake_list(date: Optional[str] = typer.Option(None, "--date")) -> None:
    """Each model's stake for a round on DATE (default: after everything recorded), then the
    pending releases (still burned by the rounds that staked them, until the last resolves)."""
    from metasignal.backtest import rounds
    from metasignal.signals import stakes

    with open_store() as store:
        day = pd.Timestamp("2262-01-01") if date is None else pd.Timestamp(date)
        balances = stakes.stake_balances(store, day)
        pending = rounds.pending_releases(store)
    console.print(frame_table(balances.rename_axis("model").reset_index(), "stakes"))
    if pending.empty:
        console.print("no pending releases")
        return
    for column in ("requested", "completes"):
        pending[column] = pending[column].dt.date.astype(str)
    console.print(frame_table(pending, "pending releases (at risk of the rounds that staked them until 'completes')"))


def register(app: typer.Typer) -> None:
    """Add the rounds, stakes, leaderboard and payouts commands to the root app."""
    app.add_typer(rounds_app, name="rounds")
    app.add_typer(stakes_app, name="stakes")
    app.command("leaderboard")(leaderboard_command)
    app.command("payouts")(payouts_command)

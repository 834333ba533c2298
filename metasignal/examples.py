"""Example models on the synthetic market, taking part the way a user does: in time.

- :func:`create_example_models`: the seven models of :mod:`metasignal.data.example_models`,
  each with its initial stake deposited at the store clock's date (it counts for the rounds
  whose deadline falls on a later date);
- :func:`submit_example_round`: every model uploads its signal for a round now, at the store
  clock, through the CSV path (:func:`metasignal.signals.submit`);
- :func:`start_example_models`: both for the round open now, then the automation on, so that
  every ``metasignal clock advance`` (:func:`metasignal.tournament.advance`) has them upload
  at each round's opening;
- :func:`submit_example_history`: their past signals as research history (``backfill``:
  kept and versioned, never staked, scored in rounds or paid).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Callable, Sequence

import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.example_models import EXAMPLE_MODELS, EXAMPLE_STAKES, example_signals
from metasignal.data.store import Store
from metasignal.errors import DataValidationError
from metasignal.signals import stakes, storage
from metasignal.signals.round_calendar import Round, RoundCalendar

__all__ = [
    "ExampleStart",
    "create_example_models",
    "start_example_models",
    "submit_example_history",
    "submit_example_round",
    "weekly_round_dates",
]

_AUTOMATION_KEY = "example_models_submit"  # metasignal.tournament.EXAMPLE_MODELS_KEY


def weekly_round_dates(store: Store, start: DateLike | None = None, end: DateLike | None = None, weekday: int = 4) -> pd.DatetimeIndex:
    """The last trading day of each week (Friday-dated eras) within ``[start, end]``, known at the clock."""
    days = store.trading_days(start, end)
    if len(days) == 0:
        return days
    weeks = pd.Series(days, index=days).groupby(days.to_period("W-" + ("MON", "TUE", "WED", "THU", "FRI")[weekday]))
    return pd.DatetimeIndex(weeks.max().to_numpy(), name="round")


def create_example_models(store: Store, *, initial_stakes: dict[str, float] = EXAMPLE_STAKES) -> list[str]:
    """Create the example models that do not exist yet, each with its initial stake deposited
    at the store clock's date. Returns the names created."""
    existing = set(storage.list_models(store)["name"])
    today = store.now().normalize()
    created = []
    for name in EXAMPLE_MODELS:
        if name in existing:
            continue
        storage.create_model(store, name, owner="examples")
        stakes.deposit_stake(store, name, initial_stakes[name], today)
        created.append(name)
    return created


def _csv(rows: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    rows.to_csv(buffer, index=False, float_format="%.8f")
    return buffer.getvalue().encode()


def submit_example_round(store: Store, round_: Round, *, min_tickers: int = storage.DEFAULT_MIN_TICKERS) -> dict[str, int]:
    """Every example model uploads its signal for ``round_`` now, at the store clock (one CSV
    per model through :func:`metasignal.signals.submit`; a model with fewer than ``min_tickers``
    names that day uploads nothing). Returns the rows accepted per model."""
    signals = example_signals(store, round_.data_date)
    accepted = {}
    for model in EXAMPLE_MODELS:
        rows = signals[model].dropna()
        if len(rows) < max(min_tickers, 1):
            continue  # e.g. partial on a small market: too few names for the submission rule
        frame = rows.rename("signal").rename_axis("numerai_ticker").reset_index()
        receipt = storage.submit(store, model, _csv(frame), date=round_.data_date,
                                 filename=f"{model}.csv", min_tickers=min_tickers)
        accepted[model] = receipt.n_accepted
    return accepted


@dataclass
class ExampleStart:
    """What :func:`start_example_models` did: the models created, the round they uploaded to
    (None when they did not upload now, ``note`` says why) and the rows accepted per model."""

    created: list[str]
    round: Round | None = None
    accepted: dict[str, int] = field(default_factory=dict)
    note: str = ""


def start_example_models(store: Store, *, min_tickers: int = storage.DEFAULT_MIN_TICKERS) -> ExampleStart:
    """Create the missing example models (stakes at the clock's date), have them upload to the
    round open now and turn on their automation (they upload at every round opening of a
    replay advance). When no round is open they upload nothing now: ``note`` says when the
    next round opens."""
    created = create_example_models(store)
    store.set_meta(_AUTOMATION_KEY, "on")
    calendar = RoundCalendar.of(store)
    current = calendar.open_round(store)
    if current is None:
        upcoming = calendar.next_round(store)
        return ExampleStart(created, note=(
            f"no round is open at the store clock ({store.now():%Y-%m-%d %H:%M} UTC): the example models upload "
            f"when the next one opens ({upcoming.data_date.date()} at {upcoming.opens:%Y-%m-%d %H:%M} UTC, "
            "`metasignal clock advance`)"))
    accepted = submit_example_round(store, current, min_tickers=min_tickers)
    return ExampleStart(created, current, accepted)


def submit_example_history(
    store: Store, dates: Sequence[pd.Timestamp], *, min_tickers: int = storage.DEFAULT_MIN_TICKERS,
    advance: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Store every example model's signals for ``dates`` as research history: one multi-date
    CSV per model, uploaded now with ``backfill=True`` (status ``backfill``: never staked,
    scored in rounds or paid; see :mod:`metasignal.signals`). ``advance`` is called with 1
    after each date's signals are built; a model's dates with fewer than ``min_tickers`` names
    are left out. Returns the (date, ticker) rows accepted per model."""
    if len(dates) == 0:
        raise DataValidationError("no dates to store as example history")
    frames = []
    for date in dates:
        signals = example_signals(store, date)
        frames.append(signals.rename_axis("numerai_ticker").reset_index().assign(date=pd.Timestamp(date).date()))
        if advance:
            advance(1)
    history = pd.concat(frames, ignore_index=True)
    accepted = {}
    for model in EXAMPLE_MODELS:
        rows = history[["numerai_ticker", model, "date"]].dropna().rename(columns={model: "signal"})
        rows = rows[rows.groupby("date")["signal"].transform("size") >= min_tickers]  # dates the rule accepts
        if rows.empty:
            continue
        receipt = storage.submit(store, model, _csv(rows), filename=f"{model}.csv", min_tickers=min_tickers,
                                 backfill=True)
        accepted[model] = receipt.n_accepted
    return accepted

"""Example models: create them with stakes and submit their history through the CSV path."""

from __future__ import annotations

import io
from typing import Callable, Sequence

import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.example_models import EXAMPLE_MODELS, EXAMPLE_STAKES, example_signals
from metasignal.data.store import Store
from metasignal.signals import stakes, storage
from metasignal.signals.round_calendar import Round

__all__ = ["create_example_models", "submit_example_history", "submit_example_round", "weekly_round_dates"]


def weekly_round_dates(store: Store, start: DateLike | None = None, end: DateLike | None = None, weekday: int = 4) -> pd.DatetimeIndex:
    """The last trading day of each week (Friday-dated eras) within ``[start, end]``."""
    days = store.trading_days(start, end)
    if len(days) == 0:
        return days
    weeks = pd.Series(days, index=days).groupby(days.to_period("W-" + ("MON", "TUE", "WED", "THU", "FRI")[weekday]))
    return pd.DatetimeIndex(weeks.max().to_numpy(), name="round")


def create_example_models(store: Store, first_round: DateLike, initial_stakes: dict[str, float] = EXAMPLE_STAKES) -> list[str]:
    """Create the example models that do not exist yet, each with its initial stake."""
    existing = set(storage.list_models(store)["name"])
    created = []
    for name in EXAMPLE_MODELS:
        if name in existing:
            continue
        storage.create_model(store, name, owner="examples")
        stakes.deposit_stake(store, name, initial_stakes[name], pd.Timestamp(first_round) - pd.Timedelta(days=1))
        created.append(name)
    return created


def submit_example_round(store: Store, round_: Round, *, min_tickers: int = storage.DEFAULT_MIN_TICKERS) -> dict[str, int]:
    """Every example model uploads its signal for ``round_`` now, at the store clock (one CSV
    per model through :func:`metasignal.signals.submit`). Returns the rows accepted per model."""
    signals = example_signals(store, round_.data_date)
    accepted = {}
    for model in EXAMPLE_MODELS:
        rows = signals[model].dropna()
        if rows.empty:
            continue
        buffer = io.StringIO()
        rows.rename("signal").rename_axis("numerai_ticker").reset_index().to_csv(buffer, index=False, float_format="%.8f")
        receipt = storage.submit(store, model, buffer.getvalue().encode(), date=round_.data_date,
                                 filename=f"{model}.csv", min_tickers=min_tickers)
        accepted[model] = receipt.n_accepted
    return accepted


def submit_example_history(
    store: Store, dates: Sequence[pd.Timestamp], *, min_tickers: int = storage.DEFAULT_MIN_TICKERS,
    advance: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Build every example model's signals for ``dates`` and upload one multi-date CSV per model.

    The upload is a backfill: each date is stamped as uploaded on its own evening, so it
    counts as on time for its round (see :func:`metasignal.signals.submission_deadline`).

    Returns the number of (date, ticker) rows accepted per model.
    """
    frames = []
    for date in dates:
        signals = example_signals(store, date)
        frames.append(signals.rename_axis("numerai_ticker").reset_index().assign(date=pd.Timestamp(date).date()))
        if advance:
            advance(1)
    history = pd.concat(frames, ignore_index=True)
    # a backfill: each date counts as uploaded on its evening, before its deadline
    on_time = pd.Series(pd.DatetimeIndex(dates) + pd.Timedelta(hours=20), index=pd.DatetimeIndex(dates))
    accepted = {}
    for model in EXAMPLE_MODELS:
        rows = history[["numerai_ticker", model, "date"]].dropna().rename(columns={model: "signal"})
        if rows.empty:
            continue
        buffer = io.StringIO()
        rows.to_csv(buffer, index=False, float_format="%.8f")
        receipt = storage.submit(
            store, model, buffer.getvalue().encode(), filename=f"{model}.csv", min_tickers=min_tickers,
            uploaded_at=on_time,
        )
        accepted[model] = receipt.n_accepted
    return accepted

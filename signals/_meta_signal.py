"""The meta-signal of a date, read from the store: submissions + stakes -> one signal.

The signal known on ``date`` comes from the latest round of the fund's calendar
(:class:`metasignal.signals.RoundCalendar`) dated on or before it that has staked
submissions: each model's on-time version (or its queued late upload), never a later
re-upload or a backfill (:func:`metasignal.signals.on_time_submissions`). A round nobody
submitted to on time is passed over: the fund keeps the last known signal. Stakes are the
models' stakes for that round, i.e. the ledger's events effective before its deadline's date
(:mod:`metasignal.signals.stakes`); when no model has a stake yet, every submitted model
counts equally. Models below ``min_stake`` are left
out (an error names the rule when none qualifies).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.store import Store
from metasignal.errors import ConfigurationError, StoreError
from metasignal.signals import stakes, storage
from metasignal.signals.round_calendar import RoundCalendar
from metasignal.signals.meta_model import (
    DEFAULT_MIN_STAKE,
    equal_weight_meta_model,
    stake_weighted_meta_model,
    stake_weighted_meta_portfolio,
)

META_SIGNAL_METHODS = ("stake_weighted", "equal", "meta_portfolio")


def latest_round(store: Store, date: DateLike) -> pd.Timestamp:
    """The data date of the last round dated on or before ``date`` with an on-time (or queued)
    submission; :class:`StoreError` when there is none."""
    storage.ensure_tables(store)
    day = pd.Timestamp(date).normalize()
    candidates = _round_candidates(store, day)
    candidates = candidates[candidates <= day]
    if not len(candidates):
        raise _no_round_error(day)
    return candidates[-1]


def _no_round_error(day: pd.Timestamp) -> StoreError:
    return StoreError(
        f"no round on or before {day.date()} has an on-time submission: submit to the open round (on the "
        "synthetic market, `metasignal examples` makes the example models take part) or pass --alpha FILE"
    )


def _round_candidates(store: Store, last: pd.Timestamp) -> pd.DatetimeIndex:
    """Sorted data dates up to ``last`` of the rounds with an on-time submission or a queued
    late one (a late upload counts for the next round, once that round has opened), as known
    at the store's clock."""
    rows = store.con.execute(
        "SELECT DISTINCT date, status FROM submissions WHERE status IN ('on_time', 'late') AND date <= ? "
        "AND uploaded_at <= ?", [last.date(), store.now().to_pydatetime()],
    ).fetch_df()
    rows["date"] = pd.to_datetime(rows["date"])
    candidates = list(rows.loc[rows["status"] == "on_time", "date"])
    late = rows.loc[rows["status"] == "late", "date"]
    if len(late):  # a late upload is the next round's submission (queued): that round has one too
        calendar = RoundCalendar.of(store)
        dates = calendar.data_dates(store.trading_days(start=late.min()))
        following = dates[np.minimum(dates.searchsorted(late, side="right"), len(dates) - 1)]
        now = store.now()
        candidates += [d for p, d in zip(late, following)
                       if p < d <= last and calendar.round_of(d).opens <= now]
    return pd.DatetimeIndex(sorted(set(candidates)), name="round")


def meta_signal(store: Store, date: DateLike, *, method: str = "stake_weighted", min_stake: float = DEFAULT_MIN_STAKE) -> pd.Series:
    """Meta-signal (ticker -> value) known on ``date``, over that round's universe.

    ``stake_weighted``: stake-weighted mean of cleaned gaussianized signals; ``equal``: the
    equal-weight variant; ``meta_portfolio``: the stake-weighted mean of neutral weights (SWP).
    """
    _check_method(method)
    round_date = latest_round(store, date)
    universe = store.universe(round_date)
    predictions = storage.on_time_submissions(store, round_date).reindex(universe)
    stakes.ensure_tables(store)
    deadline = RoundCalendar.of(store).round_of(round_date).deadline
    balances = stakes.stake_balances(store, deadline.normalize())
    return _combine(store, round_date, predictions, balances, method, min_stake)


def _check_method(method: str) -> None:
    if method not in META_SIGNAL_METHODS:
        raise ConfigurationError(f"unknown meta-signal method {method!r}: choose from {', '.join(META_SIGNAL_METHODS)}")


def _combine(store: Store, round_date: pd.Timestamp, predictions: pd.DataFrame, balances: pd.Series,
             method: str, min_stake: float) -> pd.Series:
    """One round's meta-signal from its staked signals ``predictions`` (universe x model, NaN
    where a model has no value) and the models' stakes ``balances`` (model -> stake)."""
    submitted = predictions.notna().to_numpy().any(axis=0)
    if not submitted.all():
        predictions = predictions.loc[:, submitted]
    weights = balances.reindex(predictions.columns).fillna(0.0)
    if weights.sum() <= 0:  # no stakes yet: every submitted model counts equally
        weights = pd.Series(1.0, index=predictions.columns)
        min_stake = 0.0
    if method == "equal":
        return equal_weight_meta_model(predictions, weights, min_stake=min_stake).rename("meta_signal")
    if method == "meta_portfolio":
        return stake_weighted_meta_portfolio(
            predictions, weights, store.neutralizers(round_date), store.sample_weights(round_date), min_stake=min_stake
        ).rename("meta_signal")
    return stake_weighted_meta_model(predictions, weights, min_stake=min_stake).rename("meta_signal")


class KnownMetaSignals:
    """The meta-signals known at each of ``dates``, read in bulk: the numbers of
    ``meta_signal(store, date, method=..., min_stake=...)`` date by date, from a few queries
    instead of several per date (the inputs of the rounds are read ``chunk`` rounds at a time).

    ``dates`` (d,): the dates asked for (sorted, normalized); ``rounds`` (d,): the round each
    one's signal comes from (:func:`latest_round`; NaT where there is none, and
    :meth:`values` then raises its ``StoreError``). ``tickers`` (n,): a sorted grid, every
    ticker of those rounds' universes. Everything is as known at the store's clock when the
    object is built. A round's signal is combined when first asked for, so a round whose
    signal cannot be formed raises when it is used, as :func:`meta_signal` does.
    """

    def __init__(self, store: Store, dates: Sequence[DateLike] | pd.DatetimeIndex, *,
                 method: str = "stake_weighted", min_stake: float = DEFAULT_MIN_STAKE, chunk: int = 26):
        _check_method(method)
        stakes.ensure_tables(store)
        self.store, self.method, self.min_stake, self.chunk = store, method, min_stake, max(1, int(chunk))
        self.dates = pd.DatetimeIndex(pd.DatetimeIndex(dates).normalize().unique().sort_values(), name="date")
        candidates = (_round_candidates(store, self.dates[-1]) if len(self.dates)
                      else pd.DatetimeIndex([], name="round"))
        position = candidates.searchsorted(self.dates, side="right") - 1
        known = candidates[np.maximum(position, 0)].to_numpy() if len(candidates) else np.datetime64("NaT", "ns")
        self.rounds = pd.DatetimeIndex(np.where(position >= 0, known, np.datetime64("NaT", "ns")), name="round")
        self._distinct = pd.DatetimeIndex(self.rounds.dropna().unique().sort_values(), name="round")
        self._round_row = self._distinct.get_indexer(self.rounds)  # (d,) -1 without a round
        self._plan = self._round_plan()
        self.tickers = self._grid()
        self._stake_models, self._balances = self._stake_balances()
        self._signals: dict[int, np.ndarray] = {}
        self._series: dict[int, pd.Series] = {}
        self._block: tuple[int, dict] | None = None  # (first round of the block, its reads)

    # ------------------------------------------------------------------ per date
    def round_of(self, date: DateLike) -> pd.Timestamp:
        """The round whose signal is known on ``date`` (one of ``dates``); ``StoreError`` when none."""
        return self._distinct[self._row(date)]

    def values(self, date: DateLike) -> np.ndarray:
        """(n,) the signal known on ``date`` on ``tickers``, NaN outside its round's universe."""
        row = self._row(date)
        if row not in self._signals:
            self._compute(row)
        return self._signals[row]

    def signal(self, date: DateLike) -> pd.Series:
        """The signal known on ``date`` as :func:`meta_signal` returns it (ticker -> value over
        its round's universe, named ``meta_signal``)."""
        row = self._row(date)
        if row not in self._series:
            self._compute(row)
        return self._series[row]

    def _row(self, date: DateLike) -> int:
        day = pd.Timestamp(date).normalize()
        at = int(self.dates.searchsorted(day))
        if at == len(self.dates) or self.dates[at] != day:
            raise StoreError(f"{day.date()} is not one of the dates these meta-signals were read for")
        if self._round_row[at] < 0:
            raise _no_round_error(day)
        return int(self._round_row[at])

    # ------------------------------------------------------------------ bulk reads
    def _round_plan(self) -> pd.DataFrame:
        """Per distinct round: :func:`storage.staked_round_plan`, and the date of its stakes."""
        plan = storage.staked_round_plan(self.store, self._distinct)
        plan["stake_day"] = pd.DatetimeIndex(plan["deadline"]).normalize()
        return plan

    def _grid(self) -> pd.Index:
        """Every ticker in the universe of one of the rounds, sorted as the store sorts them."""
        with self.store.temporary_view(_ROUNDS, self._plan[["round_id", "round"]]):
            tickers = self.store.con.execute(
                f"SELECT DISTINCT d.ticker FROM daily d JOIN (SELECT CAST(round AS DATE) AS round FROM {_ROUNDS}) r "
                "ON d.date = r.round "
                "WHERE d.in_universe ORDER BY d.ticker").fetch_df()["ticker"]
        return pd.Index(tickers.astype(str), name="ticker")

    def _stake_balances(self) -> tuple[pd.Index, np.ndarray]:
        """(the store's models (m,), stakes (rounds, m)): ``stake_balances`` at each round's
        deadline date."""
        balances = stakes.stake_balances_on(self.store, pd.DatetimeIndex(self._plan["stake_day"]))
        return balances.columns, balances.to_numpy()

    def _read_block(self, first: int, last: int) -> dict:
        """The rounds ``first..last-1``: each model's chosen version (``on_time_submissions``'
        rule) and its values on the round's universe, and the universes, as grid positions."""
        store = self.store
        plan = self._plan.iloc[first:last]
        rounds = f"(SELECT round_id, CAST(round AS DATE) AS round FROM {_ROUNDS})"
        with store.temporary_view(_ROUNDS, plan), store.temporary_view(_GRID, pd.DataFrame(
                {"ticker": np.asarray(self.tickers, dtype=object), "col_id": np.arange(len(self.tickers))})):
            values = store.con.sql(  # every value of the chosen versions (the universe is applied below)
                f"SELECT c.round_id, g.col_id, c.model, v.signal FROM submission_values v "
                f"JOIN ({storage.staked_versions_query(_ROUNDS)}) c "
                "ON v.model = c.model AND v.date = c.date AND v.version = c.version "
                f"JOIN {_GRID} g ON g.ticker = v.ticker"
            ).to_arrow_table()
            universe = store.con.sql(
                f"SELECT r.round_id, g.col_id FROM daily d JOIN {rounds} r ON d.date = r.round "
                f"JOIN {_GRID} g ON g.ticker = d.ticker WHERE d.in_universe"
            ).to_arrow_table()
        model_names = values.column("model").to_numpy(zero_copy_only=False).astype(str)
        models = pd.Index(np.unique(model_names), name="model")
        values = {"round_id": values.column("round_id").to_numpy(), "col_id": values.column("col_id").to_numpy(),
                  "model_id": models.get_indexer(model_names), "signal": values.column("signal").to_numpy()}
        order = np.argsort(values["round_id"], kind="stable")
        values = {name: column[order] for name, column in values.items()}
        round_ids, cols = universe.column("round_id").to_numpy(), universe.column("col_id").to_numpy()
        order = np.lexsort((cols, round_ids))
        return {"models": models, "values": values, "universe": (round_ids[order], cols[order])}

    def _compute(self, row: int) -> None:
        """Combine the round ``row`` of the distinct rounds (reading its block if needed)."""
        first = row - row % self.chunk
        if self._block is None or self._block[0] != first:
            self._block = first, self._read_block(first, min(first + self.chunk, len(self._distinct)))
        block = self._block[1]
        round_date = self._distinct[row]
        round_ids, cols = block["universe"]
        members = cols[np.searchsorted(round_ids, row, "left"):np.searchsorted(round_ids, row, "right")]
        if not len(members):  # not a stored day (or not known yet): the store says why
            universe = self.store.universe(round_date)
        else:
            universe = self.tickers[members]
        values = block["values"]
        at = slice(np.searchsorted(values["round_id"], row, "left"), np.searchsorted(values["round_id"], row, "right"))
        models = block["models"]
        matrix = np.full((len(universe), len(models)), np.nan)
        if len(members):  # the chosen values of the names in the round's universe
            cols = values["col_id"][at]
            position = np.minimum(np.searchsorted(members, cols), len(members) - 1)
            inside = members[position] == cols
            matrix[position[inside], values["model_id"][at][inside]] = values["signal"][at][inside]
        predictions = pd.DataFrame(matrix, index=universe, columns=models)
        balances = pd.Series(self._balances[row], index=self._stake_models, name="stake")
        series = _combine(self.store, round_date, predictions, balances, self.method, self.min_stake)
        grid = np.full(len(self.tickers), np.nan)
        at = members if len(members) and series.index.equals(universe) else self.tickers.get_indexer(series.index)
        grid[at] = series.to_numpy(dtype=float)
        self._series[row], self._signals[row] = series, grid


_ROUNDS, _GRID = "_meta_signal_rounds", "_meta_signal_grid"

"""Rounds, the stake ledger and round resolution.

Rounds are the fund's calendar (:class:`metasignal.signals.RoundCalendar`), from the first
round anybody uploaded to (on time or late) on. A round resolves once its deadline has passed
at the store clock and its target window has ended there (its targets are known); resolution
scores every model's on-time (or queued) submission for the round, applies eligibility,
computes payouts with the configured policy and compounds them into stakes. Late uploads
are scored too, without stake and outside the meta-model (``late`` is true, payout 0). Each round resolves in one transaction: resolving twice changes
nothing, and a crash mid-resolution leaves the ledger as it was.

Tables (stakes live in :mod:`metasignal.signals.stakes`; a payout is a stake event effective after
its round's resolution date ``t + lag + days``, the close that ends the target window):

- ``rounds(round_date, window, resolution_date, policy, payout_factor, total_at_risk, n_models)``
- ``round_results(round_date, model, stake, at_risk, submitted, eligible, reason,
  <metrics>, payout_score, payout, late)``

Eligibility compares each submission with the model's submissions of the previous
``LOOKBACK_ROUNDS`` rounds of the calendar, with the rule of numerai-tools'
``calculate_max_churn_and_turnover``: a model with nothing to compare against (a new model, a
model back after missing all of them, or too little ticker overlap) gets churn = turnover =
1.0, so it stakes nothing that round. A model's stake for a round is the ledger's balance from
the events effective before the round's deadline date; a release dated on or after the
deadline's date is still burned by the round (:func:`metasignal.signals.stakes.settle_burns`).
The meta-model of MMC, NMC and MPC weighs the on-time submissions by stake at risk, counting
only stakes at risk of at least ``MIN_META_STAKE``; with none, those scores are NaN (pay 0).

Logging (``logging.getLogger(__name__)``): skipped rounds (already resolved, or target window
not passed yet) and each round's resolution time at debug level; a run's total at info.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from metasignal.backtest.payouts import (
    CHURN_LIMIT,
    DEFAULT_PAYOUT_POLICY,
    TURNOVER_LIMIT,
    PayoutPolicy,
    eligible,
    payout_scores,
    stake_payouts,
)
from metasignal.backtest.payouts import payout_policy as named_policy
from metasignal.data.calendar import DateLike
from metasignal.data.store import Store
from metasignal.data.targets import DEFAULT_WINDOW, parse_window
from metasignal.errors import StoreError
from metasignal.signals import stakes, storage
from metasignal.signals.round_calendar import RoundCalendar
from metasignal.signals.scoring import score_era
from metasignal.signals.stakes import stake_balances

logger = logging.getLogger(__name__)

SCORE_METRICS = ("corr", "ic", "fnc", "nc", "mmc", "nmc", "alpha", "mpc")
META_METRICS = ("mmc", "nmc", "mpc")  # the scores measured against the round's meta-model
LOOKBACK_ROUNDS = 5  # eligibility compares with the model's submissions of the previous 5 rounds
MIN_META_STAKE = 10.0  # the least stake at risk that counts in the round's meta-model (MMC, NMC, MPC)
NOTHING_TO_COMPARE = "nothing to compare (new or returning model)"

_DDL = (
    'CREATE TABLE IF NOT EXISTS rounds (round_date DATE PRIMARY KEY, "window" VARCHAR, resolution_date DATE, '
    "policy VARCHAR, payout_factor DOUBLE, total_at_risk DOUBLE, n_models INTEGER)",
    "CREATE TABLE IF NOT EXISTS round_results (round_date DATE NOT NULL, model VARCHAR NOT NULL, stake DOUBLE, "
    "at_risk DOUBLE, submitted BOOLEAN, eligible BOOLEAN, reason VARCHAR, "
    + ", ".join(f"{m} DOUBLE" for m in (*SCORE_METRICS, "churn", "turnover"))
    + ", payout_score DOUBLE, payout DOUBLE, PRIMARY KEY (round_date, model))",
    "ALTER TABLE round_results ADD COLUMN IF NOT EXISTS late BOOLEAN",
)


def ensure_tables(store: Store) -> None:
    """Create the round tables if missing (and the submission and stake tables they read)."""
    stakes.ensure_tables(store)
    store.ensure_tables("backtest.rounds", _DDL)


# ----------------------------------------------------------------------------- rounds
def round_dates(store: Store) -> pd.DatetimeIndex:
    """The calendar rounds closed at the store clock, from the first one anybody uploaded to
    (on time or late), ascending."""
    ensure_tables(store)
    first = store.one("SELECT min(date) FROM submissions WHERE status IN ('on_time', 'late')")[0]
    if first is None:
        return pd.DatetimeIndex([], name="round")
    closed = RoundCalendar.of(store).rounds(store, status="closed")
    days = pd.DatetimeIndex([r.data_date for r in closed], name="round")
    return days[days >= pd.Timestamp(first)]


def resolved_rounds(store: Store) -> pd.DatetimeIndex:
    """Round dates already resolved (scored and paid), ascending; named ``round``."""
    ensure_tables(store)
    days = store.con.execute("SELECT round_date FROM rounds ORDER BY round_date").fetch_df()["round_date"]
    return pd.DatetimeIndex(pd.to_datetime(days), name="round")


@dataclass
class _EraInputs:
    universe: pd.Index
    neutralizers: pd.DataFrame
    sample_weights: pd.Series
    submissions: pd.DataFrame  # ticker x model, current versions


class _EraCache:
    """Per-date inputs (universe, N, v, submissions), read once per resolution run."""

    def __init__(self, store: Store):
        self.store = store
        self._cache: dict[pd.Timestamp, _EraInputs] = {}

    def __call__(self, date: pd.Timestamp) -> _EraInputs:
        if date not in self._cache:
            neutralizers = self.store.neutralizers(date)
            weights = self.store.sample_weights(date).reindex(neutralizers.index)
            submitted = storage.on_time_submissions(self.store, date)
            self._cache[date] = _EraInputs(neutralizers.index, neutralizers, weights, submitted)
            if len(self._cache) > 2 * LOOKBACK_ROUNDS + 2:  # keep only the recent dates
                self._cache.pop(min(self._cache))
        return self._cache[date]


def previous_rounds(store: Store, round_date: DateLike) -> pd.DatetimeIndex:
    """The data dates of the ``LOOKBACK_ROUNDS`` calendar rounds before ``round_date`` (fewer
    at the start of the store), ascending: the rounds whose submissions eligibility compares with."""
    day = pd.Timestamp(round_date).normalize()
    dates = RoundCalendar.of(store).data_dates(store.trading_days(end=day))
    return dates[dates < day][-LOOKBACK_ROUNDS:]


def _rounds_with_uploads(store: Store, day: pd.Timestamp) -> pd.DatetimeIndex:
    """:func:`previous_rounds` that can hold a submission: an on-time upload for the round, or a
    late one for the round before it (queued); the others have nothing to compare (not read)."""
    dates = RoundCalendar.of(store).data_dates(store.trading_days(end=day))
    dates = dates[dates < day][-(LOOKBACK_ROUNDS + 1):]
    if not len(dates):
        return dates
    uploads = store.con.execute(
        "SELECT DISTINCT date FROM submissions WHERE status IN ('on_time', 'late') AND date BETWEEN ? AND ?",
        [dates[0].date(), dates[-1].date()]).fetch_df()["date"]
    uploaded = set(pd.to_datetime(uploads))
    previous = dates[-LOOKBACK_ROUNDS:]
    before = dict(zip(dates[1:], dates[:-1]))
    return pd.DatetimeIndex([d for d in previous if d in uploaded or before.get(d) in uploaded], name="round")


def _max_churn_and_turnover(
    predictions: pd.DataFrame, era: _EraInputs, previous_dates: pd.DatetimeIndex, cache: _EraCache
) -> pd.DataFrame:
    """Max churn and turnover of each model (``predictions``: ticker x model, the round's
    submissions) against its own submissions of the rounds ``previous_dates``, as numerai-tools'
    ``calculate_max_churn_and_turnover``: comparisons with too little overlap are skipped, and
    a model with none left gets 1.0 for both (``compared`` is then False)."""
    worst = pd.DataFrame(np.nan, index=predictions.columns, columns=["churn", "turnover"])
    for previous_date in previous_dates:
        prev_era = cache(previous_date)
        models = [m for m in predictions.columns
                  if m in prev_era.submissions.columns and prev_era.submissions[m].notna().any()]
        if not models:
            continue
        previous = prev_era.submissions[models].reindex(prev_era.universe)
        scores = score_era(
            predictions[models], targets=pd.DataFrame(index=era.universe, columns=["factor_neutral", "raw"], dtype=float),
            neutralizers=era.neutralizers, sample_weights=era.sample_weights,
            previous=previous, previous_neutralizers=prev_era.neutralizers,
            previous_sample_weights=prev_era.sample_weights, metrics=("churn", "turnover"),
        )
        values = scores[["churn", "turnover"]].abs()
        values[values.isna().any(axis=1)] = np.nan  # numerai-tools skips the comparison as a whole
        worst.loc[models] = np.fmax(worst.loc[models].to_numpy(), values.to_numpy())
    worst["compared"] = worst.notna().all(axis=1)
    return worst.fillna(1.0)


@dataclass
class _Eligibility:
    """Per model (indexed by every model with a stake or a submission): whether it submitted,
    its max churn and turnover against its own previous submissions, and the verdict."""

    submitted: pd.Series  # bool
    checks: pd.DataFrame  # churn, turnover (1.0: nothing to compare against; NaN: no submission)
    ok: pd.Series  # bool: submitted and eligible
    reason: np.ndarray  # "" or why the model stakes nothing this round


def resolve_round(store: Store, round_date: DateLike, *, rule: PayoutPolicy | None = None, window: str = DEFAULT_WINDOW,
                  cache: _EraCache | None = None, _before_commit: Callable[[], None] | None = None) -> bool:
    """Resolve one round; returns False when it was already resolved (nothing changes).

    Raises :class:`StoreError` if the round's target window has not passed in the store.
    """
    ensure_tables(store)
    rule = rule or named_policy(DEFAULT_PAYOUT_POLICY)
    day = pd.Timestamp(round_date).normalize()
    if store.one("SELECT 1 FROM rounds WHERE round_date = ?", [day.date()]):
        logger.debug("round %s is already resolved: skipped", day.date())
        return False
    started = time.perf_counter()
    round_ = RoundCalendar.of(store).round_of(day)
    if store.now() <= round_.deadline:
        raise StoreError(f"round {day.date()} is still open: its deadline is {round_.deadline:%Y-%m-%d %H:%M} UTC")
    targets = store.targets(day, window)  # raises when the window has not passed
    cache = cache or _EraCache(store)
    era = cache(day)
    resolution_date = _resolution_date(store, day, window)
    balances = stake_balances(store, round_.deadline.normalize())
    late = storage.late_submissions(store, day)
    late = late.loc[:, late.columns.difference(era.submissions.columns)].reindex(era.universe)
    late = late.loc[:, late.notna().any(axis=0)]
    models = balances.index.union(era.submissions.columns).union(late.columns)
    predictions = era.submissions.reindex(index=era.universe, columns=models)
    status = _eligibility(store, day, predictions, era, cache)
    stake = balances.reindex(models, fill_value=0.0)
    at_risk = stake.where(status.ok, 0.0)
    scored = pd.concat([predictions.loc[:, status.submitted], late], axis=1)
    scores = _round_scores(scored, at_risk, targets, era, staked=status.submitted).reindex(models)
    status.reason = np.where(models.isin(late.columns), "late: scored without stake", status.reason)
    paid, factor = stake_payouts(at_risk, scores.fillna(0.0), rule)
    # a release pending at the round earns nothing from it: a gain is paid on the rest only
    pending = stakes.pending_release_amounts(store, models, round_.deadline.normalize())
    earning = (at_risk - pending).clip(lower=0.0) / at_risk.where(at_risk > 0)
    paid = paid.where(paid <= 0, paid * earning.fillna(0.0))
    # overlapping rounds stake the same balance, and a release after the deadline is still at risk:
    # a burn takes at most what is left (pending releases of the round included) when it lands
    paid, release_burns = stakes.settle_burns(store, paid, round_.deadline.normalize(), resolution_date)
    results = _results_frame(day, models, stake, at_risk, status, scores, paid, rule)
    results["late"] = models.isin(late.columns)
    round_row = [day.date(), window, resolution_date.date(), rule.name, factor, float(at_risk.sum()),
                 int(status.submitted.sum())]
    _write_round(store, results, round_row, _before_commit, release_burns)
    logger.debug("resolved round %s (%d models, %d eligible) in %.3f s", day.date(), len(models),
                 int(status.ok.sum()), time.perf_counter() - started)
    return True


def _resolution_date(store: Store, day: pd.Timestamp, window: str) -> pd.Timestamp:
    """The close that ends the round's target window (``lag + days`` trading days after it)."""
    days, lag = parse_window(window)
    calendar = store.trading_days(start=day)
    return calendar[min(lag + days, len(calendar) - 1)]


def _eligibility(store: Store, day: pd.Timestamp, predictions: pd.DataFrame, era: _EraInputs,
                 cache: _EraCache) -> _Eligibility:
    """Who submitted (``predictions``: ticker x model) and who is eligible (churn, turnover)."""
    submitted = predictions.notna().any(axis=0)
    checks = _max_churn_and_turnover(predictions.loc[:, submitted], era, _rounds_with_uploads(store, day), cache)
    checks = checks.reindex(predictions.columns)
    compared = checks.pop("compared").fillna(False).astype(bool)
    ok = eligible(checks["churn"], checks["turnover"]) & submitted
    churned = checks["churn"].fillna(0) >= CHURN_LIMIT
    turned_over = checks["turnover"].fillna(0) >= TURNOVER_LIMIT
    reason = np.select(
        [~submitted, ~compared, churned, turned_over],
        ["no submission", NOTHING_TO_COMPARE, f"churn >= {CHURN_LIMIT:g}", f"turnover >= {TURNOVER_LIMIT:g}"],
        default="",
    )
    return _Eligibility(submitted, checks, ok, reason)


def _round_scores(scored: pd.DataFrame, at_risk: pd.Series, targets: pd.DataFrame,
                  era: _EraInputs, staked: pd.Series) -> pd.DataFrame:
    """Model x metric scores of the submissions (``scored``: ticker x model) against the round's
    targets; the meta-model weighs the on-time ones by stake at risk, counting only stakes at
    risk >= ``MIN_META_STAKE`` (late ones, not in ``staked``, weigh 0). When no stake qualifies,
    ``mmc``, ``nmc`` and ``mpc`` are NaN for every model."""
    on_time = scored.columns.isin(staked[staked].index)
    meta_stakes = at_risk.reindex(scored.columns).fillna(0.0).where(on_time, 0.0)
    meta_stakes = meta_stakes.where(meta_stakes >= MIN_META_STAKE, 0.0)
    if meta_stakes.sum() > 0:
        metrics, stakes_used = SCORE_METRICS, meta_stakes
    else:
        metrics, stakes_used = tuple(m for m in SCORE_METRICS if m not in META_METRICS), None
    scores = score_era(
        scored, targets=targets.reindex(era.universe), neutralizers=era.neutralizers,
        sample_weights=era.sample_weights, stakes=stakes_used, metrics=metrics,
    )
    return scores.reindex(columns=list(SCORE_METRICS))


def _results_frame(day: pd.Timestamp, models: pd.Index, stake: pd.Series, at_risk: pd.Series,
                   status: _Eligibility, scores: pd.DataFrame, paid: pd.Series,
                   rule: PayoutPolicy) -> pd.DataFrame:
    """The ``round_results`` rows of the round, in the table's column order."""
    results = pd.concat([scores, status.checks], axis=1)
    results.insert(0, "reason", status.reason)
    results.insert(0, "eligible", status.ok.to_numpy())
    results.insert(0, "submitted", status.submitted.to_numpy())
    results.insert(0, "at_risk", at_risk.to_numpy())
    results.insert(0, "stake", stake.to_numpy())
    results.insert(0, "model", models)
    results.insert(0, "round_date", day)
    results["payout_score"] = payout_scores(scores.fillna(0.0), rule).to_numpy()
    results["payout"] = paid.to_numpy()
    return results


def _write_round(store: Store, results: pd.DataFrame, round_row: list,
                 before_commit: Callable[[], None] | None, release_burns: pd.DataFrame | None = None) -> None:
    """Insert the results, the payout and release burn stake events and the ``rounds`` row in
    one transaction.

    ``round_row``: round date, window, resolution date, policy, payout factor, total at risk,
    number of models that submitted; payouts take effect at the resolution date, release burns
    (:func:`metasignal.signals.stakes.settle_burns`) on their own dates.
    """
    day, resolution_date = round_row[0], round_row[2]
    with store.transaction():
        store.con.register("_results", results.reset_index(drop=True))
        try:
            columns = ", ".join(f'"{c}"' for c in results.columns)
            store.con.execute(f"INSERT INTO round_results ({columns}) SELECT {columns} FROM _results")
        finally:
            store.con.unregister("_results")
        burns = release_burns if release_burns is not None else pd.DataFrame(columns=["model", "effective", "amount", "released"])
        stakes.insert_payouts(store, pd.Series(results["payout"].to_numpy(), index=results["model"].to_numpy()),
                              burns, day, resolution_date)
        if before_commit is not None:
            before_commit()
        store.con.execute("INSERT INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?)", round_row)


def resolve_rounds(store: Store, through: DateLike | None = None, *, rule: PayoutPolicy | None = None, window: str = DEFAULT_WINDOW,
                   progress: Callable[[int], None] | None = None, cache: _EraCache | None = None) -> list[pd.Timestamp]:
    """Resolve, oldest first, every unresolved closed round up to ``through`` whose window has
    passed at the store clock. ``cache``: per-date inputs shared across calls (a replay's
    advance): only closed rounds' inputs are cached, and those no longer change."""
    ensure_tables(store)
    started = time.perf_counter()
    pending = round_dates(store).difference(resolved_rounds(store))
    if through is not None:
        pending = pending[pending <= pd.Timestamp(through)]
    known = store.target_dates(window)
    waiting = pending[~pending.isin(known)]
    if len(waiting):
        logger.debug("skipping %d round(s) whose %s target window has not passed: %s", len(waiting), window,
                     ", ".join(str(d.date()) for d in waiting))
    pending = pending[pending.isin(known)]
    cache = cache or _EraCache(store)
    done = []
    for day in pending:
        if resolve_round(store, day, rule=rule, window=window, cache=cache):
            done.append(day)
        if progress:
            progress(1)
    logger.info("resolved %d round(s) in %.2f s", len(done), time.perf_counter() - started)
    return done


# ----------------------------------------------------------------------------- reports
def rounds_table(store: Store) -> pd.DataFrame:
    """Resolved rounds: date, window, resolution date, policy, payout factor, stake at risk, models."""
    ensure_tables(store)
    frame = store.con.execute("SELECT * FROM rounds ORDER BY round_date").fetch_df()
    for column in ("round_date", "resolution_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def round_results(store: Store, round_date: DateLike | None = None, model: str | None = None) -> pd.DataFrame:
    """Stored results, optionally for one round and/or one model."""
    ensure_tables(store)
    frame = store.con.execute(
        "SELECT * FROM round_results WHERE (CAST(? AS DATE) IS NULL OR round_date = CAST(? AS DATE)) "
        "AND (CAST(? AS VARCHAR) IS NULL OR model = CAST(? AS VARCHAR)) ORDER BY round_date, model",
        [None if round_date is None else pd.Timestamp(round_date).date()] * 2 + [model, model],
    ).fetch_df()
    frame["round_date"] = pd.to_datetime(frame["round_date"])
    return frame


def leaderboard(store: Store, round_date: DateLike | None = None) -> pd.DataFrame:
    """Per model: current stake, cumulative payout, return on stake, rounds, and mean scores
    (churn and turnover over the rounds with something to compare against)."""
    results = round_results(store, round_date)
    metrics = [*SCORE_METRICS, "churn", "turnover"]
    if results.empty:
        return pd.DataFrame(columns=["model", "stake", "cumulative_payout", *metrics])
    # churn and turnover average the rounds that had something to compare with (not the 1.0 sentinel)
    compared = results["reason"] != NOTHING_TO_COMPARE
    results[["churn", "turnover"]] = results[["churn", "turnover"]].where(compared)
    grouped = results.groupby("model")
    board = grouped[metrics].mean()
    board.insert(0, "eligible_rounds", grouped["eligible"].sum().astype(int))
    board.insert(0, "rounds", grouped["submitted"].sum().astype(int))
    board.insert(0, "cumulative_payout", grouped["payout"].sum())
    deposits = store.con.execute(
        "SELECT model, sum(amount) AS deposited FROM stake_events WHERE kind IN ('deposit', 'release') GROUP BY model"
    ).fetch_df().set_index("model")["deposited"]
    last = pd.Timestamp.max.normalize() if round_date is None else pd.Timestamp(round_date) + pd.Timedelta(days=1)
    board.insert(0, "stake", stake_balances(store, min(last, pd.Timestamp("2262-01-01"))).reindex(board.index))
    board.insert(2, "return_on_stake", board["cumulative_payout"] / deposits.reindex(board.index).replace(0.0, np.nan))
    return board.sort_values("cumulative_payout", ascending=False).reset_index()


def pending_releases(store: Store, window: str = DEFAULT_WINDOW) -> pd.DataFrame:
    """Releases not completed yet: model, amount (what will leave the stake: the request less
    what burns took from it), requested (the release date), burned, completes (the resolution
    date of the last round that staked it, i.e. whose deadline's date is on or before the
    request; projected on business days while its window is not known at the clock).

    A release completes when that round has resolved; one no round staked (dated before the
    first round) is complete at once.
    """
    ensure_tables(store)
    columns = ["model", "amount", "requested", "burned", "completes"]
    requests = store.con.execute(
        "SELECT r.model, r.effective AS requested, -sum(r.amount) AS requested_amount, "
        "coalesce(max(b.burned), 0) AS burned FROM stake_events r LEFT JOIN (SELECT model, released, "
        "sum(amount) AS burned FROM stake_events WHERE kind = 'release_burn' GROUP BY ALL) b "
        "ON b.model = r.model AND b.released = r.effective WHERE r.kind = 'release' GROUP BY r.model, r.effective "
        "ORDER BY r.effective, r.model"
    ).fetch_df()
    first = store.one("SELECT min(date) FROM submissions WHERE status IN ('on_time', 'late')")[0]
    calendar = RoundCalendar.of(store)
    rounds_ = [] if first is None else [r for r in calendar.rounds(store) if r.data_date >= pd.Timestamp(first)]
    if requests.empty or not rounds_:
        return pd.DataFrame(columns=columns)
    deadlines = pd.DatetimeIndex([r.deadline.normalize() for r in rounds_])
    resolved = rounds_table(store).set_index("round_date")["resolution_date"]
    trading = store.trading_days()
    rows = []
    for request in requests.itertuples(index=False):
        requested = pd.Timestamp(request.requested)
        staked = int(deadlines.searchsorted(requested, side="right"))  # rounds with deadline date <= request
        if staked == 0:
            continue
        last = rounds_[staked - 1]
        if last.data_date in resolved.index:
            continue  # complete: every round that staked it has resolved
        completes = last.resolution_date(window, trading)
        if completes is None:
            days, lag = parse_window(window)
            completes = last.data_date + pd.offsets.BDay(days + lag)
        rows.append((request.model, float(request.requested_amount - request.burned), requested,
                     float(request.burned), pd.Timestamp(completes)))
    return pd.DataFrame(rows, columns=columns)

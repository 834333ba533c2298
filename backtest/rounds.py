"""Rounds, the stake ledger and round resolution.

Rounds are the fund's calendar (:class:`metasignal.signals.RoundCalendar`), from the first
round anybody uploaded to (on time or late) on. Once a round's deadline has passed at the
store clock, it is scored on each target window of the store's payout policy
(:class:`metasignal.backtest.PayoutPolicy`) as that window ends: 20D2L about 22 trading days
after the round, 60D2L about 62. Each scoring measures every model's on-time (or queued)
submission and every late upload (``late``: scored without stake, outside the meta-model) on
that window. The round is paid when its payout window (the longest a paid score uses) has
ended: eligibility, each paid score from its own window, the policy's payout, compounded into
stakes; until then its stakes stay at risk (a release is pending until it pays). Each scoring
and the payout are one transaction: resolving twice changes nothing, and a crash
mid-resolution leaves the ledger as it was.

Tables (stakes live in :mod:`metasignal.signals.stakes`; a payout is a stake event effective after
its round's resolution date ``t + lag + days`` of the payout window, the close that ends it):

- ``round_windows(round_date, window, end_date)``: each window scored so far;
- ``round_scores(round_date, window, model, <metrics>, late)``: every score on each window;
- ``rounds(round_date, window, resolution_date, policy, payout_factor, total_at_risk, n_models)``:
  paid rounds (``window``: the payout window);
- ``round_results(round_date, model, stake, at_risk, submitted, eligible, reason,
  <metrics>, churn, turnover, neutral_churn, payout_score, payout, late)``: the paid record,
  each paid metric from the window the policy measures it on, the others from 20D2L.

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
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from metasignal.backtest.inference import ALPHA, ROUND_SPACING_DAYS, hac_lag, score_inference
from metasignal.backtest.payouts import (
    CHURN_LIMIT,
    TURNOVER_LIMIT,
    PayoutPolicy,
    eligible,
    neutral_churn_retention,
    payout_scores,
    stake_payouts,
)
from metasignal.data.calendar import DateLike
from metasignal.data.store import Store
from metasignal.data.targets import DEFAULT_WINDOW, window_length
from metasignal.errors import StoreError
from metasignal.signals import stakes, storage
from metasignal.signals.round_calendar import Round, RoundCalendar
from metasignal.signals.scoring import score_era
from metasignal.signals.stakes import stake_balances

logger = logging.getLogger(__name__)

SCORE_METRICS = ("corr", "icv2", "fnc", "nc", "mmc", "nmc", "alpha", "mpc")
META_METRICS = ("mmc", "nmc", "mpc")  # the scores measured against the round's meta-model
LOOKBACK_ROUNDS = 5  # eligibility compares with the model's submissions of the previous 5 rounds
MIN_META_STAKE = 10.0  # the least stake at risk that counts in the round's meta-model (MMC, NMC, MPC)
NOTHING_TO_COMPARE = "nothing to compare (new or returning model)"
# era inputs kept by a resolution run: the rounds a 20D2L scoring and a 60D2L one (62 trading
# days apart) read with their lookbacks, on a daily calendar too
CACHED_DATES = 2 * LOOKBACK_ROUNDS + 2 + 64

_DDL = (
    'CREATE TABLE IF NOT EXISTS rounds (round_date DATE PRIMARY KEY, "window" VARCHAR, resolution_date DATE, '
    "policy VARCHAR, payout_factor DOUBLE, total_at_risk DOUBLE, n_models INTEGER)",
    "CREATE TABLE IF NOT EXISTS round_results (round_date DATE NOT NULL, model VARCHAR NOT NULL, stake DOUBLE, "
    "at_risk DOUBLE, submitted BOOLEAN, eligible BOOLEAN, reason VARCHAR, "
    + ", ".join(f"{m} DOUBLE" for m in (*SCORE_METRICS, "churn", "turnover"))
    + ", payout_score DOUBLE, payout DOUBLE, PRIMARY KEY (round_date, model))",
    "ALTER TABLE round_results ADD COLUMN IF NOT EXISTS late BOOLEAN",
    "ALTER TABLE round_results ADD COLUMN IF NOT EXISTS icv2 DOUBLE",  # stores from before the rename of ic
    "ALTER TABLE round_results ADD COLUMN IF NOT EXISTS neutral_churn DOUBLE",
    'CREATE TABLE IF NOT EXISTS round_windows (round_date DATE NOT NULL, "window" VARCHAR NOT NULL, '
    'end_date DATE, PRIMARY KEY (round_date, "window"))',
    'CREATE TABLE IF NOT EXISTS round_scores (round_date DATE NOT NULL, "window" VARCHAR NOT NULL, '
    "model VARCHAR NOT NULL, "
    + ", ".join(f"{m} DOUBLE" for m in SCORE_METRICS)
    + ', late BOOLEAN, PRIMARY KEY (round_date, "window", model))',
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
            if len(self._cache) > CACHED_DATES:  # keep only the recent dates
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
    predictions: pd.DataFrame, era: _EraInputs, previous_eras: Sequence[_EraInputs], neutral: bool = False,
) -> pd.DataFrame:
    """Max churn and turnover of each model (``predictions``: ticker x model, the round's
    submissions) against its own submissions in ``previous_eras`` (the inputs of the previous
    rounds that can hold one, :func:`_rounds_with_uploads`), as numerai-tools'
    ``calculate_max_churn_and_turnover``: comparisons with too little overlap are skipped, and
    a model with none left gets 1.0 for both (``compared`` is then False). With ``neutral``, also
    the mean neutral churn over the same submissions, as ``calculate_mean_neutral_churn``
    (comparisons it cannot make skipped, 1.0 with none left)."""
    metrics = ("churn", "turnover", "neutral_churn") if neutral else ("churn", "turnover")
    worst = pd.DataFrame(np.nan, index=predictions.columns, columns=["churn", "turnover"])
    neutral_sum = pd.Series(0.0, index=predictions.columns)
    neutral_count = pd.Series(0, index=predictions.columns)
    for prev_era in previous_eras:
        models = [m for m in predictions.columns
                  if m in prev_era.submissions.columns and prev_era.submissions[m].notna().any()]
        if not models:
            continue
        previous = prev_era.submissions[models].reindex(prev_era.universe)
        scores = score_era(
            predictions[models], targets=pd.DataFrame(index=era.universe, columns=["factor_neutral", "raw"], dtype=float),
            neutralizers=era.neutralizers, sample_weights=era.sample_weights,
            previous=previous, previous_neutralizers=prev_era.neutralizers,
            previous_sample_weights=prev_era.sample_weights, metrics=metrics,
        )
        values = scores[["churn", "turnover"]].abs()
        values[values.isna().any(axis=1)] = np.nan  # numerai-tools skips the comparison as a whole
        worst.loc[models] = np.fmax(worst.loc[models].to_numpy(), values.to_numpy())
        if neutral:
            made = scores["neutral_churn"].notna()
            neutral_sum.loc[models] += scores["neutral_churn"].where(made, 0.0).to_numpy()
            neutral_count.loc[models] += made.to_numpy().astype(int)
    worst["compared"] = worst.notna().all(axis=1)
    worst = worst.fillna({"churn": 1.0, "turnover": 1.0})
    worst["neutral_churn"] = (neutral_sum / neutral_count.where(neutral_count > 0)).fillna(1.0) if neutral else np.nan
    return worst


@dataclass
class _Eligibility:
    """Per model (indexed by every model with a stake or a submission): whether it submitted,
    its max churn and turnover against its own previous submissions, and the verdict."""

    submitted: pd.Series  # bool
    checks: pd.DataFrame  # churn, turnover (1.0: nothing to compare against; NaN: no submission), neutral_churn
    ok: pd.Series  # bool: submitted and eligible
    reason: np.ndarray  # "" or why the model stakes nothing this round


@dataclass
class _RoundReads:
    """What a round's resolution reads from the store once, whatever window it scores: the
    models (a stake, a submission or a late upload), their submissions and stakes, and the
    inputs of the previous rounds eligibility compares with. Picklable: rescoring ships it to
    a worker, which settles it (:func:`_settled`) without the store."""

    round_: Round
    era: _EraInputs
    models: pd.Index
    predictions: pd.DataFrame  # ticker x model, on-time (or queued) submissions
    late: pd.DataFrame  # ticker x model, late uploads of models without an on-time one
    stake: pd.Series  # model -> balance at the deadline
    previous: list[_EraInputs]  # the previous rounds that can hold a submission, oldest first


@dataclass
class _RoundState:
    """A round's reads settled: its eligibility and the stakes at risk."""

    round_: Round
    era: _EraInputs
    models: pd.Index
    predictions: pd.DataFrame
    late: pd.DataFrame
    status: _Eligibility
    stake: pd.Series
    at_risk: pd.Series


def _round_reads(store: Store, round_: Round, cache: _EraCache) -> _RoundReads:
    day = round_.data_date
    era = cache(day)
    balances = stake_balances(store, round_.deadline.normalize())
    late = storage.late_submissions(store, day)
    late = late.loc[:, late.columns.difference(era.submissions.columns)].reindex(era.universe)
    late = late.loc[:, late.notna().any(axis=0)]
    models = balances.index.union(era.submissions.columns).union(late.columns)
    predictions = era.submissions.reindex(index=era.universe, columns=models)
    previous = [cache(date) for date in _rounds_with_uploads(store, day)]
    return _RoundReads(round_, era, models, predictions, late, balances.reindex(models, fill_value=0.0), previous)


def _settled(reads: _RoundReads, neutral: bool) -> _RoundState:
    """Eligibility (churn and turnover against ``reads.previous``) and stakes at risk."""
    status = _eligibility(reads.predictions, reads.era, reads.previous, neutral)
    status.reason = np.where(reads.models.isin(reads.late.columns), "late: scored without stake", status.reason)
    return _RoundState(reads.round_, reads.era, reads.models, reads.predictions, reads.late, status, reads.stake,
                       reads.stake.where(status.ok, 0.0))


def _round_state(store: Store, round_: Round, cache: _EraCache, neutral: bool) -> _RoundState:
    return _settled(_round_reads(store, round_, cache), neutral)


def scored_windows(store: Store, round_date: DateLike | None = None) -> pd.DataFrame:
    """Windows scored so far: ``round_date``, ``window``, ``end_date`` (the close that ended it)."""
    ensure_tables(store)
    frame = store.con.execute(
        'SELECT round_date, "window", end_date FROM round_windows WHERE CAST(? AS DATE) IS NULL '
        "OR round_date = CAST(? AS DATE) ORDER BY round_date, end_date",
        [None if round_date is None else pd.Timestamp(round_date).date()] * 2).fetch_df()
    for column in ("round_date", "end_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def resolve_round(store: Store, round_date: DateLike, *, rule: PayoutPolicy | None = None,
                  cache: _EraCache | None = None, _before_commit: Callable[[], None] | None = None) -> bool:
    """Score the round on each window of ``rule`` (default: the store's policy) that has ended
    and is not scored yet, and pay it once its payout window has ended. Returns True when
    something was written, False when nothing changed (already paid, or no new window ended).

    Raises :class:`StoreError` while the round is open, or before its shortest window has ended.
    """
    ensure_tables(store)
    rule = rule or PayoutPolicy.of(store)
    day = pd.Timestamp(round_date).normalize()
    if store.one("SELECT 1 FROM rounds WHERE round_date = ?", [day.date()]):
        logger.debug("round %s is already resolved: skipped", day.date())
        return False
    started = time.perf_counter()
    round_ = RoundCalendar.of(store).round_of(day)
    if store.now() <= round_.deadline:
        raise StoreError(f"round {day.date()} is still open: its deadline is {round_.deadline:%Y-%m-%d %H:%M} UTC")
    windows = rule.score_windows
    targets = {windows[0]: store.targets(day, windows[0])}  # raises while the shortest window runs
    for window in windows[1:]:
        if day in store.target_dates(window):
            targets[window] = store.targets(day, window)
    done = set(scored_windows(store, day)["window"])
    new = [w for w in targets if w not in done]
    pays = len(targets) == len(windows)
    if not new and not pays:
        return False
    state = _round_state(store, round_, cache or _EraCache(store), rule.neutral_churn_penalty)
    scored = pd.concat([state.predictions.loc[:, state.status.submitted], state.late], axis=1)
    fresh = {w: _round_scores(scored, state.at_risk, targets[w], state.era, state.status.submitted)
             .reindex(state.models) for w in new}
    with store.transaction():
        for window, scores in fresh.items():
            _write_window(store, day, window, _resolution_date(store, day, window), scores, state.late.columns)
        if pays:
            by_window = {w: fresh[w] if w in fresh else _stored_scores(store, day, w, state.models) for w in windows}
            _pay_round(store, state, _paid_scores(by_window, rule), rule, _before_commit)
    logger.debug("round %s: scored %s%s in %.3f s", day.date(), ", ".join(new) or "no new window",
                 " and paid" if pays else "", time.perf_counter() - started)
    return True


def _paid_scores(by_window: dict[str, pd.DataFrame], rule: PayoutPolicy) -> pd.DataFrame:
    """Model x metric: each paid metric from the window ``rule`` measures it on, the others from 20D2L."""
    scores = by_window[DEFAULT_WINDOW].copy()
    for metric in rule.multipliers:
        scores[metric] = by_window[rule.window_of(metric)][metric]
    return scores


def _pay_round(store: Store, state: _RoundState, scores: pd.DataFrame, rule: PayoutPolicy,
               before_commit: Callable[[], None] | None) -> None:
    """Payouts of the round from its scores (inside the caller's transaction)."""
    day, models, at_risk, status = state.round_.data_date, state.models, state.at_risk, state.status
    deadline_day = state.round_.deadline.normalize()
    resolution_date = _resolution_date(store, day, rule.payout_window)
    paid, factor = stake_payouts(at_risk, scores.fillna(0.0), rule)
    if rule.neutral_churn_penalty:  # numerai-tools 0.7: gains only, burns are not reduced
        paid = paid.where(paid <= 0, paid * neutral_churn_retention(status.checks["neutral_churn"]).to_numpy())
    # a release pending at the round earns nothing from it: a gain is paid on the rest only
    pending = stakes.pending_release_amounts(store, models, deadline_day)
    earning = (at_risk - pending).clip(lower=0.0) / at_risk.where(at_risk > 0)
    paid = paid.where(paid <= 0, paid * earning.fillna(0.0))
    # overlapping rounds stake the same balance, and a release after the deadline is still at risk:
    # a burn takes at most what is left (pending releases of the round included) when it lands
    paid, release_burns = stakes.settle_burns(store, paid, deadline_day, resolution_date)
    results = _results_frame(day, models, state.stake, at_risk, status, scores, paid, rule)
    results["late"] = models.isin(state.late.columns)
    round_row = [day.date(), rule.payout_window, resolution_date.date(), rule.name, factor, float(at_risk.sum()),
                 int(status.submitted.sum())]
    _write_round(store, results, round_row, before_commit, release_burns)


def _write_window(store: Store, day: pd.Timestamp, window: str, end: pd.Timestamp, scores: pd.DataFrame,
                  late: pd.Index) -> None:
    """The ``round_scores`` rows of one window of the round and its ``round_windows`` row."""
    rows = scores.reindex(columns=list(SCORE_METRICS)).rename_axis("model").reset_index()
    rows.insert(0, "window", window)
    rows.insert(0, "round_date", day)
    rows["late"] = rows["model"].isin(late)
    store.con.register("_scores", rows)
    try:
        columns = ", ".join(f'"{c}"' for c in rows.columns)
        store.con.execute(f"INSERT INTO round_scores ({columns}) SELECT {columns} FROM _scores")
    finally:
        store.con.unregister("_scores")
    store.con.execute("INSERT INTO round_windows VALUES (?, ?, ?)", [day.date(), window, end.date()])


def _stored_scores(store: Store, day: pd.Timestamp, window: str, models: pd.Index) -> pd.DataFrame:
    """Model x metric scores of one window already scored."""
    frame = round_scores(store, day, window=window).set_index("model")
    return frame[list(SCORE_METRICS)].reindex(models)


def round_scores(store: Store, round_date: DateLike | None = None, model: str | None = None,
                 window: str | None = None) -> pd.DataFrame:
    """Every score of each window as it ended (``round_date, window, model, <metrics>, late``),
    paid rounds and rounds still waiting for a longer window alike."""
    ensure_tables(store)
    frame = store.con.execute(
        "SELECT * FROM round_scores WHERE (CAST(? AS DATE) IS NULL OR round_date = CAST(? AS DATE)) "
        "AND (CAST(? AS VARCHAR) IS NULL OR model = CAST(? AS VARCHAR)) "
        'AND (CAST(? AS VARCHAR) IS NULL OR "window" = CAST(? AS VARCHAR)) ORDER BY round_date, "window", model',
        [None if round_date is None else pd.Timestamp(round_date).date()] * 2 + [model, model, window, window],
    ).fetch_df()
    frame["round_date"] = pd.to_datetime(frame["round_date"])
    return frame


def _resolution_date(store: Store, day: pd.Timestamp, window: str) -> pd.Timestamp:
    """The close that ends the round's target window (``lag + days`` trading days after it)."""
    calendar = store.trading_days(start=day)
    return calendar[min(window_length(window), len(calendar) - 1)]


def _eligibility(predictions: pd.DataFrame, era: _EraInputs, previous_eras: Sequence[_EraInputs],
                 neutral: bool = False) -> _Eligibility:
    """Who submitted (``predictions``: ticker x model) and who is eligible (churn, turnover
    against ``previous_eras``)."""
    submitted = predictions.notna().any(axis=0)
    checks = _max_churn_and_turnover(predictions.loc[:, submitted], era, previous_eras, neutral)
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
    """Insert the results, the payout and release burn stake events and the ``rounds`` row
    (inside the caller's transaction).

    ``round_row``: round date, payout window, resolution date, policy, payout factor, total at
    risk, number of models that submitted; payouts take effect at the resolution date, release
    burns (:func:`metasignal.signals.stakes.settle_burns`) on their own dates.
    """
    day, resolution_date = round_row[0], round_row[2]
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


def resolve_rounds(store: Store, through: DateLike | None = None, *, rule: PayoutPolicy | None = None,
                   progress: Callable[[int], None] | None = None, cache: _EraCache | None = None) -> list[pd.Timestamp]:
    """Score and pay, oldest first, every unpaid closed round up to ``through``: each window of
    ``rule`` (default: the store's policy) that has ended at the store clock is scored, and a
    round is paid once its payout window has ended. Returns the rounds paid by this call.
    ``cache``: per-date inputs shared across calls (a replay's advance): only closed rounds'
    inputs are cached, and those no longer change."""
    ensure_tables(store)
    rule = rule or PayoutPolicy.of(store)
    started = time.perf_counter()
    pending = round_dates(store).difference(resolved_rounds(store))
    if through is not None:
        pending = pending[pending <= pd.Timestamp(through)]
    windows = rule.score_windows
    known = {window: set(store.target_dates(window)) for window in windows}
    waiting = pending[~pending.isin(known[windows[0]])]
    if len(waiting):
        logger.debug("skipping %d round(s) whose %s target window has not passed: %s", len(waiting),
                     windows[0], ", ".join(str(d.date()) for d in waiting))
    scored = scored_windows(store).groupby("round_date")["window"].agg(set)
    cache = cache or _EraCache(store)
    done = []
    for day in pending[pending.isin(known[windows[0]])]:
        ended = {window for window in windows if day in known[window]}
        if len(ended) == len(windows) or not ended <= scored.get(day, set()):  # something to write
            resolve_round(store, day, rule=rule, cache=cache)
            if len(ended) == len(windows):
                done.append(day)
        if progress:
            progress(1)
    logger.info("paid %d round(s) in %.2f s", len(done), time.perf_counter() - started)
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


# mean scores of the leaderboard that get HAC inference (the scores the board shows and pays)
INFERENCE_METRICS: tuple[str, ...] = ("corr", "fnc", "mmc", "alpha", "mpc")
INFERENCE_SUFFIXES: tuple[str, ...] = ("t", "ci", "ns")


def leaderboard_lags(store: Store, rule: PayoutPolicy | None = None) -> dict[str, int]:
    """Per score of :data:`INFERENCE_METRICS`, the HAC overlap lag in rounds
    (:func:`metasignal.backtest.inference.hac_lag`) of the window the round results hold it on
    (``rule``, default the store's policy) on the store's round calendar (weekly: 5 trading
    days apart, daily: 1)."""
    rule = rule or PayoutPolicy.of(store)
    spacing = ROUND_SPACING_DAYS[RoundCalendar.of(store).schedule]
    return {metric: hac_lag(rule.window_of(metric), spacing) for metric in INFERENCE_METRICS}


def _score_intervals(results: pd.DataFrame, lags: dict[str, int], alpha: float) -> pd.DataFrame:
    """Per model, for each metric: ``<m>_t`` (HAC t-stat), ``<m>_ci`` (half-width of the 1 - alpha
    interval, score units) and ``<m>_ns`` (True: not distinguishable from zero)."""
    columns = {}
    for metric, lag in lags.items():
        estimate = score_inference(results, metric, lag, alpha)
        columns[f"{metric}_t"] = estimate["t"]
        columns[f"{metric}_ci"] = estimate["ci_high"] - estimate["mean"]
        columns[f"{metric}_ns"] = ~estimate["significant"]
    return pd.DataFrame(columns)


def leaderboard(store: Store, round_date: DateLike | None = None, *, alpha: float = ALPHA) -> pd.DataFrame:
    """Per model: current stake, cumulative payout, return on stake, rounds, and mean scores
    (churn and turnover over the rounds with something to compare against), sorted by
    cumulative payout.

    For each score of :data:`INFERENCE_METRICS` the board also has ``<m>_t`` (the mean's HAC
    t-statistic), ``<m>_ci`` (half-width of its 1 - ``alpha`` interval: the mean is
    ``m ± <m>_ci``) and ``<m>_ns`` (True when the mean is not distinguishable from zero at level
    ``alpha``), from :func:`metasignal.backtest.inference.mean_with_hac` over the model's paid
    rounds with the overlap lag of :func:`leaderboard_lags`; NaN / True with fewer than 3 rounds.
    """
    results = round_results(store, round_date)
    metrics = [*SCORE_METRICS, "churn", "turnover"]
    inference = [f"{m}_{s}" for m in INFERENCE_METRICS for s in INFERENCE_SUFFIXES]
    if results.empty:
        return pd.DataFrame(columns=["model", "stake", "cumulative_payout", "return_on_stake", "rounds",
                                     "eligible_rounds", *metrics, *inference])
    intervals = _score_intervals(results, leaderboard_lags(store), alpha)
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
    board = board.join(intervals.reindex(board.index))
    flags = [f"{m}_ns" for m in INFERENCE_METRICS]
    board[flags] = board[flags].fillna(True).astype(bool)
    return board.sort_values("cumulative_payout", ascending=False).reset_index()


def pending_releases(store: Store, rule: PayoutPolicy | None = None) -> pd.DataFrame:
    """Releases not completed yet: model, amount (what will leave the stake: the request less
    what burns took from it), requested (the release date), burned, completes (the resolution
    date of the last round that staked it, i.e. whose deadline's date is on or before the
    request; projected on business days while its window is not known at the clock).

    A release completes when that round has resolved (been paid, at the end of the payout window
    of ``rule``, default the store's policy); one no round staked (dated before the first round)
    is complete at once.
    """
    ensure_tables(store)
    window = (rule or PayoutPolicy.of(store)).payout_window
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
            completes = last.data_date + pd.offsets.BDay(window_length(window))
        rows.append((request.model, float(request.requested_amount - request.burned), requested,
                     float(request.burned), pd.Timestamp(completes)))
    return pd.DataFrame(rows, columns=columns)

"""Rescoring: every round's submissions scored again per era, in chunks of eras on Dask, and
what the rounds would have paid under a policy, without touching the ledger.

Three steps:

1. :func:`round_inputs` (this process, the store open read-only): per closed round whose
   shortest window has ended, what :func:`metasignal.backtest.resolve_round` reads
   (``rounds._round_reads``): the on-time (or queued) submissions and the late uploads
   (ticker x model), the universe's ``N`` and ``v``, the stakes at the deadline (the ledger's
   balances), the inputs of the previous rounds eligibility compares with, and the targets of
   each window of the policy that has ended;
2. :func:`score_chunk` (a task per chunk of eras, no store needed): each round settled with
   resolution's own functions: eligibility (max churn and turnover against the previous
   rounds, ``rounds._settled``), the stakes at risk, then the round scores of each window
   (``rounds._round_scores``, i.e. ``score_era`` with the meta-model weighted by stake at risk):
   one row per (round, window, model), and one per (round, model) of standing;
3. :func:`payouts` (this process): per round whose windows have all ended, the paid scores
   (each from its window), ``stake_payouts`` under the policy, the neutral-churn penalty when
   the policy has it and the pending-release rule. The ledger's burn cap
   (``stakes.settle_burns``) is not applied: it depends on the balances the counterfactual
   payouts would have left, so a rescore's burns are the policy's, uncapped.

Units: scores are per-era metrics; stakes and payouts NMR-like amounts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from metasignal.backtest.payouts import PayoutPolicy, neutral_churn_retention, payout_scores, stake_payouts
from metasignal.backtest.rounds import (
    SCORE_METRICS,
    _EraCache,
    _paid_scores,
    _round_reads,
    _round_scores,
    _RoundReads,
    _settled,
    ensure_tables,
    round_dates,
)
from metasignal.data.store import Store
from metasignal.signals import stakes
from metasignal.signals.round_calendar import RoundCalendar

__all__ = ["ChunkScores", "RescoreResult", "RoundInputs", "largest_difference", "payouts", "rescore", "round_inputs", "score_chunk"]


@dataclass
class RoundInputs:
    """What one round's rescoring reads from the store (picklable, shipped to a worker).

    reads: the resolution's own reads (``rounds._RoundReads``: the universe's N and v, the
    on-time or queued submissions and late uploads, the stakes at the deadline, and the inputs of
    the previous rounds that eligibility compares with); targets: window -> ticker x (raw,
    factor_neutral) of each window that has ended; pending: model -> amount pending release at
    the deadline (used by the payouts, in this process); neutral: whether the policy's
    neutral-churn penalty is on (the worker then also computes the mean neutral churn).
    """

    round_date: pd.Timestamp
    reads: _RoundReads
    targets: dict[str, pd.DataFrame]
    pending: pd.Series
    neutral: bool


@dataclass
class ChunkScores:
    """What a task returns for its chunk of rounds.

    scores: one row per (round_date, window, model) with every metric of ``SCORE_METRICS`` and
    ``late``, as ``resolve_round`` writes them to ``round_scores``; standing: one row per
    (round_date, model) with the stake, the stake at risk, eligibility and the churn, turnover
    and neutral churn it was decided on.
    """

    scores: pd.DataFrame
    standing: pd.DataFrame


SCORE_COLUMNS = ["round_date", "window", "model", *SCORE_METRICS, "late"]
STANDING_COLUMNS = ["round_date", "model", "stake", "at_risk", "eligible", "churn", "turnover", "neutral_churn"]


def round_inputs(store: Store, rule: PayoutPolicy, rounds: Sequence[pd.Timestamp] | None = None
                 ) -> list[RoundInputs]:
    """The inputs of every closed round (or of ``rounds``) whose shortest window of ``rule`` has
    ended at the store clock, oldest first (read-only: nothing is written to the store)."""
    ensure_tables(store)
    windows = rule.score_windows
    known = {window: set(store.target_dates(window)) for window in windows}
    chosen = round_dates(store) if rounds is None else pd.DatetimeIndex(rounds)
    calendar, cache = RoundCalendar.of(store), _EraCache(store)
    inputs = []
    for day in chosen[chosen.isin(known[windows[0]])]:
        round_ = calendar.round_of(day)
        if store.now() <= round_.deadline:
            continue
        reads = _round_reads(store, round_, cache)
        targets = {window: store.targets(day, window) for window in windows if day in known[window]}
        pending = stakes.pending_release_amounts(store, reads.models, round_.deadline.normalize())
        inputs.append(RoundInputs(day, reads, targets, pending, rule.neutral_churn_penalty))
    return inputs


def score_chunk(chunk: Sequence[RoundInputs]) -> ChunkScores:
    """Eligibility, stakes at risk and scores of a chunk of rounds, with resolution's own
    functions (``rounds._settled`` then ``rounds._round_scores`` per window); no store needed."""
    score_frames, standing_frames = [], []
    for item in chunk:
        state = _settled(item.reads, item.neutral)
        scored = pd.concat([state.predictions.loc[:, state.status.submitted], state.late], axis=1)
        for window, targets in item.targets.items():
            scores = _round_scores(scored, state.at_risk, targets, state.era, state.status.submitted)
            frame = scores.reindex(state.models).rename_axis("model").reset_index()
            frame.insert(0, "window", window)
            frame.insert(0, "round_date", item.round_date)
            frame["late"] = frame["model"].isin(state.late.columns)
            score_frames.append(frame)
        standing = state.status.checks[["churn", "turnover", "neutral_churn"]].copy()
        standing.insert(0, "eligible", state.status.ok.to_numpy())
        standing.insert(0, "at_risk", state.at_risk.to_numpy())
        standing.insert(0, "stake", state.stake.to_numpy())
        standing_frames.append(standing.rename_axis("model").reset_index().assign(round_date=item.round_date))
    scores = pd.concat(score_frames, ignore_index=True) if score_frames else pd.DataFrame(columns=SCORE_COLUMNS)
    standing = (pd.concat(standing_frames, ignore_index=True)[STANDING_COLUMNS] if standing_frames
                else pd.DataFrame(columns=STANDING_COLUMNS))
    return ChunkScores(scores, standing)


def payouts(inputs: Sequence[RoundInputs], scores: pd.DataFrame, standing: pd.DataFrame,
            rule: PayoutPolicy) -> pd.DataFrame:
    """Per round whose windows of ``rule`` have all ended, per model: stake, at_risk, eligible,
    churn, turnover, neutral_churn, the paid scores, payout_score, payout (uncapped by the
    ledger, module docstring), payout_factor. ``scores`` and ``standing``: the tasks' frames."""
    by_round = {day: frame for day, frame in scores.groupby("round_date")}
    standing_by_round = {day: frame.set_index("model") for day, frame in standing.groupby("round_date")}
    rows = []
    for item in inputs:
        if len(item.targets) < len(rule.score_windows) or item.round_date not in by_round:
            continue
        models = item.reads.models
        state = standing_by_round[item.round_date].reindex(models)
        at_risk = state["at_risk"].astype(float)
        by_window = {w: part.set_index("model")[list(SCORE_METRICS)].reindex(models)
                     for w, part in by_round[item.round_date].groupby("window")}
        paid_scores = _paid_scores(by_window, rule)
        paid, factor = stake_payouts(at_risk, paid_scores.fillna(0.0), rule)
        if rule.neutral_churn_penalty:
            paid = paid.where(paid <= 0, paid * neutral_churn_retention(state["neutral_churn"]).to_numpy())
        earning = (at_risk - item.pending.reindex(models)).clip(lower=0.0) / at_risk.where(at_risk > 0)
        paid = paid.where(paid <= 0, paid * earning.fillna(0.0))
        table = pd.concat([paid_scores, state[["churn", "turnover", "neutral_churn"]]], axis=1)
        table.insert(0, "eligible", state["eligible"].astype(bool).to_numpy())
        table.insert(0, "at_risk", at_risk.to_numpy())
        table.insert(0, "stake", state["stake"].astype(float).to_numpy())
        table["payout_score"] = payout_scores(paid_scores.fillna(0.0), rule).to_numpy()
        table["payout"] = paid.to_numpy()
        table["payout_factor"] = factor
        rows.append(table.rename_axis("model").reset_index().assign(round_date=item.round_date))
    if not rows:
        return pd.DataFrame(columns=["round_date", "model", "stake", "at_risk", "payout"])
    frame = pd.concat(rows, ignore_index=True)
    return frame[["round_date", *[c for c in frame.columns if c != "round_date"]]]


@dataclass
class RescoreResult:
    """scores: per (round_date, window, model); payouts: per (round_date, model) of the paid
    rounds; seconds: extract (this process), score (the tasks, wall), payout."""

    scores: pd.DataFrame
    payouts: pd.DataFrame
    rule: PayoutPolicy
    chunks: int
    seconds: dict[str, float]


def rescore(store: Store, rule: PayoutPolicy | None = None, *, client=None, chunk_size: int = 8,
            progress: Callable[[int], None] | None = None) -> RescoreResult:
    """Rescore every round of ``store`` under ``rule`` (default: the store's policy): inputs read
    here, scores in chunks of ``chunk_size`` eras on ``client`` (``dask.distributed.Client``; None:
    in this process), payouts here. ``progress`` is called with the number of eras of each chunk
    as it finishes. The store is only read."""
    rule = rule or PayoutPolicy.of(store)
    began = time.perf_counter()
    inputs = round_inputs(store, rule)
    extracted = time.perf_counter()
    chunks = [inputs[i:i + chunk_size] for i in range(0, len(inputs), max(1, chunk_size))]
    parts: list[ChunkScores] = []
    if client is None:
        for chunk in chunks:
            parts.append(score_chunk(chunk))
            if progress:
                progress(len(chunk))
    elif chunks:
        from distributed import as_completed

        shipped = client.scatter(chunks)  # data sent to the workers, not embedded in the task graph
        futures = {client.submit(score_chunk, data, pure=False): len(chunk) for data, chunk in zip(shipped, chunks)}
        for future in as_completed(futures):
            parts.append(future.result())
            if progress:
                progress(futures[future])
    scored = time.perf_counter()
    scores = pd.concat([part.scores for part in parts], ignore_index=True) if parts else pd.DataFrame(columns=SCORE_COLUMNS)
    scores = scores.sort_values(["round_date", "window", "model"], ignore_index=True)
    standing = (pd.concat([part.standing for part in parts], ignore_index=True) if parts
                else pd.DataFrame(columns=STANDING_COLUMNS))
    paid = payouts(inputs, scores, standing, rule)
    seconds = {"extract": extracted - began, "score": scored - extracted, "payout": time.perf_counter() - scored}
    return RescoreResult(scores, paid, rule, len(chunks), seconds)


def largest_difference(scores: pd.DataFrame, stored: pd.DataFrame) -> tuple[float, int]:
    """(largest |rescored - stored| over every metric of the rows both hold, rows compared);
    a NaN on one side only counts as infinite. ``stored``: :func:`rounds.round_scores`."""
    keys = ["round_date", "window", "model"]
    joined = scores.merge(stored, on=keys, suffixes=("", "_stored"))
    worst = 0.0
    for metric in SCORE_METRICS:
        mine = joined[metric].to_numpy(dtype=float)
        theirs = joined[f"{metric}_stored"].to_numpy(dtype=float)
        if (np.isnan(mine) != np.isnan(theirs)).any():
            return float("inf"), len(joined)
        both = ~np.isnan(mine)
        if both.any():
            worst = max(worst, float(np.abs(mine[both] - theirs[both]).max()))
    return worst, len(joined)

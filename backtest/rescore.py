"""Rescoring: every round's submissions scored again per era, in chunks of eras on Dask, and
what the rounds would have paid under a policy, without touching the ledger.

Three steps:

1. :func:`round_inputs` (this process, the store open read-only): per closed round whose
   shortest window has ended, what :func:`metasignal.backtest.resolve_round` scores: the
   on-time (or queued) submissions of the models that submitted and the late uploads
   (ticker x model), the universe's ``N`` and ``v``, the targets of each window of the policy
   that has ended, and the round's eligibility and stakes at risk (the ledger's balance before
   the deadline: the resolution's own ``_round_state``);
2. :func:`score_chunk` (a task per chunk of eras): the round scores of each era and window
   with the very function resolution uses (``rounds._round_scores``, i.e. ``score_era`` with
   the meta-model weighted by stake at risk): one row per (round, window, model);
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
    _EraInputs,
    _paid_scores,
    _round_scores,
    _round_state,
    ensure_tables,
    round_dates,
)
from metasignal.data.store import Store
from metasignal.signals import stakes
from metasignal.signals.round_calendar import RoundCalendar

__all__ = ["RescoreResult", "RoundInputs", "largest_difference", "payouts", "rescore", "round_inputs", "score_chunk"]


@dataclass
class RoundInputs:
    """What one round's scoring reads (picklable, shipped to a worker).

    scored: ticker x model (the universe), the submitters' on-time or queued signals and the late
    uploads; at_risk: model -> stake at risk; staked: model -> submitted on time (bool; the late
    ones weigh 0 in the meta-model); targets: window -> ticker x (raw, factor_neutral); era: N, v.
    The payout part (models, stake, eligibility, pending) stays in this process.
    """

    round_date: pd.Timestamp
    scored: pd.DataFrame
    at_risk: pd.Series
    staked: pd.Series
    targets: dict[str, pd.DataFrame]
    era: _EraInputs
    models: pd.Index
    late: pd.Index
    stake: pd.Series
    eligible: pd.Series
    checks: pd.DataFrame  # churn, turnover, neutral_churn
    pending: pd.Series  # model -> amount pending release at the round's deadline


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
        state = _round_state(store, round_, cache, rule.neutral_churn_penalty)
        scored = pd.concat([state.predictions.loc[:, state.status.submitted], state.late], axis=1)
        targets = {window: store.targets(day, window) for window in windows if day in known[window]}
        pending = stakes.pending_release_amounts(store, state.models, round_.deadline.normalize())
        inputs.append(RoundInputs(day, scored, state.at_risk, state.status.submitted, targets, state.era,
                                  state.models, state.late.columns, state.stake, state.status.ok,
                                  state.status.checks, pending))
    return inputs


def score_chunk(chunk: Sequence[RoundInputs]) -> pd.DataFrame:
    """Scores of a chunk of rounds: one row per (round_date, window, model) with every metric of
    ``SCORE_METRICS`` and ``late``, as ``resolve_round`` writes them to ``round_scores``."""
    frames = []
    for item in chunk:
        for window, targets in item.targets.items():
            scores = _round_scores(item.scored, item.at_risk, targets, item.era, item.staked).reindex(item.models)
            frame = scores.rename_axis("model").reset_index()
            frame.insert(0, "window", window)
            frame.insert(0, "round_date", item.round_date)
            frame["late"] = frame["model"].isin(item.late)
            frames.append(frame)
    columns = ["round_date", "window", "model", *SCORE_METRICS, "late"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def payouts(inputs: Sequence[RoundInputs], scores: pd.DataFrame, rule: PayoutPolicy) -> pd.DataFrame:
    """Per round whose windows of ``rule`` have all ended, per model: stake, at_risk, eligible,
    churn, turnover, neutral_churn, the paid scores, payout_score, payout (uncapped by the
    ledger, module docstring), payout_factor."""
    by_round = {day: frame for day, frame in scores.groupby("round_date")}
    rows = []
    for item in inputs:
        if len(item.targets) < len(rule.score_windows) or item.round_date not in by_round:
            continue
        frame = by_round[item.round_date]
        by_window = {w: part.set_index("model")[list(SCORE_METRICS)].reindex(item.models)
                     for w, part in frame.groupby("window")}
        paid_scores = _paid_scores(by_window, rule)
        paid, factor = stake_payouts(item.at_risk, paid_scores.fillna(0.0), rule)
        if rule.neutral_churn_penalty:
            paid = paid.where(paid <= 0, paid * neutral_churn_retention(item.checks["neutral_churn"]).to_numpy())
        earning = (item.at_risk - item.pending).clip(lower=0.0) / item.at_risk.where(item.at_risk > 0)
        paid = paid.where(paid <= 0, paid * earning.fillna(0.0))
        table = pd.concat([paid_scores, item.checks[["churn", "turnover", "neutral_churn"]]], axis=1)
        table.insert(0, "eligible", item.eligible.to_numpy())
        table.insert(0, "at_risk", item.at_risk.to_numpy())
        table.insert(0, "stake", item.stake.to_numpy())
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
    parts = []
    if client is None:
        for chunk in chunks:
            parts.append(score_chunk(chunk))
            if progress:
                progress(len(chunk))
    elif chunks:
        from distributed import as_completed

        futures = {client.submit(score_chunk, chunk, pure=False): len(chunk) for chunk in chunks}
        for future in as_completed(futures):
            parts.append(future.result())
            if progress:
                progress(futures[future])
    scored = time.perf_counter()
    columns = ["round_date", "window", "model", *SCORE_METRICS, "late"]
    scores = (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns))
    scores = scores.sort_values(["round_date", "window", "model"], ignore_index=True)
    paid = payouts(inputs, scores, rule)
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

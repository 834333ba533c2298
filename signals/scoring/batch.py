"""The batch scorer: every requested metric for every model of an era in one pass.

``score_era`` works on ``(n_tickers, n_models)`` arrays: one sort of the whole signal
matrix, one factorization of the neutralizers, matrix products instead of per-model
loops. ``score_eras`` runs it over panels indexed by (date, ticker).

Target mapping (SCORING.md): ``targets['factor_neutral']`` feeds corr, fnc, nc, mmc, nmc,
alpha and mpc; ``targets['raw']`` feeds icv2 (``numerai_corr`` with its default 1.5 power,
since both targets are binned to {0, .25, .5, .75, 1}).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from metasignal.data.blas import limits_blas_threads
from metasignal.errors import DataValidationError
from metasignal.signals.scoring._alignment import DEFAULT_MAX_FILTERED_INDEX_RATIO
from metasignal.signals.scoring._era_changes import change_scores
from metasignal.signals.scoring._era_inputs import EraInputs, check_frames
from metasignal.signals.scoring._era_scores import AlignedEra, CoreScores, core_scores
from metasignal.signals.scoring._metrics import CHANGE_METRICS, METRICS, requested_metrics
from metasignal.signals.scoring._sorted_signals import SortedSignals
from metasignal.signals.transforms import as_float_matrix

__all__ = ["METRICS", "score_era", "score_eras"]


def score_era(
    predictions: pd.DataFrame,
    *,
    targets: pd.DataFrame,
    meta_model: pd.Series | None = None,
    neutralizers: pd.DataFrame | None = None,
    sample_weights: pd.Series | None = None,
    stakes: pd.Series | None = None,
    previous: pd.DataFrame | None = None,
    previous_neutralizers: pd.DataFrame | None = None,
    previous_sample_weights: pd.Series | None = None,
    metrics: Iterable[str] = METRICS,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.DataFrame:
    """Every requested metric for every model of one era, in one vectorized pass.

    Inputs, one era indexed by ticker:
      predictions   (ticker x model), NaN = not submitted; its index is the era's universe.
                    Each column is cleaned first (ranked over its submitted names, gaps 0.5)
                    and scores like the reference on the cleaned column; a column with no
                    value at all scores NaN.
      targets       columns 'factor_neutral' (corr, fnc, nc, mmc, nmc, alpha, mpc) and
                    'raw' (icv2), binned to [0, 1].
      meta_model    ticker -> value (mmc, nmc); if None while mmc/nmc are requested and
                    ``stakes`` is given, the stake-weighted meta-model of ``predictions``.
      neutralizers  (ticker x f) N (fnc, nc, nmc, alpha, mpc, turnover, neutral_churn),
                    all-NaN columns ignored; sample_weights ticker -> v (alpha, mpc, turnover).
      stakes        model -> stake (mpc); models without a stake count as stake 0.
      previous      (ticker x model) the previous submissions, cleaned over their own index:
                    churn = 1 - Spearman against them, turnover = half the L1 change of
                    centred, normalized neutral weights (the previous ones built with
                    ``previous_neutralizers`` / ``previous_sample_weights``, default this
                    era's), neutral_churn = churn of the rank-gauss signals each neutralized
                    to its own era's N (one comparison of ``calculate_mean_neutral_churn``).
                    No previous, a model absent from it, too little overlap or a side
                    constant: NaN.

    All metrics but churn/turnover/neutral_churn use the same rows: tickers with predictions
    and every needed input (80 % overlap rule on each). Each value equals the reference
    function on the cleaned column whenever the inputs cover all predicted tickers (targets
    centred over all their values for corr/icv2/fnc/nc/alpha, over the shared rows for
    mmc/nmc/mpc, as the reference does). Returns a DataFrame indexed by model, one column
    per metric.
    """
    wanted = requested_metrics(metrics)
    check_frames(predictions, targets, stakes)
    result = pd.DataFrame(np.nan, index=pd.Index(predictions.columns, name="model"), columns=wanted)
    if predictions.shape[1] == 0 or not wanted:
        return result
    inputs = EraInputs.checked(predictions, wanted, targets=targets, meta_model=meta_model,
                               neutralizers=neutralizers, sample_weights=sample_weights,
                               stakes=stakes)
    signals, ratio = _cleaned_signals(predictions), max_filtered_index_ratio
    core = [name for name in wanted if name not in CHANGE_METRICS]
    scores, reusable = {}, None  # reusable: the core scores, if computed on the whole universe
    if core and len(signals.models):
        scores, reusable = _core_scores(core, signals, inputs, ratio)
    if previous is not None and len(signals.models) and _any_of(CHANGE_METRICS, wanted):
        changes = change_scores(wanted, signals, previous, inputs, previous_neutralizers,
                                previous_sample_weights, reusable, ratio)
        scores = {**scores, **changes}
    for name, values in scores.items():
        result.loc[signals.models, name] = values
    return result


def _any_of(names: tuple[str, ...], wanted: list[str]) -> bool:
    """Whether any of ``names`` is wanted."""
    return bool(set(names).intersection(wanted))


def _on_rows(
    obj: pd.Series | pd.DataFrame | None, rows: pd.Index
) -> pd.Series | pd.DataFrame | None:
    """``obj`` on ``rows`` (None stays None)."""
    return obj.loc[rows] if obj is not None else None


def _cleaned_signals(predictions: pd.DataFrame) -> SortedSignals:
    """The cleaned, sorted signals (universe x models with at least one value)."""
    if not predictions.index.is_monotonic_increasing:
        predictions = predictions.sort_index()
    universe = predictions.index
    raw_values = as_float_matrix(predictions).reshape(len(universe), -1)
    active = ~np.isnan(raw_values).all(axis=0)
    # ranks of cleaned columns are exact; every rank below is derived from this one sort
    return SortedSignals.of(raw_values[:, active], universe, predictions.columns[active])


def _core_scores(
    core: list[str], signals: SortedSignals, inputs: EraInputs, ratio: float
) -> tuple[dict[str, np.ndarray], CoreScores | None]:
    """The ``core`` metrics (k,) on the rows they share; the full result too for reuse when
    those rows are the whole universe."""
    rows = inputs.shared_rows(core, signals.ids, ratio)
    era = AlignedEra(
        ranks=signals.ranks_on(rows),
        targets=inputs.targets.loc[rows],
        all_targets=inputs.targets,
        meta_model=_on_rows(inputs.meta_model, rows),
        neutralizers=_on_rows(inputs.neutralizers, rows),
        sample_weights=_on_rows(inputs.sample_weights, rows),
        stakes=None if inputs.stakes is None else inputs.stakes.reindex(signals.models).fillna(0.0),
    )
    scores = core_scores(core, era)
    return scores.scores, scores if len(rows) == len(signals.ids) else None


def _split_by_date(
    panel: pd.Series | pd.DataFrame | None, what: str
) -> dict[object, pd.Series | pd.DataFrame]:
    """Cross-sections of a panel indexed by (date, ticker), keyed by date."""
    if panel is None:
        return {}
    if not isinstance(panel.index, pd.MultiIndex) or panel.index.nlevels != 2:
        raise DataValidationError(f"{what} must be indexed by (date, ticker)")
    return {date: frame.droplevel(0) for date, frame in panel.groupby(level=0, sort=True)}


def _era_stakes(stakes: pd.Series | pd.DataFrame | None, date: object) -> pd.Series | None:
    """The stakes of one date: the Series itself, or the date's row of a (date x model) frame."""
    if not isinstance(stakes, pd.DataFrame):
        return stakes
    if date not in stakes.index:
        raise DataValidationError(f"stakes have no row for date {date}")
    return stakes.loc[date].dropna()


def _check_date_covered(
    date: object, target_eras: dict, optional: tuple[tuple[object, dict, str], ...]
) -> None:
    """The targets and every optional panel given ((panel, its eras, name), ...) must hold
    a cross-section for ``date``."""
    if date not in target_eras:
        raise DataValidationError(f"targets have no values for date {date}")
    for panel, era_map, what in optional:
        if panel is not None and date not in era_map:
            raise DataValidationError(f"{what} have no values for date {date}")


@limits_blas_threads
def score_eras(
    predictions: pd.DataFrame,
    *,
    targets: pd.DataFrame,
    meta_model: pd.Series | None = None,
    neutralizers: pd.DataFrame | None = None,
    sample_weights: pd.Series | None = None,
    stakes: pd.Series | pd.DataFrame | None = None,
    metrics: Iterable[str] = METRICS,
    max_filtered_index_ratio: float = DEFAULT_MAX_FILTERED_INDEX_RATIO,
) -> pd.DataFrame:
    """``score_era`` for every date of panels indexed by (date, ticker).

    ``stakes`` is one Series (model -> stake) for all eras or a DataFrame (date x model).
    churn, turnover and neutral_churn compare each era with the previous date of the
    predictions panel (its own neutralizers and sample weights); the first date gets NaN.
    Returns a DataFrame indexed by (date, model), one column per metric.
    """
    wanted = requested_metrics(metrics)
    eras = _split_by_date(predictions, "predictions")
    target_eras = _split_by_date(targets, "targets")
    meta_eras = _split_by_date(meta_model, "meta_model")
    neutralizer_eras = _split_by_date(neutralizers, "neutralizers")
    weight_eras = _split_by_date(sample_weights, "sample_weights")
    optional = ((meta_model, meta_eras, "meta_model"),
                (neutralizers, neutralizer_eras, "neutralizers"),
                (sample_weights, weight_eras, "sample_weights"))
    results = []
    previous_date = None
    for date, era_predictions in eras.items():
        era_stakes = _era_stakes(stakes, date)
        _check_date_covered(date, target_eras, optional)
        try:
            scores = score_era(
                era_predictions,
                targets=target_eras[date],
                meta_model=meta_eras.get(date),
                neutralizers=neutralizer_eras.get(date),
                sample_weights=weight_eras.get(date),
                stakes=era_stakes,
                previous=eras.get(previous_date),
                previous_neutralizers=neutralizer_eras.get(previous_date),
                previous_sample_weights=weight_eras.get(previous_date),
                metrics=wanted,
                max_filtered_index_ratio=max_filtered_index_ratio,
            )
        except DataValidationError as error:
            raise type(error)(f"date {date}: {error}") from error
        results.append(scores)
        previous_date = date
    if not results:
        empty = pd.MultiIndex.from_arrays([[], []], names=["date", "model"])
        return pd.DataFrame(columns=wanted, index=empty, dtype=float)
    return pd.concat(results, keys=list(eras), names=["date", "model"])

"""Historical diagnostics of a multi-date signal file: per-era scores, summaries, style exposure.

:func:`diagnose` scores every date of a file whose targets are known in the store (dates
without targets are skipped and reported), one :func:`metasignal.signals.score_era` pass per
era:

- ``corr``, ``icv2``, ``fnc``, ``nc``, ``alpha`` against the era's targets, neutralizers and
  sample weights;
- ``mmc``, ``nmc`` and ``mpc`` against the meta-model of the *stored* submissions of that
  date (stake-weighted with each model's stake for that round; every submitter counts
  equally when none has a stake, as :func:`metasignal.signals.meta_signal` does). A stored submission
  under the file's own model name is left out (the file stands in for it). Eras without
  stored submissions get NaN there, and the metrics are dropped entirely when no era has one;
- ``churn``, ``turnover`` and ``neutral_churn`` of each date against the file's previous date.

Summaries per metric (:func:`summarize_scores`): number of eras, mean, std (ddof 1),
Sharpe (mean / std, per era, not annualized), max drawdown of the cumulative (additive)
score and hit rate (share of eras > 0), the last three from :mod:`metasignal.backtest.metrics`; churn,
turnover and neutral churn are not scores, so they get mean, std and max only. Style exposure: per era,
the Pearson correlation of the cleaned, gaussianized signal with each style exposure z-score
(beta, size, momentum, volatility, value).

The module sits on the backtest floor: like the rounds, it evaluates signals over history,
and its summaries use the backtest's metrics. :func:`write_diagnostics` writes the per-era
and summary tables as CSV; the HTML page is drawn by ``metasignal.reports.diagnostics``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from metasignal.backtest import metrics as perf
from metasignal.backtest.payouts import CHURN_LIMIT, TURNOVER_LIMIT
from metasignal.data import atomic_write
from metasignal.data.blas import limits_blas_threads
from metasignal.data.schema import STYLE_FACTORS
from metasignal.data.store import Store
from metasignal.data.targets import DEFAULT_WINDOW
from metasignal.errors import DataValidationError, DiagnosticsError
from metasignal.signals import stakes as stake_ledger
from metasignal.signals import storage
from metasignal.signals.cleaning import clean_signals
from metasignal.signals.meta_model import equal_weight_meta_model, stake_weighted_meta_model
from metasignal.signals.round_calendar import RoundCalendar
from metasignal.signals.scoring import METRICS, score_era
from metasignal.signals.submission import ValidatedSubmission
from metasignal.signals.transforms import masked_pearson

logger = logging.getLogger(__name__)

SCORE_METRICS: tuple[str, ...] = ("corr", "icv2", "fnc", "nc", "mmc", "nmc", "alpha", "mpc")
CHANGE_METRICS: tuple[str, ...] = ("churn", "turnover", "neutral_churn")
META_METRICS: tuple[str, ...] = ("mmc", "nmc", "mpc")
SUMMARY_STATS: tuple[str, ...] = ("n_eras", "mean", "std", "sharpe", "max_drawdown", "hit_rate", "max")
STYLE_STATS: tuple[str, ...] = ("mean", "std", "max_abs")
# The payout eligibility limits (backtest.payouts), drawn on the churn/turnover chart
# (neutral churn has none: it scales payouts, see neutral_churn_penalty).
CHANGE_THRESHOLDS: dict[str, float] = {"churn": CHURN_LIMIT, "turnover": TURNOVER_LIMIT}

@dataclass(frozen=True)
class Diagnostics:
    """Result of :func:`diagnose` for one model's signal file.

    per_era         date x metric (scores of each scored era; NaN where a metric does not
                    apply, e.g. churn on the first date or mmc without stored submissions)
    summary         metric x stat (``SUMMARY_STATS``)
    style_exposure  date x style factor: Pearson of the cleaned signal with the exposure
    style_summary   style factor x (mean, std, max_abs) over eras
    meta_models     date x (kind, n_models): ``stake_weighted``, ``equal`` or ``none``
    skipped         rows date, reason: file dates that were not scored
    notes           readable sentences about omissions (metrics left out, skipped dates)
    inference       score metric x (mean, se, t, p, ci_low, ci_high, n, n_effective, lag,
                    significant): HAC inference of the mean per era (:func:`score_intervals`)
    """

    model: str
    window: str
    per_era: pd.DataFrame
    summary: pd.DataFrame
    style_exposure: pd.DataFrame
    style_summary: pd.DataFrame
    meta_models: pd.DataFrame
    skipped: pd.DataFrame
    notes: tuple[str, ...] = ()
    inference: pd.DataFrame | None = None

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The scored eras."""
        return pd.DatetimeIndex(self.per_era.index, name="date")

    @property
    def max_style_exposure(self) -> float:
        """Largest |correlation| with any style factor in any era."""
        return float(self.style_exposure.abs().max().max())

    @property
    def max_style_factor(self) -> str:
        """The style factor reaching :attr:`max_style_exposure` (``none`` if no exposure is defined)."""
        peaks = self.style_exposure.abs().max()
        return str(peaks.idxmax()) if peaks.notna().any() else "none"

    def per_era_table(self) -> pd.DataFrame:
        """``per_era`` with the style exposures (``exposure_<factor>``) and the meta-model
        of each era (``meta_model``, ``meta_model_n``); what ``diagnostics_per_era.csv`` holds."""
        style = self.style_exposure.rename(columns=lambda factor: f"exposure_{factor}")
        meta = self.meta_models.rename(columns={"kind": "meta_model", "n_models": "meta_model_n"})
        return pd.concat([self.per_era, style, meta], axis=1).rename_axis("date")

    def summary_table(self) -> pd.DataFrame:
        """``summary`` followed by one row per style factor (``exposure_<factor>``: mean,
        std, max_abs) and ``max_style_exposure``; the union of columns (NaN where a stat
        does not apply). What the CLI prints and writes as ``diagnostics_summary.csv``."""
        style = self.style_summary.rename(index=lambda factor: f"exposure_{factor}")
        overall = pd.DataFrame({"max_abs": [self.max_style_exposure]}, index=["max_style_exposure"])
        table = pd.concat([self.summary.assign(max_abs=np.nan), style, overall])
        table.index.name = "metric"
        return table[[*SUMMARY_STATS, "max_abs"]]


# --------------------------------------------------------------------------- summaries
def summarize_scores(per_era: pd.DataFrame) -> pd.DataFrame:
    """Per-metric aggregates of a date x metric frame (NaN eras skipped): metric x ``SUMMARY_STATS``.

    Scores: n_eras, mean, std (ddof 1), sharpe = mean / std (:func:`metasignal.backtest.metrics.sharpe_ratio`
    per era, not annualized), max_drawdown = largest fall of the cumulative score from its
    running peak (peak starts at 0; positive number; :func:`metasignal.backtest.metrics.max_drawdown`,
    additive), hit_rate = share of eras > 0 (:func:`metasignal.backtest.metrics.hit_rate`, an era at 0 is
    a miss), max. Churn, turnover and neutral churn: n_eras, mean, std and max only.
    """
    values = per_era.astype(float)
    summary = pd.DataFrame(
        {
            "n_eras": values.count().astype(float),
            "mean": values.mean(),
            "std": values.std(ddof=1),
            "sharpe": perf.sharpe_ratio(values, periods_per_year=1),
            "max_drawdown": perf.max_drawdown(values, compound=False),
            "hit_rate": perf.hit_rate(values, skip_flat=False),
            "max": values.max(),
        }
    )
    changes = summary.index.isin(CHANGE_METRICS)
    summary.loc[changes, ["sharpe", "max_drawdown", "hit_rate"]] = np.nan
    summary.index.name = "metric"
    return summary


def era_spacing_days(dates: pd.DatetimeIndex) -> int:
    """Median number of business days between consecutive eras (5 for weekly eras, 1 for daily)."""
    days = pd.DatetimeIndex(dates).sort_values().values.astype("datetime64[D]")
    if len(days) < 2:
        return 1
    return max(1, int(np.median(np.busday_count(days[:-1], days[1:]))))


def score_intervals(per_era: pd.DataFrame, window: str = DEFAULT_WINDOW, spacing_days: int | None = None) -> pd.DataFrame:
    """HAC inference of each score's mean per era (churn, turnover and neutral churn left out):
    metric x :class:`metasignal.backtest.inference.MeanEstimate` fields, the overlap lag from
    ``window`` and the spacing of the eras (``spacing_days``, default :func:`era_spacing_days`)
    by :func:`metasignal.backtest.inference.hac_lag`."""
    from metasignal.backtest.inference import MEAN_FIELDS, hac_lag, mean_with_hac

    spacing = era_spacing_days(per_era.index) if spacing_days is None else spacing_days
    lag = hac_lag(window, spacing)
    scores = [m for m in per_era.columns if m not in CHANGE_METRICS]
    rows = [mean_with_hac(per_era[m].sort_index(), lag).as_dict() for m in scores]
    frame = pd.DataFrame(rows, index=pd.Index(scores, name="metric"), columns=list(MEAN_FIELDS))
    return frame.astype({"n": int, "lag": int, "significant": bool})


def style_exposure(signal: pd.Series, exposures: pd.DataFrame, factors: Iterable[str] = STYLE_FACTORS) -> pd.Series:
    """Pearson correlation of the cleaned signal with each style exposure, for one era.

    ``signal``: ticker -> value (NaN or absent = not submitted); ``exposures``: the era's
    universe x factor z-scores (``store.exposures(date)``). The signal is cleaned over the
    exposures' index (rank, fill 0.5, rank again, gaussianize). Returns factor -> correlation.
    """
    factors = list(factors)
    cleaned = clean_signals(signal.reindex(exposures.index).to_frame(), exposures.index)
    values = cleaned.iloc[:, 0].to_numpy(dtype=float)
    matrix = exposures[factors].to_numpy(dtype=float)
    rows = np.isfinite(matrix) & np.isfinite(values)[:, None]  # pairwise-complete rows per factor
    correlation = masked_pearson(matrix, values, rows)
    return pd.Series(correlation, index=pd.Index(factors, name="factor"))


# --------------------------------------------------------------------------- inputs
def _signal_frame(validated_or_frame: ValidatedSubmission | pd.DataFrame) -> pd.DataFrame:
    """The file's rows as columns date (datetime64, normalized), ticker (str), signal (float)."""
    if isinstance(validated_or_frame, ValidatedSubmission):
        frame = validated_or_frame.frame
    elif isinstance(validated_or_frame, pd.DataFrame):
        frame = validated_or_frame
    else:
        raise DiagnosticsError("diagnose needs a validated submission or a frame with columns date, ticker, signal")
    missing = [c for c in ("date", "ticker", "signal") if c not in frame.columns]
    if missing:
        raise DiagnosticsError(f"the signal frame lacks column {missing[0]!r} (rule: columns date, ticker, signal)")
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(frame["date"]).dt.normalize().astype("datetime64[ns]"),
            "ticker": frame["ticker"].astype("str"),
            "signal": pd.to_numeric(frame["signal"], errors="coerce").astype(float),
        }
    )
    frame = frame[frame["signal"].notna()]  # NaN = no view on that name: not submitted
    if frame.empty:
        raise DiagnosticsError("the signal file has no rows with a signal value to diagnose")
    if frame["date"].isna().any():
        raise DiagnosticsError("the signal frame has rows without a date (rule: every row has a date)")
    duplicated = frame.duplicated(["date", "ticker"])
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        raise DiagnosticsError(
            f"ticker {row['ticker']} appears twice on {row['date'].date()} (rule: each ticker at most once per date)"
        )
    return frame


@dataclass
class _Era:
    universe: pd.Index
    exposures: pd.DataFrame
    neutralizers: pd.DataFrame
    sample_weights: pd.Series


def _era_inputs(store: Store, date: pd.Timestamp) -> _Era:
    exposures = store.exposures(date)
    neutralizers = store.neutralizers(date).reindex(exposures.index)
    return _Era(exposures.index, exposures, neutralizers, exposures["sample_weight"])


def _stored_meta_model(
    store: Store, date: pd.Timestamp, universe: pd.Index, exclude: str
) -> tuple[pd.Series | None, pd.DataFrame, pd.Series, str]:
    """Meta-model of the stored submissions of ``date`` (without model ``exclude``).

    Returns (meta-model or None, the stored predictions over the universe, the stakes used
    for MPC, kind).
    """
    stored = storage.on_time_submissions(store, date)
    stored = stored.drop(columns=[exclude], errors="ignore").reindex(universe)
    stored = stored.loc[:, stored.notna().any(axis=0)]
    if stored.shape[1] == 0:
        return None, stored, pd.Series(dtype=float), "none"
    deadline = RoundCalendar.of(store).round_of(date).deadline  # the round's stakes, as resolution uses
    balances = stake_ledger.stake_balances(store, deadline.normalize()).reindex(stored.columns).fillna(0.0)
    if balances.sum() > 0:
        return stake_weighted_meta_model(stored, balances), stored, balances, "stake_weighted"
    equal = pd.Series(1.0, index=stored.columns)
    return equal_weight_meta_model(stored), stored, equal, "equal"


# --------------------------------------------------------------------------- diagnose
@limits_blas_threads
def diagnose(
    store: Store,
    validated_or_frame: ValidatedSubmission | pd.DataFrame,
    *,
    model_name: str = "file",
    meta_model: str | None = "stored",
    metrics: Iterable[str] = METRICS,
    window: str = DEFAULT_WINDOW,
    progress: Callable[[int], None] | None = None,
) -> Diagnostics:
    """Per-era scores, summaries and style exposure of a multi-date signal file.

    ``validated_or_frame``: a :class:`ValidatedSubmission` (``validate_for_store``) or a
    frame with columns date, ticker, signal (values in [0, 1]; tickers outside a date's
    universe are ignored). ``model_name`` labels the file's signal; with ``meta_model=
    "stored"`` the stored submissions of each date, except those under ``model_name``,
    form the meta-model for mmc, nmc and mpc; ``None`` leaves those metrics out.
    ``window``: the target window (e.g. ``20D2L``); ``progress(1)`` is called after each
    file date. Dates without targets in the store
    (window not passed, or not a trading day) are skipped and listed in ``skipped``.
    Raises :class:`DiagnosticsError` when no date can be scored.
    """
    wanted = _requested_metrics(metrics, meta_model)
    frame = _signal_frame(validated_or_frame)
    file_dates = pd.DatetimeIndex(pd.unique(frame["date"])).sort_values()
    scored = _score_file_dates(store, frame, file_dates, model_name, meta_model, wanted, window, progress)
    if not scored.rows:
        raise DiagnosticsError(_nothing_scored(store, file_dates, scored.skipped_frame(), window))
    return _assemble(scored, model_name, meta_model, wanted, window)


def _requested_metrics(metrics: Iterable[str], meta_model: str | None) -> list[str]:
    """The metrics to compute, in order, without duplicates; meta metrics need a meta-model."""
    if meta_model not in ("stored", None):
        raise DiagnosticsError(f"unknown meta_model {meta_model!r}: use 'stored' or None")
    wanted = list(dict.fromkeys([metrics] if isinstance(metrics, str) else metrics))
    unknown = [m for m in wanted if m not in METRICS]
    if unknown:
        raise DiagnosticsError(f"unknown metric {unknown[0]!r}; known metrics: {', '.join(METRICS)}")
    if meta_model is None:
        wanted = [m for m in wanted if m not in META_METRICS]
    return wanted


@dataclass
class _ScoredDates:
    """What the walk over a file's dates collected, keyed by scored date."""

    rows: dict[pd.Timestamp, pd.Series] = field(default_factory=dict)
    metas: dict[pd.Timestamp, tuple[str, int]] = field(default_factory=dict)
    exposures: dict[pd.Timestamp, pd.Series] = field(default_factory=dict)
    skipped: list[tuple[pd.Timestamp, str]] = field(default_factory=list)

    def skipped_frame(self) -> pd.DataFrame:
        """Skipped dates and why, columns date, reason."""
        frame = pd.DataFrame(self.skipped, columns=["date", "reason"])
        return frame.astype({"date": "datetime64[ns]", "reason": "str"})


def _score_file_dates(
    store: Store, frame: pd.DataFrame, file_dates: pd.DatetimeIndex, model_name: str,
    meta_model: str | None, wanted: list[str], window: str, progress: Callable[[int], None] | None,
) -> _ScoredDates:
    """Score every file date that has a universe and targets; record why the others are skipped."""
    trading = set(store.trading_days())
    with_targets = set(store.target_dates(window))
    signals = {pd.Timestamp(d): g.set_index("ticker")["signal"] for d, g in frame.groupby("date", sort=True)}
    scored = _ScoredDates()
    previous: tuple[pd.Series, _Era] | None = None
    for date in file_dates:
        signal = signals[date]
        era = _era_inputs(store, date) if date in trading else None
        in_universe = era is not None and bool((era.universe.get_indexer(signal.index) >= 0).any())
        if era is None:
            scored.skipped.append((date, "not a trading day in the store"))
        elif not in_universe:
            scored.skipped.append((date, "no ticker of the file is in the date's universe"))
        elif date not in with_targets:
            scored.skipped.append((date, f"no {window} targets yet (the window has not passed in the store)"))
        else:
            scored.rows[date], scored.metas[date] = _score_date(
                store, date, era, signal, previous, model_name, meta_model, wanted, window
            )
            scored.exposures[date] = style_exposure(signal, era.exposures)
        # the next date's churn and turnover compare with this one (scored or not) if it is usable
        previous = (signal, era) if in_universe else None
        if progress is not None:
            progress(1)
    if scored.skipped:
        logger.debug("diagnostics of %s skipped %d date(s): %s", model_name, len(scored.skipped),
                     ", ".join(f"{d.date()} ({why})" for d, why in scored.skipped[:5]))
    return scored


def _assemble(
    scored: _ScoredDates, model_name: str, meta_model: str | None, wanted: list[str], window: str
) -> Diagnostics:
    """Per-era frame, summaries, style exposure and notes from the scored dates."""
    skipped_frame = scored.skipped_frame()
    index = pd.DatetimeIndex(list(scored.rows), name="date")
    per_era = pd.DataFrame(list(scored.rows.values()), index=index).reindex(columns=wanted).astype(float)
    meta_frame = pd.DataFrame(list(scored.metas.values()), index=index, columns=["kind", "n_models"])
    style = pd.DataFrame(list(scored.exposures.values()), index=index)
    style.columns.name = "factor"
    notes = _notes(per_era, meta_frame, skipped_frame, wanted, meta_model)
    undefined = [str(f) for f in style.columns if style[f].isna().all()]
    if undefined:
        notes += (f"style exposure undefined for {', '.join(undefined)}: the factor is constant in the store",)
    per_era = per_era.drop(columns=[m for m in META_METRICS if m in per_era and per_era[m].isna().all()])
    style_summary = pd.DataFrame({"mean": style.mean(), "std": style.std(ddof=1), "max_abs": style.abs().max()})
    return Diagnostics(
        model=model_name,
        window=window,
        per_era=per_era,
        summary=summarize_scores(per_era),
        style_exposure=style,
        style_summary=style_summary,
        meta_models=meta_frame,
        skipped=skipped_frame,
        notes=notes,
        inference=score_intervals(per_era, window),
    )


def _score_date(
    store: Store,
    date: pd.Timestamp,
    era: _Era,
    signal: pd.Series,
    previous: tuple[pd.Series, _Era] | None,
    model_name: str,
    meta_model: str | None,
    wanted: list[str],
    window: str,
) -> tuple[pd.Series, tuple[str, int]]:
    """One era's scores of the file's signal (a Series over ``wanted``) and (meta kind, n models)."""
    universe = era.universe
    predictions = signal.reindex(universe).rename(model_name).to_frame()
    metrics = list(wanted)
    meta, stakes, kind, n_models = None, None, "none", 0
    if meta_model == "stored" and any(m in META_METRICS for m in metrics):
        meta, stored, stored_stakes, kind = _stored_meta_model(store, date, universe, model_name)
        n_models = stored.shape[1]
        if meta is None:
            metrics = [m for m in metrics if m not in META_METRICS]
        else:
            # the stored models join the era so MPC is the file's gradient of their meta-portfolio
            predictions = pd.concat([predictions, stored], axis=1)
            stakes = stored_stakes.reindex(predictions.columns).fillna(0.0)
    before = before_neutralizers = before_weights = None
    if previous is not None:
        previous_signal, previous_era = previous
        before = previous_signal.reindex(previous_era.universe).rename(model_name).to_frame()
        before_neutralizers, before_weights = previous_era.neutralizers, previous_era.sample_weights
    targets = store.targets(date, window).reindex(universe)
    try:
        scores = score_era(
            predictions,
            targets=targets,
            meta_model=meta,
            neutralizers=era.neutralizers,
            sample_weights=era.sample_weights,
            stakes=stakes,
            previous=before,
            previous_neutralizers=before_neutralizers,
            previous_sample_weights=before_weights,
            metrics=metrics,
        )
    except DataValidationError as error:
        raise DiagnosticsError(f"date {date.date()}: {error}") from error
    return scores.loc[model_name].reindex(wanted), (kind, n_models)


def _nothing_scored(store: Store, dates: pd.DatetimeIndex, skipped: pd.DataFrame, window: str) -> str:
    known = store.target_dates(window)
    span = f"{known[0].date()} to {known[-1].date()}" if len(known) else "no date"
    first = skipped.iloc[0]
    return (
        f"none of the file's {len(dates)} dates ({dates[0].date()} to {dates[-1].date()}) can be scored; "
        f"first: {first['date'].date()}, {first['reason']} (rule: {window} targets are known for {span})"
    )


def _notes(
    per_era: pd.DataFrame, metas: pd.DataFrame, skipped: pd.DataFrame, wanted: list[str], meta_model: str | None
) -> tuple[str, ...]:
    notes = []
    if len(skipped):
        shown = ", ".join(str(d.date()) for d in skipped["date"][:5]) + (" ..." if len(skipped) > 5 else "")
        notes.append(f"{len(skipped)} date(s) skipped: {shown}")
    asked = [m for m in META_METRICS if m in wanted]
    if meta_model is None:
        notes.append("mmc, nmc and mpc left out: no meta-model requested")
    elif asked:
        without = int((metas["kind"] == "none").sum())
        if without == len(metas):
            notes.append(f"{', '.join(asked)} omitted: no stored submissions of other models on any scored date")
        elif without:
            notes.append(f"{', '.join(asked)} omitted on {without} of {len(metas)} eras without stored submissions")
        equal = int((metas["kind"] == "equal").sum())
        if equal:
            notes.append(f"meta-model is equal-weight on {equal} era(s) where no stored model has a stake")
    if any(m in per_era for m in CHANGE_METRICS):
        notes.append("churn, turnover and neutral churn compare each date with the file's previous date "
                     "(none for the first)")
    return tuple(notes)


# --------------------------------------------------------------------------- files
def write_diagnostics(diagnostics: Diagnostics, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``diagnostics_per_era.csv`` (:meth:`Diagnostics.per_era_table`) and
    ``diagnostics_summary.csv`` (:meth:`Diagnostics.summary_table`) into ``out_dir`` (created
    if missing), each atomically. Returns file name -> path."""
    folder = Path(out_dir)
    paths = {name: folder / name for name in ("diagnostics_per_era.csv", "diagnostics_summary.csv")}
    per_era = diagnostics.per_era_table()
    per_era.index = per_era.index.strftime("%Y-%m-%d")
    atomic_write(paths["diagnostics_per_era.csv"], lambda tmp: Path(tmp).write_text(per_era.to_csv(), encoding="utf-8"))
    atomic_write(paths["diagnostics_summary.csv"],
                 lambda tmp: Path(tmp).write_text(diagnostics.summary_table().to_csv(), encoding="utf-8"))
    return paths

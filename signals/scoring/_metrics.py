"""The batch scorer's metrics: their names and the inputs each one needs (SCORING.md)."""

from __future__ import annotations

from collections.abc import Iterable

from metasignal.errors import DataValidationError

METRICS = (
    "corr", "icv2", "fnc", "nc", "mmc", "nmc", "alpha", "mpc", "churn", "turnover", "neutral_churn"
)
"""Every metric ``score_era`` computes, in its column order."""

CHANGE_METRICS = ("churn", "turnover", "neutral_churn")  # compare an era with the previous one
TARGET_FOR_CORRELATIONS = "factor_neutral"
TARGET_FOR_ICV2 = "raw"
NEEDS_FACTOR_NEUTRAL = {"corr", "fnc", "nc", "mmc", "nmc", "alpha", "mpc"}
NEEDS_NEUTRALIZERS = {"fnc", "nc", "nmc", "alpha", "mpc", "turnover", "neutral_churn"}
NEEDS_SAMPLE_WEIGHTS = {"alpha", "mpc", "turnover"}
NEEDS_META_MODEL = {"mmc", "nmc"}


def requested_metrics(metrics: Iterable[str]) -> list[str]:
    """The requested metric names, each once in request order; unknown names are rejected."""
    if isinstance(metrics, str):
        metrics = (metrics,)
    requested = list(dict.fromkeys(metrics))
    unknown = [name for name in requested if name not in METRICS]
    if unknown:
        raise DataValidationError(
            f"unknown metric {unknown[0]!r}; known metrics: {', '.join(METRICS)}"
        )
    return requested


def needed_target_columns(wanted: list[str]) -> list[str]:
    """The target columns the ``wanted`` metrics read."""
    columns = []
    if NEEDS_FACTOR_NEUTRAL.intersection(wanted):
        columns.append(TARGET_FOR_CORRELATIONS)
    if "icv2" in wanted:
        columns.append(TARGET_FOR_ICV2)
    return columns

"""Checks and alignment of one era's scoring inputs for ``score_era`` (all but the signals)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from metasignal.errors import DataValidationError
from metasignal.signals.meta_model import stake_weighted_meta_model
from metasignal.signals.scoring._alignment import check_overlap, check_unique, valid_ids
from metasignal.signals.scoring._metrics import (
    NEEDS_META_MODEL,
    NEEDS_NEUTRALIZERS,
    NEEDS_SAMPLE_WEIGHTS,
    needed_target_columns,
)


def check_frames(predictions: object, targets: object, stakes: pd.Series | None) -> None:
    """The checks that hold whatever is requested: frame types and unique ids and models."""
    if not isinstance(predictions, pd.DataFrame):
        raise DataValidationError("predictions must be a DataFrame (tickers x models)")
    if not isinstance(targets, pd.DataFrame):
        raise DataValidationError(
            "targets must be a DataFrame with columns 'factor_neutral' and 'raw'"
        )
    check_unique(predictions, "predictions")
    check_unique(targets, "targets")
    if predictions.columns.has_duplicates:
        raise DataValidationError("predictions name some models more than once")
    if stakes is not None:
        check_unique(stakes, "stakes")


def usable_neutralizers(neutralizers: pd.DataFrame | None) -> pd.DataFrame | None:
    """Neutralizers without the columns that have no value at all in this era."""
    if neutralizers is None:
        return None
    if not isinstance(neutralizers, pd.DataFrame):
        raise DataValidationError("neutralizers must be a DataFrame (tickers x columns)")
    check_unique(neutralizers, "neutralizers")
    return neutralizers.loc[:, neutralizers.notna().any(axis=0)]


def _require(value: object, needed_by: set[str], wanted: list[str], what: str) -> None:
    users = [name for name in wanted if name in needed_by]
    if users and value is None:
        raise DataValidationError(f"metric {users[0]!r} needs {what}; pass it or drop the metric")


@dataclass(frozen=True)
class EraInputs:
    """One era's checked inputs, indexed by ticker (see ``score_era``).

    ``neutralizers`` has no all-NaN column; ``meta_model`` is built from the stakes when
    mmc/nmc are wanted and none was given.
    """

    targets: pd.DataFrame
    target_columns: list[str]
    meta_model: pd.Series | None
    neutralizers: pd.DataFrame | None
    sample_weights: pd.Series | None
    stakes: pd.Series | None

    @classmethod
    def checked(
        cls,
        predictions: pd.DataFrame,
        wanted: list[str],
        *,
        targets: pd.DataFrame,
        meta_model: pd.Series | None,
        neutralizers: pd.DataFrame | None,
        sample_weights: pd.Series | None,
        stakes: pd.Series | None,
    ) -> EraInputs:
        """Check that the ``wanted`` metrics get every input they need; build the meta-model."""
        columns = needed_target_columns(wanted)
        absent = [name for name in columns if name not in targets.columns]
        if absent:
            raise DataValidationError(
                f"targets need a column {absent[0]!r} for the requested metrics"
            )
        neutralizers = usable_neutralizers(neutralizers)
        _require(neutralizers, NEEDS_NEUTRALIZERS, wanted, "neutralizers")
        _require(sample_weights, NEEDS_SAMPLE_WEIGHTS, wanted, "sample_weights")
        _require(stakes, {"mpc"}, wanted, "stakes")
        if meta_model is None and NEEDS_META_MODEL.intersection(wanted):
            _require(stakes, NEEDS_META_MODEL, wanted, "a meta_model (or stakes to build one)")
            meta_model = stake_weighted_meta_model(predictions, stakes)
        if sample_weights is not None:
            check_unique(sample_weights, "sample weights")
        if meta_model is not None:
            check_unique(meta_model, "the meta-model")
        return cls(targets, columns, meta_model, neutralizers, sample_weights, stakes)

    def shared_rows(self, core: list[str], universe: pd.Index, ratio: float) -> pd.Index:
        """The sorted tickers of ``universe`` where every input of the ``core`` metrics is finite.

        Each input must cover ``1 - ratio`` of the universe and keep ``1 - ratio`` of its own
        ids, else ``InsufficientOverlapError``.
        """
        aligned = [(universe, "the predictions")]
        if self.target_columns:
            aligned.append((self.targets[self.target_columns], "the targets"))
        if NEEDS_META_MODEL.intersection(core):
            aligned.append((self.meta_model, "the meta-model"))
        if NEEDS_NEUTRALIZERS.intersection(core):
            aligned.append((self.neutralizers, "the neutralizers"))
        if NEEDS_SAMPLE_WEIGHTS.intersection(core):
            aligned.append((self.sample_weights, "the sample weights"))
        rows = universe
        for obj, name in aligned[1:]:
            covered = universe.intersection(valid_ids(obj))
            check_overlap(len(covered), len(universe), "the predictions", name, ratio)
            rows = rows.intersection(covered)
        for obj, name in aligned:
            check_overlap(len(rows), len(obj), name, "the other scoring inputs", ratio)
        return rows.sort_values()

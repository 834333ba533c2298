"""An era's cleaned signal columns, sorted once: every rank the batch scorer needs comes from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from metasignal.signals.cleaning import fill_partial_columns
from metasignal.signals.scoring._alignment import rows_mask
from metasignal.signals.transforms import SIGNAL_POWER, ColumnSort, gaussian, power


@dataclass(frozen=True)
class SortedSignals:
    """Cleaned signals (n ids x k models) on sorted ``ids``, each column sorted once.

    ``models`` (k,) names the columns; ``ranks`` (n, k) are the tie-kept percentile ranks
    over all ``ids``.
    """

    ids: pd.Index
    models: pd.Index
    sort: ColumnSort
    ranks: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, ids: pd.Index, models: pd.Index) -> SortedSignals:
        """Clean ``values`` (n, k) on the sorted ``ids`` (NaN = not submitted: partial columns
        are ranked over their submitted ids and their gaps set to 0.5), then sort them."""
        sort = ColumnSort.of(fill_partial_columns(values))
        return cls(ids, models, sort, sort.tie_kept_ranks())

    def ranks_on(self, rows: pd.Index) -> np.ndarray:
        """(m, k) tie-kept ranks over ``rows`` (a sorted subset of ``ids``), without a new sort."""
        if len(rows) == len(self.ids):
            return self.ranks
        return self.sort.tie_kept_ranks_within(rows_mask(self.ids, rows))

    def transformed(self) -> np.ndarray:
        """(n, k) ``power(gaussian(ranks), 1.5)``, the signals portfolio weights are built from."""
        return power(gaussian(self.ranks), SIGNAL_POWER)

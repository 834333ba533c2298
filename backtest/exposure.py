"""Net exposure of a book per group (sector, country) over time."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["net_exposure_by_group"]


def net_exposure_by_group(weights: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Net weight per group and date: ``weights`` (date x ticker) summed by ``groups``.

    groups: Series ticker -> group label (sector, country); tickers without a label are left
    out. Returns a frame date x group.
    """
    labels = groups.reindex(weights.columns)
    known = labels.notna().to_numpy()
    codes, names = pd.factorize(labels[known])
    one_hot = np.zeros((int(known.sum()), len(names)))
    one_hot[np.arange(len(codes)), codes] = 1.0
    exposure = weights.to_numpy(dtype=float)[:, known] @ one_hot
    return pd.DataFrame(exposure, index=weights.index, columns=pd.Index(names, name=groups.name))

"""The plain output files of a backtest: daily returns, executed weights and metrics.

``write_outputs`` writes ``returns.csv`` (date, gross, net), ``weights.parquet`` (one row per
execution date and ticker with a non-zero target or held weight) and ``metrics.json``, each
atomically. The HTML report of the same result is drawn by the app layer
(``metasignal.reports.backtest``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from metasignal.backtest._simulate import SimulationResult
from metasignal.data import atomic_write

__all__ = ["write_outputs"]


def _json_ready(metrics: dict[str, float]) -> dict[str, float | None]:
    """NaN/inf are not JSON: write them as null."""
    return {name: (value if math.isfinite(value) else None) for name, value in metrics.items()}


def write_outputs(result: SimulationResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write returns.csv, weights.parquet and metrics.json into ``out_dir``; return their paths.

    returns.csv: date, gross, net (daily fractions of previous equity).
    weights.parquet: date (execution date), decision_date, ticker, target_weight, held_weight
        (end of the execution day, after trading), for each rebalance and each ticker with a
        non-zero target or held weight (target NaN: with a per-name lag, the name did not trade that day).
    metrics.json: ``result.metrics()`` (NaN written as null).
    """
    out = Path(out_dir)
    paths = {name: out / name for name in ("returns.csv", "weights.parquet", "metrics.json")}

    returns = pd.DataFrame(
        {
            "date": result.net_returns.index,
            "gross": result.gross_returns.to_numpy(),
            "net": result.net_returns.to_numpy(),
        }
    )
    atomic_write(paths["returns.csv"], lambda tmp: returns.to_csv(tmp, index=False))

    executed = result.targets.index
    target = result.targets.to_numpy(dtype=float)
    held = result.weights.loc[executed].to_numpy(dtype=float)
    # NaN target: the name did not execute that day (a per-name lag); it is listed only if held
    rows, cols = np.nonzero((np.nan_to_num(target) != 0) | (held != 0))
    weights = pd.DataFrame(
        {
            "date": executed[rows],
            "decision_date": result.decision_dates.to_numpy()[rows],
            "ticker": result.targets.columns.to_numpy()[cols].astype(str),
            "target_weight": target[rows, cols],
            "held_weight": held[rows, cols],
        }
    )
    atomic_write(paths["weights.parquet"], lambda tmp: weights.to_parquet(tmp, index=False))

    text = json.dumps(_json_ready(result.metrics()), indent=2)
    atomic_write(paths["metrics.json"], lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return paths

"""backtest.outputs and backtest.exposure: the plain output files and the group net exposures.
(The HTML report of the same result is tested in tests/metasignal/reports/test_backtest.py.)"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from metasignal.backtest import SimulationResult, simulate
from metasignal.backtest.exposure import net_exposure_by_group
from metasignal.backtest.outputs import write_outputs
from metasignal.portfolio.costs import BorrowCostModel, TransactionCostModel


def small_result() -> tuple[SimulationResult, pd.Series, pd.Series]:
    """A 320-day simulation of 12 names rebalanced every 5 days, with sectors and countries."""
    rng = np.random.default_rng(5)
    days = pd.bdate_range("2023-01-02", periods=320)
    names = [f"R{i}" for i in range(12)]
    returns = pd.DataFrame(rng.normal(0.0002, 0.015, (320, 12)), index=days, columns=names)
    decisions = days[::5]
    raw = rng.normal(size=(len(decisions), 12))
    raw -= raw.mean(axis=1, keepdims=True)
    weights = pd.DataFrame(raw / np.abs(raw).sum(axis=1, keepdims=True) * 2, decisions, names)
    result = simulate(
        weights,
        returns,
        costs=TransactionCostModel(impact=0.0),
        borrow=BorrowCostModel(),
    )
    sectors = pd.Series(["tech", "energy", "banks"] * 4, index=names, name="sector")
    countries = pd.Series(["US", "JP"] * 6, index=names, name="country")
    return result, sectors, countries


@pytest.fixture(scope="module")
def result_and_groups():
    return small_result()


def test_net_exposure_by_group_sums_weights_per_group(result_and_groups):
    result, sectors, _ = result_and_groups
    exposure = net_exposure_by_group(result.weights, sectors)
    assert sorted(exposure.columns) == ["banks", "energy", "tech"]
    tech = result.weights[sectors.index[sectors == "tech"]].sum(axis=1)
    np.testing.assert_allclose(exposure["tech"], tech, atol=1e-15)
    np.testing.assert_allclose(exposure.sum(axis=1), result.exposure["net"], atol=1e-12)


def test_outputs_round_trip(result_and_groups, tmp_path):
    result, _, _ = result_and_groups
    paths = write_outputs(result, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == [
        "metrics.json", "returns.csv", "weights.parquet"
    ]

    returns = pd.read_csv(paths["returns.csv"], parse_dates=["date"])
    assert list(returns.columns) == ["date", "gross", "net"]
    np.testing.assert_allclose(returns["net"], result.net_returns, rtol=1e-15)
    np.testing.assert_allclose(returns["gross"], result.gross_returns, rtol=1e-15)
    assert (returns["date"].to_numpy() == result.net_returns.index.to_numpy()).all()

    weights = pd.read_parquet(paths["weights.parquet"])
    assert list(weights.columns) == [
        "date", "decision_date", "ticker", "target_weight", "held_weight"
    ]
    assert set(weights["date"]) == set(result.targets.index)
    assert (weights["decision_date"] < weights["date"]).all()  # lag 1
    target = weights.pivot(index="date", columns="ticker", values="target_weight")
    np.testing.assert_allclose(target, result.targets.loc[target.index, target.columns])
    held = weights.pivot(index="date", columns="ticker", values="held_weight")
    np.testing.assert_allclose(held, result.weights.loc[held.index, held.columns])

    metrics = json.loads(paths["metrics.json"].read_text())
    expected = result.metrics()
    assert metrics.keys() == expected.keys()
    for name, value in expected.items():
        if math.isfinite(value):
            assert metrics[name] == pytest.approx(value, rel=1e-15)
        else:
            assert metrics[name] is None
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic writes left no temporary file

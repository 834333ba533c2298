"""backtest.report: the self-contained HTML report and the plain output files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from metasignal.backtest.report import net_exposure_by_group, write_outputs, write_report
from metasignal.backtest.simulate import simulate
from metasignal.portfolio.costs import BorrowCostModel, TransactionCostModel


@pytest.fixture(scope="module")
def result_and_groups():
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


def test_net_exposure_by_group_sums_weights_per_group(result_and_groups):
    result, sectors, _ = result_and_groups
    exposure = net_exposure_by_group(result.weights, sectors)
    assert sorted(exposure.columns) == ["banks", "energy", "tech"]
    tech = result.weights[sectors.index[sectors == "tech"]].sum(axis=1)
    np.testing.assert_allclose(exposure["tech"], tech, atol=1e-15)
    np.testing.assert_allclose(exposure.sum(axis=1), result.exposure["net"], atol=1e-12)


def test_report_is_one_offline_html_file_with_every_section(result_and_groups, tmp_path):
    result, sectors, countries = result_and_groups
    extra = go.Figure(go.Bar(x=["model_a", "model_b"], y=[0.3, 0.1]))
    path = write_report(
        result,
        tmp_path / "nested" / "report.html",
        title="Demo <backtest>",
        sector_exposure=net_exposure_by_group(result.weights, sectors),
        country_exposure=net_exposure_by_group(result.weights, countries),
        extra_sections=[("Leaderboard", extra), ("Notes", "<p id='note'>stakes evolve</p>")],
    )
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "Demo &lt;backtest&gt;" in page  # the title is escaped
    # plotly.js is embedded, not fetched: works offline
    assert get_plotlyjs() in page
    assert "<script src=" not in page and "<script type='text/javascript' src=" not in page
    sections = [
        "Metrics", "Equity and drawdown", "Rolling Sharpe", "Exposure", "Sector net exposure",
        "Country net exposure", "Turnover and cost drag", "Monthly net returns",
        "Leaderboard", "Notes",
    ]
    positions = [page.index(f"<h2>{name}</h2>") for name in sections]
    assert positions == sorted(positions)
    assert page.count('class="plotly-graph-div"') == 8  # all but the metrics table and Notes
    assert "<p id='note'>stakes evolve</p>" in page
    assert "<th>sharpe</th>" in page and "cost_drag_bp_per_year" in page
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temporary file


def test_report_without_group_exposures_skips_those_sections(result_and_groups, tmp_path):
    result, _, _ = result_and_groups
    page = write_report(result, tmp_path / "r.html", title="plain").read_text(encoding="utf-8")
    assert "Sector net exposure" not in page and "Country net exposure" not in page
    assert "Monthly net returns" in page


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

"""metasignal.reports.backtest: the self-contained HTML report of a simulation."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from metasignal.backtest.exposure import net_exposure_by_group
from metasignal.reports.backtest import write_report
from tests.backtest.test_outputs import small_result


@pytest.fixture(scope="module")
def result_and_groups():
    return small_result()


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
        "Country net exposure", "Realized volatility", "Names held and concentration", "Largest drawdowns",
        "Turnover and cost drag", "Monthly net returns", "Leaderboard", "Notes",
    ]
    positions = [page.index(f"<h2>{name}</h2>") for name in sections]
    assert positions == sorted(positions)
    # all but the metrics, drawdown tables and Notes; the simulation alone gives no attribution
    assert page.count('class="plotly-graph-div"') == 10
    assert "P&amp;L attribution" not in page and "class='caveat'" not in page
    assert "<p id='note'>stakes evolve</p>" in page
    assert "<th>sharpe</th>" in page and "cost_drag_bp_per_year" in page
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temporary file


def test_report_without_group_exposures_skips_those_sections(result_and_groups, tmp_path):
    result, _, _ = result_and_groups
    page = write_report(result, tmp_path / "r.html", title="plain").read_text(encoding="utf-8")
    assert "Sector net exposure" not in page and "Country net exposure" not in page
    assert "Monthly net returns" in page

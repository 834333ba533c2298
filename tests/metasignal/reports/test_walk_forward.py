"""metasignal.reports.walk_forward: the walk-forward report (group exposures, solve diagnostics).
(The page of a real walk-forward run is checked through the CLI in tests/metasignal/test_backtest_cli.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from metasignal.backtest.walk_forward import WalkForwardResult
from metasignal.reports.walk_forward import rebalance_summary_html, write_walk_forward_report
from tests.backtest.test_outputs import small_result


@pytest.fixture(scope="module")
def walk_forward() -> WalkForwardResult:
    """The small simulation as a walk-forward result, with made-up solves (one fallback)."""
    simulation, sectors, countries = small_result()
    dates = simulation.targets.index
    n = len(dates)
    solves = pd.DataFrame({
        "status": ["optimal"] * (n - 1) + ["optimal_inaccurate"],
        "fallback": [None, "relax_turnover"] + [None] * (n - 2),
        "seconds": np.linspace(0.1, 0.3, n), "solver_seconds": np.linspace(0.05, 0.15, n),
        "turnover": 0.2, "gross": 2.0, "net": 1e-9, "max_abs_country_net": 2e-9, "max_abs_sector_net": 3e-9,
        "n_long": 6, "n_short": 6,
    }, index=pd.DatetimeIndex(dates, name="date"))
    groups = pd.DataFrame({"country": countries, "sector": sectors})
    return WalkForwardResult(simulation.targets, simulation, solves, groups, pd.DataFrame())


def test_the_page_adds_group_exposures_and_the_solves(walk_forward, tmp_path):
    path = write_walk_forward_report(walk_forward, tmp_path / "report.html", title="wf <1>")
    page = path.read_text(encoding="utf-8")
    assert get_plotlyjs() in page and "<title>wf &lt;1&gt;</title>" in page
    sections = ["Metrics", "Sector net exposure", "Country net exposure", "Monthly net returns",
                "Rebalances: solve diagnostics", "Rebalances over time"]
    positions = [page.index(f"<h2>{name}</h2>") for name in sections]
    assert positions == sorted(positions)
    # 9 of the backtest report (with realized volatility and concentration) + the rebalances
    assert page.count('class="plotly-graph-div"') == 10


def test_solve_summary_counts_statuses_and_fallbacks(walk_forward):
    html = rebalance_summary_html(walk_forward.solves)
    n = len(walk_forward.solves)
    assert f"<th>rebalances</th><td>{n}</td>" in html
    assert f"optimal: {n - 1}, optimal_inaccurate: 1" in html
    second = walk_forward.solves.index[1].date()
    assert f"<th>fallbacks (turnover limit lifted)</th><td>1 on {second}</td>" in html
    assert "<td>0.200 s / 0.300 s</td>" in html and "<td>2.00e-09 / 3.00e-09</td>" in html

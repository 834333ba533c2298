"""The HTML reports in headless Chromium: no console error, every chart drawn, nothing wider
than the page (the leaderboard's default columns within 1200 px)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from metasignal.backtest import attribution as pm
from metasignal.backtest.exposure import net_exposure_by_group
from metasignal.reports.backtest import write_report
from metasignal.reports.fund_sections import FundViews
from metasignal.reports.tournament import leaderboard_html, planted_skill_caveat
from tests.backtest.test_attribution import _market
from tests.metasignal.test_web_browser import CHROMIUM, Browser

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not found (apt-get install -y chromium; .ci/run does)")


def _board() -> pd.DataFrame:
    """A leaderboard with every column :func:`metasignal.backtest.rounds.leaderboard` returns."""
    rng = np.random.default_rng(1)
    models = ["skilled", "momentum_tilt", "a_model_with_a_long_name", "noise"]
    board = pd.DataFrame({"model": models, "stake": [9713.35, 999.41, 1e6, 1000.0],
                          "cumulative_payout": [4713.35, -0.59, 123456.78, 0.0], "return_on_stake": [0.94, 0.0, 0.12, 0.0],
                          "rounds": 137, "eligible_rounds": 136})
    for metric in ("corr", "icv2", "fnc", "nc", "mmc", "nmc", "alpha", "mpc", "churn", "turnover"):
        board[metric] = rng.normal(0, 0.05, len(models))
    for metric in ("corr", "fnc", "mmc", "alpha", "mpc"):
        board[f"{metric}_t"] = rng.normal(0, 2, len(models))
        board[f"{metric}_ci"] = rng.uniform(0.001, 0.01, len(models))
        board[f"{metric}_ns"] = board[f"{metric}_t"].abs() < 2
    return board


def test_the_backtest_report_with_every_section_renders_cleanly(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report_browser")
    sim, returns, groups, inputs, _ = _market(6)
    attribution = pm.pnl_attribution(sim, returns, groups, inputs)
    views = FundViews(attribution=attribution, sector_pnl=attribution.by_sector, legs=attribution.legs,
                      contributors=pm.top_contributors(pm.name_contributions(sim.weights, returns), groups),
                      participation=pm.participation(sim, returns, inputs.adv),
                      ic=pm.signal_ic(returns.shift(-1), pm.forward_returns(returns, 1)), horizon_days=1,
                      styles=pm.style_exposure(sim.weights, inputs.styles), market=returns.mean(axis=1))
    path = write_report(sim, folder / "report.html", title="report", views=views, caveat=planted_skill_caveat(4.4),
                        sector_exposure=net_exposure_by_group(sim.weights, groups["sector"]),
                        country_exposure=net_exposure_by_group(sim.weights, groups["country"]),
                        extra_sections=[("Leaderboard", leaderboard_html(_board()))])
    browser = Browser(CHROMIUM, folder / "profile")
    try:
        browser.send("Page.navigate", url=path.resolve().as_uri())
        browser.wait_for("Page.loadEventFired")
        charts = browser.evaluate("document.querySelectorAll('.plotly-graph-div').length")
        deadline = time.monotonic() + 30
        while browser.evaluate("document.querySelectorAll('.plotly-graph-div .main-svg').length") < 2 * charts:
            assert time.monotonic() < deadline, "charts did not draw"
            time.sleep(0.1)
        assert charts >= 14 and browser.errors == []
        assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        width = browser.evaluate("document.querySelector('div.leaderboard table').getBoundingClientRect().width")
        assert width <= 1200
        assert browser.evaluate("!document.querySelector('details').open")  # every column: one click away
    finally:
        browser.close()

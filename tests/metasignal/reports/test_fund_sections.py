"""metasignal.reports.fund_sections: the PM sections of a report and the readable neutrality chart."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasignal.backtest import attribution as pm
from metasignal.reports.backtest import write_report
from metasignal.reports.fund_sections import FundViews, fund_view_sections, group_net_figure, tiny_value_axis
from metasignal.reports.tournament import planted_skill_caveat
from tests.backtest.test_attribution import _market


def test_group_net_chart_is_one_line_with_the_breakdown_on_demand():
    days = pd.bdate_range("2024-01-01", periods=4)
    exposure = pd.DataFrame({"tech": [1e-12, -3e-12, 0.0, 2e-13], "banks": [-2e-12, 1e-12, 5e-13, 0.0]}, index=days)
    figure = group_net_figure(exposure, "sector")
    visible = [trace for trace in figure.data if trace.visible is not False and trace.visible != "legendonly"]
    assert [trace.name for trace in visible] == ["largest |sector net|"]
    assert list(visible[0].y) == [2e-12, 3e-12, 5e-13, 2e-13]
    assert list(visible[0].customdata) == ["banks", "tech", "banks", "tech"]  # which group, on hover
    assert sorted(t.name for t in figure.data if t.visible == "legendonly") == ["banks", "tech"]
    assert figure.layout.yaxis.tickformat == ".1e" and figure.layout.yaxis.exponentformat == "e"  # no "100p"
    assert tiny_value_axis(exposure * 1e9)["tickformat"] == ".2%"


def test_every_pm_section_is_drawn_from_the_views(tmp_path):
    sim, returns, groups, inputs, _ = _market(4)
    attribution = pm.pnl_attribution(sim, returns, groups, inputs)
    signals = returns.shift(-1)  # a perfect view of tomorrow
    views = FundViews(attribution=attribution, sector_pnl=attribution.by_sector, legs=attribution.legs,
                      contributors=pm.top_contributors(pm.name_contributions(sim.weights, returns), groups, n=3),
                      participation=pm.participation(sim, returns, inputs.adv),
                      ic=pm.signal_ic(signals, pm.forward_returns(returns, 1)), horizon_days=1,
                      predicted_volatility=pd.Series([0.2], index=[sim.weights.index[0]]),
                      styles=pm.style_exposure(sim.weights, inputs.styles), market=returns.mean(axis=1))
    sections = fund_view_sections(sim, views)
    titles = [s.split("<h2>", 1)[1].split("</h2>", 1)[0] for s in sections]
    assert titles == ["P&amp;L attribution: factor vs specific", "P&amp;L by sector", "P&amp;L of the long and the short leg",
                      "Top contributors and detractors", "Style and beta exposure", "Predicted vs realized volatility",
                      "Names held and concentration", "Largest drawdowns", "Capacity: trade size / ADV",
                      "Rolling IC of the meta-signal"]
    net_bp = attribution.totals()["net"] * 1e4
    assert f"<th>net</th><td>{net_bp:,.0f}</td><td>100.0%</td>" in sections[0]
    path = write_report(sim, tmp_path / "r.html", title="t", views=views, caveat=planted_skill_caveat(4.4))
    page = path.read_text(encoding="utf-8")
    assert page.index("class='caveat'") < page.index("<h2>Metrics</h2>") and "net Sharpe 4.4" in page
    assert page.count("<h2>") == 16  # metrics, equity, rolling Sharpe, exposure, the 10 above, trading, monthly


def test_without_views_only_the_simulations_own_sections():
    sim, *_ = _market(5)
    titles = [s.split("<h2>", 1)[1].split("</h2>", 1)[0] for s in fund_view_sections(sim)]
    assert titles == ["Realized volatility", "Names held and concentration", "Largest drawdowns"]
    assert np.isfinite(pm.concentration(sim.weights)["effective_n"].iloc[-1])

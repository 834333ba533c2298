"""Presentation: plotly figures and self-contained HTML pages built from the engine's results.

The engine computes and writes data files; this package turns its results into pages a
person reads (plotly.js inlined, so a page opens offline).

    from metasignal.reports import write_report

    write_report(result.simulation, "report.html", title="weekly walk-forward")
"""

from metasignal.reports.backtest import write_report
from metasignal.reports.fund_sections import FundViews, fund_views, group_net_figure
from metasignal.reports.diagnostics import write_diagnostics_report
from metasignal.reports.tournament import (
    cumulative_payout_figure,
    leaderboard_html,
    planted_skill_caveat,
    score_distribution_figure,
    stake_figure,
)
from metasignal.reports.walk_forward import rebalance_figure, write_walk_forward_report

__all__ = [
    "FundViews",
    "cumulative_payout_figure",
    "fund_views",
    "group_net_figure",
    "leaderboard_html",
    "planted_skill_caveat",
    "rebalance_figure",
    "score_distribution_figure",
    "stake_figure",
    "write_diagnostics_report",
    "write_report",
    "write_walk_forward_report",
]

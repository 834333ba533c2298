"""metasignal.reports.tournament: the leaderboard table and the tournament figures."""

from __future__ import annotations

import pandas as pd

from metasignal.reports.tournament import (
    cumulative_payout_figure,
    leaderboard_html,
    planted_skill_caveat,
    score_distribution_figure,
    stake_figure,
)

RESULTS = pd.DataFrame({
    "round_date": pd.to_datetime(["2024-01-05", "2024-01-05", "2024-01-12", "2024-01-12"]),
    "model": ["a", "b", "a", "b"],
    "payout": [1.0, -0.5, 2.0, 0.25],
    "corr": [0.01, -0.02, 0.03, 0.0],
    "mmc": [0.0, 0.01, 0.02, -0.01],
})


def test_leaderboard_formats_floats_and_escapes_names():
    board = pd.DataFrame({"model": ["<a>", "b"], "stake": [10.123456, 2.0], "rounds": [3, 4]})
    html = leaderboard_html(board, digits=2, columns=("model", "stake", "rounds"))
    assert html.startswith("<div class='leaderboard'><table")
    assert "<thead><tr><th>model</th><th>stake</th><th>rounds</th></tr></thead>" in html
    assert "<tr><th>&lt;a&gt;</th><td>10.12</td><td>3</td></tr>" in html  # the model is the row's header
    assert "<details>" not in html  # nothing beyond the columns asked for


def test_leaderboard_shows_few_columns_and_the_rest_folded():
    board = pd.DataFrame({
        "model": ["a", "b"], "stake": [1234.5678, 2.0], "cumulative_payout": [10.0, -1.0],
        "return_on_stake": [0.01, -0.5], "rounds": [4, 4], "eligible_rounds": [4, 3],
        "corr": [0.05, 0.001], "corr_t": [3.0, 0.1], "corr_ci": [0.01, 0.02], "corr_ns": [False, True],
        "mmc": [0.01, 0.0], "churn": [0.1, 0.2], "turnover": [0.3, 0.4]})
    html = leaderboard_html(board)
    shown, folded = html.split("<details>")
    assert "<th>payouts</th>" in shown and "churn" not in shown.split("</table>")[0]
    assert "<td>1,234.57</td>" in shown and "<td>0.0500 ±0.0100</td>" in shown
    assert "<td>0.0010 ±0.0200 ~0</td>" in shown  # not distinguishable from zero
    assert "<summary>all columns (return, rounds, eligible, churn, turnover)</summary>" in folded
    assert "<td>1.0%</td>" in folded  # the return on stake in percent
    assert "<th>turnover</th>" in folded and "corr_t" not in html


def test_the_planted_skill_caveat_names_the_sharpe_and_the_construction():
    text = planted_skill_caveat(4.4)
    assert "net Sharpe 4.4" in text and "by construction" in text and "synthetic" in text


def test_cumulative_payouts_add_up_per_model():
    figure = cumulative_payout_figure(RESULTS)
    lines = {trace.name: list(trace.y) for trace in figure.data}
    assert lines == {"a": [1.0, 3.0], "b": [-0.5, -0.25]}


def test_score_distributions_have_one_dropdown_entry_per_metric_present():
    figure = score_distribution_figure(RESULTS)
    labels = [button.label for button in figure.layout.updatemenus[0].buttons]
    assert labels == ["corr", "mmc"]  # fnc, alpha, mpc, churn are not in the results
    assert len(figure.data) == 4 and [trace.visible for trace in figure.data] == [True, True, False, False]


def test_stake_figure_has_one_step_line_per_model():
    stakes = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 3.0]}, index=pd.to_datetime(["2024-01-05", "2024-01-12"]))
    figure = stake_figure(stakes)
    assert [trace.name for trace in figure.data] == ["a", "b"]
    assert all(trace.line.shape == "hv" for trace in figure.data)


def test_leaderboard_folds_hac_intervals_into_the_scores_and_marks_zero():
    board = pd.DataFrame({"model": ["skilled", "noise"], "corr": [0.0575, -0.0019], "corr_t": [24.1, -1.3],
                          "corr_ci": [0.0056, 0.0033], "corr_ns": [False, True]})
    html = leaderboard_html(board)
    assert "<th>corr_ci</th>" not in html and "<th>corr_t</th>" not in html
    assert "<td>0.0575 ±0.0056</td>" in html and "<td>-0.0019 ±0.0033 ~0</td>" in html
    assert "not distinguishable from zero" in html

"""metasignal.reports.diagnostics: the self-contained diagnostics page of a signal file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from metasignal.backtest.diagnostics import Diagnostics, summarize_scores
from metasignal.data.schema import STYLE_FACTORS
from metasignal.reports.diagnostics import write_diagnostics_report


@pytest.fixture(scope="module")
def diagnostics() -> Diagnostics:
    """Eight weekly eras of made-up scores, one skipped date, a <tagged> model name."""
    rng = np.random.default_rng(4)
    dates = pd.date_range("2021-04-02", periods=8, freq="7D", name="date")
    per_era = pd.DataFrame(rng.normal(0.02, 0.02, (8, 5)), index=dates, columns=["corr", "icv2", "fnc", "nc", "alpha"])
    per_era["churn"] = np.r_[np.nan, rng.uniform(0.0, 0.3, 7)]
    per_era["turnover"] = np.r_[np.nan, rng.uniform(0.0, 0.3, 7)]
    per_era["neutral_churn"] = np.r_[np.nan, rng.uniform(0.0, 0.3, 7)]
    style = pd.DataFrame(rng.uniform(-0.3, 0.3, (8, len(STYLE_FACTORS))), index=dates,
                         columns=pd.Index(STYLE_FACTORS, name="factor"))
    style["momentum"] = 0.9
    return Diagnostics(
        model="tilt <v2>",
        window="20D2L",
        per_era=per_era,
        summary=summarize_scores(per_era),
        style_exposure=style,
        style_summary=pd.DataFrame({"mean": style.mean(), "std": style.std(ddof=1), "max_abs": style.abs().max()}),
        meta_models=pd.DataFrame({"kind": "none", "n_models": 0}, index=dates),
        skipped=pd.DataFrame({"date": [pd.Timestamp("2021-07-02")], "reason": ["no 20D2L targets yet"]}),
        notes=("mmc, nmc, mpc omitted: no stored submissions & no meta-model",),
    )


def test_report_is_self_contained_plotly_html(diagnostics, tmp_path):
    path = write_diagnostics_report(diagnostics, tmp_path / "report" / "diagnostics.html")
    text = path.read_text(encoding="utf-8")
    assert get_plotlyjs()[:2000] in text  # plotly.js embedded, not fetched
    assert "<script src=" not in text.replace(" ", "")
    assert "Cumulative score per metric" in text and "exposure_momentum" in text
    assert "Churn, turnover and neutral churn vs the previous date" in text
    assert "churn limit 0.15" in text and "neutral_churn limit" not in text  # no limit for it
    assert "2021-07-02: no 20D2L targets yet" in text  # a skipped date is listed
    assert "tilt &lt;v2&gt;" in text and "tilt <v2>" not in text  # the model name is escaped
    assert "stored submissions &amp; no meta-model" in text  # notes too
    assert "max style exposure 0.900 (momentum)" in text
    assert [p.name for p in path.parent.iterdir()] == ["diagnostics.html"]  # no temporary file left


def test_summary_table_shows_counts_as_integers_and_blanks_for_nan(diagnostics, tmp_path):
    text = write_diagnostics_report(diagnostics, tmp_path / "d.html").read_text(encoding="utf-8")
    churn = diagnostics.summary.loc["churn"]
    row = f"<tr><th>churn</th><td>7</td><td>{churn['mean']:.4f}</td><td>{churn['std']:.4f}</td><td></td>"
    assert row in text
    positions = [text.index(name) for name in ("<h2>Summary</h2>", "<ul><li>mmc", "plotly-graph-div",
                                                "<h2>Skipped dates</h2>")]
    assert positions == sorted(positions)

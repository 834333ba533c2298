"""metasignal.reports.html: the page scaffolding every report shares."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from metasignal.reports.html import figure_html, page, section, table, write_page


def test_table_escapes_every_cell_and_labels_rows_and_columns():
    html = table([("a<b", 1.5), ("c&d", "")], header=["name", "<value>"], row_headers=True)
    assert html == (
        '<table class="metrics"><thead><tr><th>name</th><th>&lt;value&gt;</th></tr></thead>'
        "<tbody><tr><th>a&lt;b</th><td>1.5</td></tr><tr><th>c&amp;d</th><td></td></tr></tbody></table>"
    )
    assert table([("x", "y")]) == '<table class="metrics"><tbody><tr><td>x</td><td>y</td></tr></tbody></table>'


def test_section_escapes_its_title_but_not_its_body():
    assert section("P&L", "<p>ok</p>") == "<section><h2>P&amp;L</h2><p>ok</p></section>"
    assert section(None, "<p>ok</p>") == "<section><p>ok</p></section>"


def test_figure_fragment_relies_on_the_page_script():
    figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    fragment = figure_html(figure)
    assert 'class="plotly-graph-div"' in fragment and get_plotlyjs()[:200] not in fragment
    assert figure.layout.height == 450  # the default height when the figure sets none
    tall = go.Figure(layout={"height": 300})
    figure_html(tall)
    assert tall.layout.height == 300 and tall.layout.template.layout.paper_bgcolor == "white"


def test_page_inlines_plotly_and_is_written_atomically(tmp_path):
    document = page("A <title>", "<h1>x</h1>")
    assert document.startswith("<!DOCTYPE html>") and document.endswith("<h1>x</h1></body></html>")
    assert "<title>A &lt;title&gt;</title>" in document
    assert get_plotlyjs() in document and "<script src=" not in document
    path = write_page(tmp_path / "deep" / "page.html", document)
    assert path.read_text(encoding="utf-8") == document
    assert [p.name for p in path.parent.iterdir()] == ["page.html"]  # no temporary file left

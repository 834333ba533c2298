"""The scaffolding every report page shares: one self-contained HTML file per report.

:func:`page` wraps a body in a complete document with plotly.js inlined once in its head, so
the file opens offline; :func:`section`, :func:`figure_html` and :func:`table` build the body.
Text from the caller is escaped everywhere except in fragments passed as ``body``.
:func:`write_page` writes the document atomically (temporary file and rename).
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from metasignal.data import atomic_write

__all__ = ["figure_html", "page", "section", "table", "write_page"]

DEFAULT_FIGURE_HEIGHT = 450  # pixels, for figures that set no height of their own
_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1200px}"
    "table{border-collapse:collapse}"
    "th,td{border:1px solid #ccc;padding:3px 10px}"
    "th{text-align:left}td{text-align:right}thead th:not(:first-child){text-align:right}"
    ".caveat{border-left:4px solid #c80;background:#fff6e5;padding:0.6em 1em;margin:1em 0}"
    "details>summary{cursor:pointer;margin:0.5em 0}"
)


def figure_html(figure: go.Figure) -> str:
    """A plotly figure as an HTML fragment that relies on the page's inlined plotly.js.

    The figure gets the white template and, when it sets none, the default height.
    """
    figure.update_layout(template="plotly_white", height=figure.layout.height or DEFAULT_FIGURE_HEIGHT)
    return figure.to_html(full_html=False, include_plotlyjs=False)


def section(title: str | None, body: str) -> str:
    """A ``<section>`` holding ``body`` (HTML, inserted as is) under an escaped ``<h2>`` title."""
    heading = "" if title is None else f"<h2>{html.escape(title)}</h2>"
    return f"<section>{heading}{body}</section>"


def table(rows: Iterable[Sequence[object]], *, header: Sequence[object] | None = None,
          row_headers: bool = False) -> str:
    """An HTML table of already formatted cells (each cell is ``str()``-ed and escaped).

    header: the column labels, or None for a table without a header row; row_headers: the
    first cell of each row is a ``<th>`` (a label), the others ``<td>``.
    """
    head = "" if header is None else f"<thead>{_row(header, 'th', 'th')}</thead>"
    first = "th" if row_headers else "td"
    body = "".join(_row(cells, first, "td") for cells in rows)
    return f'<table class="metrics">{head}<tbody>{body}</tbody></table>'


def _row(cells: Sequence[object], first: str, rest: str) -> str:
    """One ``<tr>``: the first cell in a ``first`` tag, the others in ``rest`` tags, escaped."""
    tags = [first] + [rest] * (len(cells) - 1)
    return "<tr>" + "".join(f"<{tag}>{html.escape(str(cell))}</{tag}>" for tag, cell in zip(tags, cells)) + "</tr>"


def page(title: str, body: str) -> str:
    """A complete HTML document: escaped ``title``, the shared style, plotly.js inlined, ``body``."""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head>"
        f"<body>{body}</body></html>"
    )


def write_page(path: str | os.PathLike, document: str) -> Path:
    """Write ``document`` to ``path`` (UTF-8, atomically; folders created); return the path."""
    path = Path(path)
    atomic_write(path, lambda temporary: Path(temporary).write_text(document, encoding="utf-8"))
    return path

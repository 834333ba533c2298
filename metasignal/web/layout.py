"""The page shell, tables and number formats every web page shares.

Pages are server-rendered strings: :func:`page` wraps a body in the document (navigation,
sign-in state, the local stylesheet and scripts), :func:`data_table` renders a semantic table
(``<caption>``, ``<th scope>``; sortable by column in the browser when asked: each cell carries
its raw value in ``data-value``). Every piece of text from the store or the caller is escaped
here; only fragments passed as ``body`` (already HTML) are inserted as they are.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

import pandas as pd
import plotly.graph_objects as go

from metasignal.reports.html import figure_html
from metasignal.signals.accounts import User

__all__ = ["Column", "Viewer", "chart", "data_table", "esc", "facts", "fmt", "page"]

MISSING = "–"  # how a missing number reads (an en dash)


def esc(value: object) -> str:
    """``value`` as escaped HTML text (quotes too: safe inside attributes)."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Viewer:
    """Who reads a page: the signed-in user (None: anonymous), the form token of their web
    session and the app's root path (links are built under it)."""

    user: Optional[User] = None
    csrf: str = ""
    root: str = ""

    def url(self, path: str) -> str:
        """``path`` (absolute, from ``/``) under the app's root path, escaped for an attribute."""
        return esc(self.root + path)

    def may_see(self, owner: Optional[str]) -> bool:
        """Whether the viewer may see the private parts of a model owned by ``owner``."""
        return self.user is not None and (self.user.is_operator or self.user.name == owner)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt(value: Any, kind: str = "text") -> str:
    """``value`` formatted for a cell (not escaped): ``num`` 4 decimals, ``money`` thousands
    and 2 decimals, ``int``, ``pct`` (a fraction as a percentage), ``date``, ``time``, ``bool``
    (yes/no); missing values read as an en dash."""
    if _missing(value):
        return MISSING
    if kind == "num":
        number = float(value)
        return f"{0.0 if abs(number) < 5e-5 else number:.4f}"  # no "-0.0000" for a tiny negative
    if kind == "money":
        return f"{float(value):,.2f}"
    if kind == "int":
        return f"{int(value):d}"
    if kind == "pct":
        return f"{float(value):.1%}"
    if kind == "date":
        return pd.Timestamp(value).date().isoformat()
    if kind == "time":
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M UTC")
    if kind == "bool":
        return "yes" if bool(value) else "no"
    return str(value)


def _sort_value(value: Any, kind: str) -> str:
    """The raw value a column sorts by (numbers as numbers, dates ISO, missing empty)."""
    if _missing(value):
        return ""
    if kind in ("num", "money", "pct"):
        number = float(value)
        return "" if math.isnan(number) else repr(number)
    if kind == "int":
        return str(int(value))
    if kind == "bool":
        return "1" if bool(value) else "0"
    if kind in ("date", "time"):
        return pd.Timestamp(value).isoformat()
    return str(value)


@dataclass(frozen=True)
class Column:
    """One table column: the row key, its label, how it formats (:func:`fmt` kinds), whether it
    is a secondary column (``more``: hidden on narrow pages until "all columns" is ticked), a
    link for its cells (``href(row) -> path`` or None), an optional per-cell CSS class, and an
    optional ``text(row) -> str`` that replaces the formatted value as the cell's text (the cell
    still sorts by the value)."""

    key: str
    label: str
    kind: str = "text"
    more: bool = False
    href: Optional[Callable[[dict], Optional[str]]] = None
    css: Optional[Callable[[dict], str]] = None
    title: Optional[str] = None
    text: Optional[Callable[[dict], str]] = None

    @property
    def numeric(self) -> bool:
        return self.kind in ("num", "money", "pct", "int")


def _classes(*names: str) -> str:
    joined = " ".join(n for n in names if n)
    return f' class="{joined}"' if joined else ""


def data_table(columns: Sequence[Column], rows: Iterable[dict], *, caption: str, viewer: Viewer,
               table_id: str, sortable: bool = True, empty: str = "Nothing yet.", row_header: int = 0) -> str:
    """A semantic table of ``rows`` (dicts keyed by the columns' keys): column ``row_header``
    (default the first) holds the row headers. ``sortable``: each column header is a button that sorts the rows (sort.js).
    A table with secondary (``more``) columns gets an "all columns" switch above it."""
    rows = list(rows)
    if not rows:
        return f'<p class="empty" id="{esc(table_id)}">{esc(caption)}: {esc(empty)}</p>'
    head = []
    for column in columns:
        label = esc(column.label)
        title = f' title="{esc(column.title)}"' if column.title else ""
        classes = _classes("num" if column.numeric else "", "more" if column.more else "")
        kind = ' data-type="num"' if column.numeric or column.kind == "bool" else ""
        inner = f'<button type="button"{title}>{label}</button>' if sortable else f"<span{title}>{label}</span>"
        sort = ' aria-sort="none"' if sortable else ""
        head.append(f'<th scope="col"{classes}{kind}{sort} data-key="{esc(column.key)}">{inner}</th>')
    body = []
    for row in rows:
        cells = []
        for position, column in enumerate(columns):
            value = row.get(column.key)
            text = esc(column.text(row) if column.text else fmt(value, column.kind))
            link = column.href(row) if column.href else None
            if link:
                text = f'<a href="{viewer.url(link)}">{text}</a>'
            extra = column.css(row) if column.css else ""
            classes = _classes("num" if column.numeric else "", "more" if column.more else "", extra)
            tag, scope = ("th", ' scope="row"') if position == row_header else ("td", "")
            cells.append(f'<{tag}{scope}{classes} data-value="{esc(_sort_value(value, column.kind))}">{text}</{tag}>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    has_more = any(column.more for column in columns)
    switch = (f'<label class="wide-switch"><input type="checkbox" data-wide-for="{esc(table_id)}"> all columns</label>'
              if has_more else "")
    hint = ' <span class="hint">(select a column header to sort)</span>' if sortable else ""
    table_classes = _classes("data", "sortable" if sortable else "")
    return (
        f'{switch}<div class="scroll" role="region" aria-labelledby="{esc(table_id)}-caption" tabindex="0">'
        f'<table id="{esc(table_id)}"{table_classes}>'
        f'<caption id="{esc(table_id)}-caption">{esc(caption)}{hint}</caption>'
        f'<thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def facts(items: Iterable[tuple[str, str]]) -> str:
    """A definition list of (term, already formatted text) pairs, escaped."""
    pairs = "".join(f"<div><dt>{esc(term)}</dt><dd>{esc(value)}</dd></div>" for term, value in items)
    return f'<dl class="facts">{pairs}</dl>'


def chart(figure: go.Figure, label: str) -> str:
    """A plotly figure (drawn by the page's local plotly.js) in a labelled figure element."""
    figure.update_layout(margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return (f'<figure class="chart" aria-label="{esc(label)}">{figure_html(figure)}'
            f"<figcaption>{esc(label)}</figcaption></figure>")


def _nav(viewer: Viewer) -> str:
    links = [("/", "Leaderboard"), ("/rounds", "Rounds"), ("/fund", "Fund")]
    if viewer.user is not None:
        links.append(("/submit", "Submit"))
    items = "".join(f'<li><a href="{viewer.url(path)}">{esc(label)}</a></li>' for path, label in links)
    if viewer.user is None:
        account = f'<a href="{viewer.url("/signin")}">Sign in</a>'
    else:
        role = " (operator)" if viewer.user.is_operator else ""
        account = (
            f'<span class="who">Signed in as <strong>{esc(viewer.user.name)}</strong>{esc(role)}</span> '
            f'<form method="post" action="{viewer.url("/signout")}" class="inline">'
            f'<input type="hidden" name="csrf" value="{esc(viewer.csrf)}">'
            f'<button type="submit">Sign out</button></form>'
        )
    return (f'<nav aria-label="Main"><a class="brand" href="{viewer.url("/")}">metasignal</a>'
            f'<ul>{items}</ul><div class="account">{account}</div></nav>')


def page(title: str, body: str, viewer: Viewer, *, charts: bool = False, note: str = "") -> str:
    """A complete document: ``title`` (escaped), navigation, ``body`` (HTML) in ``<main>``;
    ``charts`` loads the local plotly.js before the body (figures draw as they are parsed);
    ``note`` (escaped) goes in the footer."""
    plotly = f'<script src="{viewer.url("/static/plotly.min.js")}"></script>' if charts else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · metasignal</title>"
        f'<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{viewer.url("/static/web.css")}">'
        f'<script src="{viewer.url("/static/web.js")}" defer></script>{plotly}</head>'
        f'<body><a class="skip" href="#main">Skip to content</a><header>{_nav(viewer)}</header>'
        f'<main id="main" tabindex="-1"><h1>{esc(title)}</h1>{body}</main>'
        f"<footer>{esc(note)}</footer></body></html>"
    )

"""Terminal output of the command line: progress bars (stderr), tables (stdout)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import pandas as pd
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

UNBROKEN = 20  # cells up to this many characters (dates, numbers, names) are never cut or wrapped
PIPED_WIDTH = 10_000  # a pipe or a file gets whole lines: as wide as the widest table


def optional_columns(table: Table, *headers: str) -> Table:
    """Mark columns (by header) that a narrow page may leave out, last named first."""
    table.optional_columns = list(headers)  # type: ignore[attr-defined]
    return table


def _widths(table: Table) -> list[int]:
    """Each column's width on one line: its widest cell or its header."""
    return [max([cell_len(cell.plain if isinstance(cell, Text) else str(cell)) for cell in column._cells]
                + [cell_len(str(column.header))]) for column in table.columns]


def _needed(widths: list[int]) -> int:
    return sum(min(w, UNBROKEN) for w in widths) + 3 * len(widths) + 1  # cells, padding and borders


def drop_optional_columns(table: Table, width: int) -> list[str]:
    """Remove optional columns (see :func:`optional_columns`), last named first, until the
    table's short values fit ``width`` on one line; returns the headers removed."""
    removed = []
    optional = list(getattr(table, "optional_columns", []))
    while optional and _needed(_widths(table)) > width:
        header = optional.pop()
        column = next((c for c in table.columns if str(c.header) == header), None)
        if column is not None:
            table.columns.remove(column)
            removed.append(header)
    return removed


def fit_columns(table: Table, width: int) -> Table:
    """Fold values that do not fit onto more lines instead of cutting them to ``…``; when the
    page is wide enough, keep every short value (at most :data:`UNBROKEN` characters: dates,
    numbers, names) on one line."""
    widest = _widths(table)
    keep_whole = _needed(widest) <= width
    for column, size in zip(table.columns, widest):
        column.overflow = "fold"
        if keep_whole and size <= UNBROKEN:
            column.min_width = max(column.min_width or 0, size)
    return table


class TableConsole(Console):
    """Standard output of the command line: a table printed loses the optional columns the page
    is too narrow for (saying so) and goes through :func:`fit_columns`."""

    def print(self, *objects, **kwargs) -> None:  # type: ignore[override]
        hidden = []
        for item in objects:
            if isinstance(item, Table):
                hidden += drop_optional_columns(item, self.width)
                fit_columns(item, self.width)
        super().print(*objects, **kwargs)
        if hidden:
            super().print(f"[dim]not shown at {self.width} columns: {', '.join(escape(h) for h in hidden)} "
                          "(a wider terminal, or a pipe, shows every column)[/]")


console = Console(stderr=True)
# Tables go to stdout; when it is not a terminal (pipes, files, tests) lines are never cut.
out = TableConsole()
if not out.is_terminal:
    out = TableConsole(width=PIPED_WIDTH)


def frame_table(frame: pd.DataFrame, title: str, digits: int = 4) -> Table:
    """A rich table of a frame (floats rounded to ``digits``; text escaped, never read as markup)."""
    table = Table(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:.{digits}f}" if isinstance(v, float) else escape(str(v)) for v in row])
    return table


@contextmanager
def steps(total: int, title: str) -> Iterator[Callable[[str], None]]:
    """A progress bar over ``total`` named steps; yields ``say(message)`` that advances it."""
    with Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console, transient=False,
    ) as progress:
        task = progress.add_task(title, total=total)
        seen = {"n": 0}

        def say(message: str) -> None:
            if seen["n"]:
                progress.advance(task)
            seen["n"] += 1
            progress.update(task, description=f"{title}: {message}")

        yield say
        progress.update(task, completed=total, description=f"{title}: done")


@contextmanager
def bar(total: int, title: str) -> Iterator[Callable[[int], None]]:
    """A progress bar over ``total`` items; yields ``advance(n=1)``. On a normal exit the bar
    ends full at the number of items actually done (the total was a plan)."""
    with Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console,
    ) as progress:
        task = progress.add_task(title, total=total)
        yield lambda n=1: progress.advance(task, n)
        # done: the total was a plan (e.g. rounds that might resolve); end full, at the real count
        done = progress.tasks[0].completed
        progress.update(task, total=done, completed=done)

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


def wrappable_columns(table: Table, *headers: str) -> Table:
    """Mark columns (by header) whose cells may wrap at their spaces (e.g. ``0.0575 ±0.0056 ~0``
    onto two lines): they need only their longest word on a line, never a cut number."""
    table.wrappable_columns = set(headers)  # type: ignore[attr-defined]
    return table


def _text(cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _widths(table: Table) -> list[int]:
    """Each column's width on one line: its widest cell or its header."""
    return [max([cell_len(_text(cell)) for cell in column._cells] + [cell_len(str(column.header))])
            for column in table.columns]


def _word_widths(table: Table) -> list[int]:
    """Each column's longest word (cells and header split at spaces), at most :data:`UNBROKEN`."""
    return [min(UNBROKEN, max([cell_len(word) for cell in column._cells for word in _text(cell).split()]
                              + [cell_len(word) for word in str(column.header).split()] + [1]))
            for column in table.columns]


def _least(table: Table) -> list[int]:
    """The width each column needs so that no short value is cut: the whole value (up to
    :data:`UNBROKEN`) for ordinary columns, the longest word for wrappable ones."""
    wrappable = getattr(table, "wrappable_columns", set())
    return [word if str(column.header) in wrappable else min(whole, UNBROKEN)
            for column, whole, word in zip(table.columns, _widths(table), _word_widths(table))]


def _needed(widths: list[int]) -> int:
    return sum(widths) + 3 * len(widths) + 1  # cells, padding and borders


def drop_optional_columns(table: Table, width: int) -> list[str]:
    """Remove optional columns (see :func:`optional_columns`), last named first, until the
    table's short values fit ``width`` (wrappable columns at their longest word); returns the
    headers removed."""
    removed = []
    optional = list(getattr(table, "optional_columns", []))
    while optional and _needed(_least(table)) > width:
        header = optional.pop()
        column = next((c for c in table.columns if str(c.header) == header), None)
        if column is not None:
            table.columns.remove(column)
            removed.append(header)
    return removed


def fit_columns(table: Table, width: int) -> Table:
    """Fold values that do not fit onto more lines instead of cutting them to ``…``; when the
    page is wide enough, keep every short value (at most :data:`UNBROKEN` characters: dates,
    numbers, names) on one line, and wrappable cells break only at their spaces; else at least
    no word (a number, a date) is split when the words fit."""
    least = _least(table)
    if _needed(least) > width:
        least = _word_widths(table)
        if _needed(least) > width:
            least = [0] * len(least)
    for column, size in zip(table.columns, least):
        column.overflow = "fold"
        if size:
            column.min_width = max(column.min_width or 0, size)
    return table


class TableConsole(Console):
    """Standard output of the command line: a table printed loses the optional columns the page
    is too narrow for (saying so) and goes through :func:`fit_columns`. ``print(table, wide=True)``
    (the commands' ``--wide``) keeps every column and every value whole on one line, wider than
    the terminal if it must be (the terminal wraps the long lines; ``less -S`` scrolls them)."""

    def print(self, *objects, wide: bool = False, **kwargs) -> None:  # type: ignore[override]
        if wide:
            tables = [item for item in objects if isinstance(item, Table)]
            width = max([self.width] + [_needed(_widths(table)) for table in tables])
            Console(file=self.file, width=width, color_system=self.color_system,
                    force_terminal=self.is_terminal).print(*objects, **kwargs)
            return
        hidden = []
        for item in objects:
            if isinstance(item, Table):
                hidden += drop_optional_columns(item, self.width)
                fit_columns(item, self.width)
        super().print(*objects, **kwargs)
        if hidden:
            super().print(f"[dim]not shown at {self.width} columns: {', '.join(escape(h) for h in hidden)} "
                          "(--wide shows every column; so does a pipe)[/]")


console = Console(stderr=True)
# Tables go to stdout; when it is not a terminal (pipes, files, tests) lines are never cut.
out = TableConsole()
if not out.is_terminal:
    out = TableConsole(width=PIPED_WIDTH)


def frame_table(frame: pd.DataFrame, title: str, digits: int = 4, *, right: tuple[str, ...] = ()) -> Table:
    """A rich table of a frame (floats rounded to ``digits``; text escaped, never read as markup).
    Numeric columns, and the ``right`` ones (numbers already formatted as text), are right-aligned."""
    table = Table(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric or column in right else "left")
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

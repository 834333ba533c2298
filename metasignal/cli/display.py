"""Terminal output of the command line: progress bars (stderr), tables (stdout)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)
# Tables go to stdout; when it is not a terminal (pipes, files, tests) use a wide page.
out = Console()
if not out.is_terminal:
    out = Console(width=200)


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

"""Rich progress display for multi-step commands."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


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
    """A progress bar over ``total`` items; yields ``advance(n=1)``."""
    with Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console,
    ) as progress:
        task = progress.add_task(title, total=total)
        yield lambda n=1: progress.advance(task, n)

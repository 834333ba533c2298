"""Terminal output helpers: progress bars end full at the real count."""

from __future__ import annotations

import io

from rich.console import Console

from metasignal.cli import display


def test_a_bar_planned_too_long_ends_full_at_the_count_done(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(display, "console", Console(file=buffer, width=100))
    with display.bar(151, "rounds") as advance:
        for _ in range(150):
            advance()
    assert buffer.getvalue().strip().splitlines()[-1].split()[-2] == "150/150"


def test_a_bar_left_by_an_error_keeps_its_plan(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(display, "console", Console(file=buffer, width=100))
    try:
        with display.bar(10, "rounds") as advance:
            advance(3)
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert buffer.getvalue().strip().splitlines()[-1].split()[-2] == "3/10"

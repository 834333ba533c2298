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


def _submissions_like_table():
    from rich.table import Table

    table = Table(title="submissions")
    for header in ("model", "date", "uploaded (UTC)", "status", "deadline (UTC)", "id column", "source"):
        table.add_column(header)
    for k in range(3):
        table.add_row(f"model_{k}", "2021-06-11", "2021-06-12 12:00:00", "on time", "2021-06-13 14:00",
                      "numerai_ticker", f"a_rather_long_file_name_number_{k}.csv")
    return display.optional_columns(table, "deadline (UTC)", "id column", "source")


def _printed(width: int) -> str:
    buffer = io.StringIO()
    display.TableConsole(file=buffer, width=width).print(_submissions_like_table())
    return buffer.getvalue()


def test_a_narrow_page_drops_optional_columns_says_so_and_cuts_no_value():
    text = _printed(80)
    assert "…" not in text and "2021-06-12 12:00:00" in text and "2021-06-11" in text
    assert "source" not in text.split("not shown")[0] and "not shown at 80 columns: source, id column" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_wide_page_or_a_pipe_shows_every_column_whole():
    text = _printed(display.PIPED_WIDTH)
    assert "not shown" not in text and "a_rather_long_file_name_number_2.csv" in text and "numerai_ticker" in text

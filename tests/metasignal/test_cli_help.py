"""The root help lists every command once, by workflow; help texts keep their bracketed words."""

from __future__ import annotations

import os

from metasignal.cli.app import WORKFLOW
from tests.metasignal.cli_runner import run_cli

WIDE = {**os.environ, "COLUMNS": "120"}


def test_root_help_lists_every_command_once_in_workflow_panels():
    shown = run_cli("--help", env=WIDE).out
    panels = [title for title, _ in WORKFLOW]
    positions = [shown.index(title) for title in panels]
    assert positions == sorted(positions)
    listed = [line.split()[1] for line in shown.splitlines() if line.startswith("│ ") and line[2:3].isalpha()
              and line.split()[1][:1].islower()]
    expected = [name for _, names in WORKFLOW for name in names]
    assert listed == expected  # workflow order, each command once ("fund" was listed twice)


def test_bracketed_help_text_is_not_eaten_as_markup():
    assert "[portfolio] table" in run_cli("portfolio", "--help", env=WIDE).out

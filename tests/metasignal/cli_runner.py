"""Run the real command line in a subprocess and capture its output."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from metasignal.cli import main


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300) -> Run:
    """``python -m metasignal *args`` -> exit code, stdout, stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "metasignal", *map(str, args)], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=timeout,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(run: Run, *fragments: str) -> None:
    """A non-zero exit whose last stderr line names the problem, and no traceback."""
    assert run.code != 0, run.out
    assert "Traceback" not in run.err and "Traceback" not in run.out
    last = [line for line in run.err.strip().splitlines() if line.strip()][-1]
    assert last.startswith("error:"), run.err
    for fragment in fragments:
        assert fragment in last, last


def cli(capsys, monkeypatch, *args: object) -> tuple[int, str, str]:
    """Run the real entry point in-process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["metasignal", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "200")
    code = 0
    try:
        main()
    except SystemExit as done:
        code = done.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(result: tuple[int, str, str], *fragments: str) -> None:
    """An in-process run that failed with one ``error:`` line naming ``fragments`` (and no traceback)."""
    assert_one_line_error(Run(*result), *fragments)

"""METASIGNAL_LOG: the engine's log records reach standard error; a bad level is one line."""

from __future__ import annotations

import logging

from tests.metasignal.cli_runner import cli, one_line_error


def test_info_level_prints_the_engines_records(capsys, monkeypatch, tmp_path):
    engine = logging.getLogger("metasignal")
    monkeypatch.setattr(engine, "handlers", [])
    monkeypatch.setattr(engine, "level", logging.NOTSET)
    monkeypatch.setenv("METASIGNAL_LOG", "info")
    code, out, err = cli(capsys, monkeypatch, "--db", tmp_path / "m.duckdb", "data", "generate",
                         "--tickers", "40", "--years", "0.4", "--seed", "3")
    assert code == 0, err
    assert "INFO metasignal.data.generate:" in err  # the generation's timing record
    assert "INFO" not in out


def test_an_unknown_level_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("METASIGNAL_LOG", "loud")
    one_line_error(cli(capsys, monkeypatch, "--db", tmp_path / "m.duckdb", "data", "info"),
                   "METASIGNAL_LOG must be one of debug, info, warning, error, got 'loud'")

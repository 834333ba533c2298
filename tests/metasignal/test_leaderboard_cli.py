"""`metasignal leaderboard` before any round is paid: an empty board with every column, not a KeyError."""

from __future__ import annotations

from metasignal.backtest.rounds import INFERENCE_METRICS, leaderboard
from metasignal.data.store import Store
from tests.metasignal.cli_runner import run_cli


def test_a_store_with_no_paid_round_prints_an_empty_leaderboard(tmp_path):
    db = tmp_path / "store.duckdb"
    assert run_cli("--db", db, "data", "generate", "--tickers", "40", "--years", "0.3").code == 0
    with Store.open(db) as store:
        board = leaderboard(store)
    assert board.empty
    wanted = {"model", "stake", "cumulative_payout", "return_on_stake", "rounds", "eligible_rounds", "churn",
              "turnover"} | {f"{m}_{s}" for m in INFERENCE_METRICS for s in ("t", "ci", "ns")}
    assert wanted <= set(board.columns)
    run = run_cli("--db", db, "leaderboard")
    assert run.code == 0, run.err
    assert "leaderboard" in run.out and "Traceback" not in run.err


# --- tables that fit 80, 100 and 140 columns, --wide, piped output, payouts --last / --since ---

import re  # noqa: E402

import pytest  # noqa: E402

from metasignal.cli import display, rounds_commands, signals_commands  # noqa: E402
from tests.metasignal.cli_runner import cli, one_line_error  # noqa: E402
from tests.metasignal.test_web import web_template  # noqa: E402,F401 (the store with resolved rounds)

MODELS = ("skilled", "momentum_tilt", "size_tilt", "noise", "copycat", "churner", "partial")
NUMBER = r"-?[\d,]+(\.\d+)?%?"


def _at(monkeypatch, width: int) -> None:
    """Tables print as on a terminal of ``width`` columns."""
    page = display.TableConsole(width=width)
    monkeypatch.setattr(rounds_commands, "console", page)
    monkeypatch.setattr(signals_commands, "console", page)


def _cells(text: str) -> list[str]:
    """Every non-empty cell text of the table rows (between the │ borders)."""
    return [cell.strip() for line in text.splitlines() if line.startswith("│")
            for cell in line.strip("│").split("│") if cell.strip()]


@pytest.mark.parametrize("width", [80, 100, 140])
def test_the_leaderboard_fits_the_terminal_and_cuts_no_name_or_number(web_template, capsys, monkeypatch, width):  # noqa: F811
    _at(monkeypatch, width)
    code, out, err = cli(capsys, monkeypatch, "--db", web_template, "leaderboard")
    assert code == 0, err
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= width
    cells = _cells(out)
    assert set(MODELS) <= set(cells)  # each name whole on its line
    # every other cell is whole numbers: a number, "eligible/submitted", ±half-widths and ~0 marks
    words = [w for c in cells if c not in MODELS for w in c.split()]
    assert all(re.fullmatch(rf"{NUMBER}|\d+/\d+|±\d\.\d{{4}}|~0", w) for w in words), words
    assert "±" in out and "~0" in out
    if width < 140:
        assert f"not shown at {width} columns: fnc" in " ".join(out.split())


def test_leaderboard_wide_shows_every_column_whole_even_at_80(web_template, capsys, monkeypatch):  # noqa: F811
    _at(monkeypatch, 80)
    code, out, _ = cli(capsys, monkeypatch, "--db", web_template, "leaderboard", "--wide")
    assert code == 0
    header = next(line for line in out.splitlines() if "model" in line and "┃" in line)
    assert [h.strip() for h in header.strip("┃").split("┃")] == [
        "model", "stake", "payout", "return", "rounds", "corr", "mmc", "alpha", "mpc", "fnc", "churn", "turnover",
        "icv2", "nc", "nmc"]
    assert "not shown" not in out and max(len(line) for line in out.splitlines()) > 80
    assert re.search(r"│ skilled +│.*-?\d\.\d{4} ±\d\.\d{4}", out)  # scores on one line


def test_piped_leaderboard_has_every_column_and_whole_values(web_template, capsys, monkeypatch):  # noqa: F811
    _at(monkeypatch, display.PIPED_WIDTH)
    _, out, _ = cli(capsys, monkeypatch, "--db", web_template, "leaderboard")
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) == len(MODELS)  # one line per model: nothing wrapped
    assert "fnc" in out and "turnover" in out and "not shown" not in out


def test_payouts_show_the_last_ten_rounds_and_say_how_many_are_hidden(web_template, capsys, monkeypatch):  # noqa: F811
    from metasignal.backtest import round_results
    from metasignal.data.store import Store

    with Store.open(web_template) as store:
        dates = [d.date().isoformat() for d in round_results(store, model="skilled")["round_date"]]
    assert len(dates) > 10
    _at(monkeypatch, 80)
    code, out, _ = cli(capsys, monkeypatch, "--db", web_template, "payouts", "--model", "skilled")
    assert code == 0 and "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    shown = [c for c in _cells(out) if re.fullmatch(r"\d{4}-\d\d-\d\d", c)]
    assert shown == dates[-10:]
    assert f"10 of {len(dates)} resolved rounds shown (the last 10); {len(dates) - 10} earlier round(s) hidden" \
        in " ".join(out.split())
    _, out, _ = cli(capsys, monkeypatch, "--db", web_template, "payouts", "--model", "skilled", "--last", "3")
    assert [c for c in _cells(out) if re.fullmatch(r"\d{4}-\d\d-\d\d", c)] == dates[-3:]
    _, out, _ = cli(capsys, monkeypatch, "--db", web_template, "payouts", "--model", "skilled", "--since", dates[2])
    assert [c for c in _cells(out) if re.fullmatch(r"\d{4}-\d\d-\d\d", c)] == dates[2:]
    assert f"from {dates[2]} on); 2 earlier round(s) hidden" in " ".join(out.split())
    _, out, _ = cli(capsys, monkeypatch, "--db", web_template, "payouts", "--model", "skilled", "--last", "100",
                    "--wide")
    assert "hidden" not in out and "payout_score" in out and "mmc" in out


def test_payouts_options_fail_in_one_line(web_template, capsys, monkeypatch):  # noqa: F811
    one_line_error(cli(capsys, monkeypatch, "--db", web_template, "payouts", "--model", "skilled", "--since", "soon"),
                   "--since")
    one_line_error(cli(capsys, monkeypatch, "--db", web_template, "payouts", "--model", "skilled", "--last", "2",
                       "--since", "2021-01-01"), "either --last N or --since DATE")


def test_submissions_list_wide_keeps_the_columns_a_narrow_page_leaves_out(web_template, capsys, monkeypatch):  # noqa: F811
    _at(monkeypatch, 80)
    _, narrow, _ = cli(capsys, monkeypatch, "--db", web_template, "submissions", "list", "--model", "noise")
    _, wide, _ = cli(capsys, monkeypatch, "--db", web_template, "submissions", "list", "--model", "noise", "--wide")
    assert "not shown at 80 columns" in narrow and "source" not in narrow.split("not shown")[0]
    assert "not shown" not in wide and "deadline (UTC)" in wide and "id column" in wide and "source" in wide
    assert "…" not in narrow + wide

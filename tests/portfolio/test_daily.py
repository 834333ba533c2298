"""The daily target portfolio from stored submissions, and its CSV output."""

import numpy as np
import pandas as pd
import pytest

from metasignal.data.example_models import example_signals
from metasignal.portfolio import book
from metasignal.portfolio.daily import save_target, target_portfolio
from metasignal.portfolio.settings import PortfolioSettings
from tests.backtest.conftest import make_tournament
from tests.metasignal.cli_runner import assert_one_line_error, run_cli

SETTINGS = PortfolioSettings(capital=1e6, max_weight=0.05, turnover=None, risk_lookback=120)
TOL = 1e-6


@pytest.fixture
def submitted(store_copy):
    """The example models, staked, with on-time uploads to the weekly rounds of days 270-300."""
    days = store_copy.trading_days()
    return store_copy, make_tournament(store_copy, days[270], days[300])


def check_neutral_table(table: pd.DataFrame, settings: PortfolioSettings, styles: pd.DataFrame | None = None) -> None:
    """Every constraint that can be checked from the output table alone."""
    w = table.set_index("ticker")["weight"]
    assert abs(w.sum()) < TOL
    assert table.groupby("sector")["weight"].sum().abs().max() < TOL
    assert table.groupby("country")["weight"].sum().abs().max() < TOL
    assert w.abs().sum() <= settings.gross + TOL
    assert w.abs().max() <= settings.max_weight + TOL
    for style in ("beta", "size", "momentum", "volatility", "value"):
        assert abs((table[style] * table["weight"]).sum()) <= settings.style_bound + TOL


def test_target_portfolio_is_neutral_and_stored(submitted):
    store, dates = submitted
    target = target_portfolio(store, dates[-1], SETTINGS)
    assert target.result.status.startswith("optimal")
    assert target.signal_source.startswith("meta-signal")  # the on-time submissions of the round
    check_neutral_table(target.table, SETTINGS)
    assert target.table["weight"].abs().sum() > 0.5  # it does take positions
    save_target(store, target)
    later = store.trading_days()[store.trading_days().get_loc(dates[-1]) + 5]
    stored = book.previous_portfolio(store, later)
    pd.testing.assert_series_equal(
        stored.sort_index(), target.result.weights[target.result.weights != 0].sort_index(), check_names=False
    )
    second = target_portfolio(store, later, SETTINGS)
    report = second.result.report
    assert report.turnover == pytest.approx(0.5 * (second.result.weights - stored.reindex(second.result.weights.index).fillna(0)).abs().sum())


def test_alpha_signal_overrides_submissions(submitted):
    store, dates = submitted
    skilled = example_signals(store, dates[-1])["skilled"]
    target = target_portfolio(store, dates[-1], SETTINGS, signal=skilled)
    assert target.signal_source == "alpha file"
    held = target.table.set_index("ticker")["weight"]
    assert np.corrcoef(held, skilled.reindex(held.index).fillna(0.5))[0, 1] > 0.2


@pytest.mark.slow
def test_cli_output_csv_alone_verifies_neutrality(submitted, tmp_path):
    store, dates = submitted
    path = store.path
    store.close()
    config = tmp_path / "fund.toml"
    config.write_text("[portfolio]\ncapital = 1e6\nmax_weight = 0.05\nturnover = 0.9\nrisk_lookback = 120\n")
    out = tmp_path / "portfolio.csv"
    run = run_cli("--db", path, "portfolio", "--date", str(dates[-1].date()), "--out", out, "--config", config)
    assert run.code == 0, run.err
    assert "net exposure per sector" in run.out
    table = pd.read_csv(out)
    assert {"ticker", "weight", "country", "sector"} <= set(table.columns)
    check_neutral_table(table, PortfolioSettings(max_weight=0.05))
    bad = tmp_path / "bad.toml"
    bad.write_text("[portfolio]\ngros = 2\n")
    assert_one_line_error(run_cli("--db", path, "portfolio", "--config", bad), "unknown portfolio setting(s) gros")

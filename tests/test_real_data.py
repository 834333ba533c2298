"""End to end on real prices: 20 S&P 500 stocks (tests/fixtures/real_prices, README there).

The fixture's wide close file is imported into a fresh store with hand-written sector labels,
its check report is read, a 60-day momentum signal computed from the fixture (prices known at
each round's data date only) is submitted to six weekly rounds, the clock advances until the
rounds are scored, and the scores are checked against the stored targets. The fixture has no
volume (and no shares outstanding): with the default settings the portfolio and the backtest
refuse the store with one line naming ``volume`` (a name without ADV cannot trade under a
participation limit: portfolio.data_requirements); in the no-volume mode (``participation``
None, ``impact`` 0) the optimizer and the walk-forward run on it, and the walk-forward's
equity equals vectorbt's replay of its targets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metasignal.backtest import rounds
from metasignal.backtest.walk_forward import WalkForwardSettings, run_walk_forward, vectorbt_difference
from metasignal.data.clock import Clock
from metasignal.data.file_loader import import_file
from metasignal.data.store import Store
from metasignal.errors import DataValidationError
from metasignal.portfolio.daily import target_portfolio
from metasignal.portfolio.data_requirements import require_trading_inputs
from metasignal.portfolio.feasibility import store_feasibility_warnings
from metasignal.portfolio.settings import PortfolioSettings
from metasignal.signals.round_calendar import RoundCalendar
from metasignal.signals.scoring.reference_scoring import numerai_corr
from metasignal.signals.storage import create_model, submit
from metasignal.tournament import advance

FIXTURE = Path(__file__).parent / "fixtures" / "real_prices"
ROUNDS = 6
NO_VOLUME = PortfolioSettings(max_weight=0.1, participation=None, impact=0.0)  # 20 x 0.1 = gross 2


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return pd.read_csv(FIXTURE / "sp500_20_closes.csv", index_col="Date", parse_dates=True)


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    store = Store.open(tmp_path_factory.mktemp("real") / "real.duckdb", create=True)
    import_file(store, FIXTURE / "securities.csv")
    result = import_file(store, FIXTURE / "sp500_20_closes.csv")
    yield store, result
    store.close()


def test_the_import_reports_the_real_market(real_store, closes):
    store, result = real_store
    report = result.report
    assert result.counts["bars"] == closes.notna().sum().sum() == 629 * 20
    assert report.names == 20 and report.universe_summary()["max"] == 20
    assert len(report.without_volume) == 20 and len(report.without_shares) == 20
    assert report.refusal is None and report.target_rows > 0
    assert store.degraded_modes() == {"volume": "none", "shares": "none"}
    stored = store.con.execute("SELECT close FROM bars WHERE ticker = 'GE US' AND date = '2022-12-28'").fetchone()[0]
    assert stored == pytest.approx(closes.loc["2022-12-28", "GE"])


def test_the_small_universe_warnings_name_the_numbers(real_store):
    store, _ = real_store
    _, warnings = store_feasibility_warnings(store, PortfolioSettings(), "2021-01-04", "2022-11-30")
    assert warnings[0] == ("configured gross 2 is unreachable: 20 names x max_weight 0.02 = 0.4 at most "
                           "(raise max_weight to >= 0.1 or add names)")
    assert any(w.startswith("sector Industrials has one name (GE US)") for w in warnings)
    assert any(w.startswith("sector Financials has two names (BAC US, JPM US)") for w in warnings)


def test_trading_commands_refuse_a_store_without_volume_in_one_line(real_store):
    store, _ = real_store
    with pytest.raises(DataValidationError, match="the store has no volume") as error:
        require_trading_inputs(store, "metasignal backtest")
    assert "\n" not in str(error.value) and "metasignal portfolio, metasignal backtest need volume" in str(error.value)


def test_the_no_volume_mode_is_accepted_and_still_needs_impact_off(real_store):
    store, _ = real_store
    require_trading_inputs(store, "metasignal backtest", NO_VOLUME)
    with pytest.raises(DataValidationError, match='participation = "none" and impact = 0'):
        require_trading_inputs(store, "metasignal backtest", PortfolioSettings(participation=None))


def _momentum_signal(closes: pd.DataFrame):
    """``date -> ticker -> signal`` for the walk-forward: :func:`_momentum` on the prices known that day."""
    def signal(day: pd.Timestamp) -> pd.Series:
        return _momentum(closes, day).set_index("ticker")["signal"]
    return signal


def test_real_prices_are_optimized_and_backtested_without_volume(real_store, closes):
    store, _ = real_store
    result = run_walk_forward(store, "2021-01-04", "2022-11-30", NO_VOLUME, WalkForwardSettings(),
                              signal=_momentum_signal(closes))
    targets, held = result.targets, result.simulation.weights
    assert len(targets) >= 95 and targets.notna().all().all()
    sectors = result.groups["sector"].reindex(targets.columns)
    assert targets.sum(axis=1).abs().max() < 1e-6  # dollar neutral
    assert targets.T.groupby(sectors).sum().abs().max().max() < 1e-6  # sector neutral
    assert targets["GE US"].abs().max() < 1e-6  # the one-name sector is never traded
    assert targets.abs().max().max() <= NO_VOLUME.max_weight + 1e-6
    assert (targets.abs().sum(axis=1) <= NO_VOLUME.gross + 1e-6).all()
    assert held.abs().sum(axis=1).max() > 0.2  # it trades: the mode is not an empty book
    assert vectorbt_difference(result) < 1e-10
    day = targets.index[-1]
    target = target_portfolio(store, day, NO_VOLUME, signal=_momentum_signal(closes)(day))
    weights = target.table.set_index("ticker")["weight"]
    assert abs(weights.sum()) < 1e-6 and weights.abs().sum() > 0.2 and abs(weights.get("GE US", 0.0)) < 1e-6


def _momentum(closes: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """60-day return ranks from closes known on ``day`` (rows up to it only)."""
    known = closes.loc[:day]
    ret = known.iloc[-1] / known.iloc[-61] - 1.0
    return pd.DataFrame({"ticker": [f"{t} US" for t in ret.index], "signal": ret.rank(pct=True).to_numpy()})


def test_momentum_submitted_to_real_rounds_is_scored_on_the_real_targets(real_store, closes, tmp_path):
    store, _ = real_store
    store.set_clock(Clock("replay", pd.Timestamp("2022-06-06")))
    create_model(store, "momentum", owner="me")
    calendar = RoundCalendar.of(store)
    submitted = []
    for _ in range(ROUNDS):
        advance(store, calendar.round_of(store.visible_through() + pd.offsets.BDay(5)).opens)
        round_ = calendar.open_round(store)
        path = tmp_path / f"momentum_{round_.data_date.date()}.csv"
        _momentum(closes, round_.data_date).to_csv(path, index=False)
        submit(store, "momentum", path, min_tickers=20)  # the default rule (100 names) exceeds this universe
        submitted.append(round_.data_date)
    advance(store, store.now() + pd.Timedelta(weeks=14))
    scores = rounds.round_scores(store, model="momentum")
    assert set(pd.to_datetime(scores["round_date"])) >= set(submitted)
    targets = store.con.execute("SELECT date, ticker, factor_neutral, raw FROM targets WHERE \"window\" = '20D2L'"
                                ).fetch_df()
    first = scores[(scores["round_date"] == submitted[0]) & (scores["window"] == "20D2L")].iloc[0]
    era = targets[pd.to_datetime(targets["date"]) == submitted[0]].set_index("ticker")
    signal = _momentum(closes, submitted[0]).set_index("ticker")[["signal"]].reindex(era.index)
    assert len(era) == 20 and np.isfinite(first["corr"])
    by_target = {column: float(numerai_corr(signal, era[column]).iloc[0]) for column in ("raw", "factor_neutral")}
    assert min(abs(first["corr"] - value) for value in by_target.values()) < 1e-9, (first["corr"], by_target)

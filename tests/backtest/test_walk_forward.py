"""Walk-forward backtest on the small synthetic store with the example models' weekly rounds:
no look-ahead (bit-identical past after perturbing the future), accounting identities,
neutrality at every rebalance, the drifted book, signal files, settings, outputs. (The vectorbt
replay is tested once, through the CLI's --vectorbt-check.)"""

from __future__ import annotations

import io
import logging
import shutil

import numpy as np
import pandas as pd
import pytest

from metasignal.backtest import simulate
from metasignal.backtest.exposure import net_exposure_by_group
from metasignal.backtest.walk_forward import (
    RebalanceError,
    WalkForwardSettings,
    backtest_days,
    rebalance_dates,
    run_walk_forward,
    save_walk_forward,
    signal_history,
    vectorbt_difference,
)
from metasignal.config import walk_forward_settings
from metasignal.data.derive import derive_store
from metasignal.data.example_models import EXAMPLE_MODELS, example_signals
from metasignal.data.store import Store
from metasignal.errors import ConfigurationError, DataValidationError, StoreError
from metasignal.backtest import advance_clock, calendar_lagged
from metasignal.data import Clock, data_known_at
from metasignal.examples import create_example_models, submit_example_round
from metasignal.portfolio.settings import PortfolioSettings
from metasignal.signals import RoundCalendar, stakes, storage

# A 1e6 book on the small market: liquidity allows a full 2x gross book, and costs matter.
SETTINGS = PortfolioSettings(capital=1e6, max_weight=0.05)
TOLERANCE = 1e-6  # the solver's feasibility tolerance on equalities (fractions of capital)


def make_tournament(small_store_path, folder) -> tuple:
    """A copy of the small store where the example models took part in the weekly rounds from
    trading day 260 to 310, uploading at each round's opening on a replay clock that then ran
    to the end of the market (every day known)."""
    path = folder / "tournament.duckdb"
    shutil.copy(small_store_path, path)
    with Store.open(path) as store:
        days = store.trading_days()
        rounds = RoundCalendar().data_dates(days)
        rounds = rounds[(rounds >= days[260]) & (rounds <= days[310])]
        store.set_clock(Clock("replay", RoundCalendar().round_of(rounds[0]).opens))
        create_example_models(store)

        def on_open(round_) -> None:
            if round_.data_date <= rounds[-1]:
                submit_example_round(store, round_, min_tickers=20)

        on_open(RoundCalendar().round_of(rounds[0]))
        advance_clock(store, data_known_at(store.stored_days()[-1]), on_open=on_open)
    return path, rounds, days


@pytest.fixture(scope="module")
def tournament(small_store_path, tmp_path_factory):
    """(store path, round dates, trading days): ~10 weekly rounds from trading day 260."""
    return make_tournament(small_store_path, tmp_path_factory.mktemp("walk_forward"))


@pytest.fixture(scope="module")
def backtest(tournament):
    path, rounds, days = tournament
    with Store.open(path) as store:
        return run_walk_forward(store, rounds[0], days[315], SETTINGS, WalkForwardSettings("weekly", lag=1))


def _perturb_after(store: Store, t: pd.Timestamp, rounds: pd.DatetimeIndex, seed: int = 3) -> None:
    """Change every kind of data dated after ``t``: prices and volumes (re-derived), delist some
    names, re-submit and add submissions, move stakes."""
    rng = np.random.default_rng(seed)
    bars = store.con.execute("SELECT * FROM bars WHERE date > ?", [t.date()]).fetch_df()
    shock = np.exp(rng.normal(0.0, 0.05, len(bars)))
    for column in ("open", "high", "low", "close", "adj_close"):
        bars[column] = bars[column] * shock
    bars["volume"] = bars["volume"] * rng.uniform(0.2, 5.0, len(bars))
    store.write_bars(bars)
    listed_before = store.universe(t)[:5]  # names that trade up to t, delisted right after it
    store.con.execute("DELETE FROM bars WHERE date > ? AND ticker IN (SELECT unnest(?))",
                      [t.date(), list(listed_before)])
    derive_store(store)
    later = rounds[rounds > t]
    extra = store.trading_days(start=t)[1]  # the first day after t
    opened = pd.Series([RoundCalendar().round_of(day).opens + pd.Timedelta(hours=1) for day in later], index=later)
    for model in EXAMPLE_MODELS[:4]:
        rows = []
        for day in later:  # reversed views, uploaded on time (a log of uploads at each opening)
            signal = 1.0 - example_signals(store, day, models=(model,))[model].dropna()
            rows.append(pd.DataFrame({"numerai_ticker": signal.index, "signal": signal.to_numpy(), "date": day.date()}))
        buffer = io.StringIO()
        pd.concat(rows).to_csv(buffer, index=False)
        storage.submit(store, model, buffer.getvalue().encode(), filename="later.csv", min_tickers=20,
                       uploaded_at=opened)
    stakes.deposit_stake(store, "noise", 50_000.0, extra)


def test_no_look_ahead_perturbing_everything_after_t_leaves_the_past_bit_identical(tournament, backtest, tmp_path):
    path, rounds, days = tournament
    dates = backtest.targets.index
    t = days[days.get_loc(dates[5]) + 2]  # between two rebalances, after 6 decisions and their trades
    assert dates[5] < t < dates[6]
    copy = tmp_path / "perturbed.duckdb"
    shutil.copy(path, copy)
    with Store.open(copy) as store:
        _perturb_after(store, t, rounds)
        perturbed = run_walk_forward(store, rounds[0], days[315], SETTINGS, WalkForwardSettings("weekly", lag=1))

    before, after = backtest.targets.loc[:t], perturbed.targets.loc[:t]
    assert len(before) == 6
    pd.testing.assert_frame_equal(before, after, check_exact=True)
    for name in ("net_returns", "gross_returns", "equity"):
        pd.testing.assert_series_equal(getattr(backtest.simulation, name).loc[:t],
                                       getattr(perturbed.simulation, name).loc[:t], check_exact=True)
    pd.testing.assert_frame_equal(backtest.simulation.weights.loc[:t], perturbed.simulation.weights.loc[:t],
                                  check_exact=True)
    pd.testing.assert_frame_equal(backtest.solves.loc[:t].drop(columns=["seconds", "solver_seconds"]),
                                  perturbed.solves.loc[:t].drop(columns=["seconds", "solver_seconds"]), check_exact=True)
    # the perturbation is real: decisions and returns after t do change
    assert not np.allclose(backtest.targets.loc[t:].to_numpy(), perturbed.targets.loc[t:].to_numpy())
    assert not np.allclose(backtest.simulation.net_returns.loc[t:].iloc[1:], perturbed.simulation.net_returns.loc[t:].iloc[1:])


def test_accounting_identities(backtest):
    sim = backtest.simulation
    costs = sim.costs["spread"] + sim.costs["impact"] + sim.costs["borrow"]
    pd.testing.assert_series_equal(sim.net_returns, (sim.gross_returns - costs).rename("net"), rtol=0, atol=1e-15)
    assert sim.net_returns.iloc[0] == 0.0 and sim.gross_returns.iloc[0] == 0.0  # lag 1: cash until the next close
    assert sim.equity.index[0] == backtest.targets.index[0]
    growth = sim.capital * (1.0 + sim.net_returns).cumprod()
    np.testing.assert_allclose(sim.equity.to_numpy(), growth.to_numpy(), rtol=1e-12)
    assert (sim.costs.loc[sim.turnover > 0, ["spread", "impact"]].sum(axis=1) > 0).all()
    assert sim.costs["borrow"].iloc[2:].gt(0).all()  # a short book pays borrow every night
    # each decision trades at the close of the next trading day
    days = sim.equity.index
    expected = days[days.get_indexer(backtest.targets.index) + 1]
    np.testing.assert_array_equal(sim.decision_dates.index, expected)
    np.testing.assert_array_equal(sim.decision_dates.to_numpy(), backtest.targets.index)


def test_dollar_sector_and_country_neutral_at_every_rebalance(backtest):
    targets, solves, groups = backtest.targets, backtest.solves, backtest.groups
    assert (solves["status"] == "optimal").all()
    assert np.abs(targets.sum(axis=1)).max() < TOLERANCE
    for group in ("sector", "country"):
        assert net_exposure_by_group(targets, groups[group]).abs().to_numpy().max() < TOLERANCE
    assert (targets.abs().sum(axis=1) <= SETTINGS.gross + TOLERANCE).all()
    assert targets.abs().sum(axis=1).min() > 0.99  # a real book (the first is cut by the turnover limit)

    # the held book right after each trade: the targets scaled by equity before / after costs on
    # names that traded; names without a return that day could not trade (delisted: closed)
    sim = backtest.simulation
    executed = sim.targets.index
    held = sim.weights.loc[executed].to_numpy()
    target = sim.targets.to_numpy()
    previous = sim.equity.shift(1).loc[executed]
    after = sim.equity.loc[executed]
    scale = ((after + (sim.costs["spread"] + sim.costs["impact"]).loc[executed] * previous) / after).to_numpy()[:, None]
    tradable = backtest.returns.loc[executed].notna().to_numpy()
    np.testing.assert_allclose(held[tradable], (target * scale)[tradable], rtol=0, atol=1e-12)
    assert (held[~tradable] == 0.0).all()
    slack = TOLERANCE + np.where(tradable, 0.0, np.abs(target) * scale).sum(axis=1)
    assert (np.abs(held.sum(axis=1)) <= slack).all()
    np.testing.assert_allclose(sim.exposure.loc[executed, "net"], held.sum(axis=1), atol=1e-12)
    for group in ("sector", "country"):
        net = net_exposure_by_group(sim.weights.loc[executed], groups[group]).abs().to_numpy().max(axis=1)
        assert (net <= slack).all()


def test_the_optimizer_trades_from_the_book_the_simulation_holds(backtest):
    """The previous weights of each rebalance are the last target as executed and drifted with
    returns (names that stopped trading closed): the zero-cost simulation's book at that close."""
    free = simulate(backtest.targets, backtest.returns, lag=1, capital=1.0)
    dates = backtest.targets.index
    for k in range(1, len(dates)):
        book = free.weights.loc[dates[k]]
        turnover = 0.5 * np.abs(backtest.targets.iloc[k] - book).sum()
        assert turnover == pytest.approx(backtest.solves["turnover"].iloc[k], abs=1e-10)
    assert backtest.solves["turnover"].iloc[0] == pytest.approx(0.5 * backtest.targets.iloc[0].abs().sum())


def test_daily_rebalancing_with_a_two_day_lag(tournament):
    """Each decision trades two closes later, while the next decision is already pending."""
    path, rounds, days = tournament
    with Store.open(path) as store:
        result = run_walk_forward(store, rounds[1], days[days.get_loc(rounds[1]) + 6], SETTINGS,
                                  WalkForwardSettings("daily", lag=2))
    sim = result.simulation
    assert len(result.targets) == 5 and (result.solves["status"] == "optimal").all()
    assert (sim.gross_returns.iloc[:3] == 0.0).all() and sim.gross_returns.iloc[3] != 0.0
    assert list(sim.decision_dates.index) == list(sim.equity.index[2:])
    costs = sim.costs.sum(axis=1)
    np.testing.assert_allclose(sim.net_returns, sim.gross_returns - costs, rtol=0, atol=1e-15)
    assert np.abs(result.targets.sum(axis=1)).max() < TOLERANCE


def test_a_signal_file_drives_the_backtest_and_its_latest_date_is_the_known_one(tournament):
    path, rounds, days = tournament
    with Store.open(path) as store:
        rows = []
        for day in rounds[[0, 3]]:
            signal = example_signals(store, day, models=("skilled",))["skilled"].dropna()
            rows.append(pd.DataFrame({"date": day, "ticker": signal.index, "signal": signal.to_numpy()}))
        history = pd.concat(rows, ignore_index=True)
        source = signal_history(history)
        known = source(rounds[2])
        np.testing.assert_array_equal(known.to_numpy(), rows[0]["signal"].to_numpy())
        assert source(rounds[3]).to_numpy()[0] == rows[1]["signal"].iloc[0]
        with pytest.raises(StoreError, match="no date on or before"):
            source(rounds[0] - pd.Timedelta(days=1))
        result = run_walk_forward(store, rounds[0], rounds[5], SETTINGS, WalkForwardSettings("weekly"), signal=source)
    assert len(result.targets) == 5 and (result.solves["status"] == "optimal").all()  # the last trades after the end


def test_schedules_and_settings():
    days = pd.bdate_range("2024-01-01", "2024-03-29").delete([4, 30])  # drop two Fridays... and a day
    weekly = rebalance_dates(days, "weekly")
    assert all(d == days[(days.to_period("W-FRI") == d.to_period("W-FRI"))].max() for d in weekly)
    assert len(weekly) == len(set(days.to_period("W-FRI")))
    assert list(rebalance_dates(days, "monthly")) == [days[days.month == m].max() for m in (1, 2, 3)]
    assert rebalance_dates(days, "daily").equals(pd.DatetimeIndex(days, name="date"))
    with pytest.raises(DataValidationError, match="not a trading day"):
        rebalance_dates(days, [pd.Timestamp("2024-01-06")])
    with pytest.raises(DataValidationError, match="unknown rebalance schedule 'hourly'"):
        WalkForwardSettings("hourly")
    with pytest.raises(DataValidationError, match="lag"):
        WalkForwardSettings(lag=-1)
    assert walk_forward_settings({"backtest": {"rebalance": "monthly", "lag": 2}}) == WalkForwardSettings("monthly", 2)
    assert walk_forward_settings({}) == WalkForwardSettings()
    with pytest.raises(DataValidationError, match="unknown backtest setting.*cadence"):
        walk_forward_settings({"backtest": {"cadence": "weekly"}})


def test_bad_windows_are_one_line_errors(tournament):
    path, rounds, days = tournament
    with Store.open(path) as store:
        with pytest.raises(DataValidationError, match="after its end"):
            backtest_days(store, days[300], days[290])
        with pytest.raises(DataValidationError, match="not a date"):
            backtest_days(store, "someday", days[290])
        with pytest.raises(StoreError, match="at least 2"):
            backtest_days(store, "1990-01-01", "1990-02-01")
        with pytest.raises(StoreError, match="no round on or before .* has an on-time submission"):
            run_walk_forward(store, days[200], days[210], SETTINGS)
        broken = PortfolioSettings(capital=1e6, solver="NO_SUCH_SOLVER")
        with pytest.raises(RebalanceError, match=f"rebalance of {rounds[0].date()}: .*NO_SUCH_SOLVER"):
            run_walk_forward(store, rounds[0], rounds[2], broken)


def test_outputs(backtest, tmp_path):
    # the data files only: the HTML report is the app layer's (tests/metasignal/reports/test_walk_forward.py,
    # and on a real run tests/metasignal/test_backtest_cli.py)
    paths = save_walk_forward(backtest, tmp_path)
    assert {p.name for p in paths.values()} == {
        "returns.csv", "weights.parquet", "metrics.json", "metrics.csv", "rebalances.csv"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())
    metrics = pd.read_csv(paths["metrics.csv"]).set_index("metric")["value"]
    assert metrics["sharpe"] == pytest.approx(backtest.simulation.metrics()["sharpe"])
    solves = pd.read_csv(paths["rebalances.csv"], index_col="date", parse_dates=True)
    assert list(solves.index) == list(backtest.targets.index)
    weights = pd.read_parquet(paths["weights.parquet"])
    assert set(weights["decision_date"]) == set(backtest.simulation.decision_dates)


def test_every_rebalance_records_its_largest_constraint_violation(backtest):
    assert (backtest.solves["max_violation"] >= 0).all()
    assert backtest.solves["max_violation"].max() < 1e-6  # every constraint held to solver tolerance


def test_a_run_logs_skipped_dates_and_its_timings(tournament, caplog):
    path, rounds, days = tournament
    end = days[days.get_loc(rounds[0]) + 3]
    with Store.open(path) as store, caplog.at_level(logging.DEBUG, logger="metasignal.backtest.walk_forward"):
        result = run_walk_forward(store, rounds[0], end, SETTINGS, WalkForwardSettings("daily", lag=1))
    messages = [record.getMessage() for record in caplog.records]
    # daily: the last day's decision would trade after the end, so it is skipped
    assert f"skipping 1 rebalance date(s) that would trade after {end.date()} with lag 1: {end.date()}" in messages
    assert len(result.solves) == 3
    solves = [r for r in caplog.records if r.levelno == logging.DEBUG and r.getMessage().startswith("rebalance of ")]
    assert len(solves) == 3  # one debug line per solve
    summary = [record for record in caplog.records if record.getMessage().startswith("walk-forward: 3 rebalances")]
    assert len(summary) == 1 and summary[0].levelno == logging.INFO
    assert f"solver {result.timings['solver']:.2f} s" in summary[0].getMessage()


# --- per-name execution lags -------------------------------------------------------------------

ASIA_PACIFIC = ("AU", "HK", "IN", "JP", "KR", "SG", "TW")


def _market_lags(store: Store) -> pd.Series:
    """Asian-Pacific names trade two closes after a decision (their markets close before the
    upload deadline), the others one."""
    securities = store.securities()
    return pd.Series(np.where(securities["country"].isin(ASIA_PACIFIC), 2, 1),
                     index=securities.index.astype(str))


@pytest.fixture(scope="module")
def per_name(tournament):
    """(result, lags): daily rebalancing with lags 1 and 2, so a lag-2 trade is still pending
    at the next decision."""
    path, rounds, days = tournament
    with Store.open(path) as store:
        lags = _market_lags(store)
        end = days[days.get_loc(rounds[1]) + 8]
        result = run_walk_forward(store, rounds[1], end, SETTINGS, WalkForwardSettings("daily", lag=lags))
    return result, lags


def test_per_name_lags_trade_each_name_at_its_own_close(per_name):
    result, lags = per_name
    sim, decisions = result.simulation, result.targets.index
    assert set(lags.loc[result.targets.columns]) == {1, 2}
    assert len(decisions) == 7  # 9 trading days: the last two decisions would trade lag-2 names after the end
    assert (result.solves["status"] == "optimal").all()
    assert np.abs(result.targets.sum(axis=1)).max() < TOLERANCE
    pd.testing.assert_series_equal(sim.lag, lags.loc[result.targets.columns].rename("lag"), check_names=False)
    days = sim.equity.index
    for lag in (1, 2):
        names = lags.index[lags == lag].intersection(result.targets.columns)
        executed = days[days.get_indexer(decisions) + lag]
        trades = sim.targets.loc[:, names]
        assert list(trades.index[trades.notna().all(axis=1)]) == list(executed)
        assert trades.drop(index=executed).isna().all().all()
        np.testing.assert_array_equal(trades.loc[executed].to_numpy(), result.targets.loc[decisions, names].to_numpy())
        # nothing is held before a name's first execution
        assert (sim.weights.loc[: days[days.get_loc(decisions[0]) + lag - 1], names] == 0.0).all().all()
        assert (sim.weights.loc[executed[0], names] != 0.0).any()
    np.testing.assert_array_equal(sim.decision_dates.index, days[1:len(decisions) + 2])
    assert sim.decision_dates.iloc[-1] == decisions[-1]
    positions = (sim.weights.to_numpy() * sim.equity.to_numpy()[:, None]).sum(axis=1)
    np.testing.assert_allclose(sim.cash + positions, sim.equity, rtol=1e-11)
    costs = sim.costs.sum(axis=1)
    np.testing.assert_allclose(sim.net_returns, sim.gross_returns - costs, rtol=0, atol=1e-15)


def test_with_per_name_lags_the_optimizer_trades_from_the_book_the_simulation_holds(per_name):
    """Each rebalance starts from the zero-cost simulation's book at its close: every name
    holds a target from its own execution on, a lag-2 trade still pending counts with what the
    name holds until then."""
    result, lags = per_name
    free = simulate(result.targets, result.returns, lag=lags, capital=1.0)
    dates = result.targets.index
    for k in range(1, len(dates)):
        book = free.weights.loc[dates[k]]
        turnover = 0.5 * np.abs(result.targets.iloc[k] - book).sum()
        assert turnover == pytest.approx(result.solves["turnover"].iloc[k], abs=1e-10)


def test_a_constant_lag_series_is_the_int_lag(tournament):
    path, rounds, days = tournament
    with Store.open(path) as store:
        window = (rounds[0], rounds[3])
        by_int = run_walk_forward(store, *window, SETTINGS, WalkForwardSettings("weekly", lag=1))
        ones = pd.Series(1, index=store.securities().index.astype(str))
        by_series = run_walk_forward(store, *window, SETTINGS, WalkForwardSettings("weekly", lag=ones))
    pd.testing.assert_frame_equal(by_int.targets, by_series.targets, check_exact=True)
    timing = ["seconds", "solver_seconds"]
    pd.testing.assert_frame_equal(by_int.solves.drop(columns=timing), by_series.solves.drop(columns=timing),
                                  check_exact=True)
    for name in ("equity", "net_returns"):
        pd.testing.assert_series_equal(getattr(by_int.simulation, name), getattr(by_series.simulation, name),
                                       check_exact=True)
    pd.testing.assert_frame_equal(by_int.simulation.weights, by_series.simulation.weights, check_exact=True)


def test_per_name_lag_errors_and_settings(tournament, per_name):
    path, rounds, days = tournament
    with Store.open(path) as store:
        lags = _market_lags(store)
        missing = lags.index.sort_values()[3]
        with pytest.raises(DataValidationError, match=f"no lag for ticker '{missing}'"):
            run_walk_forward(store, rounds[0], rounds[2], SETTINGS, WalkForwardSettings(lag=lags.drop(missing)))
        # decisions are kept only if the slowest market trades them by the end
        window = (rounds[1], days[days.get_loc(rounds[1]) + 5])
        assert len(backtest_days(store, *window, WalkForwardSettings("daily", lag=1))[1]) == 5
        assert len(backtest_days(store, *window, WalkForwardSettings("daily", lag=lags))[1]) == 4
        with pytest.raises(StoreError, match=r"with lag 1-7 \(by market\)"):
            backtest_days(store, *window, WalkForwardSettings("daily", lag=lags.replace(2, 7)))
    with pytest.raises(DataValidationError, match="lag of ticker 'B'.*got -1"):
        WalkForwardSettings(lag=pd.Series({"A": 1, "B": -1}))
    with pytest.raises(DataValidationError, match="lag of ticker 'A'.*got 0.5"):
        WalkForwardSettings(lag=pd.Series({"A": 0.5}))
    with pytest.raises(DataValidationError, match="empty"):
        WalkForwardSettings(lag=pd.Series([], dtype=int))
    with pytest.raises(ConfigurationError, match=r"\[backtest\] lag is one whole number"):
        WalkForwardSettings.from_mapping({"lag": lags})
    # settings hold an int64 copy, compare and hash by value
    given = pd.Series({"A": 1.0, "B": 2.0})
    settings = WalkForwardSettings(lag=given)
    given["A"] = 5.0
    assert settings.lag.dtype == np.int64 and settings.lag["A"] == 1
    assert settings == WalkForwardSettings(lag=pd.Series({"B": 2, "A": 1}))
    assert settings != WalkForwardSettings(lag=1) and settings != WalkForwardSettings(lag=pd.Series({"A": 1, "B": 1}))
    assert hash(settings) == hash(WalkForwardSettings(lag=pd.Series({"A": 1, "B": 2})))
    # the vectorbt replay trades whole rows: it refuses per-name lags (before importing vectorbt)
    with pytest.raises(DataValidationError, match="does not support per-name lags .*lags 1, 2"):
        vectorbt_difference(per_name[0])


def test_the_stored_submissions_trade_with_the_calendars_execution_lag(store_copy):
    days = store_copy.trading_days()
    weekly = calendar_lagged(store_copy, days[0], days[-1], WalkForwardSettings("weekly", lag=1))
    assert weekly.lag == 1, "weekly rounds: every market trades Monday's close"
    RoundCalendar("daily").save(store_copy)
    daily = calendar_lagged(store_copy, days[0], days[-1], WalkForwardSettings("weekly", lag=1))
    countries = store_copy.securities()["country"]
    assert isinstance(daily.lag, pd.Series)
    assert (daily.lag[countries.isin(["JP", "KR", "TW", "AU", "HK"])] == 2).all()
    assert (daily.lag[countries.isin(["US", "GB", "DE", "BR"])] == 1).all()
    longer = calendar_lagged(store_copy, days[0], days[-1], WalkForwardSettings("weekly", lag=3))
    assert longer.lag == 3, "a longer lag than the calendar's is kept"


def test_no_name_trades_a_rounds_signal_before_the_rounds_deadline(tournament, backtest):
    """The backtest's rule is the live fund's: each trade of a decision dated t, which uses the
    meta-signal of the latest round on or before t, happens at a close after that round's deadline."""
    from metasignal.data import close_times
    from metasignal.signals import latest_round

    path, rounds, days = tournament
    with Store.open(path) as store:
        calendar = RoundCalendar.of(store)
        closes = close_times(store.securities()["country"])
        decisions = backtest.simulation.decision_dates
        assert len(decisions) >= 5
        for executed, decided in decisions.items():
            deadline = calendar.round_of(latest_round(store, decided)).deadline
            traded = backtest.simulation.targets.loc[executed].dropna()
            traded = traded[traded != 0].index
            assert ((executed + closes.reindex(traded).to_numpy()) > deadline).all(), executed


def test_with_daily_rounds_asia_pacific_trades_a_day_later_and_never_before_the_deadline(tournament, tmp_path):
    from metasignal.data import close_times
    from metasignal.signals import latest_round

    path, rounds, days = tournament
    copy = tmp_path / "daily.duckdb"
    shutil.copy(path, copy)
    with Store.open(copy) as store:
        RoundCalendar("daily").save(store)
        result = run_walk_forward(store, rounds[1], rounds[3], SETTINGS, WalkForwardSettings("daily", lag=1))
        lag = result.simulation.lag
        countries = store.securities()["country"]
        assert isinstance(lag, pd.Series) and set(lag.unique()) == {1, 2}
        assert (lag[countries.reindex(lag.index).isin(["JP", "AU"])] == 2).all()
        calendar, closes = RoundCalendar.of(store), close_times(countries)
        deadline_of = {d: calendar.round_of(latest_round(store, d)).deadline for d in result.targets.index}
        for executed in result.simulation.targets.index:
            row = result.simulation.targets.loc[executed]
            traded = row[row.notna() & (row != 0)].index
            # a name trades on this day the decision its own lag back
            decided = days[days.get_loc(executed) - lag.reindex(traded).to_numpy()]
            deadlines = pd.DatetimeIndex([deadline_of[d] for d in decided])
            assert ((executed + closes.reindex(traded).to_numpy()) > deadlines).all(), executed

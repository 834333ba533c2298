"""Diagnostics of a multi-date signal file: per-era scores, summaries, style exposure, CSV files.
(The HTML page is tested in tests/metasignal/reports/test_diagnostics.py.)"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from metasignal.backtest.diagnostics import (
    DiagnosticsError,
    diagnose,
    style_exposure,
    summarize_scores,
    write_diagnostics,
)
from metasignal.data.example_models import example_signals
from metasignal.data.schema import STYLE_FACTORS
from metasignal.data.store import Store
from metasignal.signals import RoundCalendar, stakes, storage
from metasignal.signals.cleaning import clean_signals
from metasignal.signals.meta_model import stake_weighted_meta_model
from metasignal.signals.scoring import score_era, score_eras
from metasignal.signals.submission import parse_submission, validate_for_store
from tests.backtest.conftest import on_time_log, round_dates

MODELS = ("skilled", "momentum_tilt", "noise", "copycat")
CROWD_STAKES = {"noise": 100.0, "copycat": 300.0, "skilled": 600.0}
TOL = 1e-12


def _csv(history: pd.DataFrame, model: str) -> bytes:
    rows = history[["ticker", model, "date"]].rename(columns={"ticker": "numerai_ticker", model: "signal"})
    return rows.assign(date=rows["date"].dt.strftime("%Y-%m-%d")).to_csv(index=False).encode()


@pytest.fixture(scope="module")
def market(small_store_path, tmp_path_factory):
    """Two copies of the small store (``plain``: no submissions; ``crowd``: noise, copycat and
    skilled uploaded on time with stakes, and a staked backfill), weekly round dates ~day 260-300 (targets known) and two late
    dates without targets, and the example models' history as CSV bytes per model."""
    folder = tmp_path_factory.mktemp("diagnostics")
    plain_path, crowd_path = folder / "plain.duckdb", folder / "crowd.duckdb"
    shutil.copy(small_store_path, plain_path)
    shutil.copy(small_store_path, crowd_path)
    with Store.open(plain_path) as store:
        days = store.trading_days()
        scored = round_dates(store, days[260], days[300])  # weekly rounds: the crowd stores them on time
        late = pd.DatetimeIndex([days[396], days[401]])
        assert not late.isin(store.target_dates()).any() and scored.isin(store.target_dates()).all()
        history = pd.concat(
            [example_signals(store, d, MODELS).rename_axis("ticker").reset_index().assign(date=d) for d in scored.append(late)],
            ignore_index=True,
        )
    files = {model: _csv(history, model) for model in MODELS}
    with Store.open(crowd_path) as store:
        for model, stake in CROWD_STAKES.items():
            storage.create_model(store, model)
            stakes.deposit_stake(store, model, stake, scored[0] - pd.Timedelta(days=7))
            stored = history[history["date"].isin(scored)]
            # a log of past uploads, each on time for its round: diagnostics read the staked rounds
            receipt = storage.submit(store, model, _csv(stored, model), uploaded_at=on_time_log(store, scored))
            assert {entry.status for entry in receipt.entries} == {"on_time"}
        # a deposit effective on a round's data date counts for it (effective before its deadline's date)
        stakes.deposit_stake(store, "noise", 900.0, scored[2])
        # research history (a backfill, staked model) is never part of a round's meta-model
        storage.create_model(store, "researcher")
        stakes.deposit_stake(store, "researcher", 1000.0, scored[0] - pd.Timedelta(days=7))
        backfill = storage.submit(store, "researcher", _csv(history[history["date"].isin(scored)], "momentum_tilt"),
                                  backfill=True)
        assert {entry.status for entry in backfill.entries} == {"backfill"}
    return {"plain": plain_path, "crowd": crowd_path, "scored": scored, "late": late, "files": files, "folder": folder}


@pytest.fixture(scope="module")
def plain_results(market):
    """Diagnostics of skilled and momentum_tilt on the store without stored submissions."""
    with Store.open(market["plain"]) as store:
        results = {}
        for model in ("skilled", "momentum_tilt"):
            validated = validate_for_store(store, parse_submission(market["files"][model]))
            results[model] = (validated, diagnose(store, validated, model_name=model))
    return results


def _expected_plain(store: Store, frame: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """score_eras on the file's panels over each date's universe (churn vs the previous date)."""
    predictions, targets, neutralizers, weights = [], [], [], []
    for date in dates:
        universe = store.universe(date)
        signal = frame[frame["date"] == date].set_index("ticker")["signal"].reindex(universe)
        predictions.append(signal.rename("file").to_frame())
        targets.append(store.targets(date).reindex(universe))
        neutralizers.append(store.neutralizers(date))
        weights.append(store.sample_weights(date))

    def panel(parts):
        return pd.concat(parts, keys=list(dates), names=["date", "ticker"])

    scores = score_eras(
        panel(predictions), targets=panel(targets), neutralizers=panel(neutralizers),
        sample_weights=panel(weights), metrics=("corr", "icv2", "fnc", "nc", "alpha", "churn", "turnover", "neutral_churn"),
    )
    return scores.xs("file", level="model")


def test_per_era_scores_equal_score_eras_on_the_same_inputs(market, plain_results):
    validated, diagnostics = plain_results["skilled"]
    with Store.open(market["plain"]) as store:
        expected = _expected_plain(store, validated.frame, market["scored"])
    assert diagnostics.dates.equals(pd.DatetimeIndex(market["scored"], name="date"))
    assert list(diagnostics.per_era.columns) == [
        "corr", "icv2", "fnc", "nc", "alpha", "churn", "turnover", "neutral_churn"]
    np.testing.assert_allclose(diagnostics.per_era.to_numpy(), expected.to_numpy(), rtol=0, atol=TOL)
    for change in ("churn", "neutral_churn"):
        assert np.isnan(diagnostics.per_era[change].iloc[0]) and diagnostics.per_era[change].iloc[1:].notna().all()
    assert (diagnostics.meta_models["kind"] == "none").all()
    assert any("mmc, nmc, mpc omitted" in note for note in diagnostics.notes)


def test_skilled_scores_positive_and_momentum_tilt_is_a_factor_bet(plain_results):
    skilled = plain_results["skilled"][1]
    momentum = plain_results["momentum_tilt"][1]
    assert skilled.summary.loc["corr", "mean"] > 0.03
    assert skilled.summary.loc["fnc", "mean"] > 0.03
    # momentum_tilt is the momentum exposure itself: ~1 correlation with it every era
    assert momentum.max_style_factor == "momentum"
    assert momentum.style_summary.loc["momentum", "mean"] > 0.95
    assert momentum.max_style_exposure == pytest.approx(momentum.style_exposure["momentum"].abs().max())
    assert skilled.style_summary.loc["momentum", "max_abs"] < 0.5
    # ... and no residual skill: fnc variance-normalizes the small non-linear remainder left after
    # neutralizing it, so per era it is mostly noise (std ~ 1/sqrt(n names)); its mean stays small
    # (on this store it is slightly negative, about -0.04 over all 26 non-constant weekly eras).
    fnc = momentum.per_era["fnc"]
    assert abs(fnc.mean()) < 0.1
    assert abs(fnc.mean()) < 3 * fnc.std(ddof=1) / np.sqrt(len(fnc))


def test_summary_matches_hand_computation(plain_results):
    per_era = plain_results["momentum_tilt"][1].per_era
    summary = plain_results["momentum_tilt"][1].summary
    for metric in ("corr", "icv2", "fnc", "nc", "alpha"):
        values = per_era[metric].to_list()
        n = len(values)
        mean = sum(values) / n
        std = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5
        level, peak, worst = 0.0, 0.0, 0.0
        for value in values:
            level += value
            peak = max(peak, level)
            worst = max(worst, peak - level)
        row = summary.loc[metric]
        assert row["n_eras"] == n
        assert row["mean"] == pytest.approx(mean, abs=1e-15)
        assert row["std"] == pytest.approx(std, rel=1e-12)
        assert row["sharpe"] == pytest.approx(mean / std, rel=1e-12)
        assert row["max_drawdown"] == pytest.approx(worst, abs=1e-15)
        assert row["hit_rate"] == pytest.approx(sum(v > 0 for v in values) / n)
        assert row["max"] == max(values)
    for metric in ("churn", "turnover", "neutral_churn"):
        values = per_era[metric].dropna()
        assert summary.loc[metric, "n_eras"] == len(values) == len(per_era) - 1
        assert summary.loc[metric, "mean"] == pytest.approx(values.mean())
        assert summary.loc[metric, ["sharpe", "max_drawdown", "hit_rate"]].isna().all()


def test_summary_of_hand_checked_scores():
    # corr: level .02 .01 -.02 -.01 .04 (peak .02 -> drawdown .04); the 0 era is a miss
    # mmc: one era only, no std; empty: no era at all, so no drawdown either (NaN, not 0)
    per_era = pd.DataFrame({
        "corr": [0.02, -0.01, -0.03, 0.01, 0.05, 0.0],
        "mmc": [np.nan, np.nan, 0.01, np.nan, np.nan, np.nan],
        "empty": [np.nan] * 6,
        "churn": [np.nan, 0.1, 0.2, 0.1, 0.3, 0.2],
    })
    summary = summarize_scores(per_era)
    corr = summary.loc["corr"]
    mean = 0.04 / 6
    std = np.sqrt(sum((v - mean) ** 2 for v in per_era["corr"]) / 5)
    assert corr["n_eras"] == 6 and corr["mean"] == pytest.approx(mean)
    assert corr["std"] == pytest.approx(std) and corr["sharpe"] == pytest.approx(mean / std)
    assert corr["max_drawdown"] == pytest.approx(0.04) and corr["hit_rate"] == pytest.approx(3 / 6)
    assert corr["max"] == 0.05
    mmc = summary.loc["mmc"]
    assert mmc["n_eras"] == 1 and np.isnan(mmc["std"]) and np.isnan(mmc["sharpe"])
    assert mmc["max_drawdown"] == 0.0 and not np.signbit(mmc["max_drawdown"])  # +0, not -0
    assert mmc["hit_rate"] == 1.0
    empty = summary.loc["empty"]
    assert empty["n_eras"] == 0 and empty[["mean", "sharpe", "max_drawdown", "hit_rate"]].isna().all()
    churn = summary.loc["churn"]
    assert churn["n_eras"] == 5 and churn["mean"] == pytest.approx(0.18) and churn["max"] == 0.3
    assert churn[["sharpe", "max_drawdown", "hit_rate"]].isna().all()
    assert list(summary.columns) == ["n_eras", "mean", "std", "sharpe", "max_drawdown", "hit_rate", "max"]


def test_style_exposure_is_pearson_of_the_cleaned_signal(market, plain_results):
    validated, diagnostics = plain_results["skilled"]
    date = market["scored"][3]
    with Store.open(market["plain"]) as store:
        exposures = store.exposures(date)
    signal = validated.frame[validated.frame["date"] == date].set_index("ticker")["signal"]
    cleaned = clean_signals(signal.reindex(exposures.index).to_frame(), exposures.index).iloc[:, 0]
    for factor in ("beta", "size", "momentum", "volatility"):
        expected = np.corrcoef(cleaned.to_numpy(), exposures[factor].to_numpy())[0, 1]
        assert diagnostics.style_exposure.loc[date, factor] == pytest.approx(expected, abs=1e-12)
    assert list(diagnostics.style_exposure.columns) == list(STYLE_FACTORS)
    # a factor with NaN for some names is correlated over the names that have it
    partial = exposures.copy()
    partial.loc[partial.index[:20], "beta"] = np.nan
    keep = partial["beta"].notna().to_numpy()
    expected = np.corrcoef(cleaned.to_numpy()[keep], partial["beta"].to_numpy()[keep])[0, 1]
    assert style_exposure(signal, partial)["beta"] == pytest.approx(expected, abs=1e-12)


def test_dates_without_targets_are_skipped_and_reported(market, plain_results):
    diagnostics = plain_results["skilled"][1]
    assert list(diagnostics.skipped["date"]) == list(market["late"])
    assert diagnostics.skipped["reason"].str.contains("no 20D2L targets").all()
    assert not diagnostics.dates.isin(market["late"]).any()
    assert any("2 date(s) skipped" in note for note in diagnostics.notes)
    validated = plain_results["skilled"][0]
    late_only = validated.frame[validated.frame["date"].isin(market["late"])]
    with Store.open(market["plain"]) as store, pytest.raises(DiagnosticsError, match="none of the file's 2 dates"):
        diagnose(store, late_only)


def test_meta_metrics_against_the_stored_meta_model(market):
    with Store.open(market["crowd"]) as store:
        validated = validate_for_store(store, parse_submission(market["files"]["skilled"]))
        as_skilled = diagnose(store, validated, model_name="skilled")
        as_file = diagnose(store, validated)  # the stored skilled stays in the meta-model
        date = market["scored"][2]
        universe = store.universe(date)
        assert "researcher" in storage.submissions_for_date(store, date).columns
        stored = storage.on_time_submissions(store, date).drop(columns="skilled").reindex(universe)
        assert list(stored.columns) == ["copycat", "noise"]
        deadline = RoundCalendar.of(store).round_of(date).deadline  # the round's stakes
        balances = stakes.stake_balances(store, deadline.normalize()).reindex(stored.columns)
        assert balances["noise"] == CROWD_STAKES["noise"] + 900.0
        signal = validated.frame[validated.frame["date"] == date].set_index("ticker")["signal"]
        predictions = pd.concat([signal.reindex(universe).rename("skilled"), stored], axis=1)
        expected = score_era(
            predictions, targets=store.targets(date).reindex(universe),
            meta_model=stake_weighted_meta_model(stored, balances), neutralizers=store.neutralizers(date),
            sample_weights=store.sample_weights(date), stakes=balances.reindex(predictions.columns).fillna(0.0),
            metrics=("corr", "mmc", "nmc", "mpc"),
        ).loc["skilled"]
    got = as_skilled.per_era.loc[date, ["corr", "mmc", "nmc", "mpc"]]
    np.testing.assert_allclose(got.to_numpy(dtype=float), expected.to_numpy(dtype=float), rtol=0, atol=TOL)
    assert (as_skilled.meta_models["kind"] == "stake_weighted").all()
    assert (as_skilled.meta_models["n_models"] == 2).all() and (as_file.meta_models["n_models"] == 3).all()
    # under another name, the file's own stored copy stays in the meta-model: other mmc, same corr
    assert not np.allclose(as_file.per_era["mmc"], as_skilled.per_era["mmc"])
    np.testing.assert_allclose(as_file.per_era["corr"], as_skilled.per_era["corr"], rtol=0, atol=TOL)


def test_no_meta_model_and_bad_frames(market, plain_results):
    validated = plain_results["skilled"][0]
    with Store.open(market["crowd"]) as store:
        without = diagnose(store, validated.frame, meta_model=None, metrics=("corr", "mmc"))
        assert list(without.per_era.columns) == ["corr"]
        with pytest.raises(DiagnosticsError, match="unknown metric 'sharp'"):
            diagnose(store, validated, metrics=("corr", "sharp"))
        with pytest.raises(DiagnosticsError, match="lacks column 'signal'"):
            diagnose(store, validated.frame.drop(columns="signal"))
        twice = pd.concat([validated.frame.head(1), validated.frame])
        with pytest.raises(DiagnosticsError, match="appears twice"):
            diagnose(store, twice)


def test_tables_are_written_as_csv(plain_results, tmp_path):
    diagnostics = plain_results["skilled"][1]
    paths = write_diagnostics(diagnostics, tmp_path / "out")
    per_era = pd.read_csv(paths["diagnostics_per_era.csv"], index_col="date")
    assert len(per_era) == len(diagnostics.per_era)
    assert per_era["corr"].to_numpy() == pytest.approx(diagnostics.per_era["corr"].to_numpy(), rel=1e-12)
    summary = pd.read_csv(paths["diagnostics_summary.csv"], index_col="metric")
    assert summary.loc["max_style_exposure", "max_abs"] == pytest.approx(diagnostics.max_style_exposure)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(paths)
    assert sorted(paths) == ["diagnostics_per_era.csv", "diagnostics_summary.csv"]  # the page is the app's


def test_off_calendar_dates_are_skipped_and_progress_counts_every_date(market, plain_results):
    frame = plain_results["skilled"][0].frame
    saturday = pd.Timestamp("2021-01-02")
    extra = frame[frame["date"] == market["scored"][0]].assign(date=saturday)
    calls = []
    with Store.open(market["plain"]) as store:
        diagnostics = diagnose(store, pd.concat([frame, extra]), progress=calls.append)
    n_dates = len(market["scored"]) + len(market["late"]) + 1
    assert calls == [1] * n_dates
    reasons = diagnostics.skipped.set_index("date")["reason"]
    assert reasons[saturday] == "not a trading day in the store"
    assert len(diagnostics.per_era) == len(market["scored"])

"""Batch scoring: score_era / score_eras equal numerai-tools called per model, and invariances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numerai_tools import scoring as reference
from numerai_tools import signals as reference_signals

from metasignal.errors import DataValidationError
from metasignal.signals import scoring
from metasignal.signals.cleaning import rank_over_universe
from metasignal.signals.meta_model import stake_weighted_meta_model
from metasignal.signals.scoring import METRICS, InsufficientOverlapError, score_era, score_eras
from tests.signals.scoring_fixtures import Era, assert_scores_match, build_era

CHANGES = ["churn", "turnover", "neutral_churn"]

CASES = {
    "ties": dict(seed=20, n_tickers=300, n_models=4),
    "partial_universe": dict(seed=21, n_tickers=250, n_models=3, missing=0.3),
    "constant_column": dict(seed=22, n_tickers=160, n_models=3, constant_column=True),
    "tiny_8": dict(seed=23, n_tickers=8, n_models=3, n_sectors=2, n_styles=1),
    "continuous_targets": dict(
        seed=24, n_tickers=120, n_models=2, decimals=None, target_in_unit=False
    ),
}


def reference_or_nan(compute) -> float:
    """The reference's value, or NaN where it refuses the input (constant columns)."""
    try:
        return float(compute())
    except AssertionError:
        return np.nan


def reference_scores(era: Era, target: pd.Series | None = None) -> pd.DataFrame:
    """Every metric from numerai-tools, looped per model as a user would (mpc is joint)."""
    target = era.target if target is None else target
    cleaned, n, v = era.cleaned, era.neutralizers, era.sample_weights
    previous = reference.tie_kept_rank(era.previous).fillna(0.5)
    rows = {}
    for model in cleaned.columns:
        column = cleaned[[model]]
        rows[model] = {
            "corr": reference.numerai_corr(column, target).iloc[0],
            "icv2": reference.numerai_corr(column, era.raw).iloc[0],
            "fnc": reference_or_nan(
                lambda: reference.feature_neutral_corr(column, n, target).iloc[0]
            ),
            "nc": reference_or_nan(
                lambda: reference.neutral_correlation(column, n, target).iloc[0]
            ),
            "mmc": reference.correlation_contribution(column, era.meta_model, target).iloc[0],
            "nmc": reference.neutral_contribution(column, era.meta_model, n, target).iloc[0],
            "alpha": reference.alpha(column, n, v, target).iloc[0],
            "churn": reference_or_nan(
                lambda: reference_signals.churn(cleaned[model], previous[model])
            ),
            "turnover": reference_or_nan(lambda: reference_signals.turnover(
                reference.generate_neutralized_weights(column, n, v, True)[model],
                reference.generate_neutralized_weights(previous[[model]], n, v, True)[model],
            )),
            "neutral_churn": reference_or_nan(
                lambda: reference_signals.neutral_churn(cleaned[model], previous[model], n, n)
            ),
        }
    scores = pd.DataFrame.from_dict(rows, orient="index")
    scores["mpc"] = reference.meta_portfolio_contribution(cleaned, era.stakes, n, v, target)
    return scores[list(METRICS)]


def batch(era: Era, **overrides) -> pd.DataFrame:
    arguments = dict(
        targets=era.targets, meta_model=era.meta_model, neutralizers=era.neutralizers,
        sample_weights=era.sample_weights, stakes=era.stakes, previous=era.previous,
    )
    arguments.update(overrides)
    predictions = arguments.pop("predictions", era.predictions)
    return score_era(predictions, **arguments)


@pytest.mark.parametrize("case", list(CASES))
def test_score_era_equals_reference_per_model(case):
    era = build_era(**CASES[case])
    ours = batch(era)
    assert list(ours.index) == list(era.predictions.columns)
    assert list(ours.columns) == list(METRICS)
    assert_scores_match(ours, reference_scores(era))


def test_unsorted_rows_and_a_model_that_did_not_submit():
    era = build_era(seed=25, n_tickers=120, n_models=3)
    expected = batch(era)
    shuffled = era.predictions.sample(frac=1.0, random_state=0)
    shuffled["absent_model"] = np.nan
    ours = batch(era, predictions=shuffled)
    assert ours.loc["absent_model"].isna().all()
    assert_scores_match(ours.drop(index="absent_model"), expected)


def test_targets_with_gaps_and_extra_ids():
    era = build_era(seed=26, n_tickers=200, n_models=3)
    targets = era.targets.copy()
    targets.iloc[::15] = np.nan
    extra = pd.DataFrame({"factor_neutral": [1.0, 0.0], "raw": [0.5, 0.25]},
                         index=pd.Index(["ZZ1", "ZZ2"], name="ticker"))
    targets = pd.concat([targets, extra])
    gappy = Era(**{**era.__dict__, "targets": targets})
    metrics = ["corr", "icv2", "nc", "mmc", "nmc", "alpha", "mpc"]
    ours = batch(gappy, metrics=metrics)
    expected = reference_scores(gappy, target=gappy.target)[metrics]
    assert_scores_match(ours, expected)


def test_missing_meta_model_is_built_from_stakes():
    era = build_era(seed=27, n_tickers=100, n_models=3)
    built = batch(era, meta_model=None, metrics=["mmc", "nmc"])
    explicit = batch(era, meta_model=stake_weighted_meta_model(era.predictions, era.stakes),
                     metrics=["mmc", "nmc"])
    assert_scores_match(built, explicit, tolerance=0.0)


def test_max_churn_and_turnover_of_reference_live_check():
    era = build_era(seed=28, n_tickers=150, n_models=2)
    ours = batch(era, metrics=["churn", "turnover"])
    for model in era.predictions.columns:
        submission = era.cleaned[model].rename("signal")
        previous = era.previous[model].rank(pct=True).rename("signal")
        expected = reference_signals.calculate_max_churn_and_turnover(
            submission, era.neutralizers, era.sample_weights,
            {"prev": previous}, {"prev": era.neutralizers}, {"prev": era.sample_weights},
        )
        assert_scores_match(ours.loc[model, ["churn", "turnover"]].to_numpy(), expected)


def test_churn_and_turnover_without_previous_are_nan():
    era = build_era(seed=29, n_tickers=60, n_models=2)
    scores = batch(era, previous=None)
    assert scores[CHANGES].isna().all().all()
    assert scores.drop(columns=CHANGES).notna().all().all()


def test_score_eras_matches_score_era_per_date():
    eras = [build_era(seed=30 + k, n_tickers=90, n_models=3) for k in range(3)]
    dates = pd.to_datetime(["2024-01-05", "2024-01-12", "2024-01-19"])

    def panel(get):
        frames = {date: get(era) for date, era in zip(dates, eras)}
        return pd.concat(frames, names=["date", "ticker"])

    stakes = pd.DataFrame([era.stakes for era in eras], index=dates)
    scores = score_eras(
        panel(lambda era: era.predictions), targets=panel(lambda era: era.targets),
        meta_model=panel(lambda era: era.meta_model),
        neutralizers=panel(lambda era: era.neutralizers),
        sample_weights=panel(lambda era: era.sample_weights), stakes=stakes,
    )
    assert scores.index.names == ["date", "model"]
    assert scores.loc[dates[0], CHANGES].isna().all().all()
    for position in (1, 2):
        era, before = eras[position], eras[position - 1]
        expected = score_era(
            era.predictions, targets=era.targets, meta_model=era.meta_model,
            neutralizers=era.neutralizers, sample_weights=era.sample_weights, stakes=era.stakes,
            previous=before.predictions, previous_neutralizers=before.neutralizers,
            previous_sample_weights=before.sample_weights,
        )
        assert_scores_match(scores.loc[dates[position]], expected, tolerance=0.0)


def test_batch_errors_are_readable():
    era = build_era(seed=33, n_tickers=60, n_models=2)
    with pytest.raises(DataValidationError, match="unknown metric 'sharpe'"):
        batch(era, metrics=["corr", "sharpe"])
    with pytest.raises(DataValidationError, match="'fnc' needs neutralizers"):
        batch(era, neutralizers=None, metrics=["corr", "fnc"])
    with pytest.raises(DataValidationError, match="'mmc' needs a meta_model"):
        batch(era, meta_model=None, stakes=None, metrics=["mmc"])
    with pytest.raises(DataValidationError, match="'raw'"):
        batch(era, targets=era.targets[["factor_neutral"]], metrics=["icv2"])
    with pytest.raises(InsufficientOverlapError, match="the neutralizers"):
        batch(era, neutralizers=era.neutralizers.iloc[:30], metrics=["nc"])
    dates = pd.to_datetime(["2024-01-05"])
    with pytest.raises(DataValidationError, match="2024-01-05"):
        score_eras(
            pd.concat({dates[0]: era.predictions}, names=["date", "ticker"]),
            targets=pd.concat({dates[0]: era.targets}, names=["date", "ticker"]),
            neutralizers=pd.concat(
                {dates[0]: era.neutralizers.iloc[:30]}, names=["date", "ticker"]
            ),
            metrics=["nc"],
        )


MONOTONE = {
    "affine": lambda x: 3.0 * x + 7.0,
    "cube": lambda x: x**3,
    "exp": lambda x: np.exp(x / 25.0),
    "arctan": lambda x: np.arctan(x / 10.0),
}


@settings(max_examples=30, deadline=None)
@given(
    values=hnp.arrays(np.int64, 60, elements=st.integers(-40, 40)),
    transform=st.sampled_from(sorted(MONOTONE)),
    seed=st.integers(0, 1000),
)
def test_scores_are_invariant_to_monotone_transforms(values, transform, seed):
    era = build_era(seed=seed, n_tickers=60, n_models=2, n_sectors=3, n_styles=2)
    predictions = era.predictions.copy()
    predictions["model_0"] = values.astype(float)
    changed = predictions.copy()
    changed["model_0"] = MONOTONE[transform](values.astype(float))
    before = batch(era, predictions=predictions)
    after = batch(era, predictions=changed)
    assert_scores_match(after, before, tolerance=1e-12)


def test_churn_and_turnover_when_the_universe_changes():
    era = build_era(seed=34, n_tickers=150, n_models=3)
    dropped, added = 15, 10
    universe = era.predictions.index[dropped:].append(pd.Index([f"NEW{i}" for i in range(added)]))
    before = build_era(seed=35, n_tickers=len(universe), n_models=3)
    relabel = dict(zip(before.predictions.index, universe))
    previous = before.predictions.rename(index=relabel)
    previous_neutralizers = before.neutralizers.rename(index=relabel)
    previous_weights = before.sample_weights.rename(index=relabel)
    ours = batch(era, previous=previous, previous_neutralizers=previous_neutralizers,
                 previous_sample_weights=previous_weights, metrics=["churn", "turnover"])
    for model in era.predictions.columns:
        expected = reference_signals.calculate_max_churn_and_turnover(
            era.cleaned[model].rename("signal"), era.neutralizers, era.sample_weights,
            {"prev": previous[model].rank(pct=True).rename("signal")},
            {"prev": previous_neutralizers}, {"prev": previous_weights},
        )
        assert_scores_match(ours.loc[model].to_numpy(), expected)


# --------------------------------------------------------------------------- neutral churn
def relabelled(era: Era, universe: pd.Index) -> Era:
    """``era`` with its tickers renamed, in order, to ``universe`` (same length)."""
    names = dict(zip(era.predictions.index, universe))
    fields = {k: getattr(era, k).rename(index=names) for k in
              ("predictions", "cleaned", "targets", "meta_model", "exposures", "neutralizers",
               "sample_weights", "previous")}
    return Era(**fields, stakes=era.stakes)


def shifted_universe(era: Era, dropped: int, added: int) -> pd.Index:
    """The universe of ``era`` without its first ``dropped`` names, plus ``added`` new ones."""
    new = pd.Index([f"NEW{i:03d}" for i in range(added)], name="ticker")
    return era.predictions.index[dropped:].append(new)


def one_neutral_churn(current: pd.Series, universe: pd.Index, neutralizers: pd.DataFrame,
                      previous: pd.Series, previous_universe: pd.Index,
                      previous_neutralizers: pd.DataFrame) -> float:
    """One comparison of ``calculate_mean_neutral_churn`` (reference_signals): each submission
    cleaned over its universe, then ``neutral_churn``; NaN where the reference skips it (too
    little overlap), refuses it (a side constant) or has no previous submission."""
    if previous.isna().all():
        return np.nan
    try:
        return float(scoring.neutral_churn(
            rank_over_universe(current, universe), rank_over_universe(previous, previous_universe),
            neutralizers, previous_neutralizers,
        ))
    except DataValidationError:  # InsufficientOverlapError included
        return np.nan


def reference_neutral_churn(era: Era, previous: pd.DataFrame,
                            previous_neutralizers: pd.DataFrame,
                            numerai_tools: bool = True) -> np.ndarray:
    """``one_neutral_churn`` per model (k,), checked against the mean over one previous era of
    reference_signals and (``numerai_tools``) numerai-tools (1.0 where no comparison is left)."""
    values = []
    for model in era.predictions.columns:
        current = era.predictions[model]
        before = previous[model] if model in previous else pd.Series(np.nan, index=previous.index)
        value = one_neutral_churn(current, era.predictions.index, era.neutralizers,
                                  before, previous.index, previous_neutralizers)
        values.append(value)
        if before.isna().all() or current.nunique() < 2:
            continue
        arguments = (
            current.dropna().rank(pct=True).rename("signal"), era.neutralizers,
            pd.Series(1.0, index=era.predictions.index),
            {"p": before.dropna().rank(pct=True).rename("signal")}, {"p": previous_neutralizers},
            {"p": pd.Series(1.0, index=previous.index)},
        )
        mean = 1.0 if np.isnan(value) else value
        assert scoring.calculate_mean_neutral_churn(*arguments) == pytest.approx(mean, abs=1e-12)
        if numerai_tools and len(era.predictions) >= 100:  # its minimum submission size
            assert reference_signals.calculate_mean_neutral_churn(*arguments) == pytest.approx(
                mean, abs=1e-12)
    return np.array(values)


def _neutral_churn_case(name: str) -> tuple[Era, pd.DataFrame, pd.DataFrame]:
    """(current era, previous submissions, previous neutralizers) of one awkward case."""
    if name == "ties":
        era = build_era(seed=40, n_tickers=300, n_models=4)
        return era, era.previous, era.neutralizers
    if name == "partial_overlap":  # partial submissions on both sides, 10 % new names
        era = build_era(seed=41, n_tickers=250, n_models=3, missing=0.3)
        other = relabelled(build_era(seed=42, n_tickers=250, n_models=3),
                           shifted_universe(era, 25, 25))
        kept, new = era.predictions.index[25:], other.predictions.index[-25:]
        previous = pd.concat([era.previous.loc[kept], other.previous.loc[new]])
        previous = previous.mask(np.random.default_rng(41).random(previous.shape) < 0.2)
        neutralizers = pd.concat([era.neutralizers.loc[kept], other.neutralizers.loc[new]])
        return era, previous, neutralizers
    if name == "missing_in_previous":  # model_1 absent, model_2 an all-NaN column
        era = build_era(seed=43, n_tickers=150, n_models=3)
        previous = era.previous.drop(columns="model_1").assign(model_2=np.nan)
        return era, previous, era.neutralizers
    if name == "different_universes":  # own universe, neutralizers and ties in each era
        era = build_era(seed=44, n_tickers=150, n_models=3, decimals=0)
        before = relabelled(build_era(seed=45, n_tickers=145, n_models=3),
                            shifted_universe(era, 15, 10))
        return era, before.previous, before.neutralizers
    if name == "too_little_overlap":  # 60 % shared: the reference skips every comparison
        era = build_era(seed=46, n_tickers=150, n_models=2)
        before = relabelled(build_era(seed=47, n_tickers=150, n_models=2),
                            shifted_universe(era, 60, 60))
        return era, before.previous, before.neutralizers
    if name == "gappy_neutralizers":  # rows without neutralizers are dropped before neutralizing
        era = build_era(seed=48, n_tickers=200, n_models=3)
        neutralizers = era.neutralizers.copy()
        neutralizers.iloc[::12, 1] = np.nan
        gappy = Era(**{**era.__dict__, "neutralizers": neutralizers})
        before_neutralizers = era.neutralizers.copy()
        before_neutralizers.iloc[5::17, 0] = np.nan
        return gappy, era.previous, before_neutralizers
    if name == "exactly_fitted":  # tickers alone in a neutralizer: residual 0 (rounding noise)
        era = build_era(seed=54, n_tickers=150, n_models=3)
        alone = pd.DataFrame(0.0, index=era.neutralizers.index, columns=["a0", "a1", "a2"])
        for column, ticker in zip(alone.columns, era.neutralizers.index[[3, 70, 140]]):
            alone.loc[ticker, column] = 1.0
        fitted = Era(**{**era.__dict__, "neutralizers": era.neutralizers.join(alone)})
        return fitted, era.previous, fitted.neutralizers
    if name == "constant_column":  # the reference refuses a constant current submission
        era = build_era(seed=49, n_tickers=160, n_models=3, constant_column=True)
        return era, era.previous, era.neutralizers
    era = build_era(seed=50, n_tickers=8, n_models=3, n_sectors=2, n_styles=1)  # tiny_8
    return era, era.previous, era.neutralizers


NEUTRAL_CHURN_CASES = ["ties", "partial_overlap", "missing_in_previous", "different_universes",
                       "too_little_overlap", "gappy_neutralizers", "exactly_fitted",
                       "constant_column", "tiny_8"]


@pytest.mark.parametrize("case", NEUTRAL_CHURN_CASES)
def test_neutral_churn_equals_reference_per_model(case):
    era, previous, previous_neutralizers = _neutral_churn_case(case)
    ours = score_era(era.predictions, targets=era.targets, neutralizers=era.neutralizers,
                     previous=previous, previous_neutralizers=previous_neutralizers,
                     metrics=("neutral_churn",))
    assert list(ours.columns) == ["neutral_churn"]
    # numerai-tools ranks the rounding noise of exactly fitted tickers; metasignal ties them at 0
    expected = reference_neutral_churn(era, previous, previous_neutralizers,
                                       numerai_tools=case != "exactly_fitted")
    assert_scores_match(ours["neutral_churn"].to_numpy(), expected, tolerance=1e-12)
    expect_nan = {"missing_in_previous": [1, 2], "too_little_overlap": [0, 1],
                  "constant_column": [2]}.get(case, [])
    assert list(np.flatnonzero(np.isnan(expected))) == expect_nan


def test_neutral_churn_in_score_eras_uses_each_dates_neutralizers():
    eras = [build_era(seed=51 + k, n_tickers=120, n_models=2) for k in range(2)]
    dates = pd.to_datetime(["2024-01-05", "2024-01-12"])

    def panel(get):
        return pd.concat({d: get(e) for d, e in zip(dates, eras)}, names=["date", "ticker"])

    scores = score_eras(panel(lambda e: e.predictions), targets=panel(lambda e: e.targets),
                        neutralizers=panel(lambda e: e.neutralizers),
                        metrics=["neutral_churn"])
    assert scores.loc[dates[0], "neutral_churn"].isna().all()
    expected = reference_neutral_churn(eras[1], eras[0].predictions, eras[0].neutralizers)
    assert_scores_match(scores.loc[dates[1], "neutral_churn"].to_numpy(), expected, 1e-12)


def test_neutral_churn_needs_neutralizers():
    era = build_era(seed=53, n_tickers=60, n_models=2)
    with pytest.raises(DataValidationError, match="'neutral_churn' needs neutralizers"):
        batch(era, neutralizers=None, metrics=["neutral_churn"])


@settings(max_examples=40, deadline=None)
@given(
    values=hnp.arrays(np.int64, 60, elements=st.integers(-40, 40)),
    transform=st.sampled_from(sorted(MONOTONE)),
    seed=st.integers(0, 1000),
)
def test_neutral_churn_of_a_signal_with_itself_is_zero_and_rank_invariant(values, transform, seed):
    era = build_era(seed=seed, n_tickers=60, n_models=2, n_sectors=3, n_styles=2)
    predictions = era.predictions.assign(model_0=values.astype(float))
    arguments = dict(targets=era.targets, neutralizers=era.neutralizers,
                     metrics=("neutral_churn",))
    itself = score_era(predictions, previous=predictions, **arguments)["neutral_churn"]
    if len(np.unique(values)) > 1:
        assert np.abs(itself.to_numpy()).max() <= 1e-12
    else:  # constant: nothing to compare, as the reference refuses it
        assert np.isnan(itself["model_0"]) and abs(itself["model_1"]) <= 1e-12
    changed = predictions.assign(model_0=MONOTONE[transform](values.astype(float)))
    before = score_era(predictions, previous=era.previous, **arguments)
    after = score_era(changed, previous=era.previous, **arguments)
    assert_scores_match(after, before, tolerance=1e-12)

"""Reference parity: signals.scoring's numerai-tools-named functions vs numerai-tools 0.7.2.

Each case is a seeded cross-section (ties, partial universes cleaned by rank-then-0.5,
a constant column, tiny universes, continuous targets); every score must agree within 1e-9.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numerai_tools import scoring as reference
from numerai_tools import signals as reference_signals

from data.errors import DataValidationError
from signals import scoring
from signals.scoring import InsufficientOverlapError
from tests.signals.scoring_fixtures import assert_scores_match, build_era

CASES = {
    "ties": dict(seed=0, n_tickers=300, n_models=4),
    "partial_universe": dict(seed=1, n_tickers=250, n_models=3, missing=0.3),
    "constant_column": dict(seed=2, n_tickers=200, n_models=4, constant_column=True),
    "tiny_8": dict(seed=3, n_tickers=8, n_models=3, n_sectors=2, n_styles=1),
    "tiny_5": dict(seed=4, n_tickers=5, n_models=2, n_sectors=1, n_styles=1),
    "continuous_targets": dict(seed=5, n_tickers=150, n_models=3, decimals=None, target_in_unit=False),
}


@pytest.fixture(params=list(CASES), scope="module")
def era(request):
    return build_era(**CASES[request.param])


def varying(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns that are not constant (the reference fails on constant ones for fnc/nc)."""
    return frame.loc[:, frame.nunique() > 1]


def test_numerai_corr(era):
    for target in (era.target, era.raw):
        assert_scores_match(scoring.numerai_corr(era.cleaned, target), reference.numerai_corr(era.cleaned, target))
    assert_scores_match(
        scoring.numerai_corr(era.cleaned, era.target, target_pow15=False),
        reference.numerai_corr(era.cleaned, era.target, target_pow15=False),
    )


def test_feature_neutral_corr(era):
    cleaned = varying(era.cleaned)
    for features in (era.exposures, era.neutralizers):
        assert_scores_match(
            scoring.feature_neutral_corr(cleaned, features, era.target),
            reference.feature_neutral_corr(cleaned, features, era.target),
        )


def test_neutral_correlation(era):
    cleaned = varying(era.cleaned)
    assert_scores_match(
        scoring.neutral_correlation(cleaned, era.exposures, era.target),
        reference.neutral_correlation(cleaned, era.exposures, era.target),
    )


def test_correlation_contribution(era):
    assert_scores_match(
        scoring.correlation_contribution(era.cleaned, era.meta_model, era.target),
        reference.correlation_contribution(era.cleaned, era.meta_model, era.target),
    )


def test_neutral_contribution(era):
    assert_scores_match(
        scoring.neutral_contribution(era.cleaned, era.meta_model, era.exposures, era.target),
        reference.neutral_contribution(era.cleaned, era.meta_model, era.exposures, era.target),
    )


def test_neutralized_weights_alpha_and_mpc(era):
    for center_and_normalize in (False, True):
        assert_scores_match(
            scoring.generate_neutralized_weights(
                era.cleaned, era.neutralizers, era.sample_weights, center_and_normalize
            ),
            reference.generate_neutralized_weights(
                era.cleaned, era.neutralizers, era.sample_weights, center_and_normalize
            ),
        )
    assert_scores_match(
        scoring.alpha(era.cleaned, era.neutralizers, era.sample_weights, era.target),
        reference.alpha(era.cleaned, era.neutralizers, era.sample_weights, era.target),
    )
    ours = scoring.meta_portfolio_contribution(
        era.cleaned, era.stakes, era.neutralizers, era.sample_weights, era.target
    )
    theirs = reference.meta_portfolio_contribution(
        era.cleaned, era.stakes, era.neutralizers, era.sample_weights, era.target
    )
    assert list(ours.index) == list(theirs.index)
    assert_scores_match(ours, theirs)


def test_stake_weight(era):
    assert_scores_match(
        scoring.stake_weight(era.predictions, era.stakes), reference.stake_weight(era.predictions, era.stakes)
    )


def test_churn_turnover_and_neutral_churn(era):
    first, second = era.cleaned.columns[:2]
    current, previous = era.cleaned[first], era.previous[first]
    assert scoring.churn(current, previous) == pytest.approx(
        reference_signals.churn(current, previous), abs=1e-9
    )
    assert scoring.churn(current, era.cleaned[second]) == pytest.approx(
        reference_signals.churn(current, era.cleaned[second]), abs=1e-9
    )
    weights = reference.generate_neutralized_weights(
        era.cleaned, era.neutralizers, era.sample_weights, center_and_normalize=True
    )
    assert scoring.turnover(weights[first], weights[second]) == pytest.approx(
        reference_signals.turnover(weights[first], weights[second]), abs=1e-9
    )
    assert scoring.neutral_churn(current, previous, era.exposures, era.exposures) == pytest.approx(
        reference_signals.neutral_churn(current, previous, era.exposures, era.exposures), abs=1e-9
    )


def test_top_bottom_variants():
    era = build_era(seed=6, n_tickers=240, n_models=3)
    for top_bottom in (10, 60):
        assert_scores_match(
            scoring.numerai_corr(era.cleaned, era.target, top_bottom=top_bottom),
            reference.numerai_corr(era.cleaned, era.target, top_bottom=top_bottom),
        )
        assert_scores_match(
            scoring.neutral_correlation(era.cleaned, era.exposures, era.target, top_bottom=top_bottom),
            reference.neutral_correlation(era.cleaned, era.exposures, era.target, top_bottom=top_bottom),
        )
        assert_scores_match(
            scoring.feature_neutral_corr(era.cleaned, era.exposures, era.target, top_bottom=top_bottom),
            reference.feature_neutral_corr(era.cleaned, era.exposures, era.target, top_bottom=top_bottom),
        )
        assert_scores_match(
            scoring.correlation_contribution(era.cleaned, era.meta_model, era.target, top_bottom=top_bottom),
            reference.correlation_contribution(era.cleaned, era.meta_model, era.target, top_bottom=top_bottom),
        )
        assert_scores_match(
            scoring.neutral_contribution(
                era.cleaned, era.meta_model, era.exposures, era.target, top_bottom=top_bottom
            ),
            reference.neutral_contribution(
                era.cleaned, era.meta_model, era.exposures, era.target, top_bottom=top_bottom
            ),
        )
        first, second = era.cleaned.columns[:2]
        assert scoring.churn(era.cleaned[first], era.previous[first], top_bottom) == pytest.approx(
            reference_signals.churn(era.cleaned[first], era.previous[first], top_bottom), abs=1e-12
        )


def test_constant_column_behaviour():
    """Same numbers where the reference gives numbers; where it fails, a clear error or NaN."""
    era = build_era(seed=2, n_tickers=200, n_models=3, constant_column=True)
    constant = era.cleaned.columns[-1]
    assert np.isnan(scoring.numerai_corr(era.cleaned, era.target)[constant])
    assert scoring.correlation_contribution(era.cleaned, era.meta_model, era.target)[constant] == 0.0
    assert np.isnan(scoring.neutral_contribution(era.cleaned, era.meta_model, era.exposures, era.target)[constant])
    with pytest.raises(AssertionError):
        reference.feature_neutral_corr(era.cleaned, era.exposures, era.target)
    with pytest.raises(InsufficientOverlapError):
        scoring.feature_neutral_corr(era.cleaned, era.exposures, era.target)
    with pytest.raises(AssertionError):
        reference.neutral_correlation(era.cleaned, era.exposures, era.target)
    assert np.isnan(scoring.neutral_correlation(era.cleaned, era.exposures, era.target)[constant])


def test_nan_rows_and_overlap_rule_match_the_reference():
    era = build_era(seed=7, n_tickers=200, n_models=3)
    few_gaps = era.cleaned.copy()
    few_gaps.iloc[::10, 0] = np.nan  # 10 % of rows: dropped, within the 80 % rule
    assert_scores_match(scoring.numerai_corr(few_gaps, era.target), reference.numerai_corr(few_gaps, era.target))
    assert_scores_match(
        scoring.correlation_contribution(few_gaps, era.meta_model, era.target),
        reference.correlation_contribution(few_gaps, era.meta_model, era.target),
    )
    many_gaps = era.cleaned.copy()
    many_gaps.iloc[::3, 0] = np.nan  # a third of the rows: too few overlapping ids
    with pytest.raises(AssertionError, match="overlapping ids"):
        reference.numerai_corr(many_gaps, era.target)
    with pytest.raises(InsufficientOverlapError, match="overlapping ids"):
        scoring.numerai_corr(many_gaps, era.target)


def test_targets_with_gaps_and_extra_ids():
    """Targets centred over all their values before alignment, as the reference does."""
    era = build_era(seed=8, n_tickers=220, n_models=3)
    target = era.target.copy()
    target.iloc[::12] = np.nan
    extra = pd.Series([1.0, 0.75, 0.0], index=pd.Index(["ZZ1", "ZZ2", "ZZ3"], name="ticker"), name="target")
    target = pd.concat([target, extra])
    assert_scores_match(scoring.numerai_corr(era.cleaned, target), reference.numerai_corr(era.cleaned, target))
    assert_scores_match(
        scoring.neutral_correlation(era.cleaned, era.exposures, target),
        reference.neutral_correlation(era.cleaned, era.exposures, target),
    )
    assert_scores_match(
        scoring.correlation_contribution(era.cleaned, era.meta_model, target),
        reference.correlation_contribution(era.cleaned, era.meta_model, target),
    )
    assert_scores_match(
        scoring.neutral_contribution(era.cleaned, era.meta_model, era.exposures, target),
        reference.neutral_contribution(era.cleaned, era.meta_model, era.exposures, target),
    )
    assert_scores_match(
        scoring.meta_portfolio_contribution(era.cleaned, era.stakes, era.neutralizers, era.sample_weights, target),
        reference.meta_portfolio_contribution(era.cleaned, era.stakes, era.neutralizers, era.sample_weights, target),
    )


def _as_submission(series: pd.Series) -> pd.Series:
    return series.rename("signal").rename_axis("ticker")


def test_max_churn_turnover_and_mean_neutral_churn():
    current_era = build_era(seed=9, n_tickers=180, n_models=2)
    earlier = [build_era(seed=10 + k, n_tickers=180, n_models=2) for k in range(2)]
    current = _as_submission(current_era.cleaned.iloc[:150, 0])  # partial: 150 of 180 names
    previous_subs = {f"d{k}": _as_submission(era.previous.rank(pct=True).iloc[:, 0]) for k, era in enumerate(earlier)}
    previous_subs["d_current_like"] = _as_submission(current_era.previous.rank(pct=True).iloc[:, 0])
    previous_neutralizers = {f"d{k}": era.neutralizers for k, era in enumerate(earlier)}
    previous_neutralizers["d_current_like"] = current_era.neutralizers
    previous_weights = {f"d{k}": era.sample_weights for k, era in enumerate(earlier)}
    previous_weights["d_current_like"] = current_era.sample_weights
    arguments = (
        current, current_era.neutralizers, current_era.sample_weights,
        previous_subs, previous_neutralizers, previous_weights,
    )
    ours = scoring.calculate_max_churn_and_turnover(*arguments)
    theirs = reference_signals.calculate_max_churn_and_turnover(*arguments)
    assert_scores_match(ours, theirs)
    assert scoring.calculate_mean_neutral_churn(*arguments) == pytest.approx(
        reference_signals.calculate_mean_neutral_churn(*arguments), abs=1e-9
    )


def test_max_churn_turnover_skips_eras_without_overlap():
    current_era = build_era(seed=12, n_tickers=150, n_models=1)
    other = build_era(seed=13, n_tickers=150, n_models=1)
    renamed = other.previous.rank(pct=True).iloc[:, 0].rename(lambda ticker: "X" + ticker)
    weights = other.sample_weights.rename(lambda ticker: "X" + ticker)
    neutralizers = other.neutralizers.rename(lambda ticker: "X" + ticker)
    arguments = (
        _as_submission(current_era.cleaned.iloc[:, 0]), current_era.neutralizers, current_era.sample_weights,
        {"d": _as_submission(renamed)}, {"d": neutralizers}, {"d": weights},
    )
    assert scoring.calculate_max_churn_and_turnover(*arguments) == (1.0, 1.0)
    assert reference_signals.calculate_max_churn_and_turnover(*arguments) == (1.0, 1.0)


@pytest.mark.parametrize("value", [0.0, 0.1, 0.15, 0.2, 0.3, 0.5, 2.0])
def test_neutral_churn_penalty(value):
    assert scoring.neutral_churn_penalty(value) == pytest.approx(
        reference_signals.neutral_churn_penalty(value), abs=1e-12
    )


def test_bad_inputs_raise_readable_errors():
    era = build_era(seed=14, n_tickers=60, n_models=2)
    with pytest.raises(DataValidationError, match="non-negative"):
        scoring.meta_portfolio_contribution(
            era.cleaned, -era.stakes, era.neutralizers, era.sample_weights, era.target
        )
    with pytest.raises(DataValidationError, match="non-zero standard deviation"):
        scoring.churn(era.cleaned.iloc[:, 0] * 0 + 0.5, era.cleaned.iloc[:, 1])
    with pytest.raises(DataValidationError, match="NaN"):
        scoring.generate_neutralized_weights(era.predictions.mask(era.predictions > 1), era.neutralizers,
                                             era.sample_weights)
    with pytest.raises(DataValidationError, match="top_bottom"):
        scoring.numerai_corr(era.cleaned, era.target, top_bottom=31)

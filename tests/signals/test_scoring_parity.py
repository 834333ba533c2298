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

from metasignal.errors import DataValidationError
from metasignal.signals import scoring
from metasignal.signals.scoring import InsufficientOverlapError
from tests.signals.scoring_fixtures import assert_scores_match, build_era

CASES = {
    "ties": dict(seed=0, n_tickers=300, n_models=4),
    "partial_universe": dict(seed=1, n_tickers=250, n_models=3, missing=0.3),
    "constant_column": dict(seed=2, n_tickers=200, n_models=4, constant_column=True),
    "tiny_8": dict(seed=3, n_tickers=8, n_models=3, n_sectors=2, n_styles=1),
    "tiny_5": dict(seed=4, n_tickers=5, n_models=2, n_sectors=1, n_styles=1),
    "continuous_targets": dict(
        seed=5, n_tickers=150, n_models=3, decimals=None, target_in_unit=False
    ),
}


def same(name: str, *args, reference_module=reference, **kwargs):
    """Call ``name`` from signals.scoring and from the reference with the same inputs; compare."""
    ours = getattr(scoring, name)(*args, **kwargs)
    theirs = getattr(reference_module, name)(*args, **kwargs)
    if isinstance(theirs, pd.Series):
        assert list(ours.index) == list(theirs.index)
    assert_scores_match(ours, theirs)
    return ours


@pytest.fixture(params=list(CASES), scope="module")
def era(request):
    return build_era(**CASES[request.param])


def varying(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns that are not constant (the reference fails on constant ones for fnc/nc)."""
    return frame.loc[:, frame.nunique() > 1]


def test_numerai_corr(era):
    same("numerai_corr", era.cleaned, era.target)
    same("numerai_corr", era.cleaned, era.raw)
    same("numerai_corr", era.cleaned, era.target, target_pow15=False)


def test_feature_neutral_corr(era):
    same("feature_neutral_corr", varying(era.cleaned), era.exposures, era.target)
    same("feature_neutral_corr", varying(era.cleaned), era.neutralizers, era.target)


def test_neutral_correlation(era):
    same("neutral_correlation", varying(era.cleaned), era.exposures, era.target)


def test_correlation_contribution(era):
    same("correlation_contribution", era.cleaned, era.meta_model, era.target)


def test_neutral_contribution(era):
    same("neutral_contribution", era.cleaned, era.meta_model, era.exposures, era.target)


def test_neutralized_weights_alpha_and_mpc(era):
    n, v = era.neutralizers, era.sample_weights
    same("generate_neutralized_weights", era.cleaned, n, v, False)
    same("generate_neutralized_weights", era.cleaned, n, v, True)
    same("alpha", era.cleaned, n, v, era.target)
    same("meta_portfolio_contribution", era.cleaned, era.stakes, n, v, era.target)


def test_stake_weight(era):
    same("stake_weight", era.predictions, era.stakes)


def test_churn_turnover_and_neutral_churn(era):
    first, second = era.cleaned.columns[:2]
    current, previous = era.cleaned[first], era.previous[first]
    same("churn", current, previous, reference_module=reference_signals)
    same("churn", current, era.cleaned[second], reference_module=reference_signals)
    weights = reference.generate_neutralized_weights(
        era.cleaned, era.neutralizers, era.sample_weights, center_and_normalize=True
    )
    same("turnover", weights[first], weights[second], reference_module=reference_signals)
    same("neutral_churn", current, previous, era.exposures, era.exposures,
         reference_module=reference_signals)


@pytest.mark.parametrize("top_bottom", [10, 60])
def test_top_bottom_variants(top_bottom):
    era = build_era(seed=6, n_tickers=240, n_models=3)
    cleaned, x, meta, target = era.cleaned, era.exposures, era.meta_model, era.target
    same("numerai_corr", cleaned, target, top_bottom=top_bottom)
    same("neutral_correlation", cleaned, x, target, top_bottom=top_bottom)
    same("feature_neutral_corr", cleaned, x, target, top_bottom=top_bottom)
    same("correlation_contribution", cleaned, meta, target, top_bottom=top_bottom)
    same("neutral_contribution", cleaned, meta, x, target, top_bottom=top_bottom)
    first = cleaned.columns[0]
    same("churn", cleaned[first], era.previous[first], top_bottom,
         reference_module=reference_signals)


def test_constant_column_behaviour():
    """Same numbers where the reference gives numbers; where it fails, a clear error or NaN."""
    era = build_era(seed=2, n_tickers=200, n_models=3, constant_column=True)
    cleaned, x, target = era.cleaned, era.exposures, era.target
    constant = cleaned.columns[-1]
    assert np.isnan(scoring.numerai_corr(cleaned, target)[constant])
    assert scoring.correlation_contribution(cleaned, era.meta_model, target)[constant] == 0.0
    nmc = scoring.neutral_contribution(cleaned, era.meta_model, x, target)
    assert np.isnan(nmc[constant])
    with pytest.raises(AssertionError):
        reference.feature_neutral_corr(cleaned, x, target)
    with pytest.raises(InsufficientOverlapError):
        scoring.feature_neutral_corr(cleaned, x, target)
    with pytest.raises(AssertionError):
        reference.neutral_correlation(cleaned, x, target)
    assert np.isnan(scoring.neutral_correlation(cleaned, x, target)[constant])


def test_nan_rows_and_overlap_rule_match_the_reference():
    era = build_era(seed=7, n_tickers=200, n_models=3)
    few_gaps = era.cleaned.copy()
    few_gaps.iloc[::10, 0] = np.nan  # 10 % of rows: dropped, within the 80 % rule
    same("numerai_corr", few_gaps, era.target)
    same("correlation_contribution", few_gaps, era.meta_model, era.target)
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
    extra_ids = pd.Index(["ZZ1", "ZZ2", "ZZ3"], name="ticker")
    target = pd.concat([target, pd.Series([1.0, 0.75, 0.0], index=extra_ids, name="target")])
    cleaned, x, meta = era.cleaned, era.exposures, era.meta_model
    same("numerai_corr", cleaned, target)
    same("neutral_correlation", cleaned, x, target)
    same("correlation_contribution", cleaned, meta, target)
    same("neutral_contribution", cleaned, meta, x, target)
    same("meta_portfolio_contribution", cleaned, era.stakes, era.neutralizers,
         era.sample_weights, target)


def _as_submission(series: pd.Series) -> pd.Series:
    return series.rename("signal").rename_axis("ticker")


def test_max_churn_turnover_and_mean_neutral_churn():
    current_era = build_era(seed=9, n_tickers=180, n_models=2)
    earlier = [build_era(seed=10 + k, n_tickers=180, n_models=2) for k in range(2)]
    earlier.append(current_era)  # the previous submission of the same universe
    current = _as_submission(current_era.cleaned.iloc[:150, 0])  # partial: 150 of 180 names
    dates = [f"d{k}" for k in range(len(earlier))]
    arguments = (
        current,
        current_era.neutralizers,
        current_era.sample_weights,
        {d: _as_submission(e.previous.rank(pct=True).iloc[:, 0]) for d, e in zip(dates, earlier)},
        {d: e.neutralizers for d, e in zip(dates, earlier)},
        {d: e.sample_weights for d, e in zip(dates, earlier)},
    )
    same("calculate_max_churn_and_turnover", *arguments, reference_module=reference_signals)
    same("calculate_mean_neutral_churn", *arguments, reference_module=reference_signals)


def test_max_churn_turnover_skips_eras_without_overlap():
    current_era = build_era(seed=12, n_tickers=150, n_models=1)
    other = build_era(seed=13, n_tickers=150, n_models=1)

    def elsewhere(ticker: str) -> str:
        return "X" + ticker

    arguments = (
        _as_submission(current_era.cleaned.iloc[:, 0]),
        current_era.neutralizers,
        current_era.sample_weights,
        {"d": _as_submission(other.previous.rank(pct=True).iloc[:, 0].rename(elsewhere))},
        {"d": other.neutralizers.rename(elsewhere)},
        {"d": other.sample_weights.rename(elsewhere)},
    )
    assert scoring.calculate_max_churn_and_turnover(*arguments) == (1.0, 1.0)
    assert reference_signals.calculate_max_churn_and_turnover(*arguments) == (1.0, 1.0)


@pytest.mark.parametrize("value", [0.0, 0.1, 0.15, 0.2, 0.3, 0.5, 2.0])
def test_neutral_churn_penalty(value):
    same("neutral_churn_penalty", value, reference_module=reference_signals)


def test_bad_inputs_raise_readable_errors():
    era = build_era(seed=14, n_tickers=60, n_models=2)
    n, v = era.neutralizers, era.sample_weights
    with pytest.raises(DataValidationError, match="non-negative"):
        scoring.meta_portfolio_contribution(era.cleaned, -era.stakes, n, v, era.target)
    with pytest.raises(DataValidationError, match="non-zero standard deviation"):
        scoring.churn(era.cleaned.iloc[:, 0] * 0 + 0.5, era.cleaned.iloc[:, 1])
    with pytest.raises(DataValidationError, match="NaN"):
        scoring.generate_neutralized_weights(era.predictions.mask(era.predictions > 1), n, v)
    with pytest.raises(DataValidationError, match="top_bottom"):
        scoring.numerai_corr(era.cleaned, era.target, top_bottom=31)

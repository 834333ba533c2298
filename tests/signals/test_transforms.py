"""Column-wise primitives and cleaning: equal to pandas / numerai-tools, NaN aware, vectorized."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numerai_tools import scoring as reference
from numerai_tools.submissions import clean_submission
from scipy import stats

from metasignal.errors import DataValidationError
from metasignal.signals.cleaning import (
    clean_signals,
    fill_partial_columns,
    fill_ranks,
    gaussianize,
    rank_over_universe,
)
from metasignal.signals.transforms import (
    ColumnSort,
    center,
    gaussian,
    orthogonalize,
    power,
    rank,
    rank_columns,
    tie_broken_rank,
    tie_kept_rank,
    variance_normalize,
    weight_normalize,
)

# few distinct values -> many ties; NaN and infinities included
TIE_HEAVY = st.sampled_from([-np.inf, -2.0, -0.5, 0.0, 0.25, 0.25, 1.0, 3.0, np.inf, np.nan])


def pandas_rank(frame: pd.DataFrame, method: str) -> np.ndarray:
    return ((frame.rank(method=method) - 0.5) / frame.count()).to_numpy()


SHAPES = st.tuples(st.integers(1, 40), st.integers(1, 5))


@settings(max_examples=40, deadline=None)
@given(values=hnp.arrays(np.float64, SHAPES, elements=TIE_HEAVY))
def test_rank_equals_pandas_with_ties_nan_and_infinities(values):
    frame = pd.DataFrame(values)
    for method in ("average", "first"):
        np.testing.assert_array_equal(rank_columns(values, method), pandas_rank(frame, method))


@settings(max_examples=40, deadline=None)
@given(values=hnp.arrays(np.float64, SHAPES, elements=TIE_HEAVY), data=st.data())
def test_ranks_over_a_subset_of_rows_from_one_sort(values, data):
    rows = data.draw(hnp.arrays(bool, len(values)))
    sorted_once = ColumnSort.of(values)
    np.testing.assert_array_equal(sorted_once.tie_kept_ranks(), rank_columns(values))
    np.testing.assert_array_equal(
        sorted_once.tie_kept_ranks_within(rows), rank_columns(values[rows])
    )


def test_rank_keeps_the_input_kind_and_labels():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(np.round(rng.standard_normal((50, 3)), 1), columns=["a", "b", "c"],
                         index=pd.Index([f"T{i:02d}" for i in range(50)]))
    frame.iloc[::7, 1] = np.nan
    ranked = tie_kept_rank(frame)
    pd.testing.assert_frame_equal(ranked, reference.tie_kept_rank(frame))
    pd.testing.assert_frame_equal(tie_broken_rank(frame), reference.tie_broken_rank(frame))
    series = rank(frame["a"])
    assert isinstance(series, pd.Series) and series.name == "a"
    np.testing.assert_array_equal(series.to_numpy(), ranked["a"].to_numpy())
    np.testing.assert_array_equal(rank(frame["a"].to_numpy()), ranked["a"].to_numpy())
    with pytest.raises(DataValidationError, match="rank method"):
        rank(frame, "dense")


def test_gaussian_is_the_normal_quantile_bit_for_bit():
    ranks = rank_columns(np.random.default_rng(1).standard_normal((300, 4)))
    ranks[0, 0] = np.nan
    np.testing.assert_array_equal(gaussian(ranks), stats.norm.ppf(ranks))


def test_power_center_and_normalizations_equal_the_reference():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.standard_normal((80, 3)), columns=list("xyz"))
    pd.testing.assert_frame_equal(power(frame, 1.5), reference.power(frame, 1.5))
    with_gaps = frame.copy()
    with_gaps.iloc[::5, 0] = np.nan
    pairs = (
        (center, reference.center),
        (variance_normalize, reference.variance_normalize),
        (weight_normalize, reference.weight_normalize),
    )
    for ours, theirs in pairs:
        pd.testing.assert_frame_equal(ours(with_gaps), theirs(with_gaps), rtol=0, atol=1e-13)
    assert np.isnan(power(np.array([np.nan, 4.0]), 0.5)[0])
    np.testing.assert_allclose(power(np.array([-4.0, 4.0]), 0.5), [-2.0, 2.0])
    with pytest.raises(DataValidationError, match="positive"):
        power(frame, 0.0)


def test_orthogonalize_one_and_many_columns():
    rng = np.random.default_rng(3)
    many, u = rng.standard_normal((60, 4)), rng.standard_normal(60)
    np.testing.assert_allclose(orthogonalize(many, u), reference.orthogonalize(many, u), atol=1e-14)
    single = orthogonalize(many[:, 0], u)
    assert single.shape == (60,)
    assert abs(single @ u) < 1e-10
    with pytest.raises(DataValidationError, match="same length"):
        orthogonalize(many, u[:10])


def test_rank_over_universe_matches_reference_cleaning_on_a_partial_submission():
    rng = np.random.default_rng(4)
    universe = pd.Index([f"T{i:03d}" for i in range(500)], name="ticker")
    submitted = rng.choice(universe, 150, replace=False)
    outside = ["ZZZ1", "ZZZ2"]
    names = pd.Index(list(submitted) + outside)
    signal = pd.Series(np.round(rng.uniform(0, 1, 152), 2), index=names, name="signal")
    ranked = rank_over_universe(signal, universe[::-1])  # universe order does not matter
    assert list(ranked.index) == list(universe)
    assert (ranked == 0.5).sum() >= 350 and ranked.between(0, 1, inclusive="neither").all()
    expected = clean_submission(
        universe=universe.to_frame(index=False),
        submission=signal.rename_axis("ticker").reset_index(),
        src_id_col="ticker", src_signal_col="signal", rank_and_fill=True,
    )
    np.testing.assert_array_equal(ranked.to_numpy(), expected.to_numpy())


def test_frame_cleaning_equals_column_by_column_and_keeps_absent_models_nan():
    rng = np.random.default_rng(5)
    universe = pd.Index([f"T{i:03d}" for i in range(40)])
    frame = pd.DataFrame(
        np.round(rng.standard_normal((45, 3)), 1),
        index=pd.Index([f"T{i:03d}" for i in range(45)]),
        columns=["a", "b", "absent"],
    )
    frame.iloc[::4, 0] = np.nan
    frame["absent"] = np.nan
    ranked = rank_over_universe(frame, universe)
    for column in ("a", "b"):
        pd.testing.assert_series_equal(ranked[column], rank_over_universe(frame[column], universe))
    assert ranked["absent"].isna().all()
    cleaned = clean_signals(frame, universe)
    pd.testing.assert_frame_equal(cleaned, gaussianize(ranked))
    pd.testing.assert_frame_equal(gaussianize(ranked), gaussian(tie_kept_rank(ranked)))
    with pytest.raises(DataValidationError, match="more than once"):
        rank_over_universe(pd.concat([frame, frame.iloc[:1]]), universe)
    with pytest.raises(DataValidationError, match="more than once"):
        rank_over_universe(frame, universe.append(universe[:1]))


@settings(max_examples=30, deadline=None)
@given(values=hnp.arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 4)),
                         elements=st.sampled_from([np.nan, -1.0, 0.0, 0.5, 0.5, 2.0, 7.5])))
def test_partial_fill_fast_path_ranks_like_the_full_cleaning(values):
    np.testing.assert_array_equal(
        rank_columns(fill_partial_columns(values)), rank_columns(fill_ranks(values))
    )

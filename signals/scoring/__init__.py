"""Scores of Signals-style submissions: reference-exact functions and the batch scorer.

* ``reference_scoring`` / ``reference_signals``: the functions of numerai-tools 0.7.2's
  ``scoring`` and ``signals`` modules under their names, signatures and numbers (corr,
  fnc, nc, mmc, nmc, alpha, mpc, churn, turnover, ...), failing with
  ``DataValidationError`` (``InsufficientOverlapError`` for the 80 % overlap rule).
* ``batch``: ``score_era`` / ``score_eras``, every metric of ``METRICS`` for every model
  of an era in one vectorized pass over ``(n_tickers, n_models)`` arrays.

Both share one alignment (``filter_sort_index``; ``DEFAULT_MAX_FILTERED_INDEX_RATIO`` is
the largest share of an input's ids it may drop, 0.2) and one set of numpy kernels; the
primitives (``rank``, ``gaussian``, ``power``, ``neutralize``, ...) are re-exported from
``metasignal.signals.transforms`` and ``metasignal.signals.neutralization``.
"""

from metasignal.errors import InsufficientOverlapError
from metasignal.signals.neutralization import neutralize
from metasignal.signals.scoring._alignment import (
    DEFAULT_MAX_FILTERED_INDEX_RATIO,
    filter_sort_index,
    filter_sort_index_many,
)
from metasignal.signals.scoring.batch import METRICS, score_era, score_eras
from metasignal.signals.scoring.reference_scoring import (
    alpha,
    correlation_contribution,
    feature_neutral_corr,
    generate_neutralized_weights,
    meta_portfolio_contribution,
    neutral_contribution,
    neutral_correlation,
    numerai_corr,
    stake_weight,
)
from metasignal.signals.scoring.reference_signals import (
    calculate_max_churn_and_turnover,
    calculate_mean_neutral_churn,
    churn,
    neutral_churn,
    neutral_churn_penalty,
    turnover,
)
from metasignal.signals.transforms import (
    center,
    gaussian,
    orthogonalize,
    power,
    rank,
    tie_broken_rank,
    tie_kept_rank,
    variance_normalize,
    weight_normalize,
)

__all__ = [
    "DEFAULT_MAX_FILTERED_INDEX_RATIO",
    "METRICS",
    "InsufficientOverlapError",
    "alpha",
    "calculate_max_churn_and_turnover",
    "calculate_mean_neutral_churn",
    "center",
    "churn",
    "correlation_contribution",
    "feature_neutral_corr",
    "filter_sort_index",
    "filter_sort_index_many",
    "gaussian",
    "generate_neutralized_weights",
    "meta_portfolio_contribution",
    "neutral_churn",
    "neutral_churn_penalty",
    "neutral_contribution",
    "neutral_correlation",
    "neutralize",
    "numerai_corr",
    "orthogonalize",
    "power",
    "rank",
    "score_era",
    "score_eras",
    "stake_weight",
    "tie_broken_rank",
    "tie_kept_rank",
    "turnover",
    "variance_normalize",
    "weight_normalize",
]

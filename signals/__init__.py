"""Submissions: parse, validate, map tickers, store, stake, clean, neutralize, combine and score.

A submission is a file with one id column (``ticker``, ``numerai_ticker``,
``bloomberg_ticker``, ``composite_figi`` or ``sedol``), one value column (``signal`` or
``prediction``, in [0, 1]) and an optional date column. :func:`submit` parses, validates,
maps and stores it as a new version of (model, date); :func:`score_era` / :func:`score_eras`
score many models at once; the numerai-tools-compatible functions live in
:mod:`metasignal.signals.scoring` under numerai-tools' names.

    from metasignal.signals import create_model, submit, stored_submission

    create_model(store, "my_model", owner="me")
    receipt = submit(store, "my_model", "signals.csv")  # to the open round, at the store clock
    signal = stored_submission(store, "my_model", "2024-06-28")  # ticker -> value

Constants: ``ID_COLUMNS``, ``SIGNAL_COLUMNS`` and ``DATE_COLUMNS`` (the column names a
file may use), ``DEFAULT_MAX_BYTES`` (100 MiB, the largest file read) and
``DEFAULT_MIN_TICKERS`` (100, the fewest universe names a submission must cover),
``METRICS`` (the metric names of :func:`score_era`), ``META_SIGNAL_METHODS`` (the ways
:func:`meta_signal` combines stored signals), ``ROUND_SCHEDULES`` (the fund's round
calendars, :class:`RoundCalendar`), ``SUBMISSION_STATUSES`` (``on_time``, ``late``,
``backfill``: how a stored version counts).
"""

from metasignal.errors import (
    ModelExistsError,
    RoundError,
    SubmissionError,
    SubmissionNotFoundError,
    SubmissionTooLargeError,
    UnknownModelError,
)
from metasignal.signals._meta_signal import META_SIGNAL_METHODS, KnownMetaSignals, latest_round, meta_signal
from metasignal.signals.cleaning import clean_signals, gaussianize, rank_over_universe
from metasignal.signals.meta_model import (
    equal_weight_meta_model,
    qualifying_stakes,
    stake_weighted_meta_model,
    stake_weighted_meta_portfolio,
)
from metasignal.signals.neutralization import NeutralizerBasis, neutral_weights, neutralize
from metasignal.signals.scoring import METRICS, score_era, score_eras
from metasignal.signals.round_calendar import ROUND_SCHEDULES, Round, RoundCalendar
from metasignal.signals.stakes import deposit_stake, latest_stamp, release_stake, stake_balances, stake_history
from metasignal.signals.storage import (
    SUBMISSION_STATUSES,
    ModelRecord,
    ReceiptEntry,
    SubmissionReceipt,
    create_model,
    current_round,
    late_submissions,
    latest_submissions,
    list_models,
    list_submissions,
    on_time_submissions,
    store_submission,
    stored_history,
    stored_submission,
    submissions_for_date,
    submit,
)
from metasignal.signals.submission import (
    DATE_COLUMNS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MIN_TICKERS,
    SIGNAL_COLUMNS,
    ParsedSubmission,
    SubmissionLimits,
    ValidatedSubmission,
    parse_submission,
    validate_for_store,
    validate_submission,
)
from metasignal.signals.tickers import ID_COLUMNS, TickerMap

__all__ = [
    "DATE_COLUMNS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MIN_TICKERS",
    "ID_COLUMNS",
    "KnownMetaSignals",
    "META_SIGNAL_METHODS",
    "METRICS",
    "ROUND_SCHEDULES",
    "SIGNAL_COLUMNS",
    "SUBMISSION_STATUSES",
    "ModelExistsError",
    "ModelRecord",
    "NeutralizerBasis",
    "ParsedSubmission",
    "ReceiptEntry",
    "Round",
    "RoundCalendar",
    "RoundError",
    "SubmissionError",
    "SubmissionLimits",
    "SubmissionNotFoundError",
    "SubmissionReceipt",
    "SubmissionTooLargeError",
    "TickerMap",
    "UnknownModelError",
    "ValidatedSubmission",
    "clean_signals",
    "create_model",
    "current_round",
    "deposit_stake",
    "equal_weight_meta_model",
    "gaussianize",
    "late_submissions",
    "latest_stamp",
    "latest_round",
    "latest_submissions",
    "list_models",
    "list_submissions",
    "meta_signal",
    "neutral_weights",
    "neutralize",
    "on_time_submissions",
    "parse_submission",
    "qualifying_stakes",
    "rank_over_universe",
    "release_stake",
    "score_era",
    "score_eras",
    "stake_balances",
    "stake_history",
    "stake_weighted_meta_model",
    "stake_weighted_meta_portfolio",
    "store_submission",
    "stored_history",
    "stored_submission",
    "submissions_for_date",
    "submit",
    "validate_for_store",
    "validate_submission",
]

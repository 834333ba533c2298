"""Every anticipated failure of the engine, in one hierarchy.

Each error carries one readable sentence naming the problem (row, column, rule); the
command line prints ``str(error)`` on one line and exits non-zero. The floors re-export
the classes they raise (``metasignal.signals.SubmissionError`` is this module's class),
so ``except MetasignalError`` catches everything the engine raises on purpose.

    MetasignalError
    ├── StoreError                    the store is missing, unreadable or lacks the data
    │   ├── UnknownModelError
    │   ├── SubmissionNotFoundError
    │   └── ClockError                the store clock cannot move there (never back)
    ├── DataValidationError           an input file or frame breaks a rule
    │   ├── SubmissionError           (rule, column, lines, n_lines)
    │   │   └── SubmissionTooLargeError
    │   ├── ModelExistsError
    │   ├── RoundError                an upload for a date that is not an open round
    │   ├── InsufficientOverlapError
    │   ├── DiagnosticsError
    │   ├── PortfolioInputError
    │   └── ConfigurationError        an unknown setting, method or policy, a value out of range
    ├── AuthenticationError           no API key, or one the store does not know (HTTP 401)
    ├── PermissionDeniedError         a known user acting on what is not theirs (HTTP 403)
    ├── UnknownTickerError
    ├── NetworkError
    ├── RiskModelError
    ├── OptimizationError
    │   └── InfeasiblePortfolioError  (constraints, details)
    ├── RebalanceError
    └── BankruptcyError
"""

from __future__ import annotations

from itertools import islice

__all__ = [
    "AuthenticationError",
    "BankruptcyError",
    "ClockError",
    "ConfigurationError",
    "DataValidationError",
    "DiagnosticsError",
    "FallbackWarning",
    "InfeasiblePortfolioError",
    "InsufficientOverlapError",
    "MetasignalError",
    "ModelExistsError",
    "NetworkError",
    "OptimizationError",
    "PermissionDeniedError",
    "PortfolioInputError",
    "RebalanceError",
    "RiskModelError",
    "RoundError",
    "StoreError",
    "SubmissionError",
    "SubmissionNotFoundError",
    "SubmissionTooLargeError",
    "UnknownModelError",
    "UnknownTickerError",
]


class MetasignalError(Exception):
    """Base class for every anticipated failure (bad input, missing data, infeasible problem)."""


# --------------------------------------------------------------------------- store and data


class StoreError(MetasignalError):
    """The DuckDB store is missing, unreadable, or lacks the requested data."""


class UnknownModelError(StoreError):
    """No model with this name exists in the store."""


class SubmissionNotFoundError(StoreError):
    """The store holds no submission for the requested model and date."""


class ClockError(StoreError):
    """The store clock cannot be set or moved as asked (a replay clock never moves back)."""


class DataValidationError(MetasignalError):
    """An input file or frame breaks a rule (names the row, column and rule)."""


class ConfigurationError(DataValidationError):
    """A setting, method or policy name is unknown, or a value is out of its range."""


class UnknownTickerError(MetasignalError):
    """A ticker is not in the store's securities."""


class NetworkError(MetasignalError):
    """A remote data source could not be reached."""


# --------------------------------------------------------------------------- signals


class SubmissionError(DataValidationError):
    """A submission file breaks a rule; names the rule, the column and the file lines.

    ``lines``: the first ``MAX_LINES`` (20) offending file lines (CSV) or rows (Parquet),
    1-based, however many break the rule; ``n_lines``: how many do (default: all of
    ``lines`` as given). ``lines`` may be any iterable of ints; only the kept ones are converted.
    """

    MAX_LINES = 20

    def __init__(self, message: str, *, rule: str, column: str | None = None, lines=(),
                 n_lines: int | None = None):
        super().__init__(message)
        if not hasattr(lines, "__len__"):
            lines = list(lines)
        self.rule = rule
        self.column = column
        self.lines = tuple(int(line) for line in islice(lines, self.MAX_LINES))
        self.n_lines = len(lines) if n_lines is None else int(n_lines)

    def __reduce__(self):  # keep rule, column and lines across processes (the server validates in workers)
        return (_rebuild_submission_error, (type(self), str(self), self.rule, self.column, self.lines, self.n_lines))

    @property
    def lines_truncated(self) -> bool:
        """True when ``lines`` names fewer lines than break the rule."""
        return self.n_lines > len(self.lines)


def _rebuild_submission_error(kind, message, rule, column, lines, n_lines):
    return kind(message, rule=rule, column=column, lines=lines, n_lines=n_lines)


class SubmissionTooLargeError(SubmissionError):
    """The file is over the configured size limit (checked before reading it)."""


class ModelExistsError(DataValidationError):
    """A model with this name already exists."""


class RoundError(DataValidationError):
    """An upload names a date that is not a round of the calendar, or a round not open to it."""


class InsufficientOverlapError(DataValidationError):
    """Two inputs share too few tickers (less than 1 - max_filtered_ratio of either)."""


class DiagnosticsError(DataValidationError):
    """A signal file cannot be diagnosed (bad frame, no date that can be scored)."""


# --------------------------------------------------------------------------- portfolio


class PortfolioInputError(DataValidationError):
    """Inputs to the risk model or optimizer break a rule (names the ticker, factor or field)."""


class RiskModelError(MetasignalError):
    """The risk model cannot be estimated (too little history, no exposures before the date)."""


class OptimizationError(MetasignalError):
    """The solver failed or the problem is unbounded; the message names the status and the fix."""


class InfeasiblePortfolioError(OptimizationError):
    """No weights satisfy the constraints; ``constraints`` names the likely binding ones.

    ``constraints``: labels such as ``"TurnoverLimit(0.05)"``; ``details``: one sentence per
    finding (a violated necessary condition, or a constraint whose removal restores feasibility).
    """

    def __init__(self, message: str, constraints: tuple[str, ...] = (), details: tuple[str, ...] = ()):
        super().__init__(message)
        self.constraints = constraints
        self.details = details


class FallbackWarning(UserWarning):
    """The optimizer solved a relaxed problem (the result's ``fallback`` field says which)."""


# --------------------------------------------------------------------------- backtest


class RebalanceError(MetasignalError):
    """A rebalance of the walk-forward failed (no signal, infeasible or failed optimization)."""


class BankruptcyError(MetasignalError):
    """Equity fell to zero or below during a simulation, so returns are no longer defined."""


class AuthenticationError(MetasignalError):
    """A request without an API key, or with one the store does not know."""


class PermissionDeniedError(MetasignalError):
    """A known user asking for something only its owner or an operator may do."""


class ServerError(MetasignalError):
    """The upload server answered an error: ``status`` is the HTTP status, the message its one line."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status

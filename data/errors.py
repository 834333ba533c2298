"""Exceptions shared by every floor of the engine.

Each error carries one readable sentence naming the problem (row, column, rule);
the command line prints ``str(error)`` on one line and exits non-zero.
"""

from __future__ import annotations


class MetasignalError(Exception):
    """Base class for every anticipated failure (bad input, missing data, infeasible problem)."""


class StoreError(MetasignalError):
    """The DuckDB store is missing, unreadable, or lacks the requested data."""


class DataValidationError(MetasignalError):
    """An input file or frame breaks a rule (names the row, column and rule)."""


class UnknownTickerError(MetasignalError):
    """A ticker is not in the store's securities."""


class NetworkError(MetasignalError):
    """A remote data source could not be reached."""

"""Trading-day conventions shared by every floor.

``TRADING_DAYS_PER_YEAR``: 252, the trading days in a year used to annualize returns,
volatilities and rates (an annual rate ``r`` accrues ``r / 252`` per trading day) and to
turn the synthetic market's length in years into days. ``DateLike``: what a function taking
a date accepts.
"""

from __future__ import annotations

import datetime
from typing import Union

import numpy as np
import pandas as pd

from metasignal.errors import DataValidationError

__all__ = ["TRADING_DAYS_PER_YEAR", "DateLike", "read_day"]

TRADING_DAYS_PER_YEAR = 252

DateLike = Union[str, datetime.date, np.datetime64, pd.Timestamp]
"""A date as the engine accepts it: ``"2024-06-28"``, a ``datetime.date``/``datetime``, a
``numpy.datetime64`` or a ``pandas.Timestamp`` (read with ``pandas.Timestamp``)."""


def read_day(value: DateLike, error: type[Exception] | None = None, what: str = "") -> pd.Timestamp:
    """``value`` as a normalized day; ``error`` (default :class:`DataValidationError`) with one
    line naming it (``what``, e.g. ``"--date"``) when it does not read as a date."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        prefix = f"{what}: " if what else ""
        raise (error or DataValidationError)(f"{prefix}cannot read {value!r} as a date (rule: dates are YYYY-MM-DD)")
    return stamp.normalize()

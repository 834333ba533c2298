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

__all__ = ["TRADING_DAYS_PER_YEAR", "DateLike"]

TRADING_DAYS_PER_YEAR = 252

DateLike = Union[str, datetime.date, np.datetime64, pd.Timestamp]
"""A date as the engine accepts it: ``"2024-06-28"``, a ``datetime.date``/``datetime``, a
``numpy.datetime64`` or a ``pandas.Timestamp`` (read with ``pandas.Timestamp``)."""

"""Trading-day conventions shared by every floor.

``TRADING_DAYS_PER_YEAR``: 252, the trading days in a year used to annualize returns,
volatilities and rates (an annual rate ``r`` accrues ``r / 252`` per trading day) and to
turn the synthetic market's length in years into days.
"""

from __future__ import annotations

__all__ = ["TRADING_DAYS_PER_YEAR"]

TRADING_DAYS_PER_YEAR = 252

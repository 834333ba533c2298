"""Inputs the trading commands need from a store, checked before they run: one-line errors.

The derive step records what the store lacks (:meth:`Store.degraded_modes`,
:mod:`metasignal.data.derived` "Degraded modes"). Of those:

- no volume: ADV is unknown, and a name without ADV cannot trade (the participation limit gives
  it a zero trade size, :class:`~metasignal.portfolio.constraints.ParticipationLimit`), so the
  portfolio would be empty: ``metasignal portfolio`` and ``metasignal backtest`` refuse such a
  store with a line naming ``volume``.
- no shares outstanding: derive's documented degraded mode (size = log-ADV proxy, risk
  regressions weighted by sqrt ADV) lets both commands run; nothing is refused.
"""

from __future__ import annotations

from metasignal.errors import DataValidationError

TRADING_COMMANDS = ("metasignal portfolio", "metasignal backtest")
REQUIRED_FOR_TRADING = {
    "volume": "the 20-day dollar ADV behind participation limits and impact costs (a name without it cannot trade)",
}


def missing_trading_inputs(modes: dict[str, str]) -> list[str]:
    """Fields of :data:`REQUIRED_FOR_TRADING` the store has none of (``modes``: ``Store.degraded_modes()``)."""
    return [field for field in REQUIRED_FOR_TRADING if modes.get(field) == "none"]


def require_trading_inputs(store, command: str) -> None:
    """Raise :class:`DataValidationError` (one line) when the store lacks a field ``command`` needs."""
    missing = missing_trading_inputs(store.degraded_modes())
    if missing:
        field = missing[0]
        raise DataValidationError(
            f"`{command}`: the store has no {field} (every bar's {field} is missing or 0); "
            f"{', '.join(TRADING_COMMANDS)} need {field}: {REQUIRED_FOR_TRADING[field]}. "
            f"Import bars with a {field} column (metasignal data import)")

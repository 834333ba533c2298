"""Inputs the trading commands need from a store, checked before they run: one-line errors.

The derive step records what the store lacks (:meth:`Store.degraded_modes`,
:mod:`metasignal.data.derived` "Degraded modes"). Of those:

- no volume: ADV is unknown. Under a participation limit a name without ADV cannot trade (a
  zero trade size, :class:`~metasignal.portfolio.constraints.ParticipationLimit`), and impact
  costs need ADV, so with the default settings the portfolio would be empty: ``metasignal
  portfolio`` and ``metasignal backtest`` refuse such a store with a line naming ``volume``
  and the two settings that lift the need. With ``participation = "none"`` and ``impact = 0``
  (the documented no-volume mode: no liquidity limit, spread and borrow costs only) both run.
- no shares outstanding: derive's documented degraded mode (size = log-ADV proxy, risk
  regressions weighted by sqrt ADV, equal without volume) lets both commands run; nothing is
  refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metasignal.errors import DataValidationError

if TYPE_CHECKING:
    from metasignal.data import Store
    from metasignal.portfolio.settings import PortfolioSettings

TRADING_COMMANDS = ("metasignal portfolio", "metasignal backtest")
REQUIRED_FOR_TRADING = {
    "volume": "the 20-day dollar ADV behind participation limits and impact costs (a name without it cannot trade)",
}
NO_VOLUME_MODE = 'or trade without it: participation = "none" and impact = 0 in [portfolio] (no liquidity limit)'


def needs_volume(settings: PortfolioSettings | None) -> bool:
    """Whether ``settings`` (None: the defaults) use ADV: a participation limit or impact costs."""
    return settings is None or settings.participation is not None or settings.impact > 0


def missing_trading_inputs(modes: dict[str, str], settings: PortfolioSettings | None = None) -> list[str]:
    """Fields of :data:`REQUIRED_FOR_TRADING` the store has none of and ``settings`` need
    (``modes``: ``Store.degraded_modes()``; ``settings`` None: the defaults)."""
    needed = [field for field in REQUIRED_FOR_TRADING if field != "volume" or needs_volume(settings)]
    return [field for field in needed if modes.get(field) == "none"]


def require_trading_inputs(store: Store, command: str, settings: PortfolioSettings | None = None) -> None:
    """Raise :class:`DataValidationError` (one line) when the store lacks a field ``command``
    needs under ``settings`` (None: the defaults)."""
    missing = missing_trading_inputs(store.degraded_modes(), settings)
    if missing:
        field = missing[0]
        raise DataValidationError(
            f"`{command}`: the store has no {field} (every bar's {field} is missing or 0); "
            f"{', '.join(TRADING_COMMANDS)} need {field}: {REQUIRED_FOR_TRADING[field]}. "
            f"Import bars with a {field} column (metasignal data import), {NO_VOLUME_MODE}")

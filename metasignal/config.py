"""Configuration from a TOML file: ``[portfolio]`` and ``[backtest]`` tables.

Every key is optional; missing keys keep the documented defaults of
:class:`metasignal.portfolio.settings.PortfolioSettings` and :class:`metasignal.backtest.walk_forward.WalkForwardSettings`
(the one source of each default). ``metasignal.example.toml`` at the repository root lists them
all. An unknown key, or a value outside its range, is a ``ConfigurationError`` naming the key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from metasignal.backtest.walk_forward import WalkForwardSettings
from metasignal.errors import DataValidationError
from metasignal.portfolio.settings import PortfolioSettings


def read_toml(path: str | Path | None) -> dict:
    """The parsed TOML file (empty when ``path`` is None)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise DataValidationError(f"config file {path}: {error}") from None


def _table(config: dict, name: str) -> dict:
    """The ``[name]`` table of a parsed config (empty when absent)."""
    table = config.get(name, {})
    if not isinstance(table, dict):
        raise DataValidationError(f"config: {name!r} must be a table ([{name}]), got {type(table).__name__}")
    return dict(table)


def portfolio_settings(config: dict) -> PortfolioSettings:
    """Settings of the ``[portfolio]`` table."""
    return PortfolioSettings.from_mapping(_table(config, "portfolio"))


def walk_forward_settings(config: dict) -> WalkForwardSettings:
    """Settings of the ``[backtest]`` table (rebalance schedule, execution lag)."""
    return WalkForwardSettings.from_mapping(_table(config, "backtest"))

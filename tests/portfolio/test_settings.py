"""Portfolio settings: one validated source of defaults, in agreement with the example file."""

from __future__ import annotations

import inspect
import re
from dataclasses import fields, replace
from pathlib import Path

import pandas as pd
import pytest

from metasignal.config import portfolio_settings, read_toml
from metasignal.errors import ConfigurationError
from metasignal.portfolio.costs import BorrowCostModel, TransactionCostModel
from metasignal.portfolio.optimizer import OptimizerConfig, alpha_from_signal
from metasignal.portfolio.risk_model import RiskModelConfig
from metasignal.portfolio.settings import RANGES, PortfolioSettings
from metasignal.signals import meta_signal

EXAMPLE = Path(__file__).resolve().parents[2] / "metasignal.example.toml"
DEFAULTS = PortfolioSettings()

BAD_VALUES = [
    ("capital", 0.0, "> 0"),
    ("capital", float("inf"), "> 0"),
    ("gross", -1.0, "> 0"),
    ("max_weight", 1.5, "(0, 1]"),
    ("max_weight", 0.0, "(0, 1]"),
    ("participation", 2.0, "(0, 1]"),
    ("turnover", 0.0, "> 0"),
    ("style_bound", -0.01, ">= 0"),
    ("risk_aversion", -1.0, ">= 0"),
    ("ic", 0.0, "(0, 1]"),
    ("ic", 1.5, "(0, 1]"),
    ("horizon_days", 0, ">= 1"),
    ("horizon_days", 20.0, "whole number"),
    ("half_spread", 1.0, "[0, 1)"),
    ("impact", -0.5, ">= 0"),
    ("borrow_rate", -0.01, ">= 0"),
    ("min_stake", -1.0, ">= 0"),
    ("risk_lookback", 1, ">= 2"),
    ("risk_lookback", True, "whole number"),
    ("gross", "2", "a number"),
    ("sector_neutral", 1, "True, False"),
    ("country_neutral", "yes", "True, False"),
    ("fallback", "relax", "'relax_turnover'"),
    ("meta_method", "median", "'stake_weighted'"),
    ("solver", "", "solver name"),
]


@pytest.mark.parametrize(("key", "value", "allowed"), BAD_VALUES)
def test_a_bad_setting_names_the_key_and_its_range(key, value, allowed):
    with pytest.raises(ConfigurationError, match=re.escape(f"portfolio setting {key} must be")) as info:
        PortfolioSettings(**{key: value})
    assert allowed in str(info.value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(("key", "value", "allowed"), BAD_VALUES[:3])
def test_replace_and_mappings_are_validated_too(key, value, allowed):
    with pytest.raises(ConfigurationError, match=f"portfolio setting {key} must be"):
        replace(DEFAULTS, **{key: value})
    with pytest.raises(ConfigurationError, match=f"portfolio setting {key} must be"):
        PortfolioSettings.from_mapping({key: value})


def test_a_bad_value_in_a_config_file_names_the_key(tmp_path):
    path = tmp_path / "fund.toml"
    path.write_text("[portfolio]\nic = 2.0\n")
    with pytest.raises(ConfigurationError, match=re.escape("portfolio setting ic must be a number in (0, 1], got 2.0")):
        portfolio_settings(read_toml(path))


def test_edge_values_inside_the_ranges_are_accepted():
    settings = PortfolioSettings(max_weight=1.0, participation=1.0, turnover=None, style_bound=0.0, risk_aversion=0.0,
                                 ic=1.0, horizon_days=1, half_spread=0.0, impact=0.0, borrow_rate=0.0,
                                 fallback=None, meta_method="meta_portfolio", risk_lookback=2, capital=1)
    assert settings.turnover is None and settings.fallback is None


def test_every_numeric_setting_has_a_range():
    numeric = {f.name for f in fields(PortfolioSettings) if isinstance(getattr(DEFAULTS, f.name), (int, float))
               and not isinstance(getattr(DEFAULTS, f.name), bool)}
    assert numeric == set(RANGES)
    assert all(RANGES[key].holds(getattr(DEFAULTS, key)) for key in RANGES)


def test_the_example_file_holds_every_default_with_its_type():
    values = read_toml(EXAMPLE)["portfolio"]
    assert list(values) == [f.name for f in fields(PortfolioSettings)]  # same keys, same order
    for key, value in values.items():
        default = getattr(DEFAULTS, key)
        assert value == default, key
        assert isinstance(value, bool) == isinstance(default, bool), key
        assert isinstance(value, int) == isinstance(default, int), key  # 20, not 20.0
    assert portfolio_settings(read_toml(EXAMPLE)) == DEFAULTS


def test_the_example_file_states_each_range_as_validated():
    notes, comment = {}, []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            comment.append(line.lstrip("# "))
            continue
        text = " ".join(comment)
        if "=" in line and "Allowed:" in text:
            notes[line.split("=")[0].strip()] = text.rsplit("Allowed:", 1)[1].strip().rstrip(".")
        comment = []  # a key or a table header ends the comment above it
    assert set(notes) == set(RANGES)
    for key, note in notes.items():
        assert note in str(RANGES[key]), key


def test_components_default_to_the_settings_values():
    """A setting that a component also takes has one default: the component's own."""
    assert DEFAULTS.transaction_costs() == TransactionCostModel()
    assert DEFAULTS.borrow_costs() == BorrowCostModel()
    assert DEFAULTS.risk_config() == RiskModelConfig()
    built, plain = DEFAULTS.optimizer_config(), OptimizerConfig()
    for f in fields(OptimizerConfig):
        if f.name != "capital":  # the settings always give the fund's capital explicitly
            assert getattr(built, f.name) == getattr(plain, f.name), f.name
    assert built.fund_capital == plain.fund_capital == DEFAULTS.capital
    assert OptimizerConfig(transaction_costs=None).fund_capital == DEFAULTS.capital
    assert plain.fallback == DEFAULTS.fallback == "relax_turnover"
    signature = inspect.signature(meta_signal).parameters
    assert signature["method"].default == DEFAULTS.meta_method
    assert signature["min_stake"].default == DEFAULTS.min_stake


def test_alpha_from_signal_takes_ic_and_horizon_from_the_caller():
    signal = pd.Series([1.0, 2.0, 3.0], index=list("abc"))
    with pytest.raises(TypeError, match="ic"):
        alpha_from_signal(signal)
    alpha = alpha_from_signal(signal, ic=DEFAULTS.ic, horizon_days=DEFAULTS.horizon_days)
    assert alpha.abs().max() == pytest.approx(DEFAULTS.ic * 1.5 ** 0.5)

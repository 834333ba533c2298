"""Small-universe warnings: gross unreachable under the caps, one- and two-name groups, no targets."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from metasignal.portfolio.feasibility import feasibility_warnings, gross_warning, small_group_warnings, targets_warning
from metasignal.portfolio.settings import PortfolioSettings


@given(st.integers(1, 500), st.floats(0.001, 1.0), st.floats(0.1, 4.0))
def test_gross_is_flagged_exactly_when_the_caps_cannot_reach_it(n, max_weight, gross):
    assert (gross_warning(n, max_weight, gross) is None) == (n * max_weight >= gross)


def test_the_issue_s_twenty_names():
    assert gross_warning(20, 0.02, 2.0) == ("configured gross 2 is unreachable: 20 names x max_weight 0.02 = 0.4 at "
                                            "most (raise max_weight to >= 0.1 or add names)")


def test_one_and_two_name_groups_are_named_with_their_treatment():
    sectors = pd.Series({"GE US": "Industrials", "BAC US": "Financials", "JPM US": "Financials",
                         "A US": "Tech", "B US": "Tech", "C US": "Tech"})
    assert small_group_warnings(sectors, "sector") == [
        "sector Industrials has one name (GE US): sector-neutral means its weight is 0, it is never traded",
        "sector Financials has two names (BAC US, JPM US): sector-neutral forces a pair trade (equal and opposite weights)",
    ]


def test_groups_are_only_flagged_under_their_neutrality():
    securities = pd.DataFrame({"sector": ["X"] + ["Y"] * 11, "country": ["US"] * 11 + ["GB"]},
                              index=[f"T{i}" for i in range(12)])
    settings = PortfolioSettings(gross=0.2, sector_neutral=True, country_neutral=False)
    assert feasibility_warnings(securities, settings) == [
        "sector X has one name (T0): sector-neutral means its weight is 0, it is never traded"]
    assert targets_warning(9) is not None and targets_warning(10) is None

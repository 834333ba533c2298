"""Small synthetic cross-sections for the portfolio tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from metasignal.portfolio.risk_model import RiskModel, factor_exposure_matrix

STYLES = ("beta", "size")


@dataclass
class Market:
    """Tickers, fixed one-hot groups and a generator of per-date risk models."""

    tickers: pd.Index
    classification: pd.DataFrame
    groups: pd.DataFrame
    rng: np.random.Generator

    def risk_model(self, date="2024-01-02", *, factor_vol: float = 0.004, specific=None) -> RiskModel:
        n = len(self.tickers)
        styles = pd.DataFrame(self.rng.standard_normal((n, len(STYLES))), index=self.tickers, columns=list(STYLES))
        exposures = pd.concat([self.groups, styles], axis=1)
        k = exposures.shape[1]
        mix = self.rng.standard_normal((k, k)) * factor_vol / np.sqrt(k)
        cov = mix @ mix.T + np.eye(k) * (factor_vol / 4) ** 2
        if specific is None:
            specific = (0.02 * self.rng.uniform(0.5, 2.0, n)) ** 2
        return RiskModel(pd.Timestamp(date), self.tickers, exposures.columns, exposures.to_numpy(), cov, specific)


def make_market(n: int, seed: int = 0, n_countries: int = 3, n_sectors: int = 4) -> Market:
    rng = np.random.default_rng(seed)
    tickers = pd.Index([f"T{i:04d} US" for i in range(n)], name="ticker")
    # every label appears at least twice so each group can be neutral with nonzero weights
    countries = np.resize([f"C{j}" for j in range(n_countries)], n)
    sectors = np.resize([f"S{j}" for j in range(n_sectors)], n)
    classification = pd.DataFrame(
        {"country": rng.permutation(countries), "sector": rng.permutation(sectors)}, index=tickers
    )
    groups = factor_exposure_matrix(classification, styles=())
    return Market(tickers, classification, groups, rng)


@pytest.fixture
def market() -> Market:
    return make_market(60, seed=3)

"""The fund's daily job: today's meta-signal -> one neutral long/short target portfolio."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from metasignal.data.store import Store
from metasignal.errors import StoreError
from metasignal.portfolio import book
from metasignal.portfolio.optimizer import PortfolioInputs, PortfolioResult, alpha_from_signal
from metasignal.portfolio.risk_model import risk_model_from_store
from metasignal.portfolio.settings import PortfolioSettings, build_optimizer
from metasignal.signals.meta_signal import meta_signal


@dataclass(frozen=True)
class TargetPortfolio:
    """A date's optimized portfolio: the optimizer result plus the table users get."""

    date: pd.Timestamp
    result: PortfolioResult
    table: pd.DataFrame  # ticker, weight, country, sector, previous_weight, trade, adv_20d, sigma, styles
    signal_source: str


def target_portfolio(
    store: Store, date, settings: PortfolioSettings = PortfolioSettings(), *,
    signal: pd.Series | None = None, previous: pd.Series | None = None,
) -> TargetPortfolio:
    """Optimize the portfolio of ``date`` against the previous stored one.

    ``signal``: an explicit alpha signal (ticker -> value, e.g. from ``--alpha FILE``);
    default: the stored submissions' meta-signal with the configured method.
    """
    date = store.as_of(date)
    exposures = store.exposures(date)
    universe = exposures.index
    if signal is None:
        signal = meta_signal(store, date, method=settings.meta_method, min_stake=settings.min_stake)
        source = f"meta-signal ({settings.meta_method}) of submissions"
    else:
        source = "alpha file"
    signal = signal.reindex(universe)
    if signal.notna().sum() < 2:
        raise StoreError(f"the signal covers {int(signal.notna().sum())} of the {len(universe)} names in the universe on {date.date()}")
    signal = signal.fillna(signal.median())  # names without a view sit in the middle
    alpha = alpha_from_signal(signal, exposures["sigma"], ic=settings.ic, horizon_days=settings.horizon_days)
    previous = book.previous_portfolio(store, date) if previous is None else previous
    tickers = universe.union(previous.index)
    securities = store.securities()
    optimizer = build_optimizer(tickers, securities, settings)
    risk = risk_model_from_store(store, date, config=settings.risk_config())
    result = optimizer.solve(
        PortfolioInputs(
            alpha=alpha, risk_model=risk, prev_weights=previous,
            dollar_volume=exposures["adv_20d"], volatility=exposures["sigma"],
        )
    )
    weights = result.weights
    table = pd.DataFrame({"ticker": weights.index, "weight": weights.to_numpy()})
    info = securities.reindex(weights.index)
    table["country"] = info["country"].to_numpy()
    table["sector"] = info["sector"].to_numpy()
    table["previous_weight"] = previous.reindex(weights.index).fillna(0.0).to_numpy()
    table["trade"] = table["weight"] - table["previous_weight"]
    for column in ("adv_20d", "sigma", "beta", "size", "momentum", "volatility", "value"):
        table[column] = exposures[column].reindex(weights.index).to_numpy()
    table = table[(table["weight"].abs() > 1e-9) | (table["previous_weight"].abs() > 1e-9)]
    return TargetPortfolio(date, result, table.sort_values("weight", ascending=False).reset_index(drop=True), source)


def save_target(store: Store, target: TargetPortfolio) -> None:
    """Store the target as the fund's portfolio of its date (replacing a previous run)."""
    report = target.result.report
    summary = {
        "status": target.result.status, "fallback": target.result.fallback, "gross": report.gross,
        "net": report.net, "n_long": report.n_long, "n_short": report.n_short,
        "predicted_volatility": report.predicted_volatility, "turnover": report.turnover,
    }
    book.store_portfolio(store, target.date, target.result.weights, summary)

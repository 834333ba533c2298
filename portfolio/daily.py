"""The fund's daily job: today's meta-signal -> one neutral long/short target portfolio.

Logging (``logging.getLogger(__name__)``): fallbacks at info (no stored previous portfolio,
the optimizer lifting the turnover limit), names without a signal and the solve time at debug.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.schema import STYLE_FACTORS
from metasignal.data.store import Store
from metasignal.errors import StoreError
from metasignal.portfolio import book
from metasignal.portfolio.optimizer import PortfolioInputs, PortfolioResult, alpha_from_signal
from metasignal.portfolio.risk_model import risk_model_from_store
from metasignal.portfolio.settings import PortfolioSettings, build_optimizer
from metasignal.signals import meta_signal

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TargetPortfolio:
    """A date's optimized portfolio: the optimizer result plus the table users get."""

    date: pd.Timestamp
    result: PortfolioResult
    table: pd.DataFrame  # ticker, weight, country, sector, previous_weight, trade, adv_20d, sigma, styles
    signal_source: str


def target_portfolio(
    store: Store, date: DateLike, settings: PortfolioSettings = PortfolioSettings(), *,
    signal: pd.Series | None = None, previous: pd.Series | None = None,
) -> TargetPortfolio:
    """Optimize the portfolio of ``date`` against the previous stored one.

    ``signal``: an explicit alpha signal (ticker -> value, e.g. from ``--alpha FILE``);
    default: the stored submissions' meta-signal with the configured method. ``previous``:
    current holdings (ticker -> fraction of capital); default: the last stored portfolio.
    """
    started = time.perf_counter()
    date = store.as_of(date)
    exposures = store.exposures(date)
    signal, source = _universe_signal(store, date, settings, signal, exposures.index)
    alpha = alpha_from_signal(signal, exposures["sigma"], ic=settings.ic, horizon_days=settings.horizon_days)
    if previous is None:
        previous = book.previous_portfolio(store, date)
        if previous.empty:
            logger.info("no stored portfolio before %s: optimizing from an empty book", date.date())
    # classification as known on the date; names held but no longer listed keep their stored row
    securities = store.securities_on(date).combine_first(store.securities())
    optimizer = build_optimizer(exposures.index.union(previous.index), securities, settings)
    risk = risk_model_from_store(store, date, config=settings.risk_config())
    result = optimizer.solve(
        PortfolioInputs(
            alpha=alpha, risk_model=risk, prev_weights=previous,
            dollar_volume=exposures["adv_20d"], volatility=exposures["sigma"],
        )
    )
    if result.fallback is not None:
        logger.info("portfolio of %s: fallback %s (lifted %s)", date.date(), result.fallback, ", ".join(result.relaxed))
    logger.debug("portfolio of %s: %s in %.2f s (solver %.3f s)", date.date(), result.status,
                 time.perf_counter() - started, result.solver_seconds)
    table = _target_table(result.weights, previous, securities, exposures)
    return TargetPortfolio(date, result, table, source)


def _universe_signal(store: Store, date: pd.Timestamp, settings: PortfolioSettings, signal: pd.Series | None,
                     universe: pd.Index) -> tuple[pd.Series, str]:
    """(the signal on every name of ``universe``, where it comes from); names without a view get
    the median signal. Default signal: the stored submissions' meta-signal."""
    if signal is None:
        signal = meta_signal(store, date, method=settings.meta_method, min_stake=settings.min_stake)
        source = f"meta-signal ({settings.meta_method}) of submissions"
    else:
        source = "alpha file"
    signal = signal.reindex(universe)
    covered = int(signal.notna().sum())
    if covered < 2:
        raise StoreError(f"the signal covers {covered} of the {len(universe)} names in the universe on {date.date()}")
    if covered < len(universe):
        logger.debug("the %s covers %d of %d names on %s: the others get the median signal", source, covered,
                     len(universe), date.date())
    return signal.fillna(signal.median()), source  # names without a view sit in the middle


def _target_table(weights: pd.Series, previous: pd.Series, securities: pd.DataFrame,
                  exposures: pd.DataFrame) -> pd.DataFrame:
    """The table users get: held or traded names by descending weight (weights and trades in
    fractions of capital), with country, sector, ADV, volatility and style exposures."""
    table = pd.DataFrame({"ticker": weights.index, "weight": weights.to_numpy()})
    info = securities.reindex(weights.index)
    table["country"] = info["country"].to_numpy()
    table["sector"] = info["sector"].to_numpy()
    table["previous_weight"] = previous.reindex(weights.index).fillna(0.0).to_numpy()
    table["trade"] = table["weight"] - table["previous_weight"]
    for column in ("adv_20d", "sigma", *STYLE_FACTORS):
        table[column] = exposures[column].reindex(weights.index).to_numpy()
    table = table[(table["weight"].abs() > 1e-9) | (table["previous_weight"].abs() > 1e-9)]
    return table.sort_values("weight", ascending=False).reset_index(drop=True)


def save_target(store: Store, target: TargetPortfolio) -> None:
    """Store the target as the fund's portfolio of its date (replacing a previous run)."""
    report = target.result.report
    summary = {
        "status": target.result.status, "fallback": target.result.fallback, "gross": report.gross,
        "net": report.net, "n_long": report.n_long, "n_short": report.n_short,
        "predicted_volatility": report.predicted_volatility, "turnover": report.turnover,
    }
    book.store_portfolio(store, target.date, target.result.weights, summary)

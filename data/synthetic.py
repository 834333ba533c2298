"""The embedded synthetic market: a seeded, deterministic global equity universe.

Daily total returns follow a factor model

    r_it = beta_i m_t + c_{country(i), t} + s_{sector(i), t} + sum_k l_ik f_kt + e_it

with a GARCH(1,1) market factor, country and sector factors, four style factors (size,
momentum, value, low volatility) whose loadings drift slowly, and idiosyncratic returns
``e_it = a_it + u_it``: a small persistent expected residual return ``a`` (AR(1), the
alpha that skilled models can find) plus fat-tailed (Student-t, 4 degrees of freedom)
noise ``u`` with GARCH volatility clustering. Prices
pay quarterly dividends (``adj_close`` is the back-anchored total-return index), volumes
scale with shares outstanding and the day's move, and names list and delist over time.
All amounts are in US dollars (``currency = "USD"``).

:func:`true_residual_returns` re-derives the hidden idiosyncratic returns ``e`` from the
store's recorded seed and sizes. It exists only to build example models with known
skill (``data.example_models``); the engine never reads it to score submissions.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from metasignal.data.calendar import TRADING_DAYS_PER_YEAR

# ISO-2 country, Bloomberg exchange code, Yahoo suffix, share of the universe, symbol style
COUNTRIES: tuple[tuple[str, str, str, float, str], ...] = (
    ("US", "US", "", 0.34, "alpha"),
    ("JP", "JT", ".T", 0.10, "digits4"),
    ("GB", "LN", ".L", 0.06, "alpha"),
    ("CA", "CN", ".TO", 0.05, "alpha"),
    ("FR", "FP", ".PA", 0.04, "alpha"),
    ("DE", "GY", ".DE", 0.04, "alpha"),
    ("CH", "SW", ".SW", 0.03, "alpha"),
    ("AU", "AT", ".AX", 0.04, "alpha"),
    ("KR", "KS", ".KS", 0.04, "digits6"),
    ("TW", "TT", ".TW", 0.04, "digits4"),
    ("HK", "HK", ".HK", 0.04, "digits4"),
    ("NL", "NA", ".AS", 0.02, "alpha"),
    ("IT", "IM", ".MI", 0.02, "alpha"),
    ("ES", "SQ", ".MC", 0.02, "alpha"),
    ("SE", "SS", ".ST", 0.02, "alpha"),
    ("DK", "DC", ".CO", 0.01, "alpha"),
    ("NO", "NO", ".OL", 0.01, "alpha"),
    ("IN", "IN", ".NS", 0.04, "alpha"),
    ("BR", "BZ", ".SA", 0.02, "alpha"),
    ("SG", "SP", ".SI", 0.02, "alpha"),
)

SECTORS: dict[str, tuple[str, ...]] = {
    "Communication Services": ("Media", "Telecom Services", "Interactive Media"),
    "Consumer Discretionary": ("Automobiles", "Retail", "Hotels & Leisure"),
    "Consumer Staples": ("Food Products", "Beverages", "Household Products"),
    "Energy": ("Oil & Gas", "Energy Equipment"),
    "Financials": ("Banks", "Insurance", "Capital Markets"),
    "Health Care": ("Pharmaceuticals", "Biotechnology", "Medical Devices"),
    "Industrials": ("Machinery", "Aerospace & Defense", "Transportation"),
    "Information Technology": ("Software", "Semiconductors", "Hardware"),
    "Materials": ("Chemicals", "Metals & Mining"),
    "Real Estate": ("REITs", "Real Estate Development"),
    "Utilities": ("Electric Utilities", "Gas Utilities"),
}

STYLE_LOADINGS = ("size", "momentum", "value", "low_volatility")
ALPHA_VOL = 0.0003  # cross-sectional std of the persistent expected residual return, per day
PHI_ALPHA = 0.998  # its daily AR(1) persistence (half-life ~ 350 trading days)


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and seed of a synthetic market (everything else is fixed by the seed)."""

    n_tickers: int = 3000
    years: float = 5.0
    seed: int = 42
    start: str = "2020-01-02"
    ipo_share: float = 0.10
    delist_share: float = 0.08

    @property
    def n_days(self) -> int:
        return int(round(self.years * TRADING_DAYS_PER_YEAR))

    def to_meta(self) -> dict[str, str]:
        return {f"synthetic_{k}": str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> "SyntheticConfig":
        kinds = {"n_tickers": int, "years": float, "seed": int, "start": str, "ipo_share": float, "delist_share": float}
        return cls(**{k: kind(meta[f"synthetic_{k}"]) for k, kind in kinds.items()})


@dataclass(frozen=True)
class SyntheticMarket:
    """Generated market: securities, long-format bars and the hidden idiosyncratic returns."""

    config: SyntheticConfig
    dates: pd.DatetimeIndex
    securities: pd.DataFrame  # one row per ticker
    bars: pd.DataFrame  # long: date, ticker, open, high, low, close, adj_close, volume
    residuals: np.ndarray  # (n_days, n_tickers) idiosyncratic returns e_it (hidden truth)
    alphas: np.ndarray  # (n_days, n_tickers) expected idiosyncratic return a_it of each day (hidden truth)


def _streams(seed: int, names: tuple[str, ...]) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children)}


def _symbols(rng: np.random.Generator, style: str, count: int) -> np.ndarray:
    """``count`` distinct exchange symbols of one country's style."""
    chosen: list[str] = []
    seen: set[str] = set()
    while len(chosen) < count:
        need = 2 * (count - len(chosen)) + 8
        if style == "alpha":
            lengths = rng.integers(2, 5, size=need)
            letters = rng.integers(0, 26, size=(need, 4))
            candidates = ["".join(chr(65 + c) for c in row[:n]) for row, n in zip(letters, lengths)]
        else:
            width = 6 if style == "digits6" else 4
            low = 10 ** (width - 1) if style == "digits6" else 1000
            candidates = [f"{n:0{width}d}" for n in rng.integers(low, 10**width, size=need)]
        for candidate in candidates:
            if candidate not in seen:
                seen.add(candidate)
                chosen.append(candidate)
    return np.array(chosen[:count])


def _securities(config: SyntheticConfig, dates: pd.DatetimeIndex, rng: np.random.Generator) -> pd.DataFrame:
    n = config.n_tickers
    shares = np.array([c[3] for c in COUNTRIES])
    country_idx = np.sort(rng.choice(len(COUNTRIES), size=n, p=shares / shares.sum()))
    symbols = np.empty(n, dtype=object)
    for k, (iso, _, _, _, style) in enumerate(COUNTRIES):
        members = np.flatnonzero(country_idx == k)
        symbols[members] = _symbols(rng, style, members.size)
    sector_names = list(SECTORS)
    sector_idx = rng.integers(0, len(sector_names), size=n)
    industry = [SECTORS[sector_names[s]][i % len(SECTORS[sector_names[s]])] for s, i in zip(sector_idx, rng.integers(0, 6, n))]
    iso = np.array([COUNTRIES[k][0] for k in country_idx])
    exch = np.array([COUNTRIES[k][1] for k in country_idx])
    suffix = np.array([COUNTRIES[k][2] for k in country_idx])

    # Listing: most names trade from before the start; some list (IPO) or delist inside the history.
    listed = dates[0] - pd.to_timedelta(rng.integers(365, 365 * 30, size=n), unit="D")
    last = len(dates) - 1
    ipo = rng.random(n) < config.ipo_share
    ipo_at = rng.integers(min(60, last), max(min(60, last) + 1, last - 120), size=n)
    listed = np.where(ipo, dates[np.minimum(ipo_at, last)], listed)
    delist = rng.random(n) < config.delist_share
    first_bar = np.where(ipo, ipo_at, 0)
    earliest_delist = np.minimum(first_bar + 120, last)
    delist_at = np.maximum(rng.integers(min(250, last), max(min(250, last) + 1, last - 20), size=n), earliest_delist)
    delisted = pd.DatetimeIndex(np.where(delist & (delist_at < last), dates[np.minimum(delist_at, last)], pd.NaT))

    tickers = np.char.add(np.char.add(symbols.astype(str), " "), iso)
    figi_chars = np.array(list("BCDFGHJKLMNPQRSTVWXYZ0123456789"))
    figi = ["BBG00" + "".join(row) for row in figi_chars[rng.integers(0, len(figi_chars), size=(n, 7))]]
    sedol = ["".join(row) for row in figi_chars[rng.integers(0, len(figi_chars), size=(n, 7))]]
    names = [f"{sym.title()} {sector_names[s].split()[0]} {('Holdings', 'Group', 'Corp', 'Ltd', 'Inc')[i % 5]}" for sym, s, i in zip(symbols, sector_idx, range(n))]
    return pd.DataFrame(
        {
            "ticker": tickers,
            "name": names,
            "country": iso,
            "sector": np.array(sector_names)[sector_idx],
            "industry": industry,
            "exchange_code": exch,
            "currency": "USD",
            "listed": pd.DatetimeIndex(listed),
            "delisted": delisted,
            "bloomberg_ticker": np.char.add(np.char.add(symbols.astype(str), " "), exch),
            "yahoo_symbol": np.char.add(symbols.astype(str), suffix),
            "composite_figi": figi,
            "sedol": sedol,
        }
    )


def zscore(x: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` of a 1-D array (a constant array maps to 0)."""
    std = x.std()
    return (x - x.mean()) / (std if std > 0 else 1.0)


MARKET_VOL = 0.0095  # long-run daily volatility of the market factor
MARKET_DRIFT = 0.0003  # daily expected market return
GARCH_ALPHA, GARCH_BETA = 0.08, 0.90  # GARCH(1,1) reaction and persistence (market and names)
PHI_MOMENTUM, PHI_VALUE = 0.995, 0.999  # daily AR(1) persistence of the drifting style loadings


@dataclass(frozen=True)
class _Loadings:
    """Per-ticker (n,) characteristics: log starting market cap (log dollars), market beta,
    idiosyncratic daily volatility and the style loadings (momentum and value drift later)."""

    log_cap0: np.ndarray
    beta: np.ndarray
    idio_vol: np.ndarray
    size: np.ndarray
    low_volatility: np.ndarray
    momentum: np.ndarray
    value: np.ndarray


@dataclass(frozen=True)
class _FactorReturns:
    """Per-day factor draws: country (t, countries), sector (t, sectors) and style (t, 4)
    daily returns, and the market's unit-variance Student-t shocks (t,)."""

    country: np.ndarray
    sector: np.ndarray
    style: np.ndarray
    market_shock: np.ndarray


@dataclass(frozen=True)
class _Prices:
    """(t, n) daily open, high, low, close and total-return ``adj_close`` in dollars, and the
    starting price (n,)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    price0: np.ndarray


def generate(config: SyntheticConfig = SyntheticConfig()) -> SyntheticMarket:
    """Generate the market of ``config`` (deterministic in ``config``)."""
    rng = _streams(config.seed, ("securities", "loadings", "factors", "noise", "prices", "volume"))
    n, t_days = config.n_tickers, config.n_days
    if n < 10 or t_days < 30:
        raise ValueError("a synthetic market needs at least 10 tickers and 30 trading days")
    dates = pd.bdate_range(config.start, periods=t_days, name="date")
    securities = _securities(config, dates, rng["securities"])
    country_idx = pd.factorize(securities["country"])[0]
    sector_idx = pd.factorize(securities["sector"])[0]
    loadings = _loadings(rng["loadings"], n)
    factors = _factor_returns(rng["factors"], t_days)
    returns, residuals, alphas = _daily_returns(
        rng["noise"], loadings, factors, country_idx, sector_idx
    )
    prices = _prices(rng["prices"], returns, loadings)
    shares_out = np.exp(loadings.log_cap0) / prices.price0
    volume = _volumes(rng["volume"], returns, shares_out)
    securities["shares_outstanding"] = shares_out
    bars = _bars(dates, securities, prices, volume)
    return SyntheticMarket(
        config=config, dates=dates, securities=securities, bars=bars, residuals=residuals, alphas=alphas
    )


def _loadings(g: np.random.Generator, n: int) -> _Loadings:
    """Draw each ticker's size, beta, idiosyncratic volatility and style loadings."""
    log_cap0 = np.clip(g.normal(np.log(2e9), 1.4, size=n), np.log(1e8), np.log(5e11))
    size_load = -zscore(log_cap0)  # small caps load positively on the size factor
    beta = np.clip(g.normal(1.0, 0.3, size=n), 0.2, 2.2)
    idio_vol = np.exp(g.normal(np.log(0.016), 0.35, size=n) - 0.12 * zscore(log_cap0))
    lowvol_load = -zscore(np.log(idio_vol))
    momentum_load = g.standard_normal(n)
    value_load = g.standard_normal(n)
    return _Loadings(log_cap0, beta, idio_vol, size_load, lowvol_load, momentum_load, value_load)


def _factor_returns(f: np.random.Generator, t_days: int) -> _FactorReturns:
    """Draw the daily country, sector and style factor returns and the market shocks."""
    country_ret = f.normal(0.0, 0.005, size=(t_days, len(COUNTRIES)))
    sector_ret = f.normal(0.0, 0.006, size=(t_days, len(SECTORS)))
    style_mean = np.array([-0.0001, 0.0002, 0.0001, 0.0001])
    style_ret = f.normal(style_mean, [0.003, 0.004, 0.003, 0.003], size=(t_days, 4))
    market_shock = f.standard_t(5, size=t_days) / np.sqrt(5 / 3)
    return _FactorReturns(country_ret, sector_ret, style_ret, market_shock)


def _daily_returns(
    noise: np.random.Generator, loadings: _Loadings, factors: _FactorReturns,
    country_idx: np.ndarray, sector_idx: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(returns, residuals e, expected residuals a), each (t, n) daily simple returns.

    The day loop carries the GARCH variances, the AR(1) alpha and the drifting loadings; each
    day is vectorized over tickers.
    """
    t_days, n = len(factors.market_shock), len(loadings.beta)
    shocks = noise.standard_t(4, size=(t_days, n)) / np.sqrt(2.0)
    drift_m = noise.standard_normal((t_days, n))
    drift_v = noise.standard_normal((t_days, n))
    drift_a = noise.standard_normal((t_days, n))
    alpha = noise.standard_normal(n)
    idio_var = loadings.idio_vol**2
    market_var = MARKET_VOL**2
    h, hm = idio_var, market_var
    residuals, alphas, returns = np.empty((t_days, n)), np.empty((t_days, n)), np.empty((t_days, n))
    mom, val = loadings.momentum.copy(), loadings.value.copy()
    prev_e, prev_m = np.zeros(n), 0.0
    for t in range(t_days):
        h = idio_var * (1 - GARCH_ALPHA - GARCH_BETA) + GARCH_ALPHA * prev_e**2 + GARCH_BETA * h
        hm = market_var * (1 - GARCH_ALPHA - GARCH_BETA) + GARCH_ALPHA * prev_m**2 + GARCH_BETA * hm
        alpha = PHI_ALPHA * alpha + np.sqrt(1 - PHI_ALPHA**2) * drift_a[t]
        e = ALPHA_VOL * alpha + np.sqrt(h) * shocks[t]
        m = MARKET_DRIFT + np.sqrt(hm) * factors.market_shock[t]
        mom = PHI_MOMENTUM * mom + np.sqrt(1 - PHI_MOMENTUM**2) * drift_m[t]
        val = PHI_VALUE * val + np.sqrt(1 - PHI_VALUE**2) * drift_v[t]
        style = factors.style[t]
        styles = (loadings.size * style[0] + mom * style[1] + val * style[2]
                  + loadings.low_volatility * style[3])
        r = (loadings.beta * m + factors.country[t, country_idx] + factors.sector[t, sector_idx]
             + styles + e)
        residuals[t] = e
        alphas[t] = ALPHA_VOL * alpha
        returns[t] = np.maximum(r, -0.9)
        prev_e, prev_m = e, m - MARKET_DRIFT
    return returns, residuals, alphas


def _prices(p: np.random.Generator, returns: np.ndarray, loadings: _Loadings) -> _Prices:
    """Prices from the (t, n) total returns: quarterly dividends, opening gaps, intraday range."""
    t_days, n = returns.shape
    price0 = np.exp(p.normal(np.log(40.0), 0.8, size=n))
    payer = p.random(n) < 0.6
    quarterly_yield = np.where(payer, p.uniform(0.01, 0.05, size=n) / 4, 0.0)
    phase = p.integers(0, 63, size=n)
    ex_day = ((np.arange(t_days)[:, None] + phase[None, :]) % 63 == 0) & payer[None, :]
    dividend_rate = np.where(ex_day, quarterly_yield[None, :], 0.0)
    close = price0 * np.cumprod(1.0 + returns - dividend_rate, axis=0)
    total_index = np.cumprod(1.0 + returns, axis=0)
    adj_close = total_index * (close[-1] / total_index[-1])
    prev_close = np.vstack([price0[None, :], close[:-1]])
    day_vol = np.sqrt(loadings.idio_vol**2 + (loadings.beta * MARKET_VOL) ** 2)
    gap = p.normal(0.0, 0.3, size=(t_days, n)) * day_vol
    open_ = prev_close * (1.0 + 0.3 * returns + gap)
    spread_hi = np.abs(p.normal(0.0, 0.5, size=(t_days, n))) * day_vol
    spread_lo = np.abs(p.normal(0.0, 0.5, size=(t_days, n))) * day_vol
    high = np.maximum(open_, close) * (1.0 + spread_hi)
    low = np.minimum(open_, close) * (1.0 - spread_lo)
    return _Prices(open_, high, low, close, adj_close, price0)


def _volumes(v: np.random.Generator, returns: np.ndarray, shares_out: np.ndarray) -> np.ndarray:
    """(t, n) daily share volume: a per-name turnover of shares outstanding, noise, and more
    trading on big moves."""
    t_days, n = returns.shape
    turnover = np.exp(v.normal(np.log(0.004), 0.5, size=n))
    noise = np.exp(v.normal(0.0, 0.35, size=(t_days, n)))
    return np.round(turnover * shares_out * noise * (1.0 + 15.0 * np.abs(returns)))


def _bars(
    dates: pd.DatetimeIndex, securities: pd.DataFrame, prices: _Prices, volume: np.ndarray
) -> pd.DataFrame:
    """Long bars (date, ticker, open, high, low, close, adj_close, volume) of listed days only."""
    t_days = len(dates)
    first = np.searchsorted(dates.values, securities["listed"].values)
    delisted = securities["delisted"].values
    last = np.where(pd.isna(delisted), t_days - 1, np.searchsorted(dates.values, delisted))
    day_index = np.arange(t_days)[:, None]
    alive = (day_index >= first[None, :]) & (day_index <= last[None, :])
    rows, cols = np.nonzero(alive)
    return pd.DataFrame(
        {
            "date": dates.values[rows],
            "ticker": securities["ticker"].to_numpy()[cols],
            "open": prices.open[rows, cols],
            "high": prices.high[rows, cols],
            "low": prices.low[rows, cols],
            "close": prices.close[rows, cols],
            "adj_close": prices.adj_close[rows, cols],
            "volume": volume[rows, cols],
        }
    )


@functools.lru_cache(maxsize=2)
def _cached(config: SyntheticConfig) -> SyntheticMarket:
    return generate(config)


def true_residual_returns(config: SyntheticConfig, date, days: int = 20, lag: int = 2) -> pd.Series:
    """Hidden truth: each ticker's summed idiosyncratic return over the target window of ``date``.

    The window is trading days ``t+lag+1 .. t+lag+days`` (the ``{days}D{lag}L`` target window).
    Internal to ``data``: only example-model generators use it; never the engine's scoring.
    """
    market = _cached(config)
    position = market.dates.get_indexer([pd.Timestamp(date)])[0]
    if position < 0:
        raise ValueError(f"{date} is not a synthetic trading day")
    window = market.residuals[position + lag + 1 : position + lag + days + 1]
    return pd.Series(window.sum(axis=0), index=market.securities["ticker"].to_numpy(), name="residual")


def true_expected_residuals(config: SyntheticConfig, date) -> pd.Series:
    """Hidden truth: each ticker's expected idiosyncratic daily return ``a_it`` on ``date``.

    Internal to ``data``, like :func:`true_residual_returns`.
    """
    market = _cached(config)
    position = market.dates.get_indexer([pd.Timestamp(date)])[0]
    if position < 0:
        raise ValueError(f"{date} is not a synthetic trading day")
    return pd.Series(market.alphas[position], index=market.securities["ticker"].to_numpy(), name="alpha")

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
TRADING_DAYS_PER_YEAR = 252


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

    # ---- loadings (per ticker)
    g = rng["loadings"]
    log_cap0 = np.clip(g.normal(np.log(2e9), 1.4, size=n), np.log(1e8), np.log(5e11))
    size_load = -zscore(log_cap0)  # small caps load positively on the size factor
    beta = np.clip(g.normal(1.0, 0.3, size=n), 0.2, 2.2)
    idio_vol = np.exp(g.normal(np.log(0.016), 0.35, size=n) - 0.12 * zscore(log_cap0))
    lowvol_load = -zscore(np.log(idio_vol))
    momentum_load = g.standard_normal(n)
    value_load = g.standard_normal(n)

    # ---- factor returns (per day)
    f = rng["factors"]
    country_ret = f.normal(0.0, 0.005, size=(t_days, len(COUNTRIES)))
    sector_ret = f.normal(0.0, 0.006, size=(t_days, len(SECTORS)))
    style_mean = np.array([-0.0001, 0.0002, 0.0001, 0.0001])
    style_ret = f.normal(style_mean, [0.003, 0.004, 0.003, 0.003], size=(t_days, 4))
    market_shock = f.standard_t(5, size=t_days) / np.sqrt(5 / 3)

    # ---- the day loop carries GARCH variances and drifting loadings; each day is vectorized over tickers
    noise = rng["noise"]
    shocks = noise.standard_t(4, size=(t_days, n)) / np.sqrt(2.0)
    drift_m = noise.standard_normal((t_days, n))
    drift_v = noise.standard_normal((t_days, n))
    drift_a = noise.standard_normal((t_days, n))
    alpha = noise.standard_normal(n)
    alpha_g, beta_g = 0.08, 0.90
    h = idio_vol**2
    hm = 0.0095**2
    residuals = np.empty((t_days, n))
    alphas = np.empty((t_days, n))
    returns = np.empty((t_days, n))
    mom, val = momentum_load.copy(), value_load.copy()
    phi_m, phi_v = 0.995, 0.999
    prev_e = np.zeros(n)
    prev_m = 0.0
    for t in range(t_days):
        h = idio_vol**2 * (1 - alpha_g - beta_g) + alpha_g * prev_e**2 + beta_g * h
        hm = 0.0095**2 * (1 - alpha_g - beta_g) + alpha_g * prev_m**2 + beta_g * hm
        alpha = PHI_ALPHA * alpha + np.sqrt(1 - PHI_ALPHA**2) * drift_a[t]
        e = ALPHA_VOL * alpha + np.sqrt(h) * shocks[t]
        m = 0.0003 + np.sqrt(hm) * market_shock[t]
        mom = phi_m * mom + np.sqrt(1 - phi_m**2) * drift_m[t]
        val = phi_v * val + np.sqrt(1 - phi_v**2) * drift_v[t]
        styles = size_load * style_ret[t, 0] + mom * style_ret[t, 1] + val * style_ret[t, 2] + lowvol_load * style_ret[t, 3]
        r = beta * m + country_ret[t, country_idx] + sector_ret[t, sector_idx] + styles + e
        residuals[t] = e
        alphas[t] = ALPHA_VOL * alpha
        returns[t] = np.maximum(r, -0.9)
        prev_e, prev_m = e, m - 0.0003

    # ---- prices, dividends, volumes
    p = rng["prices"]
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
    day_vol = np.sqrt(idio_vol**2 + (beta * 0.0095) ** 2)
    gap = p.normal(0.0, 0.3, size=(t_days, n)) * day_vol
    open_ = prev_close * (1.0 + 0.3 * returns + gap)
    spread_hi = np.abs(p.normal(0.0, 0.5, size=(t_days, n))) * day_vol
    spread_lo = np.abs(p.normal(0.0, 0.5, size=(t_days, n))) * day_vol
    high = np.maximum(open_, close) * (1.0 + spread_hi)
    low = np.minimum(open_, close) * (1.0 - spread_lo)
    shares_out = np.exp(log_cap0) / price0
    v = rng["volume"]
    turnover = np.exp(v.normal(np.log(0.004), 0.5, size=n))
    volume = np.round(turnover * shares_out * np.exp(v.normal(0.0, 0.35, size=(t_days, n))) * (1.0 + 15.0 * np.abs(returns)))

    securities["shares_outstanding"] = shares_out
    first = np.searchsorted(dates.values, securities["listed"].values)
    delisted = securities["delisted"].values
    last = np.where(pd.isna(delisted), t_days - 1, np.searchsorted(dates.values, delisted))
    day_index = np.arange(t_days)[:, None]
    alive = (day_index >= first[None, :]) & (day_index <= last[None, :])
    rows, cols = np.nonzero(alive)
    bars = pd.DataFrame(
        {
            "date": dates.values[rows],
            "ticker": securities["ticker"].to_numpy()[cols],
            "open": open_[rows, cols],
            "high": high[rows, cols],
            "low": low[rows, cols],
            "close": close[rows, cols],
            "adj_close": adj_close[rows, cols],
            "volume": volume[rows, cols],
        }
    )
    return SyntheticMarket(config=config, dates=dates, securities=securities, bars=bars, residuals=residuals, alphas=alphas)


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

"""A small, fully known store for the submission tests (written through the Store API).

160 securities over 8 trading days in five countries, each with Bloomberg, Yahoo, FIGI
and SEDOL ids. The universe holds the first 140 securities; ``LAST_MEMBER`` (number 139)
leaves it after the fourth day. Used by tests/signals and tests/metasignal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from metasignal.data.store import Store

N_SECURITIES = 160
N_UNIVERSE = 140
DAYS = pd.bdate_range("2024-01-01", periods=8, name="date")
LAST_MEMBER_LEAVES_AFTER = DAYS[3]

# country, bloomberg code, yahoo suffix, symbol style
_MARKETS = [
    ("US", "UW", "", "alpha"),
    ("JP", "JT", ".T", "digits"),
    ("GB", "LN", ".L", "alpha"),
    ("HK", "HK", ".HK", "hk"),
    ("CH", "SW", ".SW", "alpha"),
]


def _symbol(style: str, i: int) -> str:
    if style == "digits":
        return f"{1000 + i}"
    if style == "hk":
        return f"{i + 1:04d}"
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[i % 26] + letters[(i // 26) % 26] + letters[(i // 676) % 26] + "X"


def securities() -> pd.DataFrame:
    """Canonical tickers with their id aliases, indexed by ticker."""
    rows = []
    for i in range(N_SECURITIES):
        country, code, suffix, style = _MARKETS[i % len(_MARKETS)]
        symbol = _symbol(style, i)
        bloomberg_symbol = symbol.lstrip("0") if style == "hk" else symbol
        rows.append(
            {
                "ticker": f"{symbol} {country}",
                "name": f"Company {i}",
                "country": country,
                "sector": ["Tech", "Energy", "Health", "Finance"][i % 4],
                "industry": "Industry",
                "exchange_code": code,
                "currency": "USD",
                "listed": pd.Timestamp("2000-01-03"),
                "delisted": pd.NaT,
                "shares_outstanding": 1e6,
                "bloomberg_ticker": f"{bloomberg_symbol} {code}",
                "yahoo_symbol": symbol + suffix,
                "composite_figi": f"BBG{i:09d}",
                "sedol": f"{i + 100000:07d}",
            }
        )
    # one US share class, spelled with a dot canonically
    rows[0].update(ticker="BRK.B US", bloomberg_ticker="BRK/B UN", yahoo_symbol="BRK-B")
    return pd.DataFrame(rows).set_index("ticker")


def universe_members(date: pd.Timestamp) -> pd.Index:
    tickers = securities().index[:N_UNIVERSE]
    if pd.Timestamp(date) > LAST_MEMBER_LEAVES_AFTER:
        tickers = tickers[:-1]
    return pd.Index(sorted(tickers), name="ticker")


def build_store(path: Path) -> Store:
    """Create and fill the fixture store at ``path`` (returns it open)."""
    store = Store.open(path, create=True)
    sec = securities()
    store.write_securities(sec.reset_index())
    rng = np.random.default_rng(0)
    tickers = sec.index.to_numpy()
    grid = pd.MultiIndex.from_product([DAYS, tickers], names=["date", "ticker"]).to_frame(index=False)
    price = 10 + rng.random(len(grid)) * 90
    bars = grid.assign(open=price, high=price * 1.01, low=price * 0.99, close=price, adj_close=price,
                       volume=1e5 + rng.random(len(grid)) * 1e5)
    store.write_bars(bars)
    member = np.zeros(len(grid), dtype=bool)
    for day in DAYS:
        member |= (grid["date"] == day).to_numpy() & grid["ticker"].isin(universe_members(day)).to_numpy()
    daily = grid.assign(
        ret=rng.normal(0, 0.02, len(grid)), dollar_volume=1e7, adv_20d=1e7, market_cap=1e9, sigma=0.02,
        beta=rng.normal(size=len(grid)), size=rng.normal(size=len(grid)), momentum=rng.normal(size=len(grid)),
        volatility=rng.normal(size=len(grid)), value=rng.normal(size=len(grid)), sample_weight=1.0,
        in_universe=member,
    )
    targets = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "ticker": pd.Series(dtype="str"),
                            "raw": pd.Series(dtype="float64"), "factor_neutral": pd.Series(dtype="float64")})
    store.replace_derived(daily, targets, "20D2L")
    return store


def submission_csv(tickers, values=None, *, column: str = "numerai_ticker", date=None) -> bytes:
    """A CSV submission of ``tickers`` (distinct, spread signal values unless given)."""
    tickers = list(tickers)
    if values is None:
        values = np.linspace(0.0, 1.0, len(tickers))
    frame = pd.DataFrame({column: tickers, "signal": values})
    if date is not None:
        frame.insert(0, "date", pd.Timestamp(date).strftime("%Y-%m-%d"))
    return frame.to_csv(index=False).encode()


def write_adversarial_files(folder: Path) -> dict[str, Path]:
    """Two small files that are expensive to read naively: a Parquet file of 10M rows (under
    1 MiB: one dictionary-encoded id) and a CSV with 100k columns (about 20 MB), by the rule
    each must break."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 10_000_000
    ids = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array(["AAPL US"]))
    parquet = folder / "ten_million_rows.parquet"
    pq.write_table(pa.table({"ticker": ids, "signal": np.full(n, 0.5)}), parquet, compression="zstd")
    header = ",".join(f"c{i:06d}" for i in range(100_000)).encode()
    row = b"," * 99_999 + b"0.5"
    wide = folder / "hundred_thousand_columns.csv"
    wide.write_bytes(header + b"\n" + b"\n".join([row] * 200) + b"\n")
    return {"too_many_rows": parquet, "too_many_columns": wide}

"""Checks run on a store after an import: what the data can and cannot support.

Plain functions over tidy frames (long ``bars``: ``date, ticker, close, adj_close, volume``;
long ``daily``: ``date, ticker, ret, in_universe``; ``securities`` indexed by ticker), and
:func:`check_store`, which runs them all on a store and returns an :class:`ImportReport`.

Checks (each a frame or list the CLI prints and ``--report`` writes):

- universe size per date (names with ``in_universe``): min / median / max over the dates and
  the first date with a non-empty universe; an import whose universe is empty on every date
  is refused (:attr:`ImportReport.refusal` says why, from the universe rules of
  :mod:`metasignal.data.derived`);
- names without volume (no bar with a positive volume), without shares outstanding (none or
  not positive), without sector;
- gaps: a name's missing bars between its first and last bar, against the store's trading
  days (dates with any bar);
- stale prices: runs of at least :data:`STALE_DAYS` consecutive bars with an unchanged close;
- extreme daily returns: ``|ret| >`` :data:`EXTREME_RETURN` (from ``adj_close``, as every
  score and backtest sees them);
- suspected unadjusted splits: a day whose ``adj_close`` ratio (the return the engine uses) is
  within :data:`SPLIT_TOLERANCE` (in log terms) of a split factor (2, 3, 4, 5, 10, 3/2 and
  their inverses): the adjusted series moved like the raw close of a split, so the split was
  probably not adjusted (a split handled in ``adj_close`` leaves it flat and is not flagged);
- target rows written, with a note when there are none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from metasignal.data.derived import MIN_HISTORY
from metasignal.data.store import Store
from metasignal.errors import DataValidationError

STALE_DAYS = 5  # consecutive bars with the same close
EXTREME_RETURN = 0.4  # |daily return| above which a move is listed
SPLIT_FACTORS = np.array([2.0, 3.0, 4.0, 5.0, 10.0, 1.5])
SPLIT_TOLERANCE = 0.03  # |log(ratio) - log(factor)|: a split day also carries that day's move
MIN_TARGET_NAMES = 10  # derive fits no target regression on a date with fewer universe names


def universe_sizes(daily: pd.DataFrame) -> pd.Series:
    """Names in the universe per date (date-indexed, every date of ``daily``, 0 where empty)."""
    return daily.groupby("date")["in_universe"].sum().astype(int)


def names_without_volume(bars: pd.DataFrame) -> list[str]:
    """Tickers none of whose bars has a positive volume (volume missing or 0 throughout)."""
    positive = (bars["volume"] > 0).groupby(bars["ticker"]).any()
    return sorted(positive.index[~positive.to_numpy()].astype(str))


def names_without(securities: pd.DataFrame, column: str, tickers: pd.Index) -> list[str]:
    """Tickers among ``tickers`` whose ``column`` of ``securities`` is missing, blank or (numbers) not positive."""
    values = securities.reindex(tickers)[column] if column in securities.columns else pd.Series(np.nan, index=tickers)
    if pd.api.types.is_numeric_dtype(values):
        missing = ~(values > 0)
    else:
        missing = values.isna() | (values.astype(str).str.strip() == "")
    return sorted(values.index[missing.to_numpy()].astype(str))


def gaps(bars: pd.DataFrame) -> pd.DataFrame:
    """Missing bars inside each name's life: ``ticker, missing_bars, first_missing`` (names with gaps only).

    A name's life runs from its first to its last bar; a trading day is a date with any bar."""
    days = pd.DatetimeIndex(np.sort(bars["date"].unique()))
    ordered = pd.DataFrame({"ticker": bars["ticker"].to_numpy(), "position": days.searchsorted(bars["date"])}
                           ).sort_values(["ticker", "position"], ignore_index=True)
    ticker, position = ordered["ticker"].to_numpy(), ordered["position"].to_numpy()
    skipped = np.r_[0, np.diff(position) - 1]  # trading days missing just before each bar
    skipped[np.r_[True, ticker[1:] != ticker[:-1]]] = 0  # a name's first bar skips nothing
    holes = pd.DataFrame({"ticker": ticker, "skipped": skipped, "first_missing": days[np.maximum(position - skipped, 0)]})
    holes = holes[holes["skipped"] > 0]
    per_name = holes.groupby("ticker").agg(missing_bars=("skipped", "sum"), first_missing=("first_missing", "first"))
    return per_name.reset_index().sort_values("missing_bars", ascending=False, ignore_index=True)


def stale_prices(bars: pd.DataFrame, min_days: int = STALE_DAYS) -> pd.DataFrame:
    """Runs of ``>= min_days`` consecutive bars with the same close: ``ticker, first_date, last_date, bars``."""
    ordered = bars.sort_values(["ticker", "date"], ignore_index=True)
    ticker = ordered["ticker"].to_numpy()
    close = ordered["close"].to_numpy(dtype=float)
    same = np.r_[False, (ticker[1:] == ticker[:-1]) & (close[1:] == close[:-1])]
    run = np.cumsum(~same)
    grouped = ordered.groupby(run)
    runs = pd.DataFrame({"ticker": grouped["ticker"].first(), "first_date": grouped["date"].first(),
                         "last_date": grouped["date"].last(), "bars": grouped.size()})
    return runs[runs["bars"] >= min_days].sort_values("bars", ascending=False, ignore_index=True)


def extreme_returns(daily: pd.DataFrame, threshold: float = EXTREME_RETURN) -> pd.DataFrame:
    """Daily returns with ``|ret| > threshold``: ``ticker, date, ret``, largest first."""
    big = daily[daily["ret"].abs() > threshold]
    order = big["ret"].abs().sort_values(ascending=False).index
    return big.loc[order, ["ticker", "date", "ret"]].reset_index(drop=True)


def suspected_splits(bars: pd.DataFrame, tolerance: float = SPLIT_TOLERANCE) -> pd.DataFrame:
    """Days whose ``adj_close`` ratio to the name's previous bar is within ``tolerance`` (log) of a
    split factor or its inverse: ``ticker, date, close_ratio, adj_ratio, factor`` (``factor`` as
    a ratio of prices, e.g. 0.5 for a 2-for-1 split)."""
    ordered = bars.sort_values(["ticker", "date"], ignore_index=True)
    same_name = np.r_[False, ordered["ticker"].to_numpy()[1:] == ordered["ticker"].to_numpy()[:-1]]
    adj = ordered["adj_close"].to_numpy(dtype=float)
    close = ordered["close"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_adj = np.log(adj[1:] / adj[:-1])
        close_ratio = np.r_[np.nan, close[1:] / close[:-1]]
    log_adj = np.r_[np.nan, log_adj]
    factors = np.log(np.r_[SPLIT_FACTORS, 1.0 / SPLIT_FACTORS])
    distance = np.abs(log_adj[:, None] - factors[None, :])
    nearest = np.argmin(np.nan_to_num(distance, nan=np.inf), axis=1)
    hit = same_name & (distance[np.arange(len(ordered)), nearest] <= tolerance)
    return pd.DataFrame({
        "ticker": ordered["ticker"].to_numpy()[hit], "date": ordered["date"].to_numpy()[hit],
        "close_ratio": close_ratio[hit], "adj_ratio": np.exp(log_adj[hit]), "factor": np.exp(factors[nearest[hit]]),
    })


def empty_universe_reason(bars: pd.DataFrame, daily: pd.DataFrame) -> str:
    """Why no name is in the universe on any date, from the universe rules (a bar, >= 60
    returns of history, a positive 20-day ADV unless the store has no volume, volatility > 0)."""
    history = daily["ret"].notna().groupby(daily["ticker"]).sum()
    longest = int(history.max()) if len(history) else 0
    if longest < MIN_HISTORY:
        return (f"fewer than {MIN_HISTORY} days of history: the universe needs {MIN_HISTORY} daily returns "
                f"and the longest name has {longest}")
    has_volume = bars["volume"] > 0
    if has_volume.any() and not (daily["adv_20d"] > 0).any():
        return "no volume -> no ADV: no name has a positive 20-day dollar volume on any date"
    if not (daily["sigma"] > 0).any():
        return "every price is constant: no name has a non-zero volatility"
    return (f"no name meets the universe rules on any date (a bar, {MIN_HISTORY} returns of history, "
            "a positive 20-day ADV, non-zero volatility)")


@dataclass(frozen=True)
class ImportReport:
    """The checks of one store (module docstring); frames as their functions return them."""

    names: int
    dates: int
    universe: pd.Series  # names in the universe per date
    without_volume: list[str]
    without_shares: list[str]
    without_sector: list[str]
    gaps: pd.DataFrame
    stale: pd.DataFrame
    extreme_returns: pd.DataFrame
    suspected_splits: pd.DataFrame
    target_rows: int
    refusal: str | None = None
    notes: list[str] = field(default_factory=list)

    def universe_summary(self) -> dict[str, object]:
        """The ``first_date`` with a non-empty universe, and ``min``, ``median``, ``max`` names per
        date from then on (the history warm-up before it is empty by rule); zeros when always empty."""
        nonempty = self.universe[self.universe > 0]
        if nonempty.empty:
            return {"first_date": None, "min": 0, "median": 0.0, "max": 0}
        since = self.universe[self.universe.index >= nonempty.index[0]]
        return {"first_date": pd.Timestamp(nonempty.index[0]).date().isoformat(), "min": int(since.min()),
                "median": float(since.median()), "max": int(since.max())}

    def to_rows(self) -> pd.DataFrame:
        """Every finding as one tidy row: ``check, ticker, date, value, detail`` (the CSV report)."""
        frames = [
            pd.DataFrame({"check": "universe_size", "date": self.universe.index, "value": self.universe.to_numpy()}),
            *(pd.DataFrame({"check": f"without_{what}", "ticker": names})
              for what, names in (("volume", self.without_volume), ("shares", self.without_shares),
                                  ("sector", self.without_sector))),
            self.gaps.rename(columns={"first_missing": "date", "missing_bars": "value"}).assign(
                check="gap", detail="missing bars; date is the first missing"),
            self.stale.rename(columns={"first_date": "date", "bars": "value"}).assign(
                check="stale_price", detail="bars with an unchanged close from date"),
            self.extreme_returns.rename(columns={"ret": "value"}).assign(check="extreme_return", detail="daily return"),
            self.suspected_splits.rename(columns={"adj_ratio": "value"}).assign(
                check="suspected_split", detail="adj_close ratio near a split factor")[
                ["check", "ticker", "date", "value", "detail"]],
            pd.DataFrame({"check": ["target_rows"], "value": [self.target_rows]}),
        ]
        if self.refusal:
            frames.append(pd.DataFrame({"check": ["refused"], "detail": [self.refusal]}))
        rows = pd.concat([f for f in frames if len(f)], ignore_index=True)
        return rows.reindex(columns=["check", "ticker", "date", "value", "detail"])

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary with every finding listed."""
        def records(frame: pd.DataFrame) -> list[dict]:
            return json.loads(frame.to_json(orient="records", date_format="iso"))

        return {
            "names": self.names, "dates": self.dates, "universe": self.universe_summary(),
            "without_volume": self.without_volume, "without_shares": self.without_shares,
            "without_sector": self.without_sector, "gaps": records(self.gaps), "stale_prices": records(self.stale),
            "extreme_returns": records(self.extreme_returns), "suspected_splits": records(self.suspected_splits),
            "target_rows": self.target_rows, "refusal": self.refusal, "notes": self.notes,
        }

    def write(self, path: str | Path) -> Path:
        """Write the report as JSON (``.json``) or CSV (``.csv``, :meth:`to_rows`)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        elif suffix == ".csv":
            self.to_rows().to_csv(path, index=False)
        else:
            raise DataValidationError(f"--report {path}: use a .json or .csv file name")
        return path


def build_report(bars: pd.DataFrame, daily: pd.DataFrame, securities: pd.DataFrame, target_rows: int) -> ImportReport:
    """Run every check on tidy frames (module docstring) into an :class:`ImportReport`."""
    tickers = pd.Index(np.sort(bars["ticker"].unique()).astype(str))
    sizes = universe_sizes(daily)
    refusal = None if (sizes > 0).any() else empty_universe_reason(bars, daily)
    notes = []
    if target_rows == 0 and refusal is None:
        notes.append(f"0 target rows: a date gets targets when at least {MIN_TARGET_NAMES} universe names have a "
                     f"complete target window; this store has at most {int(sizes.max())} universe names")
    return ImportReport(
        names=len(tickers), dates=int(bars["date"].nunique()), universe=sizes,
        without_volume=names_without_volume(bars),
        without_shares=names_without(securities, "shares_outstanding", tickers),
        without_sector=names_without(securities, "sector", tickers),
        gaps=gaps(bars), stale=stale_prices(bars), extreme_returns=extreme_returns(daily),
        suspected_splits=suspected_splits(bars), target_rows=target_rows, refusal=refusal, notes=notes,
    )


def check_store(store: Store) -> ImportReport:
    """The :class:`ImportReport` of everything stored (bars, derived daily rows, securities, targets)."""
    bars = store.con.execute("SELECT date, ticker, close, adj_close, volume FROM bars").fetch_df()
    daily = store.con.execute("SELECT date, ticker, ret, adv_20d, sigma, in_universe FROM daily").fetch_df()
    for frame in (bars, daily):
        frame["date"] = pd.to_datetime(frame["date"])
        frame["ticker"] = frame["ticker"].astype(str)
    daily["in_universe"] = daily["in_universe"].fillna(False).astype(bool)
    target_rows = int(store.one("SELECT count(*) FROM targets")[0])
    return build_report(bars, daily, store.securities(include_future=True), target_rows)

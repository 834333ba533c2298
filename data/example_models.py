"""Example models for the synthetic market, each with a known character.

They read the hidden truth of :mod:`metasignal.data.synthetic` (the persistent expected residual
return ``a_it``) and the day's point-in-time exposures, and emit submission-ready
signals in (0, 1). They exist to exercise the tournament end to end; the engine's
scoring never sees the truth, only what these models submit through the same
ingestion path as a user's CSV.

| model | character |
|---|---|
| ``skilled`` | a noisy view of the future residual return: ``a_t`` plus fixed per-name noise |
| ``momentum_tilt`` | the momentum exposure: a factor bet with no residual skill |
| ``size_tilt`` | small minus big (minus the size exposure): a factor bet |
| ``noise`` | fresh random numbers every round |
| ``copycat`` | ``skilled`` plus tiny fresh noise |
| ``churner`` | ``a_t`` plus large noise re-drawn every round: skill, but high churn |
| ``partial`` | ``skilled`` on a fixed half of the universe only |
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasignal.data.calendar import DateLike
from metasignal.data.store import Store
from metasignal.data.synthetic import SyntheticConfig, true_expected_residuals, zscore
from metasignal.errors import ConfigurationError, StoreError

EXAMPLE_MODELS: tuple[str, ...] = ("skilled", "momentum_tilt", "size_tilt", "noise", "copycat", "churner", "partial")
# The skilled model is the fund's big staker, so the meta-model leans on it: its copy then
# adds (almost) nothing beyond the meta-model, which is what MMC measures.
EXAMPLE_STAKES: dict[str, float] = {
    "skilled": 5000.0, "momentum_tilt": 1000.0, "size_tilt": 1000.0, "noise": 1000.0,
    "copycat": 1000.0, "churner": 1000.0, "partial": 1000.0,
}
SKILL_NOISE = 0.8  # std of skilled's fixed per-name noise, relative to its unit-std view of a_t
CHURN_NOISE = 1.0  # std of churner's per-round noise


def _ticker_noise(tickers: pd.Index, seed: int, salt: str) -> np.ndarray:
    """Standard normal numbers fixed per (ticker, salt): the same name always draws the same."""
    keys = pd.util.hash_array(np.array([f"{salt}|{seed}|{t}" for t in tickers], dtype=object))
    uniform = (keys.astype(np.float64) + 0.5) / 2.0**64
    from scipy.special import ndtri

    return ndtri(uniform)


def _round_noise(tickers: pd.Index, seed: int, date: pd.Timestamp, salt: str) -> np.ndarray:
    return _ticker_noise(tickers, seed, f"{salt}|{date.date()}")


def _to_unit_rank(values: pd.Series) -> pd.Series:
    return (values.rank(method="average") - 0.5) / values.count()


def synthetic_config(store: Store) -> SyntheticConfig:
    """The config the store was generated with; :class:`StoreError` for non-synthetic stores."""
    if store.get_meta("source") != "synthetic":
        raise StoreError("example models need a synthetic store: run `metasignal data generate`")
    meta = dict(store.con.execute("SELECT key, value FROM meta WHERE key LIKE 'synthetic_%'").fetchall())
    return SyntheticConfig.from_meta(meta)


def example_signals(store: Store, date: DateLike, models: tuple[str, ...] = EXAMPLE_MODELS) -> pd.DataFrame:
    """Signals of the example models for ``date``: ticker x model, values in (0, 1).

    A model that does not cover a name has NaN there (``partial``); a model whose inputs have
    no spread that day (``momentum_tilt`` before a year of history) is all NaN. Submit the
    non-NaN rows.
    """
    unknown = sorted(set(models) - set(EXAMPLE_MODELS))
    if unknown:
        raise ConfigurationError(f"unknown example model(s) {', '.join(unknown)}: choose from {', '.join(EXAMPLE_MODELS)}")
    config = synthetic_config(store)
    date = pd.Timestamp(date).normalize()
    exposures = store.exposures(date)
    tickers = exposures.index
    view = zscore(true_expected_residuals(config, date).reindex(tickers).to_numpy())
    skilled = view + SKILL_NOISE * _ticker_noise(tickers, config.seed, "skilled")
    raw = {
        "skilled": skilled,
        "momentum_tilt": exposures["momentum"].to_numpy(),
        "size_tilt": -exposures["size"].to_numpy(),
        "noise": _round_noise(tickers, config.seed, date, "noise"),
        "copycat": skilled + 0.02 * _round_noise(tickers, config.seed, date, "copycat"),
        "churner": view + CHURN_NOISE * _round_noise(tickers, config.seed, date, "churner"),
        "partial": np.where(_ticker_noise(tickers, config.seed, "partial") > 0, skilled, np.nan),
    }
    frame = pd.DataFrame({name: raw[name] for name in models}, index=tickers)
    # a model without a view that day (e.g. momentum in the store's first year) does not submit
    flat = frame.max() == frame.min()
    frame.loc[:, flat[flat].index] = np.nan
    return frame.apply(_to_unit_rank)

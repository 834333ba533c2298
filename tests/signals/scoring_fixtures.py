"""Seeded synthetic eras and a comparison helper for the scoring tests (imported by them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BINS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
BIN_SHARES = [0.05, 0.20, 0.50, 0.20, 0.05]


@dataclass
class Era:
    """One cross-section. ``predictions`` may hold NaN (not submitted); ``cleaned`` is the
    reference cleaning of it (numerai-tools' tie-kept rank, then fill 0.5)."""

    predictions: pd.DataFrame
    cleaned: pd.DataFrame
    targets: pd.DataFrame  # columns factor_neutral, raw
    meta_model: pd.Series
    exposures: pd.DataFrame  # X: sector one-hots + styles (no constant)
    neutralizers: pd.DataFrame  # N = X (X'VX)^(-1/2)
    sample_weights: pd.Series
    stakes: pd.Series
    previous: pd.DataFrame

    @property
    def target(self) -> pd.Series:
        return self.targets["factor_neutral"].rename("target")

    @property
    def raw(self) -> pd.Series:
        return self.targets["raw"].rename("target")


def v_orthonormal(exposures: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """N = X (X' V X)^(-1/2), so that N' V N = I (X must have full column rank)."""
    gram = exposures.T @ (weights[:, None] * exposures)
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    return exposures @ eigenvectors @ np.diag(eigenvalues**-0.5) @ eigenvectors.T


def build_era(
    seed: int,
    n_tickers: int = 200,
    n_models: int = 4,
    *,
    n_sectors: int = 4,
    n_styles: int = 3,
    decimals: int | None = 1,
    missing: float = 0.0,
    constant_column: bool = False,
    target_in_unit: bool = True,
) -> Era:
    from numerai_tools.scoring import tie_kept_rank

    rng = np.random.default_rng(seed)
    tickers = pd.Index([f"T{i:04d}" for i in range(n_tickers)], name="ticker")
    sector = np.arange(n_tickers) % n_sectors  # every sector present
    rng.shuffle(sector)
    styles = rng.standard_normal((n_tickers, n_styles))
    exposures = np.hstack([np.eye(n_sectors)[sector], styles])
    weights = rng.uniform(0.2, 1.0, n_tickers)
    common = rng.standard_normal(n_tickers)
    signals = 0.5 * common[:, None] + rng.standard_normal((n_tickers, n_models))
    if decimals is not None:
        signals = np.round(signals, decimals)  # ties
    models = [f"model_{k}" for k in range(n_models)]
    predictions = pd.DataFrame(signals, index=tickers, columns=models)
    if constant_column:
        predictions[models[-1]] = 0.3
    if missing:
        gaps = rng.random(predictions.shape) < missing
        gaps[:, -1] = False  # one complete column
        predictions = predictions.mask(gaps)
    cleaned = tie_kept_rank(predictions).fillna(0.5)
    returns = 0.3 * common + rng.standard_normal(n_tickers)
    if target_in_unit:
        def to_target(values: np.ndarray) -> np.ndarray:
            ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable")
            edges = np.cumsum(BIN_SHARES)[:-1] * len(values)
            return BINS[np.searchsorted(edges, ranks, side="right")]
    else:
        def to_target(values: np.ndarray) -> np.ndarray:
            return values / 10
    residual = returns - styles @ np.linalg.lstsq(styles, returns, rcond=None)[0]
    targets = pd.DataFrame(
        {"factor_neutral": to_target(residual),
         "raw": to_target(returns)},
        index=tickers,
    )
    previous_values = signals + 0.4 * rng.standard_normal(signals.shape)
    previous = pd.DataFrame(np.round(previous_values, 2), index=tickers, columns=models)
    return Era(
        predictions=predictions,
        cleaned=cleaned,
        targets=targets,
        meta_model=pd.Series(rng.standard_normal(n_tickers) + common, index=tickers, name="meta"),
        exposures=pd.DataFrame(exposures, index=tickers).add_prefix("x"),
        neutralizers=pd.DataFrame(v_orthonormal(exposures, weights), index=tickers).add_prefix("n"),
        sample_weights=pd.Series(weights, index=tickers, name="weight"),
        stakes=pd.Series(rng.uniform(0.5, 20.0, n_models), index=models, name="stake"),
        previous=previous,
    )


def assert_scores_match(ours, reference, tolerance: float = 1e-9) -> None:
    """Same shape, NaN in the same places, and max |difference| <= tolerance elsewhere."""
    ours = np.asarray(ours, dtype=float)
    reference = np.asarray(reference, dtype=float)
    assert ours.shape == reference.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    both = ~np.isnan(ours)
    if both.any():
        assert np.max(np.abs(ours[both] - reference[both])) <= tolerance

"""Summary of a weight vector: sizes, counts, net exposure per group, style exposures, risk, turnover.

Weights are fractions of capital. ``short`` is reported as a positive number, so
``long - short == net`` and ``long + short == gross``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from metasignal.data.calendar import TRADING_DAYS_PER_YEAR
from metasignal.errors import PortfolioInputError
from metasignal.portfolio.risk_model import GROUP_SEPARATOR, RiskModel


@dataclass(frozen=True)
class ExposureReport:
    """Exposures of one weight vector.

    group_net: group name ("sector", "country") -> Series label -> net weight.
    style_exposures: style -> ``sum_i w_i b_ij``.
    predicted_variance: daily variance from the risk model (None without one).
    turnover: ``0.5 * sum |w - w_prev|`` (None without previous weights).
    """

    long: float
    short: float
    gross: float
    net: float
    n_long: int
    n_short: int
    group_net: dict[str, pd.Series]
    style_exposures: pd.Series
    predicted_variance: float | None
    turnover: float | None

    @property
    def predicted_volatility(self) -> float | None:
        """Annualized predicted volatility (fraction of capital)."""
        if self.predicted_variance is None:
            return None
        return float(np.sqrt(self.predicted_variance * TRADING_DAYS_PER_YEAR))

    def max_group_net(self) -> pd.Series:
        """Largest absolute net weight of any label, per group."""
        return pd.Series({g: float(s.abs().max()) if len(s) else 0.0 for g, s in self.group_net.items()})

    def summary(self) -> pd.Series:
        """Scalars in one Series (for printing or a CSV row)."""
        rows = {
            "long": self.long, "short": self.short, "gross": self.gross, "net": self.net,
            "n_long": self.n_long, "n_short": self.n_short,
            "predicted_volatility": self.predicted_volatility, "turnover": self.turnover,
        }
        rows.update({f"max_abs_net_{g}": v for g, v in self.max_group_net().items()})
        rows.update({f"style_{s}": v for s, v in self.style_exposures.items()})
        return pd.Series(rows, dtype=float)


def exposure_report(
    weights: pd.Series,
    exposures: pd.DataFrame,
    *,
    risk_model: RiskModel | None = None,
    prev_weights: pd.Series | None = None,
    min_weight: float = 1e-6,
) -> ExposureReport:
    """Report on ``weights`` (ticker -> fraction of capital).

    exposures: ticker x factor frame; columns ``"<group>:<label>"`` are one-hot groups, the
    others styles. A name with a nonzero weight must have exposures. Names count as long or
    short when ``|w| > min_weight``.
    """
    weights = weights.astype(float).fillna(0.0)
    w = weights.to_numpy()
    values, exposed = exposures.to_numpy(dtype=float), w
    if not weights.index.equals(exposures.index):
        rows = exposures.index.get_indexer(weights.index)
        absent = (rows < 0) & (w != 0)
        if absent.any():
            raise PortfolioInputError(f"ticker {weights.index[absent][0]} has a weight but no exposures")
        values, exposed = values[rows[rows >= 0]], w[rows >= 0]  # names without exposures weigh 0
    net_by_factor = np.nan_to_num(values, nan=0.0).T @ exposed
    factors = [str(column) for column in exposures.columns]

    labels: dict[str, tuple[list[str], list[float]]] = {}
    styles = []
    for name, net in zip(factors, net_by_factor.tolist()):
        if GROUP_SEPARATOR in name:
            group, label = name.split(GROUP_SEPARATOR, 1)
            names, nets = labels.setdefault(group, ([], []))
            names.append(label)
            nets.append(net)
        else:
            styles.append((name, net))
    group_net = {g: pd.Series(nets, index=names, dtype=float, name=g) for g, (names, nets) in labels.items()}

    turnover = None
    if prev_weights is not None and prev_weights.index.equals(weights.index):
        turnover = 0.5 * float(np.abs(w - prev_weights.astype(float).fillna(0.0).to_numpy()).sum())
    elif prev_weights is not None:
        prev = prev_weights.astype(float).reindex(weights.index.union(prev_weights.index)).fillna(0.0)
        turnover = 0.5 * float((weights.reindex(prev.index).fillna(0.0) - prev).abs().sum())
    long, short = float(w[w > 0].sum()), float(-w[w < 0].sum())
    return ExposureReport(
        long=long,
        short=short,
        gross=long + short,
        net=float(w.sum()),
        n_long=int((w > min_weight).sum()),
        n_short=int((w < -min_weight).sum()),
        group_net=group_net,
        style_exposures=pd.Series(dict(styles), dtype=float).rename_axis("factor"),
        predicted_variance=None if risk_model is None else risk_model.variance(weights),
        turnover=turnover,
    )

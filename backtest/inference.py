"""Honest inference on scores and returns: is a mean score, a Sharpe or an alpha distinguishable
from zero once the autocorrelation of overlapping targets is taken into account?

Weekly rounds scored on 20-day targets share most of their target window with the next rounds,
so consecutive round scores are correlated and a plain t-statistic (or a Sharpe ratio read as
if periods were independent) overstates significance. Every estimate here uses a Newey-West
(HAC, Bartlett kernel) variance from statsmodels, with a lag that follows the target window
and the round spacing (:func:`hac_lag`). The module is glue around statsmodels: OLS on a
constant (a mean), on factors (alpha and betas), and the HAC long-run covariance of the
moments of a Sharpe ratio (delta method, Lo 2002).

Functions over tidy pandas objects:

- :func:`hac_lag` -- the Newey-West lag of a target window on a round calendar;
- :func:`mean_with_hac` / :func:`paired_difference` -- a mean (or a paired difference) with
  HAC standard error, t, p, confidence interval and effective number of observations;
- :func:`score_inference` -- the same per model over a round_date x model table of scores;
- :func:`sharpe_with_se`, :func:`probabilistic_sharpe`, :func:`deflated_sharpe` -- the
  Sharpe ratio with an autocorrelation-aware standard error, and Bailey & Lopez de Prado's
  probabilistic and deflated Sharpe ratios;
- :func:`factor_regression` -- net returns on market / style factor returns with HAC errors.

Missing periods are dropped and the remaining observations are treated as consecutive (a
model that skipped a round is compared over the rounds it has).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.sandwich_covariance import S_hac_simple

from metasignal.data.calendar import TRADING_DAYS_PER_YEAR
from metasignal.data.targets import parse_window

__all__ = [
    "ALPHA",
    "EULER_GAMMA",
    "ROUND_SPACING_DAYS",
    "MeanEstimate",
    "SharpeEstimate",
    "deflated_sharpe",
    "expected_max_sharpe",
    "factor_regression",
    "format_interval",
    "fixed_b_critical_value",
    "hac_bandwidth",
    "hac_lag",
    "mean_with_hac",
    "newey_west_lag",
    "paired_difference",
    "probabilistic_sharpe",
    "score_inference",
    "sharpe_with_se",
]

ALPHA = 0.05  # two-sided level of every test and the coverage 1 - ALPHA of every interval
EULER_GAMMA = 0.5772156649015329
ROUND_SPACING_DAYS = {"weekly": 5, "daily": 1}  # trading days between consecutive rounds
MIN_OBSERVATIONS = 3


def hac_lag(window: str, round_spacing_days: int) -> int:
    """Newey-West lag (in rounds) for scores of rounds ``round_spacing_days`` trading days apart
    on the target ``window`` (``"<days>D<skip>L"``).

    Rule: ``lag = ceil((days + skip) / spacing) - 1`` (at least 0). A round's target spans the
    ``days + skip`` trading days after its date (the returns from close ``t + skip`` to close
    ``t + skip + days``), so the round's score shares market moves with about that many days'
    worth of later rounds: 20D2L on weekly rounds (5 days apart) -> 4, on daily rounds -> 21;
    60D2L weekly -> 12, daily -> 61. Strictly, returns overlap for ``ceil(days / spacing) - 1``
    rounds (3 for 20D2L weekly); counting the skipped days too is a little conservative, and
    costs little because the Bartlett kernel weighs the farthest lags least.
    """
    days, skip = parse_window(window)
    if round_spacing_days < 1:
        raise ValueError(f"round_spacing_days must be >= 1, got {round_spacing_days}")
    return max(0, math.ceil((days + skip) / round_spacing_days) - 1)


def newey_west_lag(n: int) -> int:
    """The Newey-West (1994) rule of thumb ``floor(4 (n / 100) ** (2 / 9))`` for a series of
    ``n`` periods without a known overlap (e.g. daily fund returns)."""
    return int(math.floor(4.0 * (max(n, 0) / 100.0) ** (2.0 / 9.0)))


@dataclass(frozen=True)
class MeanEstimate:
    """A mean with its HAC inference (units: those of the series).

    mean, se (HAC standard error of the mean), t = mean / se, p (two-sided, Student t with
    n - 1 degrees of freedom), ci_low / ci_high (the 1 - alpha interval), n (observations
    used), n_effective (independent observations the HAC variance amounts to:
    ``n * var_iid / var_hac`` capped at n, with ``var_iid = s**2 / n``), lag (the Newey-West
    truncation used, :func:`hac_bandwidth`, at most n - 2), significant (the test rejects a
    zero mean at level alpha; False whenever p is NaN).
    """

    mean: float
    se: float
    t: float
    p: float
    ci_low: float
    ci_high: float
    n: int
    n_effective: float
    lag: int
    significant: bool

    def as_dict(self) -> dict[str, float | int | bool]:
        """The fields as a flat dict (one row of a table)."""
        return asdict(self)


MEAN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MeanEstimate))


def _nan_estimate(n: int, lag: int, mean: float = np.nan) -> MeanEstimate:
    return MeanEstimate(mean, np.nan, np.nan, np.nan, np.nan, np.nan, n, np.nan, lag, False)


def hac_bandwidth(lag: int, n: int) -> int:
    """The Newey-West truncation :func:`mean_with_hac` uses for an overlap of ``lag`` rounds
    over ``n`` observations: ``min(n - 2, max(2 lag, ceil(1.3 sqrt(n))))``.

    Bartlett weights ``1 - j / (L + 1)`` shrink the first autocovariances, so a truncation at
    the overlap itself understates the variance (by a quarter for 20D2L weekly); twice the
    overlap, and at least Lazarus, Lewis, Stock & Watson's (2018) ``1.3 sqrt(n)``, keeps the
    bias small, and fixed-b critical values (:func:`fixed_b_critical_value`) pay for the
    noisier variance. Measured sizes are in ``tests/backtest/test_inference.py``.
    """
    return int(max(0, min(n - 2, max(2 * int(lag), math.ceil(1.3 * math.sqrt(max(n, 0)))))))


def fixed_b_critical_value(b: float) -> float:
    """The two-sided 5 % critical value of a Bartlett-kernel HAC t-statistic under fixed-b
    asymptotics, ``b = (truncation + 1) / n``: Kiefer & Vogelsang's (2005) fitted polynomial
    ``1.96 + 2.9694 b + 0.4160 b**2 - 0.5324 b**3`` (1.96 at b = 0)."""
    return 1.96 + 2.9694 * b + 0.4160 * b**2 - 0.5324 * b**3


def mean_with_hac(scores: pd.Series | np.ndarray, lag: int, alpha: float = ALPHA, *,
                  fixed_b: bool = True) -> MeanEstimate:
    """Mean of a series (NaN dropped, order kept) with a Newey-West standard error.

    ``lag``: how many following observations one is correlated with (:func:`hac_lag`).
    statsmodels OLS of the series on a constant, ``cov_type="HAC"`` (Bartlett kernel) with the
    small-sample correction ``n / (n - 1)`` (so truncation 0 is the iid ``s / sqrt(n)``).

    fixed_b=True (default): truncation :func:`hac_bandwidth` ``(lag, n)`` and, at ``alpha =
    0.05``, the fixed-b critical value ``c`` (:func:`fixed_b_critical_value`): the interval
    is ``mean -+ c se``, ``significant = |t| > c``, and ``p = 2 (1 - Phi(|t| 1.96 / c))`` (exact
    at 5 %, an approximation elsewhere). Other levels use Student t(n - 1).
    fixed_b=False: plain statsmodels inference, truncation ``min(lag, n - 2)`` and Student
    t(n - 1) (it over-rejects when the scores overlap: see the tests).

    Fewer than 3 observations: NaN fields (the mean when n >= 1) and ``significant=False``. A
    constant series has se 0: t is +-inf and p 0 unless the mean is 0, where t and p are NaN
    and the estimate is not significant.
    """
    values = np.asarray(scores, dtype=float)
    values = values[np.isfinite(values)]
    n = int(values.size)
    lag = int(lag)
    if n < MIN_OBSERVATIONS:
        return _nan_estimate(n, lag, float(values.mean()) if n else np.nan)
    truncation = hac_bandwidth(lag, n) if fixed_b else max(0, min(lag, n - 2))
    mean = float(values.mean())
    spread = float(values.std(ddof=1))
    if spread <= 1e-14 * max(abs(mean), 1e-300):
        if mean == 0.0:
            return MeanEstimate(0.0, 0.0, np.nan, np.nan, 0.0, 0.0, n, float(n), truncation, False)
        return MeanEstimate(mean, 0.0, math.copysign(np.inf, mean), 0.0, mean, mean, n, float(n), truncation, True)
    fit = sm.OLS(values, np.ones((n, 1))).fit(
        cov_type="HAC", cov_kwds={"maxlags": truncation, "use_correction": True}, use_t=True
    )
    se = float(fit.bse[0])
    t = float(fit.tvalues[0])
    n_effective = float(min(n, spread**2 / se**2)) if se > 0 else float(n)  # n * (s^2 / n) / se^2
    if fixed_b and math.isclose(alpha, 0.05):
        critical = fixed_b_critical_value((truncation + 1) / n)
        p = float(2.0 * stats.norm.sf(abs(t) * 1.96 / critical))
        low, high = mean - critical * se, mean + critical * se
        significant = abs(t) > critical
    else:
        low, high = (float(v) for v in fit.conf_int(alpha)[0])
        p = float(fit.pvalues[0])
        significant = p < alpha
    return MeanEstimate(mean, se, t, p, float(low), float(high), n, n_effective, truncation, bool(significant))


def paired_difference(a: pd.Series, b: pd.Series, lag: int, alpha: float = ALPHA, *,
                      fixed_b: bool = True) -> MeanEstimate:
    """HAC inference on the mean of ``a - b``, paired by index (round), dropping the rounds
    where either is missing (see :func:`mean_with_hac`)."""
    left, right = a.align(b, join="inner")
    difference = (left - right).dropna().sort_index()
    return mean_with_hac(difference, lag, alpha, fixed_b=fixed_b)


def score_inference(round_scores: pd.DataFrame, metric: str, lag: int, alpha: float = ALPHA) -> pd.DataFrame:
    """Per model, the HAC inference of its mean ``metric`` over rounds.

    ``round_scores``: tidy rows with columns round_date, model and ``metric`` (e.g.
    :func:`metasignal.backtest.rounds.round_results`), or already wide (round_date x model).
    Returns a frame indexed by model with the :class:`MeanEstimate` fields as columns
    (one statsmodels fit per model; models with fewer than 3 scores get NaN).
    """
    if {"round_date", "model"}.issubset(round_scores.columns):
        wide = round_scores.pivot_table(index="round_date", columns="model", values=metric, aggfunc="mean",
                                        dropna=False)
    else:
        wide = round_scores
    wide = wide.sort_index()
    rows = [mean_with_hac(wide[model], lag, alpha).as_dict() for model in wide.columns]
    frame = pd.DataFrame(rows, index=pd.Index(wide.columns, name="model"), columns=list(MEAN_FIELDS))
    return frame.astype({"n": int, "lag": int, "significant": bool})


# --------------------------------------------------------------------------- Sharpe ratios
@dataclass(frozen=True)
class SharpeEstimate:
    """An annualized Sharpe ratio with its standard error.

    sharpe = mean / std * sqrt(periods_per_year) (zero risk-free rate, std ddof 1); se: the
    delta-method standard error with a HAC long-run covariance of the moments (Lo 2002),
    annualized like the ratio; se_iid: the iid-normal formula ``sqrt((1 + SR**2 / 2) / n)``
    (per-period SR, then annualized) for comparison; ci_low / ci_high: ``sharpe -+ z se``
    (normal, 1 - alpha); n periods, lag, periods_per_year; skew and kurtosis (non-excess, 3
    for a normal) of the per-period returns; psr: the probabilistic Sharpe ratio
    ``P(true SR > 0) = Phi(sharpe / se)``.
    """

    sharpe: float
    se: float
    se_iid: float
    ci_low: float
    ci_high: float
    n: int
    lag: int
    periods_per_year: float
    skew: float
    kurtosis: float
    psr: float

    def as_dict(self) -> dict[str, float | int]:
        """The fields as a flat dict."""
        return asdict(self)


def sharpe_with_se(
    returns: pd.Series | np.ndarray,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
    lag: int | None = None,
    alpha: float = ALPHA,
) -> SharpeEstimate:
    """Annualized Sharpe ratio of per-period simple returns with an autocorrelation-aware SE.

    Delta method (Lo 2002, the GMM form): with moments ``u_t = (r_t - mu, (r_t - mu)**2 -
    sigma**2)``, their long-run covariance ``S`` (statsmodels' Newey-West ``S_hac_simple`` with
    ``lag`` lags, Bartlett weights, divided by n) and the gradient of ``SR = mu / sigma``,
    ``g = (1 / sigma, -mu / (2 sigma**3))``, ``Var(SR_hat) = g' S g / n`` per period; the
    ratio and its SE are then scaled by ``sqrt(periods_per_year)``. For iid normal returns
    this is ``(1 + SR**2 / 2) / n``. ``lag=None``: :func:`newey_west_lag` of n. NaN periods
    are dropped; fewer than 3 periods or a zero std give NaN.
    """
    values = np.asarray(returns, dtype=float)
    values = values[np.isfinite(values)]
    n = int(values.size)
    lag = newey_west_lag(n) if lag is None else int(lag)
    scale = math.sqrt(periods_per_year)
    nan = SharpeEstimate(np.nan, np.nan, np.nan, np.nan, np.nan, n, lag, periods_per_year, np.nan, np.nan, np.nan)
    if n < MIN_OBSERVATIONS:
        return nan
    mu = float(values.mean())
    sigma = float(values.std(ddof=1))
    if not sigma > 0:
        return nan
    lag = max(0, min(lag, n - 2))
    sr = mu / sigma
    centred = values - mu
    moments = np.column_stack([centred, centred**2 - float(np.mean(centred**2))])
    long_run = np.atleast_2d(S_hac_simple(moments, nlags=lag)) / n
    gradient = np.array([1.0 / sigma, -mu / (2.0 * sigma**3)])
    variance = float(gradient @ long_run @ gradient) / n
    se = math.sqrt(max(variance, 0.0)) * scale
    se_iid = math.sqrt((1.0 + 0.5 * sr**2) / n) * scale
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    sharpe = sr * scale
    skew = float(stats.skew(values, bias=False))
    kurtosis = float(stats.kurtosis(values, fisher=False, bias=False))
    psr = float(stats.norm.cdf(sharpe / se)) if se > 0 else float(sharpe > 0)
    return SharpeEstimate(sharpe, se, se_iid, sharpe - z * se, sharpe + z * se, n, lag, periods_per_year,
                          skew, kurtosis, psr)


def probabilistic_sharpe(
    sr: float,
    se: float | None = None,
    *,
    n: int | None = None,
    skew: float = 0.0,
    kurt: float = 3.0,
    benchmark: float = 0.0,
) -> float:
    """Probabilistic Sharpe ratio: the probability that the true Sharpe exceeds ``benchmark``.

    With ``se``: ``Phi((sr - benchmark) / se)`` (sr, se and benchmark in the same units, e.g.
    all annualized, se from :func:`sharpe_with_se`). Without: Bailey & Lopez de Prado (2012),
    per-period (not annualized) ratios over ``n`` periods with skewness ``skew`` and kurtosis
    ``kurt`` (non-excess, 3 for a normal):
    ``PSR = Phi((sr - benchmark) sqrt(n - 1) / sqrt(1 - skew sr + (kurt - 1) / 4 sr**2))``.
    """
    if se is not None:
        if not np.isfinite(se) or not np.isfinite(sr):
            return np.nan
        if se == 0:
            return float(sr > benchmark)
        return float(stats.norm.cdf((sr - benchmark) / se))
    if n is None or n < 2:
        raise ValueError("probabilistic_sharpe needs se, or n >= 2 periods (with skew and kurt)")
    denominator = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    if not denominator > 0:
        return np.nan
    return float(stats.norm.cdf((sr - benchmark) * math.sqrt(n - 1) / math.sqrt(denominator)))


def expected_max_sharpe(n_trials: int, var_of_trial_sharpes: float) -> float:
    """The Sharpe ratio the best of ``n_trials`` skill-less trials reaches by chance (Bailey &
    Lopez de Prado 2014): ``sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e)))`` with
    ``g`` the Euler-Mascheroni constant and V the variance of the trials' Sharpe ratios (per
    period, like the ratios). 0 for a single trial (nothing was selected)."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if n_trials == 1:
        return 0.0
    spread = math.sqrt(max(var_of_trial_sharpes, 0.0))
    return spread * ((1.0 - EULER_GAMMA) * float(stats.norm.ppf(1.0 - 1.0 / n_trials))
                     + EULER_GAMMA * float(stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))))


def deflated_sharpe(
    sr_hat: float, n_trials: int, var_of_trial_sharpes: float, n: int, skew: float = 0.0, kurt: float = 3.0
) -> float:
    """Deflated Sharpe ratio (Bailey & Lopez de Prado 2014): the probabilistic Sharpe ratio of
    the selected configuration against the best Sharpe expected from luck alone,
    ``DSR = PSR(SR_0)`` with ``SR_0 = expected_max_sharpe(n_trials, var_of_trial_sharpes)``:
    ``Phi((sr_hat - SR_0) sqrt(n - 1) / sqrt(1 - skew sr_hat + (kurt - 1) / 4 sr_hat**2))``.

    All ratios per period (not annualized) over ``n`` periods; ``kurt`` non-excess. It falls
    as the number of trials grows (the bar SR_0 rises).
    """
    benchmark = expected_max_sharpe(n_trials, var_of_trial_sharpes)
    return probabilistic_sharpe(sr_hat, n=n, skew=skew, kurt=kurt, benchmark=benchmark)


# --------------------------------------------------------------------------- factor regression
def factor_regression(
    returns: pd.Series,
    factors: pd.DataFrame | pd.Series,
    lag: int | None = None,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """OLS of per-period net returns on factor returns (market, styles) with HAC errors.

    ``returns``: date -> simple return; ``factors``: date x factor returns (a Series is one
    factor), aligned on dates, rows with a NaN dropped. ``lag=None``: :func:`newey_west_lag`.
    Returns rows ``alpha`` then one per factor, columns coef, se, t, p, ci_low, ci_high,
    significant (p < alpha), n, lag. The alpha row is annualized (per-period intercept x
    ``periods_per_year``, its SE and interval likewise); betas are unitless. Fewer than
    k + 3 rows: NaN estimates.
    """
    frame = factors.to_frame() if isinstance(factors, pd.Series) else factors
    data = pd.concat([returns.rename("__y__"), frame], axis=1, join="inner").dropna()
    names = ["alpha", *map(str, frame.columns)]
    n = len(data)
    lag = newey_west_lag(n) if lag is None else int(lag)
    columns = ["coef", "se", "t", "p", "ci_low", "ci_high", "significant", "n", "lag"]
    if n < frame.shape[1] + MIN_OBSERVATIONS:
        table = pd.DataFrame(np.nan, index=pd.Index(names, name="term"), columns=columns)
        return table.assign(significant=False, n=n, lag=lag)
    lag = max(0, min(lag, n - 2))
    design = sm.add_constant(data[frame.columns].to_numpy(dtype=float), has_constant="add")
    fit = sm.OLS(data["__y__"].to_numpy(dtype=float), design).fit(
        cov_type="HAC", cov_kwds={"maxlags": lag, "use_correction": True}, use_t=True
    )
    bounds = np.asarray(fit.conf_int(alpha))
    table = pd.DataFrame(
        {"coef": fit.params, "se": fit.bse, "t": fit.tvalues, "p": fit.pvalues,
         "ci_low": bounds[:, 0], "ci_high": bounds[:, 1]},
        index=pd.Index(names, name="term"),
    )
    table.loc["alpha", ["coef", "se", "ci_low", "ci_high"]] *= periods_per_year
    table["significant"] = table["p"] < alpha
    table["n"] = n
    table["lag"] = lag
    return table


def format_interval(mean: float, half_width: float, digits: int = 4) -> str:
    """``"0.0123 ±0.0045"`` (the mean and the half-width of its interval), ``"n/a"`` for NaN."""
    if not np.isfinite(mean):
        return "n/a"
    if not np.isfinite(half_width):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ±{half_width:.{digits}f}"

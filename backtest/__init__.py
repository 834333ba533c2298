"""Backtests, rounds and payouts: simulation, walk-forward runs, metrics and signal diagnostics.

:func:`simulate` trades target weights (fractions of capital, dated at the close they are
decided on) with an execution lag, lets positions drift, charges spread, impact and borrow
and keeps cash; :func:`run_walk_forward` rebuilds the meta-signal, risk model and optimal
book at each rebalance from data known then; :func:`resolve_rounds` scores every round
whose target window has passed and pays or burns stakes. Returns are simple returns.

    from metasignal.backtest import WalkForwardSettings, run_walk_forward, resolve_rounds

    result = run_walk_forward(store, start="2023-01-02", end="2024-06-28",
                              settings=WalkForwardSettings(rebalance="weekly", lag=1))
    result.simulation.metrics()  # annualized return, volatility, Sharpe, drawdown, ...

Constants: ``CHURN_LIMIT`` and ``TURNOVER_LIMIT`` (a submission at or above either stakes
nothing that round), ``SIGNALS_STAKE_THRESHOLD`` (the total at risk above which payouts are
scaled down), ``PAYOUT_PRESETS`` (the named payout policies), ``REBALANCE_SCHEDULES`` (the
named rebalance calendars), ``LOOKBACK_ROUNDS`` (eligibility compares with the model's
submissions of this many previous rounds), ``MIN_META_STAKE`` (the least stake at risk that
counts in a round's meta-model for MMC, NMC and MPC).
"""

from metasignal.backtest._simulate import SimulationResult, align_weights, describe_lag, execution_dates, simulate
from metasignal.backtest.diagnostics import (
    Diagnostics,
    diagnose,
    style_exposure,
    summarize_scores,
    write_diagnostics,
)
from metasignal.backtest.exposure import net_exposure_by_group
from metasignal.backtest.fund_job import fund_executions, run_fund_job
from metasignal.backtest.metrics import (
    annualized_return,
    annualized_volatility,
    calmar_ratio,
    drawdown_series,
    hit_rate,
    max_drawdown,
    monthly_returns,
    performance_summary,
    rolling_sharpe,
    sharpe_ratio,
    sortino_ratio,
    total_return,
)
from metasignal.backtest.outputs import write_outputs
from metasignal.backtest.payouts import (
    CHURN_LIMIT,
    PAYOUT_PRESETS,
    SIGNALS_STAKE_THRESHOLD,
    TURNOVER_LIMIT,
    PayoutPolicy,
    neutral_churn_retention,
    payout_factor,
    payout_policy,
    payout_scores,
    stake_payouts,
)
from metasignal.backtest.replay import AdvanceReport, ClockEvent, advance_clock, clock_events
from metasignal.backtest.rounds import (
    LOOKBACK_ROUNDS,
    MIN_META_STAKE,
    leaderboard,
    pending_releases,
    previous_rounds,
    resolve_round,
    resolve_rounds,
    resolved_rounds,
    round_dates,
    round_results,
    round_scores,
    rounds_table,
    scored_windows,
)
from metasignal.backtest.vectorbt_check import compare_with_vectorbt, vectorbt_equity
from metasignal.backtest.walk_forward import (
    REBALANCE_SCHEDULES,
    WalkForwardResult,
    WalkForwardSettings,
    calendar_lagged,
    rebalance_dates,
    run_walk_forward,
    save_walk_forward,
    signal_history,
    submissions_signal,
    vectorbt_difference,
)
from metasignal.errors import BankruptcyError, RebalanceError

__all__ = [
    "CHURN_LIMIT",
    "LOOKBACK_ROUNDS",
    "MIN_META_STAKE",
    "PAYOUT_PRESETS",
    "REBALANCE_SCHEDULES",
    "SIGNALS_STAKE_THRESHOLD",
    "TURNOVER_LIMIT",
    "AdvanceReport",
    "BankruptcyError",
    "ClockEvent",
    "Diagnostics",
    "PayoutPolicy",
    "RebalanceError",
    "SimulationResult",
    "WalkForwardResult",
    "WalkForwardSettings",
    "advance_clock",
    "align_weights",
    "annualized_return",
    "annualized_volatility",
    "calendar_lagged",
    "calmar_ratio",
    "clock_events",
    "compare_with_vectorbt",
    "describe_lag",
    "diagnose",
    "drawdown_series",
    "execution_dates",
    "fund_executions",
    "hit_rate",
    "leaderboard",
    "max_drawdown",
    "monthly_returns",
    "net_exposure_by_group",
    "neutral_churn_retention",
    "payout_factor",
    "payout_policy",
    "payout_scores",
    "pending_releases",
    "performance_summary",
    "previous_rounds",
    "rebalance_dates",
    "resolve_round",
    "resolve_rounds",
    "resolved_rounds",
    "rolling_sharpe",
    "round_dates",
    "round_results",
    "round_scores",
    "rounds_table",
    "scored_windows",
    "run_fund_job",
    "run_walk_forward",
    "save_walk_forward",
    "sharpe_ratio",
    "signal_history",
    "simulate",
    "sortino_ratio",
    "stake_payouts",
    "style_exposure",
    "submissions_signal",
    "summarize_scores",
    "total_return",
    "vectorbt_difference",
    "vectorbt_equity",
    "write_diagnostics",
    "write_outputs",
]

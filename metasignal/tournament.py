"""The tournament in time: who takes part when the replay clock moves, and the fund's job.

:func:`advance` moves a replay clock (:func:`metasignal.backtest.replay.advance_clock`) with
the participants the store is configured for:

- the example models (``metasignal examples`` turns them on): at each round's opening they
  build their signals from the data known then and upload them through the CSV path,
  stamped at the clock, like any user's automation would;
- the fund's job (``metasignal fund job on`` sets the store's ``fund_job`` to ``on``): at each
  round's deadline, the round's target book and its per-market executions
  (:func:`metasignal.backtest.run_fund_job`, default portfolio settings). A round without any
  signal known yet gets no book (logged), and the clock moves on.
"""

from __future__ import annotations

import logging
from typing import Callable

from metasignal.backtest.replay import AdvanceReport, advance_clock
from metasignal.data.calendar import DateLike
from metasignal.data.store import Store
from metasignal.errors import StoreError
from metasignal.examples import submit_example_round
from metasignal.signals.round_calendar import Round

__all__ = ["EXAMPLE_MODELS_KEY", "FUND_JOB_KEY", "advance"]

logger = logging.getLogger(__name__)

EXAMPLE_MODELS_KEY = "example_models_submit"
FUND_JOB_KEY = "fund_job"


def advance(store: Store, to: DateLike, *, progress: Callable[[int], None] | None = None) -> AdvanceReport:
    """Advance the store's replay clock to ``to`` with its configured participants."""
    on_open = on_close = None
    if store.get_meta(EXAMPLE_MODELS_KEY) == "on":
        def on_open(round_: Round) -> None:
            submit_example_round(store, round_)
    if store.get_meta(FUND_JOB_KEY) == "on":
        from metasignal.backtest import run_fund_job

        def on_close(round_: Round) -> None:
            try:
                run_fund_job(store, round_)
            except StoreError as error:  # no signal known yet: no book this round
                logger.warning("fund job of round %s skipped: %s", round_.data_date.date(), error)
    return advance_clock(store, to, on_open=on_open, on_close=on_close, progress=progress)

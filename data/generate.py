"""Fill a store with the synthetic market and its derived tables.

Logging (``logging.getLogger(__name__)``): each step's time at debug, the run's total at info.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from metasignal.data.derive import Progress, derive_store, timed_step
from metasignal.data.store import Store
from metasignal.data.synthetic import SyntheticConfig, generate
from metasignal.data.targets import TARGET_WINDOWS

logger = logging.getLogger(__name__)


def generate_store(store: Store, config: SyntheticConfig = SyntheticConfig(), *, windows: Sequence[str] = TARGET_WINDOWS,
                   progress: Progress | None = None) -> dict[str, int]:
    """Replace the store's market data by the synthetic market of ``config``, then derive.

    The market-data tables are replaced in one transaction; tables owned by other floors
    (models, submissions, ledger) are left alone.
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    with timed_step(say, f"generating {config.n_tickers} tickers x {config.n_days} days", logger):
        market = generate(config)
    with store.transaction():
        with timed_step(say, "writing securities and bars", logger):
            for table in ("securities", "bars", "daily", "targets", "security_history", "corporate_actions", "fx_rates"):
                store.con.execute(f"DELETE FROM {table}")
            store.write_securities(market.securities)
            store.write_bars(market.bars)
            store.con.execute("DELETE FROM meta WHERE key LIKE 'synthetic_%'")
            for key, value in config.to_meta().items():
                store.set_meta(key, value)
            store.set_meta("source", "synthetic")
        counts = derive_store(store, windows=windows, progress=progress)
    logger.info("generated the synthetic market (seed %d: %d securities, %d bars) in %.2f s", config.seed,
                len(market.securities), len(market.bars), time.perf_counter() - started)
    return {"securities": len(market.securities), "bars": len(market.bars), **counts}

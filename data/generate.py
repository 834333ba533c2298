"""Fill a store with the synthetic market and its derived tables."""

from __future__ import annotations

from metasignal.data.derive import Progress, derive_store
from metasignal.data.store import Store
from metasignal.data.synthetic import SyntheticConfig, generate


def generate_store(store: Store, config: SyntheticConfig = SyntheticConfig(), *, window: str = "20D2L",
                   progress: Progress | None = None) -> dict[str, int]:
    """Replace the store's market data by the synthetic market of ``config``, then derive.

    The market-data tables are replaced in one transaction; tables owned by other floors
    (models, submissions, ledger) are left alone.
    """
    say = progress or (lambda _msg: None)
    say(f"generating {config.n_tickers} tickers x {config.n_days} days")
    market = generate(config)
    say("writing securities and bars")
    with store.transaction():
        for table in ("securities", "bars", "daily", "targets"):
            store.con.execute(f"DELETE FROM {table}")
        store.write_securities(market.securities)
        store.write_bars(market.bars)
        store.con.execute("DELETE FROM meta WHERE key LIKE 'synthetic_%'")
        for key, value in config.to_meta().items():
            store.set_meta(key, value)
        store.set_meta("source", "synthetic")
        counts = derive_store(store, window=window, progress=progress)
    return {"securities": len(market.securities), "bars": len(market.bars), **counts}

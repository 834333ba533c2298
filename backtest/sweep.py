"""Parameter sweeps: many walk-forward backtests of one snapshot, as tasks on Dask.

A grid (parsed TOML, see :func:`expand_grid`) becomes :class:`SweepConfig` s; each runs as one
task (:func:`run_config`) on a :class:`metasignal.backtest.snapshot.SnapshotStore` (never the
DuckDB file), serially in this process or on a ``dask.distributed`` client. Every result is
keyed by ``sha256(config + snapshot hash)`` and written as it arrives:

- ``DIR/results/<key>.json``: config, status (``ok`` / ``error``), metrics
  (:meth:`SimulationResult.metrics`, the backtest's own metrics) or the one-line error;
- ``DIR/returns/<key>.parquet``: daily ``net``, ``gross``, ``turnover``, ``cost`` (fractions);
- ``DIR/metrics.parquet`` and ``metrics.csv``: one row per config (every config's metrics).

A rerun with the same snapshot skips the configs whose result is ``ok``; a task that raises is
recorded with its config and error and the other tasks complete.

Grid TOML::

    [portfolio]                 # fixed for every config (the ``[portfolio]`` table's keys)
    capital = 1e6
    [backtest]
    rebalance = "weekly"
    [grid]                      # crossed: one config per combination
    "portfolio.risk_aversion" = [1.0, 10.0]
    "portfolio.turnover" = [0.1, 0.5]
    [[configs]]                 # optional: listed configs (tables portfolio/backtest) on top of the base
    portfolio = { meta_method = "equal" }
    [[ranges]]                  # each config runs on every range
    start = 2021-01-01
    end = 2021-06-30
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from metasignal.backtest.snapshot import SnapshotStore, open_snapshot, write_snapshot
from metasignal.backtest.walk_forward import WalkForwardSettings, calendar_lagged, run_walk_forward
from metasignal.data import atomic_write
from metasignal.data.store import Store
from metasignal.errors import ConfigurationError, DataValidationError
from metasignal.portfolio.settings import PortfolioSettings

__all__ = ["SweepConfig", "SweepResult", "expand_grid", "run_config", "run_sweep", "snapshot_for", "sweep_table"]

_TABLES = ("portfolio", "backtest")
_TOP_LEVEL = {"portfolio", "backtest", "grid", "configs", "ranges"}


@dataclass(frozen=True)
class SweepConfig:
    """One walk-forward of a sweep: ``[portfolio]`` and ``[backtest]`` values over ``start..end``
    (ISO dates). ``varied``: the grid keys and their values, for labels and the table."""

    portfolio: dict[str, Any]
    backtest: dict[str, Any]
    start: str
    end: str
    varied: dict[str, Any] = field(default_factory=dict, compare=False)

    def settings(self) -> tuple[PortfolioSettings, WalkForwardSettings]:
        """The validated settings (``ConfigurationError`` naming a bad key)."""
        return PortfolioSettings.from_mapping(dict(self.portfolio)), WalkForwardSettings.from_mapping(dict(self.backtest))

    def to_dict(self) -> dict[str, Any]:
        return {"portfolio": dict(self.portfolio), "backtest": dict(self.backtest), "start": self.start,
                "end": self.end, "varied": dict(self.varied)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SweepConfig":
        return cls(dict(values["portfolio"]), dict(values["backtest"]), values["start"], values["end"],
                   dict(values.get("varied", {})))

    def key(self, snapshot_hash: str) -> str:
        """sha256 of the config (settings and range) and the snapshot's content hash."""
        text = json.dumps({"portfolio": self.portfolio, "backtest": self.backtest, "start": self.start,
                           "end": self.end, "snapshot": snapshot_hash}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def label(self) -> str:
        """``key=value`` of the varied settings and the range, e.g. ``risk_aversion=1 2021-01-01..2021-06-30``."""
        parts = [f"{name.split('.', 1)[-1]}={value}" for name, value in self.varied.items()]
        return " ".join([*parts, f"{self.start}..{self.end}"])


def _iso(value: Any, name: str) -> str:
    try:
        day = pd.Timestamp(str(value))
    except (TypeError, ValueError):
        day = pd.NaT
    if pd.isna(day):
        raise DataValidationError(f"sweep grid: {name} {value!r} is not a date (YYYY-MM-DD)")
    return str(day.date())


def _grid_axes(grid: dict[str, Any]) -> list[tuple[str, list]]:
    """The ``[grid]`` table as (``table.key``, values) pairs, checked."""
    axes = []
    for name, values in grid.items():
        table, _, key = name.partition(".")
        if table not in _TABLES or not key:
            raise ConfigurationError(f"sweep grid key {name!r}: write portfolio.KEY or backtest.KEY")
        if not isinstance(values, list) or not values:
            raise ConfigurationError(f"sweep grid key {name!r}: give a non-empty list of values")
        axes.append((name, values))
    return axes


def expand_grid(values: dict[str, Any]) -> list[SweepConfig]:
    """Configs of a parsed grid TOML (module docstring): the base tables with each combination of
    ``[grid]`` (and each ``[[configs]]`` entry) applied, crossed with every ``[[ranges]]``; each
    validated (``ConfigurationError`` naming the key), duplicates dropped, in grid order."""
    unknown = sorted(set(values) - _TOP_LEVEL)
    if unknown:
        raise ConfigurationError(f"unknown sweep table(s) {', '.join(unknown)}: known are {', '.join(sorted(_TOP_LEVEL))}")
    base = {table: dict(values.get(table, {})) for table in _TABLES}
    ranges = values.get("ranges") or []
    if not ranges:
        raise ConfigurationError("the sweep grid needs at least one [[ranges]] table with start and end")
    spans = []
    for i, span in enumerate(ranges):
        if not isinstance(span, dict) or {"start", "end"} - set(span):
            raise ConfigurationError(f"sweep range {i + 1}: give start and end")
        spans.append((_iso(span["start"], "start"), _iso(span["end"], "end")))
    axes = _grid_axes(values.get("grid", {}))
    variants: list[tuple[dict, dict]] = []  # (changes per table, varied)
    for combination in itertools.product(*(values for _, values in axes)) if axes else ():
        changes = {table: {} for table in _TABLES}
        for (name, _), value in zip(axes, combination):
            table, _, key = name.partition(".")
            changes[table][key] = value
        variants.append((changes, dict(zip((name for name, _ in axes), combination))))
    for entry in values.get("configs", []):
        extra = sorted(set(entry) - set(_TABLES))
        if extra:
            raise ConfigurationError(f"sweep [[configs]] entry: unknown table(s) {', '.join(extra)}")
        changes = {table: dict(entry.get(table, {})) for table in _TABLES}
        varied = {f"{t}.{k}": v for t in _TABLES for k, v in changes[t].items()}
        variants.append((changes, varied))  # a listed config stands alone (not crossed with the grid)
    configs, seen = [], set()
    for changes, varied in variants or [({t: {} for t in _TABLES}, {})]:
        for start, end in spans:
            config = SweepConfig({**base["portfolio"], **changes["portfolio"]},
                                 {**base["backtest"], **changes["backtest"]}, start, end, varied)
            config.settings()  # validate now: one line naming the key, before any task runs
            identity = config.key("")
            if identity not in seen:
                seen.add(identity)
                configs.append(config)
    return configs


def snapshot_for(store: Store, configs: Sequence[SweepConfig], root: str | os.PathLike) -> Path:
    """The snapshot (folder) every config of the sweep reads: their ranges, their largest risk
    lookback and their meta-signal methods."""
    settings = [config.settings()[0] for config in configs]
    ranges = sorted({(config.start, config.end) for config in configs})
    specs = {(portfolio.meta_method, portfolio.min_stake) for portfolio in settings}
    return write_snapshot(store, root, ranges, lookback=max(p.risk_lookback for p in settings), signals=specs)


def run_config(source: str | os.PathLike | SnapshotStore, config: dict[str, Any]) -> dict[str, Any]:
    """One sweep task: the walk-forward of ``config`` (:meth:`SweepConfig.to_dict`) on the
    snapshot ``source`` (a folder, read once per process, or a shipped :class:`SnapshotStore`),
    exactly as ``run_walk_forward`` runs it on the store (the round calendar's execution lags,
    the stored meta-signal). Returns ``{"status": "ok", "metrics", "returns", "seconds", "pid"}``
    or, for any exception, ``{"status": "error", "error": "<Type>: <message>"}``."""
    began = time.perf_counter()
    try:
        snapshot = source if isinstance(source, SnapshotStore) else open_snapshot(source)
        sweep_config = SweepConfig.from_dict(config)
        portfolio, schedule = sweep_config.settings()
        schedule = calendar_lagged(snapshot, sweep_config.start, sweep_config.end, schedule)
        result = run_walk_forward(snapshot, sweep_config.start, sweep_config.end, portfolio, schedule,
                                  signal=snapshot.signal(portfolio.meta_method, portfolio.min_stake))
    except Exception as error:  # noqa: BLE001 - a task reports any failure as one line
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return {"status": "error", "error": f"{type(error).__name__}: {first}",
                "seconds": time.perf_counter() - began, "pid": os.getpid()}
    simulation = result.simulation
    metrics = simulation.metrics()
    metrics["rebalances"] = float(len(result.solves))
    metrics["fallbacks"] = float(result.solves["fallback"].notna().sum())
    returns = pd.DataFrame({"net": simulation.net_returns, "gross": simulation.gross_returns,
                            "turnover": simulation.turnover, "cost": simulation.costs.sum(axis=1)})
    return {"status": "ok", "metrics": metrics, "returns": returns, "seconds": time.perf_counter() - began,
            "pid": os.getpid()}


@dataclass
class SweepResult:
    """What a sweep did: ``table`` (one row per config, :func:`sweep_table`), ``ran`` and
    ``skipped`` (keys), ``failures`` (key -> one-line error), ``task_seconds`` (key -> seconds
    inside the task, for the configs run now), ``wall_seconds`` (the whole run)."""

    table: pd.DataFrame
    ran: list[str]
    skipped: list[str]
    failures: dict[str, str]
    task_seconds: dict[str, float]
    wall_seconds: float


def _write_json(path: Path, record: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1, default=str), encoding="utf-8"))


def _finished(out: Path, key: str) -> dict | None:
    """The stored ok result of ``key`` (with its returns file), else None."""
    path = out / "results" / f"{key}.json"
    if not path.exists() or not (out / "returns" / f"{key}.parquet").exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    return record if record.get("status") == "ok" else None


def _record(out: Path, key: str, config: SweepConfig, snapshot_hash: str, payload: dict) -> dict:
    """Write one task's result (json, and returns for an ok one); return the json record."""
    record = {"key": key, "snapshot": snapshot_hash, "config": config.to_dict(), "label": config.label(),
              "status": payload["status"], "seconds": payload.get("seconds"), "pid": payload.get("pid")}
    if payload["status"] == "ok":
        returns = payload["returns"]
        atomic_write(out / "returns" / f"{key}.parquet", lambda tmp: returns.to_parquet(tmp))
        record["metrics"] = payload["metrics"]
    else:
        record["error"] = payload["error"]
    _write_json(out / "results" / f"{key}.json", record)
    return record


def sweep_table(records: Iterable[dict]) -> pd.DataFrame:
    """One row per config: key, label, status, error, start, end, each varied setting, then the
    metrics (NaN for a failed config)."""
    rows = []
    for record in records:
        config = record["config"]
        row = {"key": record["key"], "label": record["label"], "status": record["status"],
               "error": record.get("error"), "start": config["start"], "end": config["end"],
               **config.get("varied", {}), **record.get("metrics", {})}
        rows.append(row)
    return pd.DataFrame(rows)


def _error_payload(error: BaseException) -> dict:
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return {"status": "error", "error": f"{type(error).__name__}: {first}"}


def run_sweep(configs: Sequence[SweepConfig], snapshot: str | os.PathLike, out: str | os.PathLike, *,
              client=None, ship: bool = False,
              progress: Callable[[SweepConfig, dict], None] | None = None) -> SweepResult:
    """Run every config not finished yet in ``out`` (module docstring) on ``snapshot``.

    client: a ``dask.distributed.Client`` (tasks run on its workers, results gathered as they
    finish) or None (serially, in this process). ship: send the loaded snapshot to every worker
    (``client.scatter(..., broadcast=True)``) instead of its folder path, for workers that do
    not share the folder. progress: called with (config, record) as each task finishes (and
    for each skipped config, with its stored record).
    """
    began = time.perf_counter()
    out = Path(out)
    folder = Path(snapshot).resolve()
    snapshot_hash = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["hash"]
    records, todo, skipped = {}, {}, []
    for config in configs:
        key = config.key(snapshot_hash)
        done = _finished(out, key)
        if done is not None:
            records[key] = done
            skipped.append(key)
            if progress:
                progress(config, done)
        else:
            todo[key] = config
    failures, seconds = {}, {}

    def finish(key: str, payload: dict) -> None:
        record = _record(out, key, todo[key], snapshot_hash, payload)
        records[key] = record
        if record["status"] != "ok":
            failures[key] = record["error"]
        elif payload.get("seconds") is not None:
            seconds[key] = float(payload["seconds"])
        if progress:
            progress(todo[key], record)

    if client is None:
        for key, config in todo.items():
            finish(key, run_config(folder, config.to_dict()))
    elif todo:
        from distributed import as_completed

        source = client.scatter(SnapshotStore(folder), broadcast=True) if ship else str(folder)
        futures = {client.submit(run_config, source, config.to_dict(), key=f"sweep-{key}", pure=False): key
                   for key, config in todo.items()}
        for future in as_completed(futures):
            try:
                payload = future.result()
            except Exception as error:  # noqa: BLE001 - a lost worker, an unpicklable result...
                payload = _error_payload(error)
            finish(futures[future], payload)
            future.release()
    order = [config.key(snapshot_hash) for config in configs]
    table = sweep_table(records[key] for key in order)
    atomic_write(out / "metrics.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    atomic_write(out / "metrics.csv", lambda tmp: table.to_csv(tmp, index=False))
    return SweepResult(table, list(todo), skipped, failures, seconds, time.perf_counter() - began)

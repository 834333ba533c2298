"""`metasignal sweep` and `metasignal rescore`: research runs on Dask (a local cluster by default)."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.markup import escape

from metasignal.cli.context import open_store
from metasignal.cli.display import bar, console, frame_table, out
from metasignal.errors import ConfigurationError

_SCHEDULER = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler (tcp://host:8786) "
                                                    "instead of a local cluster.")
_WORKERS = typer.Option(None, "--workers", min=0, help="Worker processes of the local cluster (default: the "
                                                       "cores; 0 runs serially in this process).")


@contextmanager
def _client(scheduler: Optional[str], workers: Optional[int]) -> Iterator[object]:
    """A ``dask.distributed.Client``: on ``scheduler``, else on a LocalCluster of ``workers``
    single-threaded processes; None (serial) for ``--workers 0``."""
    if scheduler is not None and workers is not None:
        raise ConfigurationError("give either --scheduler ADDRESS or --workers N, not both")
    if workers == 0:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def _where(client) -> str:
    if client is None:
        return "serially in this process"
    return f"on {len(client.scheduler_info().get('workers', {}))} worker(s) at {client.scheduler.address}"


def sweep_command(
    grid: Path = typer.Argument(..., help=r"Grid TOML: \[portfolio]/\[backtest] base, \[grid] lists, \[\[ranges]]."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for results, returns, metrics and the report."),
    scheduler: Optional[str] = _SCHEDULER,
    workers: Optional[int] = _WORKERS,
    ship: bool = typer.Option(False, "--ship", help="Send the snapshot to every worker instead of its path "
                                                    "(workers without the shared folder)."),
) -> None:
    """Walk-forward backtests of every config of GRID, one Dask task each, on a Parquet snapshot
    of the store (never the store itself); a rerun skips the configs already finished.

    Writes metrics.csv/.parquet (every config), returns/KEY.parquet, results/KEY.json and
    report.html (net Sharpe against turnover and cost drag)."""
    from metasignal.backtest.sweep import expand_grid, run_sweep, snapshot_for
    from metasignal.config import read_toml
    from metasignal.reports.sweep import best_configs, write_sweep_report

    configs = expand_grid(read_toml(grid))
    with open_store() as store:
        snapshot = snapshot_for(store, configs, out_dir / "snapshot")
    console.print(f"snapshot {escape(snapshot.name)}: {len(configs)} config(s)")
    with _client(scheduler, workers) as client, bar(len(configs), f"sweep ({len(configs)} configs)") as advance:
        console.print(f"running {_where(client)}")

        def progress(config, record) -> None:
            if record["status"] != "ok":
                console.print(f"[red]failed[/] {escape(config.label())}: {escape(record['error'])}")
            advance(1)

        result = run_sweep(configs, snapshot, out_dir, client=client, ship=ship, progress=progress)
    report = write_sweep_report(result.table, out_dir / "report.html", title=f"metasignal sweep {grid.name}")
    best = best_configs(result.table, 5)
    if len(best):
        shown = best[["label", "sharpe", "annual_turnover", "cost_drag_bp_per_year"]]
        out.print(frame_table(shown, "best configs by net Sharpe"))
    out.print(f"{len(result.ran)} run, {len(result.skipped)} already finished (skipped), "
              f"{len(result.failures)} failed, in {result.wall_seconds:.1f} s; wrote metrics.csv, returns/, "
              f"{escape(report.name)} to {escape(str(out_dir))}")
    if result.failures:  # everything is written; the exit code tells a script that some configs failed
        raise typer.Exit(1)


def rescore_command(
    out_dir: Path = typer.Option(..., "--out", help="Folder for scores.parquet and payouts.parquet."),
    policy: Optional[str] = typer.Option(None, "--policy", help="Payout preset (alpha_mpc, fnc_mmc, atomic); "
                                                                "default: the store's policy."),
    window: Optional[list[str]] = typer.Option(None, "--window", help="METRIC=WINDOW, e.g. mpc=20D2L "
                                                                      "(repeatable; replaces the policy's windows)."),
    chunk: int = typer.Option(8, "--chunk", min=1, help="Eras per task."),
    scheduler: Optional[str] = _SCHEDULER,
    workers: Optional[int] = _WORKERS,
) -> None:
    """Score every round's submissions again (every metric, per era) in chunks of eras on Dask,
    and what the rounds would have paid under a policy; the ledger is not touched."""
    from metasignal.backtest.payouts import PayoutPolicy, payout_policy
    from metasignal.backtest.rescore import largest_difference, rescore
    from metasignal.backtest.rounds import round_scores
    from metasignal.cli.rounds_commands import _pairs
    from metasignal.data import atomic_write

    with open_store() as store:
        current = PayoutPolicy.of(store)
        changes = {"windows": _pairs(window, "--window")} if window else {}
        rule = payout_policy(policy or current.name, **changes) if (policy or changes) else current
        with _client(scheduler, workers) as client, bar(0, "rescore (eras)") as advance:
            console.print(f"rescoring under {escape(rule.name)} {_where(client)}")
            result = rescore(store, rule, client=client, chunk_size=chunk, progress=advance)
        stored = round_scores(store)
    for name, frame in (("scores.parquet", result.scores), ("payouts.parquet", result.payouts)):
        atomic_write(out_dir / name, lambda tmp, frame=frame: frame.to_parquet(tmp, index=False))
    gap, compared = largest_difference(result.scores, stored)
    eras = result.scores["round_date"].nunique() if len(result.scores) else 0
    out.print(f"{eras} era(s) in {result.chunks} chunk(s): extract {result.seconds['extract']:.1f} s, "
              f"score {result.seconds['score']:.1f} s, payouts {result.seconds['payout']:.1f} s")
    out.print(f"largest |rescored - stored| over {compared} stored score row(s): {gap:.3g}")
    if len(result.payouts):
        total = result.payouts.groupby("model")["payout"].sum().sort_values(ascending=False).rename("payout")
        out.print(frame_table(total.reset_index(), f"total payout under {rule.name} (uncapped by the ledger)"))
    out.print(f"wrote scores.parquet, payouts.parquet to {escape(str(out_dir))}")


def register(app: typer.Typer) -> None:
    """Add the ``sweep`` and ``rescore`` commands to the root app."""
    app.command("sweep")(sweep_command)
    app.command("rescore")(rescore_command)

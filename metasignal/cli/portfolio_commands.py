"""`metasignal portfolio`: the fund's target portfolio of a date."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.markup import escape

from metasignal.cli.context import open_store
from metasignal.cli.display import frame_table, out, steps
from metasignal.cli.table_files import write_table
from metasignal.data.calendar import read_day


def _alpha_file(store, path: Path, date: pd.Timestamp) -> pd.Series:
    """A signal CSV/Parquet in the submission format -> ticker -> signal for ``date``."""
    from metasignal.signals.submission import parse_submission, validate_for_store

    parsed = parse_submission(path)
    validated = validate_for_store(store, parsed, date=date, min_tickers=1)
    frame = validated.frame
    day = frame["date"].max() if date not in set(frame["date"]) else date
    rows = frame[frame["date"] == day]
    return pd.Series(rows["signal"].to_numpy(), index=rows["ticker"].astype(str), name="signal")


def portfolio_command(
    date: Optional[str] = typer.Option(None, "--date", help="Portfolio date (default: the store's last day)."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write the portfolio to this CSV or Parquet file."),
    alpha: Optional[Path] = typer.Option(None, "--alpha", help="Use this signal file instead of the submissions."),
    config: Optional[Path] = typer.Option(None, "--config", help=r"TOML file with a \[portfolio] table."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Do not store the result as the fund's portfolio."),
) -> None:
    """Optimize the dollar-, sector- and country-neutral target portfolio of DATE."""
    from metasignal.config import portfolio_settings, read_toml
    from metasignal.portfolio.daily import save_target, target_portfolio
    from metasignal.portfolio.data_requirements import require_trading_inputs
    from metasignal.portfolio.feasibility import feasibility_warnings

    settings = portfolio_settings(read_toml(config))
    with open_store() as store, steps(3, "portfolio") as say:
        day = store.last_date() if date is None else store.as_of(read_day(date, what="--date"))
        print_feasibility(feasibility_warnings(store.securities_on(day).reindex(store.universe(day)), settings))
        require_trading_inputs(store, "metasignal portfolio", settings)
        say("reading the signal")
        signal = None if alpha is None else _alpha_file(store, alpha, day)
        say("estimating risk and optimizing")
        target = target_portfolio(store, day, settings, signal=signal)
        say("storing")
        if not dry_run:
            save_target(store, target)
    if out_file is not None:
        write_table(target.table, out_file)
    _print_summary(target, out_file)


def print_feasibility(warnings: list[str]) -> None:
    """Small-universe warnings (:mod:`metasignal.portfolio.feasibility`), one yellow line each."""
    for line in warnings:
        out.print(f"[yellow]warning: {escape(line)}[/]")


def _print_summary(target, out_file: Optional[Path]) -> None:
    result, report = target.result, target.result.report
    lines = [
        f"[bold]portfolio {target.date.date()}[/] from the {target.signal_source}: status {result.status}"
        + (f", [yellow]fallback {result.fallback} (relaxed {', '.join(result.relaxed)})[/]" if result.fallback else ""),
        f"long {report.long:.4f}  short {report.short:.4f}  gross {report.gross:.4f}  net {report.net:+.2e}  "
        f"names {report.n_long} long / {report.n_short} short",
        f"expected risk {report.predicted_volatility:.2%} a year; turnover vs previous {report.turnover if report.turnover is not None else float('nan'):.4f}; "
        f"solve {result.solve_seconds:.2f} s; largest constraint violation "
        f"{(result.violations.max() if len(result.violations) else 0.0):.1e}",
    ]
    for line in lines:
        out.print(line)
    table = target.table
    largest = table.reindex(table["weight"].abs().sort_values(ascending=False).index).head(10)
    out.print(frame_table(largest[["ticker", "weight", "country", "sector", "trade"]], "largest positions"))
    for group, net in report.group_net.items():
        worst = net.abs().max() if len(net) else 0.0
        out.print(f"net exposure per {group}: max |net| {worst:.2e} over {len(net)} {group} labels")
    styles = " ".join(f"{k} {v:+.4f}" for k, v in report.style_exposures.items())
    out.print(f"style exposures: {styles}")
    if out_file is not None:
        out.print(f"[green]wrote[/] {len(table)} rows to {out_file}")


def register(app: typer.Typer) -> None:
    """Add the ``portfolio`` command to the root app."""
    app.command("portfolio")(portfolio_command)

"""What a small universe cannot do under the configured portfolio: warnings with the numbers.

Plain functions over a universe's size and its names' groups (``ticker -> sector`` or
``country`` labels); :func:`feasibility_warnings` gathers them for a settings object and
:func:`store_feasibility_warnings` for a store's dates. Nothing here changes a portfolio: the
optimizer already does what the caps allow; these say so before it runs (docs/data.md,
"Small universes").

- gross: with ``N`` names and ``|w_i| <= max_weight``, ``sum |w_i| <= N * max_weight``; when
  that is below the configured ``gross`` the book is at most ``N * max_weight``.
- groups under neutrality: a sector (country) neutral book holds ``sum_{i in g} w_i = 0`` for
  every group ``g``. A one-name group therefore holds ``w = 0``: never traded. A two-name group
  holds ``w_a = -w_b``: a forced pair trade whatever the signal says of the two.
- targets: derive fits no factor-neutral target on a date with fewer than
  :data:`MIN_TARGET_NAMES` universe names, so such dates have no targets and no round on them
  is scored.
"""

from __future__ import annotations

import pandas as pd

from metasignal.data.import_checks import MIN_TARGET_NAMES


def gross_warning(n_names: int, max_weight: float, gross: float) -> str | None:
    """A warning when ``n_names * max_weight < gross`` (the configured gross cannot be reached), else None."""
    reachable = n_names * max_weight
    if reachable >= gross:
        return None
    return (f"configured gross {gross:g} is unreachable: {n_names} names x max_weight {max_weight:g} = "
            f"{reachable:.4g} at most (raise max_weight to >= {gross / max(n_names, 1):.4g} or add names)")


def small_group_warnings(groups: pd.Series, kind: str) -> list[str]:
    """One warning per group with fewer than three names under ``kind`` neutrality (``groups``:
    ticker -> label): one name is never traded, two names are a forced pair trade."""
    labels = groups.dropna().astype(str)
    members = labels.groupby(labels).groups
    warnings = []
    for label, tickers in sorted(members.items(), key=lambda item: (len(item[1]), item[0])):
        names = ", ".join(sorted(map(str, tickers)))
        if len(tickers) == 1:
            warnings.append(f"{kind} {label} has one name ({names}): {kind}-neutral means its weight is 0, "
                            "it is never traded")
        elif len(tickers) == 2:
            warnings.append(f"{kind} {label} has two names ({names}): {kind}-neutral forces a pair trade "
                            "(equal and opposite weights)")
    return warnings


def targets_warning(n_names: int) -> str | None:
    """A warning when fewer than :data:`MIN_TARGET_NAMES` names leave a date without targets."""
    if n_names >= MIN_TARGET_NAMES:
        return None
    return (f"{n_names} universe names: fewer than {MIN_TARGET_NAMES}, so no targets are derived and "
            "rounds on such dates are not scored")


def feasibility_warnings(securities: pd.DataFrame, settings) -> list[str]:
    """Every warning for one universe (``securities`` indexed by ticker, with ``sector`` and
    ``country`` columns) under ``settings`` (``gross``, ``max_weight``, ``sector_neutral``,
    ``country_neutral``: a :class:`~metasignal.portfolio.settings.PortfolioSettings`)."""
    n_names = len(securities)
    found = [gross_warning(n_names, settings.max_weight, settings.gross), targets_warning(n_names)]
    for kind, neutral in (("sector", settings.sector_neutral), ("country", settings.country_neutral)):
        if neutral and kind in securities.columns:
            found.extend(small_group_warnings(securities[kind], kind))
    return [line for line in found if line]


def smallest_universe_date(store, start=None, end=None) -> pd.Timestamp | None:
    """The date in ``[start, end]`` with the fewest universe names among dates that have any (the
    first such date on ties), or None when no date has a universe."""
    clauses, params = ["in_universe"], []
    if start is not None:
        clauses.append("date >= ?")
        params.append(pd.Timestamp(start).date())
    if end is not None:
        clauses.append("date <= ?")
        params.append(pd.Timestamp(end).date())
    row = store.con.execute(f"SELECT date, count(*) AS n FROM daily WHERE {' AND '.join(clauses)} "
                            "GROUP BY date ORDER BY n, date LIMIT 1", params).fetchone()
    return None if row is None else pd.Timestamp(row[0])


def store_feasibility_warnings(store, settings, start=None, end=None) -> tuple[pd.Timestamp | None, list[str]]:
    """(the date with the smallest universe in ``[start, end]``, the warnings for that universe and
    its sector and country groups as known on that date)."""
    day = smallest_universe_date(store, start, end)
    if day is None:
        return None, []
    universe = store.universe(day)
    securities = store.securities_on(day).reindex(universe)
    return day, feasibility_warnings(securities, settings)

"""Conversion of local prices to US dollars at each day's close.

Conventions:

- ``fx_rates.usd_per_unit`` is the dollars one unit of a major currency buys at the close of
  ``date`` (EURUSD = 1.08 stores ``('EUR', 1.08)``); USD is 1 and needs no row.
- Minor units: a quote currency in :data:`MINOR_UNITS` (``'GBp'``/``'GBX'`` pence,
  ``'ZAc'``/``'ZAC'`` South African cents, ``'ILA'``/``'ILa'`` agorot, ``'USd'`` US cents) is
  its major currency times its fraction: a price of 250 GBp is 2.50 GBP. Codes are
  case-sensitive where Yahoo's are ('GBp' pence, 'GBP' pounds).
- A missing code is USD (a store from before currencies were stored meant dollars).
- A day without a stored rate uses the last rate stored on or before it (never a later one:
  no look-ahead); a day before the first rate of a currency that a security needs is an error
  naming the currency and the day.

A local price ``P`` of a security quoted in currency ``c`` becomes ``P * usd_per_unit(c, t) *
fraction(c)``; returns computed from converted prices are dollar returns:
``(1 + r_local)(1 + r_fx) - 1`` exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasignal.errors import DataValidationError

USD = "USD"
MINOR_UNITS: dict[str, tuple[str, float]] = {
    "GBp": ("GBP", 0.01),
    "GBX": ("GBP", 0.01),
    "ZAc": ("ZAR", 0.01),
    "ZAC": ("ZAR", 0.01),
    "ILA": ("ILS", 0.01),
    "ILa": ("ILS", 0.01),
    "USd": ("USD", 0.01),
}


def major_currency(codes: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``(major currency code, fraction of it one quoted unit is)`` for each quote currency code
    (ticker-indexed Series of codes; missing codes are USD)."""
    codes = codes.astype(object).where(codes.notna() & (codes.astype(str).str.strip() != ""), USD)
    codes = codes.astype(str).str.strip()
    major = codes.map(lambda code: MINOR_UNITS.get(code, (code.upper(), 1.0))[0])
    fraction = codes.map(lambda code: MINOR_UNITS.get(code, (code, 1.0))[1]).astype(float)
    return major, fraction


def fx_pair_symbol(currency: str) -> str:
    """Yahoo's symbol for the dollars per unit of a major currency: ``'EURUSD=X'``."""
    return f"{currency.upper()}USD=X"


def usd_per_quote_unit(rates: pd.DataFrame, currencies: pd.Series, days: pd.DatetimeIndex) -> pd.DataFrame:
    """``days x ticker`` factors turning each security's quoted prices into dollars.

    rates: long ``(date, currency, usd_per_unit)`` rows (``fx_rates``); currencies: ticker ->
    quote currency code. Raises :class:`DataValidationError` naming the currency and the first
    day a security needs a rate that is not known yet.
    """
    major, fraction = major_currency(currencies)
    needed = sorted(set(major) - {USD})
    table = pd.DataFrame(1.0, index=days, columns=[USD])
    if needed:
        rates = rates[rates["currency"].isin(needed)]
        wide = rates.pivot_table(index="date", columns="currency", values="usd_per_unit", aggfunc="last")
        wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index))
        wide = wide.reindex(columns=needed)
        # last rate on or before each day: stored days and the asked days merged, carried forward
        known = wide.reindex(wide.index.union(days)).sort_index().ffill().reindex(days)
        table = pd.concat([table, known], axis=1)
    columns = table.columns.get_indexer(major.to_numpy())
    factors = table.to_numpy()[:, columns] * fraction.to_numpy()[None, :]
    return pd.DataFrame(factors, index=days, columns=currencies.index)


def check_rates_known(factors: pd.DataFrame, needed: pd.DataFrame, currencies: pd.Series) -> None:
    """Raise :class:`DataValidationError` when a cell of ``needed`` (boolean ``days x ticker``:
    a price to convert) has no factor, naming the currency and the first such day."""
    missing = needed.to_numpy() & np.isnan(factors.to_numpy())
    if not missing.any():
        return
    rows, cols = np.nonzero(missing)
    first = np.argmin(rows)
    day, ticker = factors.index[rows[first]], factors.columns[cols[first]]
    major, _ = major_currency(currencies.reindex([ticker]))
    raise DataValidationError(
        f"no FX rate for {major.iloc[0]} on or before {day.date()} (needed to convert {ticker}'s prices "
        f"to USD): import fx_rates (date, currency, usd_per_unit) or fetch them with `metasignal data fetch`"
    )

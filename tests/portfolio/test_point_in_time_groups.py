"""A reclassification effective on d moves the name from d on, in the risk model and the daily book."""

import pandas as pd

from metasignal.portfolio.daily import target_portfolio
from metasignal.portfolio.risk_model import risk_inputs_from_store
from metasignal.portfolio.settings import PortfolioSettings


def _reclassify(store, day):
    """Move one universe name to another sector from ``day`` on; (name, old sector, new sector)."""
    name = store.universe(day)[0]
    securities = store.securities(include_future=True)
    old = securities.loc[name, "sector"]
    new = sorted(set(securities["sector"]) - {old})[0]
    store.write_security_history(pd.DataFrame({"ticker": [name], "effective": [day], "sector": [new]}))
    return name, old, new


def test_the_classification_panel_switches_on_the_effective_date(store_copy):
    days = store_copy.trading_days()
    d = days[300]
    name, old, new = _reclassify(store_copy, d)
    sectors = store_copy.classification("sector", days[290], days[310])[name]
    assert (sectors[sectors.index < d] == old).all() and (sectors[sectors.index >= d] == new).all()
    assert store_copy.securities_on(days[299]).loc[name, "sector"] == old
    assert store_copy.securities_on(d).loc[name, "sector"] == new


def test_the_risk_regressions_use_the_sector_known_on_each_date(store_copy):
    days = store_copy.trading_days()
    d = days[300]
    name, old, new = _reclassify(store_copy, d)
    exposures = risk_inputs_from_store(store_copy, days[280], days[320]).exposures
    rows = exposures.xs(name, level=1)
    assert (rows.loc[rows.index < d, f"sector:{old}"] == 1).all() and (rows.loc[rows.index < d, f"sector:{new}"] == 0).all()
    assert (rows.loc[rows.index >= d, f"sector:{new}"] == 1).all() and (rows.loc[rows.index >= d, f"sector:{old}"] == 0).all()


def test_the_daily_book_is_neutral_in_the_sectors_of_its_date(store_copy):
    days = store_copy.trading_days()
    d = days[300]
    name, _, new = _reclassify(store_copy, d)
    universe = store_copy.universe(d)
    signal = pd.Series(range(len(universe)), index=universe, dtype=float)
    signal[name] = len(universe)  # the moved name ranks first, so the book holds it
    target = target_portfolio(store_copy, d, PortfolioSettings(), signal=signal.rank(pct=True), previous=pd.Series(dtype=float))
    table = target.table.set_index("ticker")
    assert name in table.index and table.loc[name, "sector"] == new
    sectors = store_copy.securities_on(d)["sector"].reindex(table.index)
    assert table["weight"].groupby(sectors).sum().abs().max() < 1e-6

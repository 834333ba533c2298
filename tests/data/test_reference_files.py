"""Files of security history, corporate actions and FX rates: validation and import."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metasignal.data.file_loader import import_file, read_table
from metasignal.data.reference_files import validate_actions, validate_fx_rates, validate_security_history
from metasignal.data.store import Store
from metasignal.errors import DataValidationError, UnknownTickerError

DAYS = pd.bdate_range("2024-03-04", periods=6)


def _frame(tmp_path, text: str, name: str = "file.csv") -> pd.DataFrame:
    path = tmp_path / name
    path.write_text(text)
    return read_table(path)


@pytest.mark.parametrize(
    ("validator", "text", "message"),
    [
        (validate_security_history, "ticker,effective\nA US,2024-01-02\n", "no field column"),
        (validate_security_history, "ticker,effective,sector\nA US,2024-01-02,Tech\nA US,someday,Tech\n",
         r"column effective: missing or unparseable date on line\(s\) 3"),
        (validate_security_history, "ticker,effective,shares_outstanding\nA US,2024-01-02,-5\n",
         r"column shares_outstanding: a share count must be positive \(line\(s\) 2\)"),
        (validate_security_history, "ticker,effective,sector,country\nA US,2024-01-02,,\n", r"line\(s\) 2 state no field"),
        (validate_security_history, "ticker,effective,sector\nA US,2024-01-02,Tech\nA US,2024-01-02,Energy\n",
         r"duplicate \(ticker, effective\) on line\(s\) 3"),
        (validate_actions, "ticker,date,split_ratio\nA US,2024-01-02,0\n",
         r"column split_ratio: a split ratio \(new shares per old\) must be positive \(line\(s\) 2\)"),
        (validate_actions, "ticker,date,dividend\nA US,2024-01-02,-0.1\n", r"column dividend: a dividend must not be negative \(line\(s\) 2\)"),
        (validate_actions, "ticker,date,dividend\nA US,2024-01-02,abc\n",
         r"column dividend: non-numeric or missing value on line\(s\) 2"),
        (validate_actions, "ticker,date,split_ratio,dividend\nA US,2024-01-02,,\n", r"line\(s\) 2 state neither a split_ratio nor a dividend"),
        (validate_fx_rates, "date,currency,usd_per_unit\n2024-01-02,GBp,0.0127\n",
         r"column currency: not a major three-letter code other than USD on line\(s\) 2"),
        (validate_fx_rates, "date,currency,usd_per_unit\n2024-01-02,EUR,\n",
         r"column usd_per_unit: non-numeric or missing value on line\(s\) 2"),
        (validate_fx_rates, "date,currency\n2024-01-02,EUR\n", r"missing required column\(s\) usd_per_unit"),
    ],
)
def test_bad_reference_rows_name_the_file_line_column_and_rule(tmp_path, validator, text, message):
    with pytest.raises(DataValidationError, match=r"^file.csv: " + message):
        validator(_frame(tmp_path, text), "file.csv")


def _store(tmp_path) -> Store:
    store = Store.open(tmp_path / "ref.duckdb", create=True)
    store.write_securities(pd.DataFrame({"ticker": ["AAA US", "VOD GB"], "country": ["US", "GB"],
                                         "sector": ["Tech", "Telecom"], "currency": ["USD", "GBp"],
                                         "shares_outstanding": [2e6, 5e6], "yahoo_symbol": ["AAA", "VOD.L"]}))
    store.write_bars(pd.DataFrame({"date": list(DAYS) * 2, "ticker": ["AAA US"] * 6 + ["VOD GB"] * 6,
                                   "close": [100, 102, 51.5, 52, 51.7, 52.2] + [250.0] * 6, "volume": 1000.0}))
    return store


def test_reference_files_import_by_their_columns_and_change_derived_data(tmp_path):
    with _store(tmp_path) as store:
        fx = tmp_path / "fx.csv"
        fx.write_text("Date,Currency,USD_per_unit\n" + "".join(f"{d.date()},GBP,1.25\n" for d in DAYS))
        assert import_file(store, fx).counts == {"fx_rates": 6}
        actions = tmp_path / "actions.csv"
        actions.write_text(f"ticker,date,split_ratio,dividend\nAAA,{DAYS[2].date()},2,\nAAA US,{DAYS[4].date()},,0.5\n")
        assert import_file(store, actions).counts == {"corporate_actions": 2}  # 'AAA' resolved by its Yahoo symbol
        history = tmp_path / "history.csv"
        history.write_text(f"ticker,effective,shares_outstanding,sector\nAAA US,{DAYS[0].date()},1000000,\n"
                           f"VOD GB,{DAYS[3].date()},,Media\n")
        assert import_file(store, history).counts == {"security_history": 2}
        ret = store.returns()["AAA US"]
        assert ret.iloc[2] == pytest.approx(2 * 51.5 / 102 - 1, abs=1e-12)
        assert ret.iloc[4] == pytest.approx((51.7 + 0.5) / 52 - 1, abs=1e-12)
        np.testing.assert_allclose(store.panel("market_cap")["VOD GB"].to_numpy(), 2.5 * 1.25 * 5e6, rtol=1e-15)
        assert store.panel("market_cap")["AAA US"].iloc[1] == 102 * 1e6
        assert store.securities_on(DAYS[2]).loc["VOD GB", "sector"] == "Telecom"
        assert store.securities_on(DAYS[3]).loc["VOD GB", "sector"] == "Media"


def test_a_refused_reference_file_writes_nothing(tmp_path):
    with _store(tmp_path) as store:
        bad = tmp_path / "actions.csv"
        bad.write_text(f"ticker,date,split_ratio\nAAA US,{DAYS[2].date()},2\nZZZ US,{DAYS[3].date()},3\n")
        with pytest.raises(UnknownTickerError, match="actions.csv: unknown ticker.s. ZZZ US"):
            import_file(store, bad)
        assert store.corporate_actions(include_future=True).empty

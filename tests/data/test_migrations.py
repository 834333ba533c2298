"""The store's schema version (metasignal.data.migrations), applied by Store.open."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from metasignal.data import migrations, schema
from metasignal.data.migrations import SCHEMA_VERSION, VERSION_KEY
from metasignal.data.store import Store
from metasignal.errors import StoreError


def _raw(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path))


def _columns(path: Path, table: str) -> list[str]:
    with _raw(path) as con:
        return [row[0] for row in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
            [table]).fetchall()]


def _version(path: Path) -> str | None:
    with _raw(path) as con:
        row = con.execute("SELECT value FROM meta WHERE key = ?", [VERSION_KEY]).fetchone()
    return None if row is None else row[0]


def _old_store(path: Path) -> None:
    """A store as written before schema versions, with an older ``securities`` table (no
    ``sedol`` nor ``composite_figi``) holding one row, and no ``targets`` table."""
    old = {k: v for k, v in schema.SECURITY_COLUMNS.items() if k not in ("sedol", "composite_figi")}
    with _raw(path) as con:
        con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO meta VALUES ('source', 'synthetic')")
        con.execute("CREATE TABLE securities (" + ", ".join(f'"{k}" {v}' for k, v in old.items()) + ")")
        con.execute("INSERT INTO securities (ticker, country, sector) VALUES ('AAA US', 'US', 'Tech')")
        for table in ("bars", "daily"):
            body = ", ".join(f'"{k}" {v}' for k, v in schema.TABLES[table].items())
            con.execute(f"CREATE TABLE {table} ({body})")


def test_a_new_store_gets_the_current_version(tmp_path):
    path = tmp_path / "new.duckdb"
    with Store.open(path, create=True) as store:
        assert store.get_meta(VERSION_KEY) == str(SCHEMA_VERSION)
        assert migrations.stored_version(store) == SCHEMA_VERSION
    with Store.open(path) as store:  # opening again changes nothing
        assert migrations.migrate(store) == SCHEMA_VERSION
    assert _version(path) == str(SCHEMA_VERSION)


def test_a_store_from_before_versions_is_brought_to_the_current_layout_and_stamped(tmp_path):
    path = tmp_path / "old.duckdb"
    _old_store(path)
    with Store.open(path) as store:
        assert store.get_meta(VERSION_KEY) == str(SCHEMA_VERSION)
        frame = store.securities(include_future=True)
        assert list(frame.index) == ["AAA US"] and frame.loc["AAA US", "sector"] == "Tech"
        assert pd.isna(frame.loc["AAA US", "sedol"])
        written = pd.DataFrame({"ticker": ["BBB US"], "country": ["US"], "sedol": ["1234567"]})
        store.write_securities(written)  # the writer's columns are all there now
        assert store.securities(include_future=True).loc["BBB US", "sedol"] == "1234567"
    for table, columns in schema.TABLES.items():
        assert set(columns) <= set(_columns(path, table)), table
    assert _columns(path, "securities")[-2:] == ["composite_figi", "sedol"]  # added at the end


def test_a_store_with_a_newer_version_is_refused_in_one_line_and_left_alone(tmp_path):
    path = tmp_path / "newer.duckdb"
    with _raw(path) as con:
        con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO meta VALUES (?, ?)", [VERSION_KEY, str(SCHEMA_VERSION + 4)])
    with pytest.raises(StoreError) as caught:
        Store.open(path)
    assert str(caught.value) == (f"store {path} has schema version {SCHEMA_VERSION + 4}, newer than this "
                                 f"metasignal ({SCHEMA_VERSION}): upgrade metasignal")
    assert _columns(path, "bars") == []  # no table was created in it
    assert _version(path) == str(SCHEMA_VERSION + 4)


def test_an_unreadable_version_is_one_line(tmp_path):
    path = tmp_path / "odd.duckdb"
    with Store.open(path, create=True) as store:
        store.set_meta(VERSION_KEY, "two")
    with pytest.raises(StoreError, match=r"^store .* has an unreadable schema version 'two'$"):
        Store.open(path)


def test_a_failing_migration_rolls_back_and_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    _old_store(path)

    def half_done(store: Store) -> None:
        migrations._to_v1(store)  # adds the columns and creates targets ...
        store.con.execute("INSERT INTO securities (ticker) VALUES ('AAA US')")  # ... then breaks a key

    monkeypatch.setitem(migrations._STEPS, 1, half_done)
    with pytest.raises(StoreError) as caught:
        Store.open(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"cannot migrate store {path} from schema version 0 to {SCHEMA_VERSION}: ")
    assert message.endswith("(the store is unchanged)") and "AAA US" in message
    assert "sedol" not in _columns(path, "securities") and _columns(path, "targets") == []
    assert _version(path) is None
    with _raw(path) as con:
        assert con.execute("SELECT count(*) FROM securities").fetchone() == (1,)
    monkeypatch.undo()
    with Store.open(path) as store:  # the real migration still runs on the untouched file
        assert store.get_meta(VERSION_KEY) == str(SCHEMA_VERSION)


def test_a_registered_floor_step_runs_in_the_same_transaction(tmp_path, monkeypatch):
    monkeypatch.setattr(migrations, "_REGISTERED", [])
    ran: list[str] = []

    def floor_step(store: Store) -> None:
        ran.append("floor")
        store.con.execute("CREATE TABLE floor_table (x INTEGER)")

    migrations.register(1, "tests.floor", floor_step)
    migrations.register(1, "tests.floor", floor_step)  # the same owner and version: replaced, runs once
    with pytest.raises(ValueError):
        migrations.register(SCHEMA_VERSION + 1, "tests.floor", floor_step)
    good = tmp_path / "good.duckdb"
    _old_store(good)
    Store.open(good).close()
    assert ran == ["floor"] and _columns(good, "floor_table") == ["x"]

    def broken(store: Store) -> None:
        raise StoreError("the floor's step failed")

    migrations.register(1, "tests.broken", broken)
    bad = tmp_path / "bad.duckdb"
    _old_store(bad)
    with pytest.raises(StoreError, match="the floor's step failed"):
        Store.open(bad)
    assert _columns(bad, "floor_table") == [] and "sedol" not in _columns(bad, "securities")


def test_a_floor_table_in_an_older_shape_fails_in_one_line_naming_the_column(tmp_path):
    from metasignal.signals import storage
    from tests.signals.submission_fixtures import DAYS, build_store, submission_csv, universe_members

    path = tmp_path / "floor.duckdb"
    with build_store(path) as store:
        storage.create_model(store, "alpha", owner="ann")
        store.con.execute("ALTER TABLE submissions DROP COLUMN source")  # a layout with no `source` yet
    with Store.open(path) as store:
        with pytest.raises(StoreError) as caught:
            storage.submit(store, "alpha", io.BytesIO(submission_csv(universe_members(DAYS[-1]))),
                           date=DAYS[-1], backfill=True)
    assert "transaction is aborted" not in str(caught.value) and "source" in str(caught.value)


def _v1_store(path: Path) -> None:
    """A version-1 store: the four market-data tables, one security without a currency, and
    none of version 2's tables."""
    with _raw(path) as con:
        con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO meta VALUES (?, '1')", [VERSION_KEY])
        for table in ("securities", "bars", "daily", "targets"):
            body = ", ".join(f'"{k}" {v}' for k, v in schema.TABLES[table].items())
            con.execute(f"CREATE TABLE {table} ({body})")
        con.execute("INSERT INTO securities (ticker, country, sector) VALUES ('AAA US', 'US', 'Tech')")
        con.execute("INSERT INTO securities (ticker, country, sector, currency) VALUES ('VOD GB', 'GB', 'Tel', 'GBp')")


def test_a_version_1_store_gets_the_reference_tables_and_a_currency_per_security(tmp_path):
    path = tmp_path / "v1.duckdb"
    _v1_store(path)
    with Store.open(path) as store:
        assert store.get_meta(VERSION_KEY) == str(SCHEMA_VERSION)
        currencies = store.securities(include_future=True)["currency"]
        assert currencies.to_dict() == {"AAA US": "USD", "VOD GB": "GBp"}  # a missing currency meant dollars
        assert store.fx_rates().empty and store.corporate_actions().empty and store.security_history().empty
    for table in migrations.V2_TABLES:
        assert _columns(path, table) == list(schema.TABLES[table])


def test_a_failing_version_2_step_leaves_the_version_1_store_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "v1.duckdb"
    _v1_store(path)

    def half_done(store: Store) -> None:
        migrations._to_v2(store)  # creates the tables and backfills the currency ...
        raise StoreError("disk full")  # ... then fails

    monkeypatch.setitem(migrations._STEPS, 2, half_done)
    with pytest.raises(StoreError, match=r"^cannot migrate store .* from schema version 1 to 2: disk full "
                                         r"\(the store is unchanged\)$"):
        Store.open(path)
    assert _version(path) == "1"
    assert all(_columns(path, table) == [] for table in migrations.V2_TABLES)
    with _raw(path) as con:
        assert con.execute("SELECT currency FROM securities WHERE ticker = 'AAA US'").fetchone() == (None,)

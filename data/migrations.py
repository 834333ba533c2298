"""The store's schema version and the migrations that bring an older store to it.

Every store records the layout it was written with as ``meta.schema_version`` (an integer).
:func:`migrate` runs in :meth:`metasignal.data.Store.open`:

- a new store, or one written before versions existed (no ``schema_version``), is brought to
  the current layout and stamped with :data:`SCHEMA_VERSION`;
- a store stamped with an older version runs the steps from its version up, in order;
- a store stamped with a newer version than this code is refused with one line (an older
  metasignal must not write a layout it does not know), before anything is written to it;
- the steps and the stamp run in one transaction: a failing migration rolls back and leaves
  the file as it was, and says so in one line (:class:`StoreError`).

Design. ``data`` owns the market-data tables (``meta``, ``securities``, ``bars``, ``daily``,
``targets``: :mod:`metasignal.data.schema`) and the version number; its steps here change
only those tables. The floors above keep their own tables in the same file through
``store.ensure_tables(owner, statements)``, and ``data`` may not import them (the import-linter
layers), so their layout changes stay their own idempotent DDL, run on first use: ``CREATE
TABLE IF NOT EXISTS`` and ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS`` (that is how
``submissions.status``, ``stake_events.released`` or ``round_results.icv2`` reached older
stores). A floor that ever needs more than that (a rename, a backfill) registers a step from
above with :func:`register`; registered steps run in the same transaction as data's, after
them, when the stored version is older than the current one.

Version 1 is the layout of the first versioned store: step 1 creates any missing market-data
table and adds any column of :data:`metasignal.data.schema.TABLES` that an older table lacks
(as a nullable column: rows written before it have no value).

Version 2 adds point-in-time reference data: the ``security_history``, ``corporate_actions``
and ``fx_rates`` tables (created empty), and gives every security without a currency
``'USD'``: before version 2 every price was read as dollars, so the backfill keeps what an
older store meant (derive now converts prices by ``securities.currency``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import duckdb

from metasignal.data import schema
from metasignal.errors import StoreError

if TYPE_CHECKING:
    from metasignal.data.store import Store

SCHEMA_VERSION: int = 2
VERSION_KEY = "schema_version"

Step = Callable[["Store"], None]

_REGISTERED: list[tuple[int, str, Step]] = []  # (version it brings a store to, owner, step)


def register(version: int, owner: str, step: Step) -> None:
    """Run ``step`` when migrating a store from below ``version`` (a floor's own migration,
    registered from above; ``version`` is at most :data:`SCHEMA_VERSION`). Registering the same
    owner and version again replaces the step."""
    if not 1 <= version <= SCHEMA_VERSION:
        raise ValueError(f"a migration step is for a version in 1..{SCHEMA_VERSION}, got {version}")
    _REGISTERED[:] = [entry for entry in _REGISTERED if entry[:2] != (version, owner)]
    _REGISTERED.append((version, owner, step))


def table_columns(store: "Store", table: str) -> list[str]:
    """The columns of ``table`` in the store, in order (empty when there is no such table)."""
    rows = store.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ? "
        "ORDER BY ordinal_position", [table]).fetchall()
    return [row[0] for row in rows]


def stored_version(store: "Store") -> int | None:
    """The store's ``schema_version`` (``None``: a new store, or one from before versions)."""
    if not table_columns(store, "meta"):
        return None
    row = store.one("SELECT value FROM meta WHERE key = ?", [VERSION_KEY])
    if row is None:
        return None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise StoreError(f"store {store.path} has an unreadable schema version {row[0]!r}") from None


def migrate(store: "Store") -> int:
    """Bring ``store`` to :data:`SCHEMA_VERSION` (module docstring); returns the version it had
    (0 for a new store or one from before versions)."""
    version = stored_version(store)
    if version is not None and version > SCHEMA_VERSION:
        raise StoreError(f"store {store.path} has schema version {version}, newer than this metasignal "
                         f"({SCHEMA_VERSION}): upgrade metasignal")
    if version == SCHEMA_VERSION:
        _create_tables(store)  # a table dropped by hand comes back empty, as before versions
        return version
    start = 0 if version is None else version
    try:
        with store.transaction():
            _create_tables(store)
            for target in range(start + 1, SCHEMA_VERSION + 1):
                _STEPS[target](store)
                for step_version, _owner, step in list(_REGISTERED):
                    if step_version == target:
                        step(store)
            store.set_meta(VERSION_KEY, SCHEMA_VERSION)
    except (duckdb.Error, StoreError) as error:
        store.forget_cached()
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StoreError(f"cannot migrate store {store.path} from schema version {start} to {SCHEMA_VERSION}: "
                         f"{text} (the store is unchanged)") from None
    store.forget_cached()
    return start


def _create_tables(store: "Store") -> None:
    for statement in schema.create_statements():
        store.con.execute(statement)


def _nullable(kind: str) -> str:
    """A column type without its constraints, for adding the column to a table with rows."""
    return " ".join(word for word in kind.replace("PRIMARY KEY", "").replace("NOT NULL", "").split())


def _to_v1(store: "Store") -> None:
    """Version 1: every market-data table has every column of :data:`schema.TABLES`."""
    for table, columns in schema.TABLES.items():
        present = set(table_columns(store, table))
        for name, kind in columns.items():
            if name not in present:
                store.con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {_nullable(kind)}')


V2_TABLES: tuple[str, ...] = ("security_history", "corporate_actions", "fx_rates")


def _to_v2(store: "Store") -> None:
    """Version 2: the point-in-time reference tables exist and every security has a currency
    (``'USD'`` where it had none)."""
    for table in V2_TABLES:
        body = ", ".join(f'"{name}" {kind}' for name, kind in schema.TABLES[table].items())
        store.con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({body})")
    store.con.execute("UPDATE securities SET currency = 'USD' WHERE currency IS NULL OR trim(currency) = ''")


_STEPS: dict[int, Step] = {1: _to_v1, 2: _to_v2}  # step n brings a store from version n - 1 to n

"""Global command-line state: which store the commands act on."""

from __future__ import annotations

from pathlib import Path

from metasignal.data.store import Store, resolve_db_path

_db_override: Path | None = None


def set_db(path: Path | None) -> None:
    """Remember the ``--db`` option (``None`` means ``METASIGNAL_DB`` or the default)."""
    global _db_override
    _db_override = path


def db_path() -> Path:
    """The store path the current command acts on."""
    return resolve_db_path(_db_override)


def open_store(*, create: bool = False) -> Store:
    """Open the store; ``create=False`` raises a one-line ``StoreError`` when it is missing."""
    return Store.open(db_path(), create=create)

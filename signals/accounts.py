"""Users, API keys, ownership and the audit log of the upload service.

A user has a name (the rule of model names) and a role: ``participant`` (uploads to and reads
the models it owns) or ``operator`` (the fund: every model). :func:`create_user` returns the
user's API key once; the store keeps only a salted scrypt hash of its secret part, so a copy
of the store does not give anyone's key away. A key reads ``msk_<key id>_<secret>``: the key
id finds the user, the secret is checked against the hash (one scrypt evaluation, about
50 ms and 16 MiB, so guessing is slow).

Tables:

- ``users(name PK, role, key_id UNIQUE, key_salt, key_hash, created_at)``
- ``audit(recorded_at, actor, action, target, detail, remote)``: append-only, one row per write made
  through the service (who, what, when, from where); nothing deletes or updates it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import pandas as pd

from metasignal.data.store import Store
from metasignal.errors import AuthenticationError, DataValidationError, PermissionDeniedError

ROLES = ("participant", "operator")
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
KEY_PATTERN = re.compile(r"msk_([0-9a-f]{16})_([A-Za-z0-9_\-]{43})")
SCRYPT_COST = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}  # ~16 MiB and ~50 ms per check
DETAIL_LIMIT = 500  # characters of an audit row's detail

_DDL = (
    "CREATE TABLE IF NOT EXISTS users (name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL, "
    "key_id VARCHAR UNIQUE NOT NULL, key_salt BLOB NOT NULL, key_hash BLOB NOT NULL, created_at TIMESTAMP NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit (recorded_at TIMESTAMP NOT NULL, actor VARCHAR, action VARCHAR NOT NULL, "
    "target VARCHAR, detail VARCHAR, remote VARCHAR)",
)


@dataclass(frozen=True)
class User:
    """A user of the service: its name and role."""

    name: str
    role: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


def ensure_tables(store: Store) -> None:
    """Create the ``users`` and ``audit`` tables if missing."""
    store.ensure_tables("signals.accounts", _DDL)


def _secret_hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT_COST)


def create_user(store: Store, name: str, role: str = "participant") -> tuple[User, str]:
    """Register ``name`` with ``role``; returns the user and its API key (shown only now)."""
    if not isinstance(name, str) or not USER_NAME.fullmatch(name):
        raise DataValidationError(
            f"invalid user name {name[:40] if isinstance(name, str) else name!r} (rule: 1-64 letters, digits, "
            "'_', '.', '-', starting with a letter or digit)")
    if role not in ROLES:
        raise DataValidationError(f"unknown role {role!r} (rule: one of {', '.join(ROLES)})")
    ensure_tables(store)
    key_id, secret, salt = secrets.token_hex(8), secrets.token_urlsafe(32), secrets.token_bytes(16)
    with store.transaction():
        if store.one("SELECT 1 FROM users WHERE name = ?", [name]):
            raise DataValidationError(f"user {name!r} already exists (rule: user names are unique)")
        store.con.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                          [name, role, key_id, salt, _secret_hash(secret, salt), store.now().to_pydatetime()])
    return User(name, role), f"msk_{key_id}_{secret}"


def authenticate(store: Store, key: str | None) -> User:
    """The user of API key ``key``; :class:`AuthenticationError` when it is missing or unknown."""
    if not key:
        raise AuthenticationError("no API key: send 'Authorization: Bearer <key>' (metasignal users create NAME)")
    match = KEY_PATTERN.fullmatch(key.strip())
    if match is None:
        raise AuthenticationError("malformed API key (rule: msk_<16 hex>_<43 characters>)")
    ensure_tables(store)
    row = store.one("SELECT name, role, key_salt, key_hash FROM users WHERE key_id = ?", [match.group(1)])
    if row is None or not hmac.compare_digest(_secret_hash(match.group(2), bytes(row[2])), bytes(row[3])):
        raise AuthenticationError("unknown API key")
    return User(row[0], row[1])


def list_users(store: Store) -> pd.DataFrame:
    """Columns name, role, created_at (never a key or a hash)."""
    ensure_tables(store)
    return store.con.execute("SELECT name, role, created_at FROM users ORDER BY name").fetch_df()


def require_owner(user: User, model: str, owner: str | None, action: str) -> None:
    """Raise :class:`PermissionDeniedError` unless ``user`` owns ``model`` or is an operator."""
    if user.is_operator or (owner is not None and owner == user.name):
        return
    raise PermissionDeniedError(f"user {user.name!r} may not {action} model {model!r}: it belongs to "
                                f"{'nobody' if owner is None else repr(owner)} (rule: owner or operator only)")


def record_audit(store: Store, actor: str | None, action: str, target: str, detail: str = "",
                 remote: str | None = None) -> None:
    """Append one row to the audit log, at the store clock (join the caller's transaction)."""
    ensure_tables(store)
    store.con.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)",
                      [store.now().to_pydatetime(), actor, action, target, detail[:DETAIL_LIMIT], remote])


def audit_log(store: Store) -> pd.DataFrame:
    """Every audit row, oldest first: recorded_at, actor, action, target, detail, remote."""
    ensure_tables(store)
    return store.con.execute("SELECT * FROM audit ORDER BY recorded_at, action").fetch_df()

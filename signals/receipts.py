"""Idempotent uploads: the receipt of each upload, kept under its idempotency key.

A client that timed out does not know whether its upload was stored. It retries with the same
key and gets the original receipt back, not a second version (nor a "late" copy of an upload
that was on time). Two kinds of key:

- a client key (``Idempotency-Key`` header, 1-128 of ``A-Z a-z 0-9 _ . : -``), scoped to the
  user who sent it: the same key always answers the original receipt; the same key with a
  different upload (another file, model, date or flag) is refused (:class:`IdempotencyKeyReused`);
- without a client key, the upload's fingerprint (SHA-256 of model, date, backfill flag and file
  bytes): it answers the original receipt only while that upload is still the model's current
  version of each of its dates, so uploading A, then B, then A again makes A current again.

The receipt row is written in the upload's own transaction: it exists exactly when the upload
does.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pandas as pd

from metasignal.data.store import Store
from metasignal.errors import DataValidationError

CLIENT_KEY = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
CONTENT_PREFIX = "content:"

_DDL = (
    "CREATE TABLE IF NOT EXISTS upload_receipts ("
    " actor VARCHAR NOT NULL, key VARCHAR NOT NULL, model VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL,"
    " receipt VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL, PRIMARY KEY (actor, key))",
)


class IdempotencyKeyReused(DataValidationError):
    """A client idempotency key sent again with a different upload."""


def ensure_tables(store: Store) -> None:
    store.ensure_tables("signals.receipts", _DDL)


def fingerprint(model: str, date: str | None, backfill: bool, content: bytes) -> str:
    """SHA-256 (hex) of what identifies one upload: model, date field, backfill flag, file bytes."""
    digest = hashlib.sha256(f"{model}\x00{date or ''}\x00{int(backfill)}\x00".encode())
    digest.update(content)
    return digest.hexdigest()


def upload_key(client_key: str | None, upload_fingerprint: str) -> str:
    """The key an upload is kept under: the client's (checked), else its fingerprint."""
    if client_key is None or client_key == "":
        return CONTENT_PREFIX + upload_fingerprint
    if not CLIENT_KEY.fullmatch(client_key):
        shown = client_key if len(client_key) <= 40 else client_key[:40] + "..."
        raise DataValidationError(
            f"invalid Idempotency-Key {shown!r} (rule: 1-128 letters, digits, '_', '.', ':', '-')"
        )
    return client_key


def original_receipt(store: Store, actor: str, key: str, upload_fingerprint: str) -> dict[str, Any] | None:
    """The receipt stored under ``(actor, key)`` if it answers this upload, else ``None``.

    Raises :class:`IdempotencyKeyReused` for a client key kept for a different upload."""
    ensure_tables(store)
    row = store.one("SELECT fingerprint, receipt FROM upload_receipts WHERE actor = ? AND key = ?", [actor, key])
    if row is None:
        return None
    stored_fingerprint, text = row
    receipt = json.loads(text)
    if not key.startswith(CONTENT_PREFIX):
        if stored_fingerprint != upload_fingerprint:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key!r} was used for a different upload (rule: one key per upload; "
                "send a new key for a new file)"
            )
        return receipt
    return receipt if _still_current(store, receipt) else None


def _still_current(store: Store, receipt: dict[str, Any]) -> bool:
    """Whether every date of ``receipt`` is still at the version the receipt gave it."""
    entries = receipt.get("dates", [])
    if not entries:
        return False
    wanted = pd.DataFrame({"date": pd.to_datetime([e["date"] for e in entries]).date,
                           "version": [int(e["version"]) for e in entries]})
    store.con.register("_receipt_dates", wanted)
    try:
        stale = store.one(
            "SELECT count(*) FROM _receipt_dates w LEFT JOIN (SELECT date, max(version) AS version "
            "FROM submissions WHERE model = ? GROUP BY date) c ON c.date = w.date "
            "WHERE c.version IS DISTINCT FROM w.version",
            [receipt["model"]],
        )[0]
    finally:
        store.con.unregister("_receipt_dates")
    return stale == 0


def record_receipt(store: Store, actor: str, key: str, model: str, upload_fingerprint: str,
                   receipt: dict[str, Any]) -> None:
    """Keep ``receipt`` under ``(actor, key)`` (replacing a content key's stale receipt).
    Call inside the upload's transaction."""
    ensure_tables(store)
    with store.transaction():
        store.con.execute("DELETE FROM upload_receipts WHERE actor = ? AND key = ?", [actor, key])
        store.con.execute(
            "INSERT INTO upload_receipts VALUES (?, ?, ?, ?, ?, ?)",
            [actor, key, model, upload_fingerprint, json.dumps(receipt), store.now().to_pydatetime()],
        )

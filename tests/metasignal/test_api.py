"""The HTTP upload API, exercised with FastAPI's TestClient on a temporary store.

The store's replay clock is at the opening of the round of Friday 2024-01-05 (2024-01-06 12:00
UTC; deadline 2024-01-07 14:00 UTC): uploads are stamped then and go to that round.
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from metasignal.api import create_app
from metasignal.data.clock import Clock
from metasignal.data.store import Store
from metasignal.errors import StoreError
from metasignal.signals.accounts import audit_log, create_user
from metasignal.signals.round_calendar import RoundCalendar
from tests.signals.submission_fixtures import DAYS, build_store, submission_csv, universe_members

MEMBERS = list(universe_members(DAYS[-1]))
ROUND = RoundCalendar().round_of("2024-01-05")
ON_TIME = {"status": "on_time", "deadline": "2024-01-07T14:00:00Z", "queued_for": None}


KEYS: dict[str, str] = {}  # user -> API key, made with the template store


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[user]}"}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "template.duckdb"
    with build_store(path) as store:
        store.set_clock(Clock("replay", ROUND.opens))
        for name, role in (("ann", "participant"), ("bob", "participant"), ("ops", "operator")):
            KEYS[name] = create_user(store, name, role)[1]
    return path


@pytest.fixture
def db(template, tmp_path):
    path = tmp_path / "store.duckdb"
    shutil.copyfile(template, path)
    return path


@pytest.fixture
def client(db):
    with TestClient(create_app(db, max_bytes=50_000), headers=bearer("ann")) as test_client:
        test_client.post("/models", json={"name": "alpha", "owner": "ann"})
        yield test_client


def _upload(client, data: bytes, *, model="alpha", date=None, filename="sub.csv", form=None, params=None):
    form = dict(form or {}, **({} if date is None else {"date": str(date)}))
    return client.post(f"/models/{model}/submissions", files={"file": (filename, data, "text/csv")}, data=form,
                       params=params)


def _counts(client) -> tuple[int, int]:
    con = client.app.state.store.con
    return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("submissions", "submission_values"))


def test_health_names_the_store_and_last_day(client, db):
    body = client.get("/health").json()
    assert body == {"status": "ok", "store": str(db), "last_trading_day": "2024-01-05", "uploads_in_progress": 0,
                    "jobs": 0}


def test_clock_names_the_open_round(client):
    assert client.get("/clock").json() == {
        "mode": "replay", "now": "2024-01-06T12:00:00Z", "visible_through": "2024-01-05", "schedule": "weekly",
        "open_round": {"round": "2024-01-05", "opens": "2024-01-06T12:00:00Z", "deadline": "2024-01-07T14:00:00Z"},
        "next_round": None,
    }


def test_clock_names_the_next_round_when_none_is_open(db):
    with Store.open(db) as store:
        store.set_clock(Clock("replay", pd.Timestamp("2024-01-08 09:00")))
    with TestClient(create_app(db)) as client:
        body = client.get("/clock").json()
    assert body["open_round"] is None and body["visible_through"] == "2024-01-07"
    assert body["next_round"] == {"round": "2024-01-12", "opens": "2024-01-13T12:00:00Z",
                                  "deadline": "2024-01-14T14:00:00Z"}


def test_create_and_list_models(client):
    assert client.post("/models", json={"name": "beta"}).status_code == 201
    names = [m["name"] for m in client.get("/models").json()]
    assert names == ["alpha", "beta"]
    first = client.get("/models").json()[0]
    assert first["owner"] == "ann" and first["n_dates"] == 0 and first["last_date"] is None


def test_model_errors_are_one_line_with_status(client):
    duplicate = client.post("/models", json={"name": "alpha"})
    assert duplicate.status_code == 409 and "already exists" in duplicate.json()["error"]
    invalid = client.post("/models", json={"name": "no spaces"})
    assert invalid.status_code == 422 and "invalid model name" in invalid.json()["error"]
    missing = client.post("/models", json={"owner": "ann"})
    assert missing.status_code == 422 and "name" in missing.json()["error"]


def test_upload_returns_the_receipt_and_stores_it(client):
    values = np.linspace(0, 1, 121)
    response = _upload(client, submission_csv(MEMBERS[:120] + ["NOPE US"], values), date="2024-01-05")
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["model"] == "alpha" and receipt["n_accepted"] == 120 and receipt["n_dropped"] == 1
    assert receipt["dropped_ids"] == ["NOPE US"] and receipt["id_column"] == "numerai_ticker"
    assert receipt["uploaded_at"] == "2024-01-06T12:00:00"
    assert receipt["dates"] == [{"date": "2024-01-05", "version": 1, "new_version": True, "n_accepted": 120,
                                 "n_dropped": 1, **ON_TIME}]
    listed = client.get("/models/alpha/submissions").json()
    assert [(r["date"], r["version"], r["current"], r["source"]) for r in listed] == [("2024-01-05", 1, True, "sub.csv")]
    signal = client.get("/models/alpha/submissions/2024-01-05").json()
    expected = dict(zip(MEMBERS[:120], values[:120]))
    assert signal.keys() == expected.keys()
    assert all(abs(signal[t] - expected[t]) < 1e-15 for t in expected)


def test_upload_defaults_to_the_open_round_and_reuploads_version(client):
    first = _upload(client, submission_csv(MEMBERS[:120])).json()
    again = _upload(client, submission_csv(MEMBERS[:120]))
    changed = _upload(client, submission_csv(MEMBERS[:120], np.linspace(1, 0, 120))).json()
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first  # the same file again, still current: its original receipt
    assert [r["dates"][0]["date"] for r in (first, changed)] == ["2024-01-05"] * 2
    assert {r["dates"][0]["status"] for r in (first, changed)} == {"on_time"}
    assert [(r["dates"][0]["version"], r["dates"][0]["new_version"]) for r in (first, changed)] == [(1, True), (2, True)]
    current = client.get("/models/alpha/submissions", params={"current_only": True}).json()
    assert [r["version"] for r in current] == [2]
    back = _upload(client, submission_csv(MEMBERS[:120]))  # A, B, then A again: A becomes current again
    assert "Idempotent-Replayed" not in back.headers and back.json()["dates"][0]["version"] == 3
    assert current[0]["status"] == "on_time" and current[0]["deadline"] == "2024-01-07T14:00:00"
    old = client.get("/models/alpha/submissions/2024-01-05", params={"version": 1}).json()
    assert old[MEMBERS[0]] == 0.0


def test_parquet_upload(client):
    buffer = io.BytesIO()
    pd.DataFrame({"numerai_ticker": MEMBERS[:110], "prediction": np.linspace(0, 1, 110)}).to_parquet(buffer)
    response = _upload(client, buffer.getvalue(), filename="sub.parquet")
    assert response.status_code == 201 and response.json()["n_accepted"] == 110


@pytest.mark.parametrize("how", ["form", "query"])
def test_backfill_flag_stores_research_history(client, how):
    data = submission_csv(MEMBERS[:110], date=DAYS[1]) + submission_csv(MEMBERS[:110], date=DAYS[2]).split(b"\n", 1)[1]
    refused = _upload(client, data)
    assert refused.status_code == 422 and "backfill" in refused.json()["error"]
    flag = {"backfill": "true"}
    response = _upload(client, data, **({"form": flag} if how == "form" else {"params": flag}))
    assert response.status_code == 201, response.text
    assert [(d["date"], d["status"], d["deadline"]) for d in response.json()["dates"]] == [
        ("2024-01-02", "backfill", None), ("2024-01-03", "backfill", None)]


def test_bad_backfill_flag_is_422(client):
    response = _upload(client, submission_csv(MEMBERS[:120]), form={"backfill": "maybe"})
    assert response.status_code == 422 and "backfill must be true or false" in response.json()["error"]


def test_round_errors_are_422_one_line_and_store_nothing(client, db):
    response = _upload(client, submission_csv(MEMBERS[:120]), date="2024-01-04")
    body = response.json()
    assert response.status_code == 422 and "\n" not in body["error"]
    assert "2024-01-04 is not a round" in body["error"] and "the open round is 2024-01-05" in body["error"]
    assert _counts(client) == (0, 0)


def test_late_upload_is_queued_for_the_next_round(db):
    with Store.open(db) as store:
        store.set_clock(Clock("replay", pd.Timestamp("2024-01-08 09:00")))
    with TestClient(create_app(db), headers=bearer("ann")) as client:
        client.post("/models", json={"name": "alpha"})
        response = _upload(client, submission_csv(MEMBERS[:120]), date="2024-01-05")
    assert response.status_code == 201, response.text
    entry = response.json()["dates"][0]
    assert (entry["status"], entry["deadline"], entry["queued_for"]) == ("late", "2024-01-07T14:00:00Z", "2024-01-12")


@pytest.mark.parametrize(
    "data, rule, status, fragment",
    [
        (b"ticker,signal\nA,0.5\nB,oops\n", "non_numeric", 422, "column 'signal' at line 3 ('oops')"),
        (submission_csv(MEMBERS[:30]), "too_few_tickers", 422, "at least 100 per date"),
        (b"ticker,score\nA,1\n", "missing_column", 422, "missing value column"),
        (b"", "empty_file", 422, "empty"),
        (b"ticker,signal\n" + b"ABCD US,0.5\n" * 5000, "file_too_large", 413, "size limit of 50,000 bytes"),
    ],
    ids=["non_numeric", "too_few_tickers", "missing_column", "empty_file", "file_too_large"],
)
def test_bad_uploads_are_4xx_one_line_and_store_nothing(client, data, rule, status, fragment):
    response = _upload(client, data, date="2024-01-05")
    body = response.json()
    assert response.status_code == status
    assert body["rule"] == rule and fragment in body["error"] and "\n" not in body["error"]
    assert _counts(client) == (0, 0)


def test_oversized_body_is_refused_from_its_content_length(client):
    response = _upload(client, b"x" * 200_000)
    assert response.status_code == 413 and "200," in response.json()["error"]


def test_unknown_model_and_missing_submission_are_404(client):
    assert _upload(client, submission_csv(MEMBERS[:120]), model="ghost").status_code == 404
    assert client.get("/models/ghost/submissions").status_code == 404
    missing = client.get("/models/alpha/submissions/2024-01-05")
    assert missing.status_code == 404 and "no submission for 2024-01-05" in missing.json()["error"]


def test_bad_date_field_is_422(client):
    response = _upload(client, submission_csv(MEMBERS[:120]), date="not-a-date")
    assert response.status_code == 422 and response.json()["rule"] == "bad_date"
    weekend = _upload(client, submission_csv(MEMBERS[:120]), date="2024-01-06")
    assert weekend.status_code == 422 and "not a trading day" in weekend.json()["error"]
    hidden = _upload(client, submission_csv(MEMBERS[:120]), date="2024-01-09")
    assert hidden.status_code == 422 and "covers 2024-01-01 to 2024-01-05" in hidden.json()["error"]


def test_missing_file_field_is_422(client):
    response = client.post("/models/alpha/submissions", data={"date": "2024-01-05"})
    assert response.status_code == 422 and "file" in response.json()["error"]


def test_missing_store_fails_at_creation(tmp_path):
    with pytest.raises(StoreError, match="no store at"):
        create_app(tmp_path / "none.duckdb")


# ----------------------------------------------------------------------------- who may do what
def test_the_authorization_matrix(client):
    """anonymous, the owner, another participant and an operator, on every endpoint."""
    csv = submission_csv(MEMBERS[:120])
    assert _upload(client, csv).status_code == 201  # ann owns alpha
    app = client.app
    reads = ("/models/alpha/submissions", "/models/alpha/submissions/2024-01-05")
    # more clients of the same app, without their own lifespan (which would close the store)
    anonymous, bob, ops = TestClient(app), TestClient(app, headers=bearer("bob")), TestClient(app, headers=bearer("ops"))
    for public in ("/health", "/clock", "/models"):
        assert anonymous.get(public).status_code == 200  # public: the service's state and the models
    for response in (anonymous.post("/models", json={"name": "sneaky"}), _upload(anonymous, csv),
                     *(anonymous.get(path) for path in reads)):
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert "API key" in response.json()["error"]
    for response in (_upload(bob, csv), *(bob.get(path) for path in reads)):  # not bob's model
        assert response.status_code == 403 and "belongs to 'ann'" in response.json()["error"]
    assert bob.post("/models", json={"name": "b1", "owner": "ann"}).status_code == 403  # not for others
    assert bob.post("/models", json={"name": "b1"}).json()["owner"] == "bob"  # his own
    assert _upload(bob, csv, model="b1").status_code == 201
    assert _upload(ops, csv).status_code == 201 and all(ops.get(path).status_code == 200 for path in reads)
    assert ops.post("/models", json={"name": "a2", "owner": "ann"}).json()["owner"] == "ann"
    assert ops.post("/models", json={"name": "x2", "owner": "nobody"}).status_code == 422  # owners are users
    assert _upload(client, csv, model="a2").status_code == 201  # ann uploads to the model made for her
    wrong = TestClient(app, headers={"Authorization": "Bearer msk_0123456789abcdef_" + "x" * 43})
    assert wrong.get(reads[0]).status_code == 401 and wrong.get(reads[0]).json()["error"] == "unknown API key"
    garbled = TestClient(app, headers={"Authorization": "Bearer hello"}).get(reads[0])
    assert garbled.status_code == 401 and "malformed API key" in garbled.json()["error"]


def test_every_write_through_the_service_is_audited_and_keys_are_stored_hashed(client):
    assert _upload(client, submission_csv(MEMBERS[:120])).status_code == 201
    assert _upload(client, b"ticker,signal\nA,oops\n").status_code == 422  # refused: nothing written, no row
    store = client.app.state.store
    log = audit_log(store)
    assert log[["actor", "action", "target"]].values.tolist() == [["ann", "create_model", "alpha"],
                                                                  ["ann", "upload", "alpha"]]
    assert "2024-01-05 v1 on_time" in log.iloc[1]["detail"] and log.iloc[1]["remote"]
    stored = store.con.execute("SELECT key_id, key_salt, key_hash FROM users WHERE name = 'ann'").fetchone()
    secret = KEYS["ann"].split("_", 2)[2]
    assert KEYS["ann"].startswith(f"msk_{stored[0]}_") and secret.encode() not in bytes(stored[2])
    assert len(bytes(stored[1])) == 16 and len(bytes(stored[2])) == 32  # a salted scrypt hash, not the key

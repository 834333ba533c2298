"""Users, API keys, ownership and the audit log (metasignal.signals.accounts), and their CLI."""

import pytest

from metasignal.data import Store
from metasignal.errors import AuthenticationError, DataValidationError, PermissionDeniedError, StoreError
from metasignal.signals import accounts, storage


def test_a_key_authenticates_its_user_once_created_and_nothing_else_does(submission_store):
    user, key = accounts.create_user(submission_store, "ann")
    operator, operator_key = accounts.create_user(submission_store, "ops", "operator")
    assert accounts.authenticate(submission_store, key) == user and not user.is_operator
    assert accounts.authenticate(submission_store, operator_key).is_operator
    key_id, secret = key.split("_")[1], key.split("_", 2)[2]
    forged = f"msk_{key_id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"  # right id, wrong secret
    for bad, message in ((forged, "unknown API key"), (None, "no API key"), ("msk_nope", "malformed")):
        with pytest.raises(AuthenticationError, match=message):
            accounts.authenticate(submission_store, bad)
    assert list(accounts.list_users(submission_store).columns) == ["name", "role", "created_at"]  # no key material
    with pytest.raises(DataValidationError, match="already exists"):
        accounts.create_user(submission_store, "ann")
    with pytest.raises(DataValidationError, match="unknown role"):
        accounts.create_user(submission_store, "cat", "admin")


def test_only_the_owner_or_an_operator_acts_on_a_model():
    ann, ops = accounts.User("ann", "participant"), accounts.User("ops", "operator")
    accounts.require_owner(ann, "alpha", "ann", "upload to")
    accounts.require_owner(ops, "alpha", "ann", "upload to")
    with pytest.raises(PermissionDeniedError, match="belongs to 'ann'"):
        accounts.require_owner(accounts.User("bob", "participant"), "alpha", "ann", "upload to")
    with pytest.raises(PermissionDeniedError, match="belongs to nobody"):
        accounts.require_owner(ann, "legacy", None, "read the submissions of")


@pytest.mark.parametrize("owner", ["[/bold]", "x" * 5_000_000, "two words"])
def test_owners_are_names_not_free_text(submission_store, owner):
    with pytest.raises(DataValidationError, match="invalid owner") as raised:
        storage.create_model(submission_store, "m1", owner=owner)
    assert len(str(raised.value)) < 300  # the message quotes at most the start of a huge owner
    assert storage.list_models(submission_store).empty


def test_the_cli_shows_a_key_once_and_prints_stored_text_as_text(submission_store, capsys, monkeypatch):
    from tests.metasignal.cli_runner import cli

    # a store from before owners were checked may hold markup: it is printed, never interpreted
    storage.ensure_tables(submission_store)
    submission_store.con.execute("INSERT INTO models VALUES ('legacy', '[/bold]', now())")
    path = submission_store.path
    submission_store.close()
    code, out, err = cli(capsys, monkeypatch, "--db", path, "users", "create", "ann")
    assert code == 0, err
    key = next(line for line in out.splitlines() if line.startswith("msk_"))
    with Store.open(path) as store:
        assert accounts.authenticate(store, key).name == "ann"
    code, out, err = cli(capsys, monkeypatch, "--db", path, "users", "list")
    assert code == 0 and "ann" in out and key not in out
    code, out, err = cli(capsys, monkeypatch, "--db", path, "models", "list")
    assert code == 0, err
    assert "[/bold]" in out and "legacy" in out


def test_a_file_that_is_not_a_store_is_refused_not_opened_in_memory(tmp_path, capsys, monkeypatch):
    from tests.metasignal.cli_runner import cli

    csv = tmp_path / "signals.csv"
    csv.write_text("ticker,signal\nA,0.5\n")
    with pytest.raises(StoreError, match="is not a metasignal store"):
        Store.open(csv)
    code, out, err = cli(capsys, monkeypatch, "--db", csv, "models", "create", "lost_model")
    assert code == 1 and "is not a metasignal store" in err and "created" not in out
    assert csv.read_text() == "ticker,signal\nA,0.5\n"  # untouched

"""`metasignal users create|list|audit`: accounts of the upload service and its audit log."""

from __future__ import annotations

import typer

from metasignal.cli.context import open_store
from metasignal.cli.display import frame_table
from metasignal.cli.display import out as console

users_app = typer.Typer(help="Users of the upload service: API keys, roles, the audit log.", no_args_is_help=True)


@users_app.command("create")
def users_create_command(
    name: str = typer.Argument(..., help="User name: letters, digits, '_', '.', '-' (max 64)."),
    operator: bool = typer.Option(False, "--operator", help="An operator of the fund: may act on every model."),
) -> None:
    """Register a user and print its API key, once: the store keeps only a salted hash of it."""
    from metasignal.signals.accounts import create_user

    with open_store() as store:
        user, key = create_user(store, name, "operator" if operator else "participant")
    console.print(f"[green]created[/] {user.role} {user.name}; API key (shown only now, keep it secret):")
    console.print(key, markup=False, highlight=False, soft_wrap=True)
    console.print("send it as 'Authorization: Bearer <key>' to `metasignal serve`")


@users_app.command("list")
def users_list_command() -> None:
    """Every user with its role (never a key)."""
    from metasignal.signals.accounts import list_users

    with open_store() as store:
        users = list_users(store)
    if users.empty:
        console.print("no users yet: create one with `metasignal users create NAME`")
        return
    users["created_at"] = users["created_at"].dt.strftime("%Y-%m-%d %H:%M")
    console.print(frame_table(users, "users"))


@users_app.command("audit")
def users_audit_command(last: int = typer.Option(20, "--last", min=1, help="Show the last N writes.")) -> None:
    """The service's audit log: who wrote what, when, from where (append-only)."""
    from metasignal.signals.accounts import audit_log

    with open_store() as store:
        log = audit_log(store).tail(last)
    if log.empty:
        console.print("the audit log is empty: no write has come through the service yet")
        return
    log["recorded_at"] = log["recorded_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    console.print(frame_table(log.fillna("-"), f"audit log (last {len(log)})"))


def register(app: typer.Typer) -> None:
    """Add the ``users`` group to the root app."""
    app.add_typer(users_app, name="users")

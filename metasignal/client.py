"""A participant's client of the HTTP upload API (``metasignal serve``, metasignal/api.py).

>>> client = SignalsClient.from_environment()            # server and key as below
>>> client.upload("my_model", "signals.csv")["dates"]    # the server's receipt

Credentials, in the manner of numerapi:

- the API key comes from ``$METASIGNAL_API_KEY``, else from the config file; never from a
  command-line argument (it would show in ``ps``);
- the server comes from the ``server`` argument (the CLI's ``--server``), else
  ``$METASIGNAL_SERVER``, else the config file;
- the config file is ``$METASIGNAL_CONFIG`` (which must exist when set), else
  ``~/.config/metasignal/client.toml`` (optional)::

      [client]
      server = "https://signals.example.org"
      api_key = "msk_..."

  A config file that holds a key and is readable by its group or others is refused, as ssh
  refuses such a private key (``chmod 600`` it). It is only read when the argument or the
  environment leave the server or the key unset.

Uploads carry ``Idempotency-Key`` (a fresh uuid4 per :meth:`SignalsClient.upload` call unless
one is given) and are retried up to ``attempts`` times, with the same key, after a timeout, a
connection error or a 502/503/504: a server that honours the header answers a retry of an
upload it already stored with the original receipt. Errors are one line:
:class:`~metasignal.errors.ServerError` (with the HTTP ``status``) for an error answer,
:class:`~metasignal.errors.NetworkError` when the server cannot be reached,
:class:`~metasignal.errors.AuthenticationError` when no key is configured.
"""

from __future__ import annotations

import os
import stat
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any, Optional

import httpx

from metasignal.errors import AuthenticationError, ConfigurationError, NetworkError, ServerError

__all__ = ["SignalsClient", "config_path", "read_config", "receipt_from_json", "resolve_server", "resolve_api_key"]

API_KEY_ENV = "METASIGNAL_API_KEY"
SERVER_ENV = "METASIGNAL_SERVER"
CONFIG_ENV = "METASIGNAL_CONFIG"
DEFAULT_TIMEOUT = 60.0  # seconds per attempt: a large upload is parsed and validated before the reply
RETRY_STATUSES = frozenset({502, 503, 504})
KEY_HELP = ("get a key with `metasignal users create NAME` on the server's store, then set "
            f"${API_KEY_ENV} or api_key in the [client] table of the config file")


# --------------------------------------------------------------------------- credentials


def config_path() -> Path:
    """The client's config file: ``$METASIGNAL_CONFIG``, else ``~/.config/metasignal/client.toml``."""
    named = os.environ.get(CONFIG_ENV)
    return Path(named).expanduser() if named else Path.home() / ".config" / "metasignal" / "client.toml"


def read_config(path: Path | None = None) -> dict[str, str]:
    """The ``[client]`` table of the config file (empty when the default file does not exist).

    A file named by ``$METASIGNAL_CONFIG`` must exist; a file that holds ``api_key`` must not be
    readable by group or others (POSIX); unknown keys are refused."""
    named = path is None and bool(os.environ.get(CONFIG_ENV))
    path = config_path() if path is None else path
    if not path.exists():
        if named:
            raise ConfigurationError(f"config file {path} (${CONFIG_ENV}) does not exist")
        return {}
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"cannot read config file {path}: {error}") from None
    table = document.get("client", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"config file {path}: [client] must be a table")
    unknown = sorted(set(table) - {"server", "api_key"})
    if unknown:
        raise ConfigurationError(f"config file {path}: unknown key {unknown[0]!r} in [client] (known: server, api_key)")
    for name, value in table.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"config file {path}: [client] {name} must be a non-empty string")
    if "api_key" in table and os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigurationError(
                f"config file {path} holds an API key but is readable by others (mode {mode:04o}): chmod 600 {path}"
            )
    return {name: value.strip() for name, value in table.items()}


def resolve_server(server: str | None = None) -> str:
    """The server URL: ``server``, else ``$METASIGNAL_SERVER``, else the config file's ``server``."""
    url = server or os.environ.get(SERVER_ENV) or read_config().get("server")
    if not url:
        raise ConfigurationError(f"no server: pass --server URL, set ${SERVER_ENV} or server in {config_path()}")
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"server must be an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


def resolve_api_key() -> str:
    """The API key: ``$METASIGNAL_API_KEY``, else the config file's ``api_key``."""
    key = (os.environ.get(API_KEY_ENV) or "").strip() or read_config().get("api_key")
    if not key:
        raise AuthenticationError(f"no API key: {KEY_HELP} ({config_path()})")
    return key


# --------------------------------------------------------------------------- the client


class SignalsClient:
    """The upload API over HTTP: models, the clock, uploads with idempotent retries.

    ``timeout`` is per attempt (seconds); ``attempts`` is the number of tries of a retriable
    request, waiting ``backoff``, then twice that, ... between them. ``transport`` is an optional
    ``httpx`` transport (tests use ``httpx.MockTransport``)."""

    def __init__(
        self,
        server_url: str,
        api_key: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if attempts < 1:
            raise ConfigurationError(f"attempts must be at least 1, got {attempts}")
        self.server_url = server_url.rstrip("/")
        self.attempts = attempts
        self.backoff = backoff
        headers = {"User-Agent": "metasignal-client"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=self.server_url, headers=headers, timeout=timeout, transport=transport)

    @classmethod
    def from_environment(cls, server: str | None = None, **options: Any) -> "SignalsClient":
        """A client with the server and key resolved as the module describes."""
        return cls(resolve_server(server), resolve_api_key(), **options)

    def __enter__(self) -> "SignalsClient":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # ----------------------------------------------------------------------- endpoints

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return self._request("GET", "/health", retriable=True)

    def clock(self) -> dict[str, Any]:
        """``GET /clock``: the store clock and the open (or next) round."""
        return self._request("GET", "/clock", retriable=True)

    def models(self) -> list[dict[str, Any]]:
        """``GET /models``: every model with its owner and submitted dates."""
        return self._request("GET", "/models", retriable=True)

    def create_model(self, name: str, *, owner: str | None = None) -> dict[str, Any]:
        """``POST /models``: a model owned by the key's user (an operator may name another owner).

        Not retried after a timeout (a second try could answer 409 for the model the first made)."""
        body = {"name": name} if owner is None else {"name": name, "owner": owner}
        return self._request("POST", "/models", retriable=False, json=body)

    def submissions(self, model: str, *, current_only: bool = False) -> list[dict[str, Any]]:
        """``GET /models/{model}/submissions``: the stored versions (owner or operator only)."""
        params = {"current_only": "true"} if current_only else None
        return self._request("GET", f"/models/{model}/submissions", retriable=True, params=params)

    def upload(
        self,
        model: str,
        path: str | os.PathLike[str],
        *,
        date: str | None = None,
        backfill: bool = False,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Upload a CSV or Parquet file as ``model``'s submission; returns the server's receipt
        (``SubmissionReceipt.to_dict``). Every attempt sends the same ``Idempotency-Key``."""
        file = Path(path)
        try:
            content = file.read_bytes()
        except OSError as error:
            raise ConfigurationError(f"cannot read {file}: {error.strerror or error}") from None
        kind = "application/octet-stream" if file.suffix.lower() in (".parquet", ".pq") else "text/csv"
        form: dict[str, str] = {}
        if date is not None:
            form["date"] = str(date)
        if backfill:
            form["backfill"] = "true"
        key = idempotency_key or uuid.uuid4().hex
        return self._request(
            "POST", f"/models/{model}/submissions", retriable=True, headers={"Idempotency-Key": key},
            files={"file": (file.name, content, kind)}, data=form,
        )

    # ----------------------------------------------------------------------- transport

    def _request(self, method: str, path: str, *, retriable: bool, **kwargs: Any) -> Any:
        """Send with retries; the decoded JSON body of a 2xx answer, else a one-line error."""
        failure = ""
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                time.sleep(self.backoff * 2 ** (attempt - 2))
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.ConnectError as error:  # nothing was sent: always safe to try again
                failure = f"cannot connect ({error})"
                continue
            except (httpx.TimeoutException, httpx.TransportError) as error:
                what = "timed out" if isinstance(error, httpx.TimeoutException) else "connection failed"
                failure = f"{what} ({error or type(error).__name__})"
                if retriable:
                    continue
                raise NetworkError(f"{method} {self.server_url}{path}: {failure}; not retried") from None
            if response.status_code in RETRY_STATUSES and retriable and attempt < self.attempts:
                failure = f"{response.status_code} {_message(response)}"
                continue
            if response.is_success:
                return response.json()
            raise _server_error(response, self.server_url)
        raise NetworkError(f"{method} {self.server_url}{path}: {failure} after {self.attempts} attempts")


def _message(response: httpx.Response) -> str:
    """The server's one-line message: the JSON ``error``, else the first line of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        text = body["error"]
    else:
        text = response.text.strip().splitlines()[0] if response.text.strip() else response.reason_phrase
    return " ".join(text.split())[:500]


def _server_error(response: httpx.Response, server: str) -> ServerError:
    status = response.status_code
    message = _message(response)
    if status == 401:
        return ServerError(f"{server} refused the API key (401: {message}): {KEY_HELP} ({config_path()})", status=401)
    return ServerError(f"{server} answered {status}: {message}", status=status)


# --------------------------------------------------------------------------- receipts


def receipt_from_json(body: dict[str, Any]):
    """The server's receipt (``SubmissionReceipt.to_dict``) as a :class:`SubmissionReceipt`,
    so the CLI prints it as it prints a local one."""
    import pandas as pd

    from metasignal.signals.storage import ReceiptEntry, SubmissionReceipt

    def stamp(value: Optional[str]):
        if value is None:
            return None
        moment = pd.Timestamp(value)
        return moment.tz_convert(None) if moment.tzinfo is not None else moment

    try:
        entries = tuple(
            ReceiptEntry(
                date=pd.Timestamp(e["date"]), version=int(e["version"]), new_version=bool(e["new_version"]),
                n_accepted=int(e["n_accepted"]), n_dropped=int(e["n_dropped"]), status=e["status"],
                deadline=stamp(e.get("deadline")), queued_for=stamp(e.get("queued_for")),
            )
            for e in body["dates"]
        )
        return SubmissionReceipt(
            model=body["model"], uploaded_at=stamp(body["uploaded_at"]), entries=entries,
            id_column=body["id_column"], dropped_ids=tuple(body.get("dropped_ids", ())),
            warnings=tuple(body.get("warnings", ())),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ServerError(f"the server's receipt is not one this client reads ({type(error).__name__}: {error})",
                          status=201) from None

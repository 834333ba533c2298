"""Schemathesis over the upload API's OpenAPI schema (``create_app`` + ``install_docs``), in process.

Every operation of the schema gets generated requests sent with an operator's Bearer key (the
operator may act on every model, so the requests reach the handlers), some of them aimed at the
stored model ``alpha`` and its stored date, and each reply is checked: no 5xx, the status code
and content type documented for the operation, the body valid against the documented schema.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
import schemathesis
from schemathesis import GenerationMode
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from metasignal.api import create_app
from metasignal.api_docs import install_docs
from metasignal.data.clock import Clock
from metasignal.data.store import Store
from metasignal.signals import storage
from metasignal.signals.accounts import create_user
from metasignal.signals.round_calendar import RoundCalendar
from tests.signals.submission_fixtures import DAYS, build_store, submission_csv, universe_members

ROUND = RoundCalendar().round_of("2024-01-05")
STORED_DATE = "2024-01-05"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 30
KEYS: dict[str, str] = {}
VALID_FILE = submission_csv(universe_members(DAYS[-1]), np.linspace(1.0, 0.0, len(universe_members(DAYS[-1]))))

KNOWN_BUGS: dict[tuple[str, str], str] = {}  # (method, path) -> the api.py bug it shows (xfail, strict)


def _no_job(argv: list[str]) -> int:
    """Jobs the generated requests submit run nothing (a real one would run a command)."""
    return 0


def _schema_operations() -> list[tuple[str, str]]:
    """Every ``(METHOD, path)`` of the schema of an app on an empty scratch store."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scratch.duckdb"
        Store.open(path, create=True).close()
        app = create_app(path, run_job=_no_job)
        install_docs(app)
        with TestClient(app) as client:
            paths = client.get("/openapi.json").json()["paths"]
    return sorted((method.upper(), route) for route, item in paths.items() for method in item)


OPERATIONS = [
    pytest.param(method, path, id=f"{method} {path}",
                 marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[(method, path)])]
                 if (method, path) in KNOWN_BUGS else [])
    for method, path in _schema_operations()
]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A small store at the opening of the 2024-01-05 round: users ``ann`` (participant) and
    ``ops`` (operator), ann's model ``alpha`` with one stored submission for 2024-01-05."""
    path = tmp_path_factory.mktemp("schema") / "template.duckdb"
    with build_store(path) as store:
        store.set_clock(Clock("replay", ROUND.opens))
        for name, role in (("ann", "participant"), ("ops", "operator")):
            KEYS[name] = create_user(store, name, role)[1]
        storage.create_model(store, "alpha", owner="ann")
        storage.submit(store, "alpha", io.BytesIO(submission_csv(universe_members(DAYS[-1]))), filename="s.csv")
    return path


@pytest.fixture
def api_schema(template, tmp_path):
    """The schema of a fresh app on a private copy of the template store."""
    path = tmp_path / "store.duckdb"
    shutil.copyfile(template, path)
    app = create_app(path, max_bytes=50_000, run_job=_no_job)
    install_docs(app)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_of_the_schema_is_tested(api_schema):
    listed = {(operation.method.upper(), operation.path) for result in api_schema.get_all_operations()
              for operation in [result.ok()]}
    assert listed == {tuple(param.values) for param in OPERATIONS}
    assert {"/models/{name}/submissions", "/health"} <= {path for _, path in listed}


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_conforms_to_its_schema(api_schema, method, path):
    operation = api_schema[path][method]
    strategies = [operation.as_strategy(), operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)]
    if "{name}" in path:  # also reach the stored model (and its stored date)
        fixed = {"name": "alpha", **({"date": STORED_DATE} if "{date}" in path else {})}
        strategies.append(operation.as_strategy(path_parameters=fixed))
    if (method, path) == ("POST", "/models/{name}/submissions"):  # and a valid upload to it
        strategies.append(operation.as_strategy(path_parameters={"name": "alpha"}, body={"file": VALID_FILE}))
    headers = {"Authorization": f"Bearer {KEYS['ops']}"}

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def check(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()

"""Offline /docs and the documented error replies (metasignal.api_docs).

The browser test serves the app with a real uvicorn server on a free port and renders /docs in
headless Chromium with every host but the server unresolvable: Swagger UI must draw the
operations from the server's own files alone.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from metasignal.api import create_app
from metasignal.api_docs import ASSETS_PATH, error_statuses, install_docs
from metasignal.data.store import Store
from metasignal.signals import accounts
from metasignal.signals.accounts import create_user
from tests.metasignal.live_server import live_server

URL = re.compile(r"https?://[^\s\"'<>()]+")


def _no_job(argv: list[str]) -> int:
    return 0


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "store.duckdb"
    with Store.open(path, create=True) as store:
        accounts.ensure_tables(store)
        create_user(store, "ann", "participant")
    return path


@pytest.fixture
def app(db) -> FastAPI:
    app = create_app(db, run_job=_no_job)
    install_docs(app)
    return app


@pytest.fixture
def server(app) -> Iterator[str]:
    """The app behind a real uvicorn server on a free port; yields its base URL."""
    with live_server(app) as (url, _server):
        yield url


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _external(text: str, base: str) -> list[str]:
    """The http(s) URLs in ``text`` outside ``base`` (XML namespace names are not fetched)."""
    return [u for u in URL.findall(text) if not u.startswith(base) and not u.startswith("http://www.w3.org/")]


@pytest.mark.skipif(_chromium() is None, reason="chromium not found (apt-get install -y chromium; .ci/run does)")
def test_docs_render_in_a_browser_from_the_servers_own_files(server):
    page = httpx.get(f"{server}/docs", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert _external(page.text, server) == []
    assert f'{ASSETS_PATH}/swagger-ui-bundle.js' in page.text
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert httpx.get(server + asset, timeout=30).status_code == 200, asset

    dom = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--dump-dom", f"{server}/docs"],
        capture_output=True, text=True, timeout=120,
    ).stdout
    assert "Unable to render" not in dom
    assert "/models/{name}/submissions" in dom and "/health" in dom
    assert len(re.findall(r'class="opblock opblock-(?:get|post)', dom)) >= 7
    assert _external(dom, server) == []


def test_docs_replace_fastapis_cdn_pages_with_or_without_docs_url():
    for app in (FastAPI(), FastAPI(docs_url=None, redoc_url=None)):
        install_docs(app)
        install_docs(app)  # twice: once
        with TestClient(app) as client:
            page = client.get("/docs")
            assert page.status_code == 200 and "SwaggerUIBundle" in page.text
            assert _external(page.text, "http://testserver") == []
            assert client.get("/redoc").status_code == 404
            assert client.get("/docs/oauth2-redirect").status_code == 404
            script = client.get(f"{ASSETS_PATH}/swagger-ui-bundle.js")
            assert script.status_code == 200 and "javascript" in script.headers["content-type"]
            assert len(script.content) > 500_000
        assert sum(getattr(route, "path", None) == "/docs" for route in app.routes) == 1


def test_every_operation_documents_its_errors_with_the_error_body(app):
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()
    components = schema["components"]
    assert components["schemas"]["ErrorBody"]["required"] == ["error"]
    assert "HTTPValidationError" not in components["schemas"]
    assert components["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": components["securitySchemes"]["bearer"]["description"]}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            keyed = "security" in operation
            expected = {str(s) for s in error_statuses(method, path, authenticated=keyed)}
            assert expected <= set(operation["responses"]), (method, path)
            for status in expected:
                content = operation["responses"][status]["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    public = schema["paths"]["/health"]["get"]
    assert "security" not in public and "401" not in public["responses"]
    upload = schema["paths"]["/models/{name}/submissions"]["post"]
    assert upload["security"] == [{"bearer": []}]
    assert {"401", "403", "404", "409", "413", "422", "500", "507"} <= set(upload["responses"])
    assert "WWW-Authenticate" in upload["responses"]["401"]["headers"]
    listing = schema["paths"]["/models/{name}/submissions"]["get"]
    assert "507" not in listing["responses"] and "404" in listing["responses"]


def test_the_servers_error_replies_match_the_error_body(app):
    with TestClient(app) as client:
        error_body = client.get("/openapi.json").json()["components"]["schemas"]["ErrorBody"]
        replies = [
            client.get("/models/alpha/submissions"),  # 401: no key
            client.post("/models", json={"name": 5}),  # no key either
            client.post("/models/alpha/submissions", headers={"Authorization": "Bearer nope"},
                        files={"file": ("s.csv", b"x", "text/csv")}),
        ]
    assert [reply.status_code for reply in replies][0] == 401
    for reply in replies:
        assert reply.status_code >= 400
        jsonschema.validate(reply.json(), error_body)
    jsonschema.validate({"error": "bad", "rule": "r", "column": None, "lines": [2, 3], "n_lines": 2}, error_body)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"detail": [{"msg": "fastapi's own"}]}, error_body)

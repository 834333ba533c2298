"""Offline API docs and documented error replies for the upload API.

``install_docs(app)`` does two things to a FastAPI app (``metasignal.api.create_app`` calls it):

- ``/docs`` serves Swagger UI 5 from the files the ``fastapi-offline`` package ships (its
  ``static/`` folder; only those files are used), mounted under ``/docs/assets``: the page names
  no URL outside the server, so it works without internet (a fund's network, this machine).
  FastAPI's default ``/docs``, ``/docs/oauth2-redirect`` and ``/redoc`` (which load from a CDN)
  are removed. (``swagger-ui-bundle`` ships Swagger UI 4.15, which cannot render the OpenAPI
  3.1 schema FastAPI writes: "Unable to render this definition".)
- the OpenAPI schema documents the error replies: every operation lists the statuses it can
  answer with (:func:`error_statuses`), each with the shared ``ErrorBody`` schema (the server
  answers every error as ``{"error": "<one line>", ...}``), and operations that need an API key
  carry the ``bearer`` security scheme.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from starlette.staticfiles import StaticFiles

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"  # swagger-ui-bundle.js, .css, favicon
DEFAULT_DOC_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
SECURITY_SCHEME = "bearer"

ERROR_BODY_SCHEMA: dict[str, Any] = {
    "title": "ErrorBody",
    "type": "object",
    "description": "Every error reply: one line, and for a refused upload the rule, column and lines.",
    "properties": {
        "error": {"type": "string", "description": "the problem, on one line"},
        "rule": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "the rule broken"},
        "column": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "the column at fault"},
        "lines": {"type": "array", "items": {"type": "integer"}, "description": "offending file lines"},
        "n_lines": {"type": "integer", "description": "how many lines break the rule"},
    },
    "required": ["error"],
}

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Store problem (e.g. the clock)",
    401: "No API key, or an unknown one (WWW-Authenticate: Bearer)",
    403: "The key's user may not act on this model",
    404: "Unknown model or submission",
    409: "The model exists already",
    408: "The request body did not arrive in time",
    413: "Request body over the size limit",
    422: "Invalid input (also an upload for a round that is closed or not open)",
    500: "Internal error (its type name only)",
    503: "The store failed (another store fault); nothing was stored",
    507: "The store's disk is full",
}

WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})


def install_docs(app: FastAPI) -> None:
    """Serve offline Swagger UI at ``/docs`` and document every operation's error replies."""
    if getattr(app.state, "metasignal_docs", False):
        return
    app.state.metasignal_docs = True
    _remove_default_docs(app)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="swagger_ui_assets")
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - docs",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},
        )

    app.add_route(DOCS_PATH, swagger_ui, include_in_schema=False)
    _document_errors(app)


def _remove_default_docs(app: FastAPI) -> None:
    """Drop FastAPI's CDN-backed doc pages (present unless the app was made with docs_url=None)."""
    app.router.routes[:] = [
        route for route in app.router.routes
        if not (getattr(route, "path", None) in DEFAULT_DOC_PATHS and not isinstance(route, APIRoute))
    ]


def needs_key(route: APIRoute) -> bool:
    """Whether ``route`` needs an API key: in this API every dependency of a route is an access
    check (the caller's key, or an operator's), so a route with any dependency needs one."""
    return bool(route.dependant.dependencies)


def error_statuses(method: str, path: str, *, authenticated: bool) -> list[int]:
    """The error statuses an operation can answer with.

    Every operation: 400 (store problem), 413 (body size limit, checked before routing), 422
    (invalid request), 500 and 503 (a store fault). With a key: 401 and 403. A path naming a
    model, submission or job: 404. A write: 408 (body too slow), 409 (exists) and 507 (disk full).
    """
    statuses = {400, 413, 422, 500, 503}
    if authenticated:
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    if method.lower() in WRITE_METHODS:
        statuses |= {408, 409, 507}
    return sorted(statuses)


def _document_errors(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the schema it builds documents the error replies."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        keyed = {
            (method.lower(), route.path_format)
            for route in app.routes if isinstance(route, APIRoute) and needs_key(route)
            for method in route.methods
        }
        schema = add_error_responses(build(), keyed)
        app.openapi_schema = schema
        return schema

    app.openapi_schema = None  # built again, with the errors
    app.openapi = openapi  # type: ignore[method-assign]


def add_error_responses(schema: dict[str, Any], keyed: set[tuple[str, str]]) -> dict[str, Any]:
    """Add ``ErrorBody`` replies to every operation of ``schema`` (in place, and returned);
    ``keyed`` holds the ``(method, path)`` operations that need an API key."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["ErrorBody"] = ERROR_BODY_SCHEMA
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http", "scheme": "bearer", "description": "an API key from `metasignal users create NAME`",
    }
    reply = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                continue
            authenticated = (method, path) in keyed
            if authenticated:
                operation["security"] = [{SECURITY_SCHEME: []}]
            responses = operation.setdefault("responses", {})
            for status in error_statuses(method, path, authenticated=authenticated):
                responses[str(status)] = {"description": ERROR_DESCRIPTIONS[status], "content": reply}
                if status == 401:
                    responses["401"]["headers"] = {
                        "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"},
                    }
    _drop_unused(components.get("schemas", {}), schema, ("HTTPValidationError", "ValidationError"))
    return schema


def _drop_unused(schemas: dict[str, Any], schema: dict[str, Any], names: tuple[str, ...]) -> None:
    """Remove FastAPI's validation-error models once no reply refers to them (the server answers
    422 with ``ErrorBody``, not FastAPI's ``{"detail": [...]}``)."""

    for name in names:
        if name not in schemas:
            continue
        rest = {key: value for key, value in schemas.items() if key != name}
        text = json.dumps({"paths": schema.get("paths", {}), "schemas": rest})
        if f'"#/components/schemas/{name}"' not in text:
            del schemas[name]

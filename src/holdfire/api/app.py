"""The FastAPI application factory: routes under /api/v1 (and the map tiles at /tiles), errors,
limits and the OpenAPI doc."""

from typing import Any

from fastapi import FastAPI

from holdfire import __version__
from holdfire.api import (
    errors,
    routes_admin,
    routes_checks,
    routes_clients,
    routes_cluster,
    routes_coordination,
    routes_enroll,
    routes_messages,
    routes_metrics,
    routes_picture,
    routes_replay,
    routes_tiles,
    stream,
)
from holdfire.api.context import ApiContext
from holdfire.api.guard import RequestRate
from holdfire.api.limits import BodyLimit
from holdfire.api.responses import error_doc
from holdfire.api.ui import UiFiles, ui_directory

PREFIX = "/api/v1"


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="holdfire",
        version=__version__,
        description="Is it safe to fire here? Friendly-fire prevention and coordination. "
        "Every route but /health, the map tiles and a device's one-time data package link needs "
        "`Authorization: Bearer <token>`.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.holdfire = ctx
    modules = (
        routes_admin,
        routes_picture,
        routes_checks,
        routes_coordination,
        routes_messages,
        routes_cluster,
        routes_clients,
        routes_enroll,
        routes_replay,
    )
    for module in (*modules, routes_tiles, stream):
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(routes_tiles.public)
    app.include_router(routes_metrics.router)
    errors.install(app)
    app.mount("/", UiFiles(ui_directory()), name="ui")  # last: every route above wins
    app.add_middleware(routes_checks.CheckRoute, ctx=ctx)  # innermost: inside every limit
    app.add_middleware(BodyLimit, max_bytes=ctx.max_body_bytes)
    if ctx.metrics is not None:
        app.add_middleware(routes_metrics.RequestMetrics, metrics=ctx.metrics)
    app.add_middleware(RequestRate, guard=ctx.guard)  # outermost: before anything is read
    _document(app)
    return app


def _document(app: FastAPI) -> None:
    """Bodies the routes read themselves carry their schemas in `x-components`; move them into
    components.schemas, declare the bearer scheme, and document the answers every route shares
    (see `_shared_errors`)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        checks = schema.setdefault("paths", {}).setdefault(routes_checks.CHECKS_PATH, {})
        checks["post"] = routes_checks.post_check_operation()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                if isinstance(operation, dict):
                    schemas.update(operation.pop("x-components", {}))
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        _shared_errors(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _shared_errors(schema: dict[str, Any]) -> None:
    """Every operation that needs a token answers 401 without a valid one, every one with a
    body 413 past the limit, every one 429 past its address's request rate, and every 422 has
    the shared error shape (the handlers in `errors`), not FastAPI's default validation shape,
    which this API never sends."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            if operation.get("security") != []:
                responses.setdefault("401", error_doc("No valid token"))
            if "requestBody" in operation:
                responses.setdefault("413", error_doc("Body over the limit"))
            responses.setdefault("429", error_doc("Too many requests from this address"))
            if "422" in responses:
                responses["422"] = error_doc("Bad input, naming the field")
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)

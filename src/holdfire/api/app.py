"""The FastAPI application factory: routes under /api/v1, errors, limits and the OpenAPI doc."""

from typing import Any

from fastapi import FastAPI

from holdfire import __version__
from holdfire.api import (
    errors,
    routes_admin,
    routes_checks,
    routes_coordination,
    routes_picture,
    stream,
)
from holdfire.api.context import ApiContext
from holdfire.api.limits import BodyLimit

PREFIX = "/api/v1"


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="holdfire",
        version=__version__,
        description="Is it safe to fire here? Friendly-fire prevention and coordination. "
        "Every route but /health needs `Authorization: Bearer <token>`.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.holdfire = ctx
    for module in (routes_admin, routes_picture, routes_checks, routes_coordination, stream):
        app.include_router(module.router, prefix=PREFIX)
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=ctx.max_body_bytes)
    _document(app)
    return app


def _document(app: FastAPI) -> None:
    """Bodies the routes read themselves carry their schemas in `x-components`; move them into
    components.schemas, and declare the bearer scheme."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                if isinstance(operation, dict):
                    schemas.update(operation.pop("x-components", {}))
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

"""Errors at the HTTP edge: each kind of failure becomes one status and the shared JSON shape.

422 names the field (a dotted path such as `target.lat`, or `[3].uid` in a list); 401 carries
`WWW-Authenticate: Bearer`; a store that cannot write is 503 with `retryable: true`, since the
request was not acknowledged and may be sent again as it is.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from holdfire.api.responses import error_response
from holdfire.codecs.json import CodecError
from holdfire.domain.errors import DomainError, NotAllowed, NotFound
from holdfire.geo import GeoError
from holdfire.service.ports import StoreError, StoreNotWritable, StoreUnavailable

log = logging.getLogger("holdfire.api")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    """FastAPI's error location without its `body`/`query` head, as a dotted path."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not isinstance(part, str) or part.startswith(("function-", "form:")):
            continue  # a union's branch, not a field
        else:
            out += f".{part}" if out else part
    return out or (str(loc[0]) if loc else "body")


def _validation_detail(errors: list[Any]) -> list[dict[str, str]]:
    detail = []
    for error in errors:
        field = _location(error.get("loc", ()))
        message = str(error.get("msg", "is invalid"))
        detail.append({"field": field, "message": message})
    return detail


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, field=exc.field, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> Response:
        detail = _validation_detail(list(exc.errors()))
        first = detail[0] if detail else {"field": "body", "message": "is invalid"}
        return error_response(
            422, f"{first['field']}: {first['message']}", field=first["field"], detail=detail
        )

    @app.exception_handler(CodecError)
    async def codec(_: Request, exc: CodecError) -> Response:
        return error_response(422, str(exc), field=exc.field, detail=[_one(exc.field, exc.message)])

    @app.exception_handler(DomainError)
    async def domain(_: Request, exc: DomainError) -> Response:
        return error_response(422, str(exc), field=exc.field, detail=[_one(exc.field, exc.message)])

    @app.exception_handler(GeoError)
    async def geo(_: Request, exc: GeoError) -> Response:
        return error_response(422, str(exc), field="target")

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> Response:
        return error_response(404, str(exc))

    @app.exception_handler(NotAllowed)
    async def not_allowed(_: Request, exc: NotAllowed) -> Response:
        return error_response(403, str(exc))

    @app.exception_handler(StoreError)
    async def store(_: Request, exc: StoreError) -> Response:
        # The detail (files, hosts, ports) is for the server's operator, not for API clients;
        # a full or read-only disk is logged by the store itself, once, not once per request.
        if not isinstance(exc, StoreNotWritable):
            log.error("store error: %s", exc)
        why = (
            "the database cannot be reached just now"
            if isinstance(exc, StoreUnavailable)
            else "the store cannot take it (the server's log says why)"
        )
        return error_response(
            503, f"not recorded, try again: {why}", retryable=True, headers={"Retry-After": "1"}
        )

    @app.exception_handler(StarletteHTTPException)
    async def http(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            # FastAPI's "error parsing the body": a body that is not UTF-8, like any other
            # body that is not JSON, is bad input (422), as the routes that read theirs say
            message = f"body: not valid JSON ({exc.__cause__})"
            return error_response(422, message, field="body", detail=[_one("body", message)])
        field = "body" if exc.status_code == 413 else None
        return error_response(exc.status_code, str(exc.detail), field=field, headers=exc.headers)


def _one(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}

"""Errors at the HTTP edge: each kind of failure becomes one status and the shared JSON shape.

422 names the field (a dotted path such as `target.lat`, or `[3].uid` in a list); 401 carries
`WWW-Authenticate: Bearer`; a store that cannot write is 503 with `retryable: true`, since the
request was not acknowledged and may be sent again as it is.
"""

import logging
from collections.abc import Callable
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


def validation_answer(errors: list[Any]) -> Response:
    """The 422 of a body or query that failed its model (pydantic's errors)."""
    detail = _validation_detail(errors)
    first = detail[0] if detail else {"field": "body", "message": "is invalid"}
    return error_response(
        422, f"{first['field']}: {first['message']}", field=first["field"], detail=detail
    )


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, field=exc.field, headers=exc.headers)


def _field_error(exc: CodecError | DomainError) -> Response:
    return error_response(422, str(exc), field=exc.field, detail=[_one(exc.field, exc.message)])


def _store_error(exc: StoreError) -> Response:
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


def _http_error(exc: StarletteHTTPException) -> Response:
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI's "error parsing the body": a body that is not UTF-8, like any other
        # body that is not JSON, is bad input (422), as the routes that read theirs say
        message = f"body: not valid JSON ({exc.__cause__})"
        return error_response(422, message, field="body", detail=[_one("body", message)])
    field = "body" if exc.status_code == 413 else None
    return error_response(exc.status_code, str(exc.detail), field=field, headers=exc.headers)


_ANSWERS: dict[type[Exception], Callable[[Any], Response]] = {
    ApiError: _api_error,
    RequestValidationError: lambda exc: validation_answer(list(exc.errors())),
    CodecError: _field_error,
    DomainError: _field_error,
    GeoError: lambda exc: error_response(422, str(exc), field="target"),
    NotFound: lambda exc: error_response(404, str(exc)),
    NotAllowed: lambda exc: error_response(403, str(exc)),
    StoreError: _store_error,
    StarletteHTTPException: _http_error,
}


def error_answer(exc: Exception) -> Response | None:
    """The answer to `exc`, as the app's handlers give it (the most specific class wins);
    None for an exception that is a bug (the server's 500)."""
    for kind in type(exc).__mro__:
        answer = _ANSWERS.get(kind)
        if answer is not None:
            return answer(exc)
    return None


def install(app: FastAPI) -> None:
    async def handler(_: Request, exc: Exception) -> Response:
        answer = error_answer(exc)
        assert answer is not None  # installed for the classes that have one
        return answer

    for kind in _ANSWERS:
        app.add_exception_handler(kind, handler)


def _one(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}

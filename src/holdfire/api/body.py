"""Reading request bodies the codecs check themselves (reports, GeoJSON), and paging lists.

Python's json module would accept `NaN` and `Infinity`; they are refused here, so a non-finite
number never gets past the edge. Lists kept in memory page by their sort key: the cursor is
that key, opaque (URL-safe base64) to the client.
"""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel

from holdfire.api.errors import ApiError

T = TypeVar("T")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def read_json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        raise ApiError(422, "body: a JSON body is required", field="body")
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(422, f"body: not valid JSON ({exc})", field="body") from None


def documented_body(model: type[BaseModel], *, or_list: bool = False) -> dict[str, Any]:
    """`openapi_extra` describing a body the route reads with `read_json`."""
    schema: dict[str, Any] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    one = {"$ref": f"#/components/schemas/{model.__name__}"}
    body = {"oneOf": [one, {"type": "array", "items": one, "maxItems": 1000}]} if or_list else one
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        # Moved into components.schemas by the app's OpenAPI builder.
        "x-components": {model.__name__: schema, **defs},
    }


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise ApiError(
            422, "cursor: is not a cursor this server issued (use `next` as is)", field="cursor"
        ) from None


def page(
    items: Sequence[T], key: Callable[[T], str], limit: int, cursor: str | None
) -> tuple[list[T], str | None]:
    """Items sorted by `key`, `limit` of them after the cursor, and the next cursor."""
    ordered = sorted(items, key=key)
    if cursor is not None:
        after = decode_cursor(cursor)
        ordered = [item for item in ordered if key(item) > after]
    chunk = ordered[:limit]
    more = len(ordered) > limit
    return chunk, (encode_cursor(key(chunk[-1])) if more and chunk else None)

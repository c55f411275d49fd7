"""JSON responses built from the codecs' plain dicts, and the error shape every route shares.

Routes return `json_response(...)` rather than letting FastAPI re-encode: the codecs already
produce JSON types only, so a second pass would just cost time. Errors are always
`{"error": "<what was wrong>", "field": "<dotted path>" | null}`, plus `detail` (every field
problem) for a 422 and `retryable` where trying again later may work.
"""

from collections.abc import Mapping
from typing import Any

from fastapi import Response

from holdfire.codecs.json import to_json


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return json_text_response(to_json(data), status, headers)


def json_text_response(
    text: str, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(text.encode("utf-8"), status, headers, media_type="application/json")


def error_doc(description: str) -> dict[str, Any]:
    """An error answer in the OpenAPI document: the shared shape, always application/json
    (also on the routes whose success is GeoJSON)."""
    schema = {"$ref": "#/components/schemas/ErrorOut"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class GeoJSONResponse(Response):
    """The `response_class` of the GeoJSON routes, so the document names their media type."""

    media_type = "application/geo+json"


def geojson_response(data: Any) -> Response:
    return GeoJSONResponse(to_json(data).encode("utf-8"), 200)


def error_response(
    status: int,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    return json_response({"error": message, "field": field, **extra}, status, headers)

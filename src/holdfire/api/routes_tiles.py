"""Operator map tiles for the web map: their description under /api/v1, the tiles at /tiles.

Neither needs a token: they are basemap imagery, like the UI's own files, and Leaflet's tile
layer cannot send an Authorization header (a token in the URL would end up in logs). The tile
path has no extension, since the source's format decides the Content-Type. A missing tile is a
404, which Leaflet takes as an empty square.

Reads run in a worker thread: a tile is one indexed SQLite lookup, a slice of a memory map or a
small file, cheap once cached, but a cold read from slow storage blocks for milliseconds and a
pan of the map asks for dozens at once, while the event loop also carries the checks.

Gzip tiles (vector tiles usually are) go out as stored with `Content-Encoding: gzip`, saving
the bandwidth of a field link; a client that says it does not take gzip gets them unpacked.
"""

import asyncio
import dataclasses
import gzip
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from holdfire.adapters.tiles import GZIP_MAGIC, MAX_ZOOM, TileError, TileSource
from holdfire.api.auth import Ctx
from holdfire.api.context import ApiContext
from holdfire.api.errors import ApiError
from holdfire.api.responses import error_doc, error_response, json_response
from holdfire.api.schemas import ErrorOut, TilesOut

log = logging.getLogger("holdfire.api")

router = APIRouter()  # under /api/v1
public = APIRouter()  # at the root, where the web map asks

MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "pbf": "application/x-protobuf",
}
CACHE_CONTROL = "public, max-age=3600"
_LAST = (1 << MAX_ZOOM) - 1

Zoom = Annotated[int, Path(ge=0, le=MAX_ZOOM, description="Zoom level")]
Column = Annotated[int, Path(ge=0, le=_LAST, description="Column, from the west")]
Row = Annotated[int, Path(ge=0, le=_LAST, description="Row, from the north (as in Leaflet)")]

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_TILE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The tile as stored; Content-Type by the source's format",
        "content": dict.fromkeys(MEDIA_TYPES.values(), _BINARY),
        "headers": {
            "Cache-Control": {"schema": {"type": "string", "enum": [CACHE_CONTROL]}},
            "Content-Encoding": {
                "description": "gzip for a tile stored as gzip, if the client takes it",
                "schema": {"type": "string", "enum": ["gzip"]},
            },
        },
    },
    404: error_doc("No such tile, or no operator tiles configured"),
    500: error_doc("The tile source could not be read"),
}


def _source(ctx: ApiContext) -> TileSource:
    if ctx.tiles is None:
        raise ApiError(404, "no operator tiles configured")
    return ctx.tiles


@router.get(
    "/tiles",
    summary="The operator map tiles served at /tiles/{z}/{x}/{y} (no token needed)",
    responses={200: {"model": TilesOut}, 404: {"model": ErrorOut}},
    openapi_extra={"security": []},
)
async def tiles_meta(ctx: Ctx) -> Response:
    meta = dataclasses.asdict(_source(ctx).meta())
    if meta["bounds"] is not None:
        meta["bounds"] = list(meta["bounds"])
    return json_response(meta)


@public.get(
    "/tiles/{z}/{x}/{y}",
    summary="One operator map tile (no token needed)",
    response_class=Response,
    responses=_TILE_DOC,
    openapi_extra={"security": []},
)
async def tile(z: Zoom, x: Column, y: Row, request: Request, ctx: Ctx) -> Response:
    source = _source(ctx)
    try:
        data = await asyncio.to_thread(source.tile, z, x, y)
    except TileError as exc:  # the details (a path on this machine) go to the log only
        log.error("tile %d/%d/%d: %s", z, x, y, exc)
        return error_response(500, "the tile source could not be read")
    if data is None:
        raise ApiError(404, f"no tile {z}/{x}/{y}")
    headers = {"Cache-Control": CACHE_CONTROL}
    if data.startswith(GZIP_MAGIC):
        headers["Vary"] = "Accept-Encoding"
        if _takes_gzip(request.headers.get("accept-encoding")):
            headers["Content-Encoding"] = "gzip"
        else:
            data = await asyncio.to_thread(gzip.decompress, data)
    return Response(data, 200, headers, media_type=MEDIA_TYPES[source.meta().format])


def _takes_gzip(header: str | None) -> bool:
    """Whether Accept-Encoding allows gzip; without the header any coding is acceptable."""
    if header is None:
        return True
    qualities = {}
    for item in header.split(","):
        coding, *params = (part.strip().lower() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[coding] = quality
    return qualities.get("gzip", qualities.get("x-gzip", qualities.get("*", 0.0))) > 0

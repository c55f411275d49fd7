"""Operator map tiles through the real server (uvicorn on an ephemeral port, httpx): the tiles
and their description need no token; without `--tiles` both are 404."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pmtiles.tile import Compression, TileType

from holdfire.bootstrap import Listeners, start_server
from holdfire.config import Settings
from support.tiles import png, write_mbtiles, write_pmtiles, write_xyz

pytestmark = pytest.mark.integration

NORTH, SOUTH = (3, 4, 2), (3, 4, 5)
TILES = {NORTH: png(200, 10, 10), SOUTH: png(10, 200, 10)}
VECTOR = gzip.compress(b"\x1a\x0b\x0a\x05roads\x28\x80\x20", mtime=0)


async def serving(tmp_path: Path, tiles: Path | None) -> AsyncIterator[httpx.AsyncClient]:
    """A server with only its HTTP listener, and a client that sends no token."""
    listeners = Listeners(http=("127.0.0.1", 0), cot_tcp=None, cot_tls=None)
    running = await start_server(Settings(tmp_path / "data", tiles=tiles), listeners)
    try:
        host, port = running.bound["http"]
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            yield client
    finally:
        await running.close()


@pytest.fixture
async def mbtiles(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    metadata = {"name": "Kursk AO", "format": "png", "minzoom": "3", "maxzoom": "3"}
    metadata |= {"bounds": "35.0,51.0,36.5,51.8", "attribution": "Survey unit 3"}
    path = write_mbtiles(tmp_path / "ao.mbtiles", TILES, metadata)
    async for client in serving(tmp_path, path):
        yield client


@pytest.fixture
async def vector(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    path = write_pmtiles(
        tmp_path / "roads.pmtiles",
        {(5, 19, 10): VECTOR},
        tile_type=TileType.MVT,
        compression=Compression.GZIP,
        metadata={"name": "Roads"},
    )
    async for client in serving(tmp_path, path):
        yield client


@pytest.fixture
async def no_tiles(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serving(tmp_path, None):
        yield client


async def test_a_tile_is_the_stored_bytes_without_a_token(mbtiles: httpx.AsyncClient) -> None:
    for (z, x, y), data in TILES.items():
        r = await mbtiles.get(f"/tiles/{z}/{x}/{y}")
        assert r.status_code == 200, r.text
        assert r.content == data
        assert r.headers["content-type"] == "image/png"
        assert r.headers["cache-control"] == "public, max-age=3600"
        assert "content-encoding" not in r.headers


async def test_the_tile_description_needs_no_token(mbtiles: httpx.AsyncClient) -> None:
    r = await mbtiles.get("/api/v1/tiles")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "format": "png",
        "minzoom": 3,
        "maxzoom": 3,
        "bounds": [35.0, 51.0, 36.5, 51.8],
        "name": "Kursk AO",
        "attribution": "Survey unit 3",
    }


async def test_a_missing_tile_is_404_and_an_address_off_the_grid_too(
    mbtiles: httpx.AsyncClient,
) -> None:
    for path in ("/tiles/3/4/3", "/tiles/12/0/0", "/tiles/3/8/0", "/tiles/0/0/1"):
        r = await mbtiles.get(path)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"].startswith("no tile ") and r.json()["field"] is None
        assert r.headers["content-type"] == "application/json"


async def test_a_path_that_is_no_tile_address_is_422_naming_the_part(
    mbtiles: httpx.AsyncClient,
) -> None:
    for path, field in (("/tiles/31/0/0", "z"), ("/tiles/3/-1/0", "x"), ("/tiles/3/0/y", "y")):
        r = await mbtiles.get(path)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["field"] == field


async def test_gzip_vector_tiles_go_out_as_stored(vector: httpx.AsyncClient) -> None:
    async with vector.stream("GET", "/tiles/5/19/10", headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    assert r.status_code == 200
    assert raw == VECTOR
    assert r.headers["content-type"] == "application/x-protobuf"
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    meta = (await vector.get("/api/v1/tiles")).json()
    assert (meta["format"], meta["name"], meta["minzoom"], meta["maxzoom"]) == (
        "pbf",
        "Roads",
        5,
        5,
    )


async def test_a_client_that_takes_no_gzip_gets_the_tile_unpacked(
    vector: httpx.AsyncClient,
) -> None:
    for accept in ("identity", "gzip;q=0, deflate", "br", "*;q=0"):
        headers = {"Accept-Encoding": accept}
        async with vector.stream("GET", "/tiles/5/19/10", headers=headers) as r:
            raw = b"".join([chunk async for chunk in r.aiter_raw()])
        assert r.status_code == 200
        assert raw == gzip.decompress(VECTOR), accept
        assert "content-encoding" not in r.headers


async def test_an_xyz_folder_serves_its_jpeg_tiles(tmp_path: Path) -> None:
    jpeg = b"\xff\xd8\xff\xe0 a jpeg"
    root = write_xyz(tmp_path / "ortho", {(14, 9700, 5300): jpeg}, ".jpeg")
    async for client in serving(tmp_path, root):
        r = await client.get("/tiles/14/9700/5300")
        assert (r.status_code, r.content, r.headers["content-type"]) == (200, jpeg, "image/jpeg")
        assert (await client.get("/tiles/14/9700/5301")).status_code == 404


async def test_without_tiles_both_routes_are_404(no_tiles: httpx.AsyncClient) -> None:
    for path in ("/api/v1/tiles", "/tiles/0/0/0"):
        r = await no_tiles.get(path)
        assert r.status_code == 404, path
        assert r.json() == {"error": "no operator tiles configured", "field": None}


async def test_the_document_says_the_tiles_need_no_token(no_tiles: httpx.AsyncClient) -> None:
    paths = (await no_tiles.get("/openapi.json")).json()["paths"]
    for path in ("/api/v1/tiles", "/tiles/{z}/{x}/{y}"):
        operation = paths[path]["get"]
        assert operation["security"] == []
        assert "401" not in operation["responses"]
    content = paths["/tiles/{z}/{x}/{y}"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"image/png", "image/jpeg", "image/webp", "application/x-protobuf"}

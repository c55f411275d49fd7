"""Builders for map tile sources: real XYZ folders, MBTiles files (sqlite3, TMS rows) and PMTiles
archives (the pmtiles package's writer), written independently of holdfire's readers."""

import sqlite3
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import write

Address = tuple[int, int, int]  # z, x, y with y from the north (XYZ, as Leaflet asks)


def png(red: int, green: int = 0, blue: int = 0) -> bytes:
    """A valid 1x1 PNG of one colour, so tiles differ by their bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(bytes((0, red, green, blue)))  # filter byte, then one pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def write_xyz(root: Path, tiles: Mapping[Address, bytes], extension: str = ".png") -> Path:
    for (z, x, y), data in tiles.items():
        folder = root / str(z) / str(x)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{y}{extension}").write_bytes(data)
    return root


def write_mbtiles(
    path: Path, tiles: Mapping[Address, bytes], metadata: Mapping[str, str] | None = None
) -> Path:
    """The MBTiles 1.3 layout; rows are TMS, counted from the south."""
    db = sqlite3.connect(path)
    try:
        db.executescript(
            "CREATE TABLE metadata (name TEXT, value TEXT);"
            "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,"
            " tile_data BLOB);"
            "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);"
        )
        db.executemany("INSERT INTO metadata VALUES (?, ?)", (metadata or {}).items())
        rows = [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()]
        db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
        db.commit()
    finally:
        db.close()
    return path


def write_pmtiles(
    path: Path,
    tiles: Mapping[Address, bytes],
    *,
    tile_type: TileType = TileType.PNG,
    compression: Compression = Compression.NONE,
    metadata: Mapping[str, object] | None = None,
    bounds: tuple[float, float, float, float] = (-180.0, -85.0, 180.0, 85.0),
) -> Path:
    west, south, east, north = (round(v * 10_000_000) for v in bounds)
    header = {
        "tile_type": tile_type,
        "tile_compression": compression,
        "min_lon_e7": west,
        "min_lat_e7": south,
        "max_lon_e7": east,
        "max_lat_e7": north,
    }
    with write(str(path)) as writer:
        for tile_id, data in sorted((zxy_to_tileid(*a), d) for a, d in tiles.items()):
            writer.write_tile(tile_id, data)
        writer.finalize(header, dict(metadata or {}))
    return path

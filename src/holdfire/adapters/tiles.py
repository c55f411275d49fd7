"""Operator map tiles of the area of operations, read from an XYZ folder, MBTiles or PMTiles.

`open_tiles(path)` looks at what the path holds, not at its name:

- a folder: XYZ tiles `DIR/{z}/{x}/{y}.png` (or .jpg, .jpeg, .webp, .pbf: the first tile found
  decides, and every tile has that extension), y counted from the north as in Leaflet and OSM
  (gdal2tiles writes that only with `--xyz`; its default is TMS);
- an SQLite file: MBTiles, a `tiles` table in TMS row order (y counted from the south) and a
  `metadata` table (format, minzoom, maxzoom, bounds, name, attribution), opened read-only;
- a PMTiles version 3 archive, memory-mapped. `pmtiles.reader.Reader.get` decodes the
  directories again for every tile (about 50 ms a tile in an archive of 30 000 tiles), so this
  module walks them itself with the package's typed functions and keeps the decoded ones.

Anything else, or a source that cannot be read, is a `TileError` naming the path and what was
wrong, when the server starts. Tiles are returned as stored: vector tiles (pbf) usually are gzip
data, which the HTTP edge passes on with `Content-Encoding: gzip`. Brotli and zstd PMTiles are
refused: browsers take neither over plain HTTP. Reads are blocking and thread-safe:
the API runs them in worker threads.
"""

from __future__ import annotations

import functools
import gzip
import json
import mmap
import sqlite3
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal, Protocol

from pmtiles.tile import (
    Compression,
    Entry,
    HeaderDict,
    MagicNumberNotFound,
    SpecVersionUnsupported,
    TileType,
    deserialize_directory,
    deserialize_header,
    find_tile,
    zxy_to_tileid,
)

TileFormat = Literal["png", "jpg", "webp", "pbf"]
Bounds = tuple[float, float, float, float]  # west, south, east, north in degrees (WGS 84)

MAX_ZOOM: Final = 30
GZIP_MAGIC: Final = b"\x1f\x8b"
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_PMTILES_MAGIC: Final = b"PMTiles"
_PMTILES_HEADER: Final = 127  # bytes
_EXTENSIONS: Final[dict[str, TileFormat]] = {
    ".png": "png",
    ".jpg": "jpg",
    ".jpeg": "jpg",
    ".webp": "webp",
    ".pbf": "pbf",
}
_FORMAT_NAMES: Final = {extension[1:]: fmt for extension, fmt in _EXTENSIONS.items()}  # MBTiles
_PMTILES_TYPES: Final[dict[TileType, TileFormat]] = {
    TileType.PNG: "png",
    TileType.JPEG: "jpg",
    TileType.WEBP: "webp",
    TileType.MVT: "pbf",
}
# browsers take no other content coding over plain HTTP
_SERVED_COMPRESSIONS: Final = frozenset({Compression.NONE, Compression.UNKNOWN, Compression.GZIP})
_LEAF_CACHE: Final = 16  # decoded PMTiles leaf directories kept; a map view touches one or two


class TileError(ValueError):
    """A tile source that cannot be served; the message names the path and what was wrong."""


@dataclass(frozen=True, slots=True)
class TileMeta:
    format: TileFormat
    minzoom: int
    maxzoom: int
    bounds: Bounds | None
    name: str
    attribution: str | None


class TileSource(Protocol):
    def meta(self) -> TileMeta: ...

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's bytes as stored, or None when there is none (also for an address
        outside the grid)."""
        ...

    def close(self) -> None: ...


def in_grid(z: int, x: int, y: int) -> bool:
    return 0 <= z <= MAX_ZOOM and 0 <= x < 1 << z and 0 <= y < 1 << z


def open_tiles(path: Path) -> TileSource:
    if path.is_dir():
        return XyzFolder(path)
    try:
        with path.open("rb") as file:
            head = file.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        raise TileError(f"{path}: no such file or folder") from None
    except OSError as exc:
        raise TileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if head.startswith(_SQLITE_MAGIC):
        return MBTiles(path)
    if head.startswith(_PMTILES_MAGIC):
        return PMTiles(path)
    raise TileError(f"{path}: neither an XYZ tile folder, an MBTiles file nor a PMTiles archive")


def _zooms(path: Path, low: int, high: int) -> tuple[int, int]:
    if not 0 <= low <= high <= MAX_ZOOM:
        raise TileError(f"{path}: zoom levels {low} to {high} are not within 0 to {MAX_ZOOM}")
    return low, high


def _numbered(folder: Path) -> dict[int, Path]:
    """The entries of a folder named by a number (zoom levels, columns, tiles)."""
    named = {}
    try:
        for entry in folder.iterdir():
            number = entry.stem if entry.suffix.lower() in _EXTENSIONS else entry.name
            if number.isascii() and number.isdigit():
                named[int(number)] = entry
    except OSError as exc:
        raise TileError(f"{folder}: cannot be read: {exc.strerror or exc}") from None
    return named


class XyzFolder:
    def __init__(self, root: Path) -> None:
        self._root = root
        levels = {z: p for z, p in _numbered(root).items() if z <= MAX_ZOOM and p.is_dir()}
        found = self._first_extension(levels)
        if found is None:
            kinds = "|".join(_EXTENSIONS)
            raise TileError(f"{root}: a folder without tiles laid out as {{z}}/{{x}}/{{y}}{kinds}")
        self._extension = found
        low, high = _zooms(root, min(levels), max(levels))
        self._meta = TileMeta(_EXTENSIONS[found.lower()], low, high, None, root.name, None)

    @staticmethod
    def _first_extension(levels: dict[int, Path]) -> str | None:
        for _, level in sorted(levels.items()):
            for column in _numbered(level).values():
                if not column.is_dir():
                    continue
                for tile in _numbered(column).values():
                    if tile.suffix.lower() in _EXTENSIONS:
                        return tile.suffix
        return None

    def meta(self) -> TileMeta:
        return self._meta

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        if not in_grid(z, x, y):
            return None
        path = self._root / str(z) / str(x) / f"{y}{self._extension}"
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise TileError(f"{path}: cannot be read: {exc.strerror or exc}") from None

    def close(self) -> None:
        pass  # every read opens and closes its own file


def _sniff(data: bytes) -> TileFormat | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _bounds(west: float, south: float, east: float, north: float) -> Bounds | None:
    """None for a box that is not one: the field is optional, a bad one is as good as none."""
    if -180 <= west < east <= 180 and -90 <= south < north <= 90:
        return (west, south, east, north)
    return None


def _bounds_text(text: str | None) -> Bounds | None:
    """MBTiles bounds: `w,s,e,n` in degrees."""
    try:
        west, south, east, north = (float(part) for part in (text or "").split(","))
    except ValueError:
        return None
    return _bounds(west, south, east, north)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


class MBTiles:
    _QUERY: Final = (
        "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?"
    )

    def __init__(self, path: Path) -> None:
        self._path = path
        # read-only by the URI, so a mistaken path can never be written to; one connection
        # shared by the worker threads, one query at a time
        uri = f"{path.resolve().as_uri()}?mode=ro"
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise TileError(f"{path}: cannot be opened: {exc}") from None
        try:
            self._meta = self._read_meta()
        except sqlite3.Error as exc:
            self._db.close()
            raise TileError(f"{path}: not a readable MBTiles file: {exc}") from None
        except TileError:
            self._db.close()
            raise

    def _read_meta(self) -> TileMeta:
        rows = dict(self._db.execute("SELECT name, value FROM metadata").fetchall())
        self._db.execute(self._QUERY, (0, 0, 0)).fetchall()  # the tiles table is there
        low, high = self._zoom_range(rows)
        name = rows.get("format")
        if name is None:
            first = self._db.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
            found = _sniff(bytes(first[0])) if first is not None and first[0] else None
        else:
            found = _FORMAT_NAMES.get(str(name).strip().lower())
        if found is None:
            what = f"format {name!r}" if name is not None else "tiles of a format it does not name"
            raise TileError(f"{self._path}: {what}; holdfire serves png, jpg, webp and pbf")
        return TileMeta(
            format=found,
            minzoom=low,
            maxzoom=high,
            bounds=_bounds_text(_text(rows.get("bounds"))),
            name=_text(rows.get("name")) or self._path.stem,
            attribution=_text(rows.get("attribution")),
        )

    def _zoom_range(self, rows: dict[Any, Any]) -> tuple[int, int]:
        try:
            low, high = int(rows["minzoom"]), int(rows["maxzoom"])
        except (KeyError, TypeError, ValueError):
            # optional in the metadata: ask the tiles themselves (a scan where not indexed)
            query = "SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles"
            low, high = self._db.execute(query).fetchone()
            if low is None:
                raise TileError(f"{self._path}: an MBTiles file without tiles") from None
        return _zooms(self._path, int(low), int(high))

    def meta(self) -> TileMeta:
        return self._meta

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        if not in_grid(z, x, y):
            return None
        tms_y = (1 << z) - 1 - y  # MBTiles rows count from the south (TMS)
        try:
            with self._lock:
                row = self._db.execute(self._QUERY, (z, x, tms_y)).fetchone()
        except sqlite3.Error as exc:
            raise TileError(f"{self._path}: tile {z}/{x}/{y} cannot be read: {exc}") from None
        return None if row is None or row[0] is None else bytes(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PMTiles:
    def __init__(self, path: Path) -> None:
        self._path = path
        try:
            self._file: IO[bytes] = path.open("rb")
        except OSError as exc:
            raise TileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
        try:
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            self._file.close()
            raise TileError(f"{path}: cannot be mapped: {exc}") from None
        # decoded directories by (offset, length); lru_cache is thread-safe
        self._directory = functools.lru_cache(maxsize=_LEAF_CACHE + 1)(self._decode)
        try:
            self._header = self._read_header()
            self._meta = self._read_meta()
            self._directory(self._header["root_offset"], self._header["root_length"])
        except TileError:
            self.close()
            raise
        except (OSError, EOFError, ValueError, IndexError, zlib.error) as exc:
            self.close()
            raise TileError(f"{path}: a damaged PMTiles archive: {exc}") from None

    def _bytes(self, offset: int, length: int) -> bytes:
        return self._map[offset : offset + length]

    def _decode(self, offset: int, length: int) -> list[Entry]:
        return deserialize_directory(self._bytes(offset, length))

    def _read_header(self) -> HeaderDict:
        if len(self._map) < _PMTILES_HEADER:
            raise TileError(f"{self._path}: too short for a PMTiles archive")
        try:
            header = deserialize_header(self._bytes(0, _PMTILES_HEADER))
        except MagicNumberNotFound:
            raise TileError(f"{self._path}: not a PMTiles archive") from None
        except SpecVersionUnsupported:
            raise TileError(
                f"{self._path}: PMTiles version {self._map[7]}; holdfire reads version 3"
            ) from None
        if header["tile_compression"] not in _SERVED_COMPRESSIONS:
            raise TileError(
                f"{self._path}: tiles compressed with {header['tile_compression'].name.lower()}; "
                "holdfire serves uncompressed or gzip tiles"
            )
        if header["tile_type"] not in _PMTILES_TYPES:
            raise TileError(
                f"{self._path}: tiles of type {header['tile_type'].name.lower()}; "
                "holdfire serves png, jpg, webp and pbf (MVT)"
            )
        return header

    def _read_meta(self) -> TileMeta:
        header = self._header
        raw = self._bytes(header["metadata_offset"], header["metadata_length"])
        if header["internal_compression"] == Compression.GZIP:
            raw = gzip.decompress(raw)
        metadata = json.loads(raw) if raw.strip() else {}
        if not isinstance(metadata, dict):
            metadata = {}
        low, high = _zooms(self._path, header["min_zoom"], header["max_zoom"])
        e7 = 1e7  # the header holds degrees times ten million
        return TileMeta(
            format=_PMTILES_TYPES[header["tile_type"]],
            minzoom=low,
            maxzoom=high,
            bounds=_bounds(
                header["min_lon_e7"] / e7,
                header["min_lat_e7"] / e7,
                header["max_lon_e7"] / e7,
                header["max_lat_e7"] / e7,
            ),
            name=_text(metadata.get("name")) or self._path.stem,
            attribution=_text(metadata.get("attribution")),
        )

    def meta(self) -> TileMeta:
        return self._meta

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        if not in_grid(z, x, y):
            return None
        header, tile_id = self._header, zxy_to_tileid(z, x, y)
        offset, length = header["root_offset"], header["root_length"]
        try:
            for _ in range(4):  # the root, then at most three levels of leaves
                entry = find_tile(self._directory(offset, length), tile_id)
                if entry is None:
                    return None
                if entry.run_length > 0:
                    return self._bytes(header["tile_data_offset"] + entry.offset, entry.length)
                offset, length = header["leaf_directory_offset"] + entry.offset, entry.length
        except (OSError, EOFError, ValueError, IndexError, zlib.error) as exc:
            raise TileError(f"{self._path}: tile {z}/{x}/{y} cannot be read: {exc}") from None
        return None

    def close(self) -> None:
        self._directory.cache_clear()
        self._map.close()
        self._file.close()

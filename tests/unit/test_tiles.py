"""Operator map tile sources, each built for real in a temporary folder: XYZ, MBTiles, PMTiles."""

import gzip
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pmtiles.writer
import pytest
from pmtiles.tile import Compression, TileType

from holdfire.adapters.tiles import TileError, TileSource, open_tiles
from support.tiles import png, write_mbtiles, write_pmtiles, write_xyz

# z 2 has rows 0 (north) to 3 (south); one tile near the top, one near the bottom, so a y
# that is not flipped (or flipped twice) finds the other tile or none
NORTH, SOUTH, WORLD = (2, 1, 0), (2, 1, 3), (0, 0, 0)
TILES = {NORTH: png(10), SOUTH: png(20), WORLD: png(30)}
OUTSIDE = [(2, 4, 0), (2, 0, 4), (2, -1, 0), (2, 0, -1), (-1, 0, 0), (31, 0, 0), (99, 0, 0)]


def opened(path: Path) -> TileSource:
    source = open_tiles(path)
    assert source.meta().minzoom == 0
    return source


@pytest.fixture(params=["xyz", "mbtiles", "pmtiles"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> TileSource:
    kind = request.param
    if kind == "xyz":
        path = write_xyz(tmp_path / "ao", TILES)
    elif kind == "mbtiles":
        path = write_mbtiles(tmp_path / "ao.mbtiles", TILES, {"format": "png"})
    else:
        path = write_pmtiles(tmp_path / "ao.pmtiles", TILES)
    return opened(path)


def test_every_source_returns_the_stored_bytes_by_xyz_address(source: TileSource) -> None:
    try:
        for address, data in TILES.items():
            assert source.tile(*address) == data, address
        assert source.tile(2, 1, 1) is None and source.tile(2, 1, 2) is None
        assert source.tile(1, 0, 0) is None
        meta = source.meta()
        assert (meta.format, meta.minzoom, meta.maxzoom) == ("png", 0, 2)
    finally:
        source.close()


@pytest.mark.parametrize("address", OUTSIDE)
def test_an_address_outside_the_grid_has_no_tile(
    source: TileSource, address: tuple[int, ...]
) -> None:
    try:
        assert source.tile(*address) is None
    finally:
        source.close()


def test_a_source_reads_from_many_threads_at_once(source: TileSource) -> None:
    addresses = list(TILES) * 200
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(lambda a: source.tile(*a), addresses))
        assert got == [TILES[a] for a in addresses]
    finally:
        source.close()


# -- XYZ folders --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extension", "fmt"),
    [(".png", "png"), (".jpg", "jpg"), (".jpeg", "jpg"), (".webp", "webp"), (".pbf", "pbf")],
)
def test_an_xyz_folder_takes_its_format_from_the_files(
    tmp_path: Path, extension: str, fmt: str
) -> None:
    root = write_xyz(tmp_path / "kursk-ao", {(3, 4, 2): b"tile", (5, 17, 9): b"deeper"}, extension)
    (root / "README.txt").write_text("not a tile")
    (root / "3" / "4" / "notes.txt").write_text("not a tile either")
    source = open_tiles(root)
    meta = source.meta()
    assert (meta.format, meta.minzoom, meta.maxzoom) == (fmt, 3, 5)
    assert (meta.name, meta.bounds, meta.attribution) == ("kursk-ao", None, None)
    assert source.tile(3, 4, 2) == b"tile" and source.tile(5, 17, 9) == b"deeper"
    assert source.tile(3, 4, 3) is None and source.tile(4, 0, 0) is None


@pytest.mark.parametrize("layout", ["empty", "no-tiles", "other-files"])
def test_a_folder_without_xyz_tiles_is_refused(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "tiles"
    root.mkdir()
    if layout == "no-tiles":
        (root / "3" / "4").mkdir(parents=True)
    elif layout == "other-files":
        write_xyz(root, {(3, 4, 2): b"x"}, ".tif")
    with pytest.raises(TileError, match=r"tiles: a folder without tiles laid out as \{z\}"):
        open_tiles(root)


# -- MBTiles ------------------------------------------------------------------------------------


def test_mbtiles_rows_are_tms_and_the_metadata_is_read(tmp_path: Path) -> None:
    metadata = {
        "name": "Kursk AO 1:50k",
        "format": "jpg",
        "minzoom": "0",
        "maxzoom": "2",
        "bounds": "35.0,51.0,36.5,51.8",
        "attribution": "Survey unit 3",
    }
    path = write_mbtiles(tmp_path / "ao.mbtiles", TILES, metadata)
    db = sqlite3.connect(path)
    stored = dict(db.execute("SELECT tile_row, tile_data FROM tiles WHERE zoom_level = 2"))
    db.close()
    assert stored == {3: TILES[NORTH], 0: TILES[SOUTH]}  # TMS: row 3 of z 2 is the north
    source = open_tiles(path)
    try:
        assert source.tile(*NORTH) == TILES[NORTH] and source.tile(*SOUTH) == TILES[SOUTH]
        meta = source.meta()
        assert meta.format == "jpg" and meta.name == "Kursk AO 1:50k"
        assert meta.bounds == (35.0, 51.0, 36.5, 51.8)
        assert meta.attribution == "Survey unit 3"
    finally:
        source.close()


def test_mbtiles_without_zooms_or_format_take_them_from_the_tiles(tmp_path: Path) -> None:
    tiles = {(4, 3, 3): png(1), (7, 60, 40): png(2)}
    path = write_mbtiles(tmp_path / "sparse.mbtiles", tiles, {"bounds": "bad"})
    source = open_tiles(path)
    try:
        meta = source.meta()
        assert (meta.format, meta.minzoom, meta.maxzoom) == ("png", 4, 7)
        assert (meta.name, meta.bounds, meta.attribution) == ("sparse", None, None)
    finally:
        source.close()


def test_mbtiles_are_opened_read_only(tmp_path: Path) -> None:
    path = write_mbtiles(tmp_path / "ao.mbtiles", TILES, {"format": "png"})
    before = path.read_bytes()
    path.chmod(0o444)
    source = open_tiles(path)
    source.tile(*NORTH)
    source.close()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ao.mbtiles"]


@pytest.mark.parametrize(
    ("tiles", "metadata", "needle"),
    [
        ({WORLD: b"x"}, {"format": "tiff"}, "format 'tiff'"),
        ({WORLD: b"not an image"}, {}, "a format it does not name"),
        ({}, {"format": "png"}, "an MBTiles file without tiles"),
        ({WORLD: b"x"}, {"format": "png", "minzoom": "3", "maxzoom": "2"}, "zoom levels 3 to 2"),
    ],
)
def test_unusable_mbtiles_are_refused_naming_why(
    tmp_path: Path, tiles: dict[tuple[int, int, int], bytes], metadata: dict[str, str], needle: str
) -> None:
    path = write_mbtiles(tmp_path / "bad.mbtiles", tiles, metadata)
    with pytest.raises(TileError, match=r"bad\.mbtiles: ") as caught:
        open_tiles(path)
    assert needle in str(caught.value)


def test_an_sqlite_file_that_is_not_mbtiles_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE events (seq INTEGER)")
    db.close()
    with pytest.raises(TileError, match="not a readable MBTiles file: no such table: metadata"):
        open_tiles(path)


# -- PMTiles ------------------------------------------------------------------------------------


def test_pmtiles_meta_comes_from_the_header_and_the_metadata(tmp_path: Path) -> None:
    path = write_pmtiles(
        tmp_path / "ao.pmtiles",
        {(10, 600, 330): b"\xff\xd8\xff jpeg", (12, 2400, 1320): b"\xff\xd8\xff deeper"},
        tile_type=TileType.JPEG,
        metadata={"name": "Ortho", "attribution": "Drone survey"},
        bounds=(35.1, 51.2, 35.9, 51.7),
    )
    source = open_tiles(path)
    try:
        meta = source.meta()
        assert (meta.format, meta.minzoom, meta.maxzoom) == ("jpg", 10, 12)
        assert (meta.name, meta.attribution) == ("Ortho", "Drone survey")
        assert meta.bounds == pytest.approx((35.1, 51.2, 35.9, 51.7))
        assert source.tile(12, 2400, 1320) == b"\xff\xd8\xff deeper"
        assert source.tile(11, 1200, 660) is None
    finally:
        source.close()


def test_gzip_vector_tiles_are_returned_as_stored(tmp_path: Path) -> None:
    stored = gzip.compress(b"\x1a\x05layer", mtime=0)
    path = write_pmtiles(
        tmp_path / "roads.pmtiles",
        {(5, 19, 10): stored},
        tile_type=TileType.MVT,
        compression=Compression.GZIP,
    )
    source = open_tiles(path)
    try:
        assert source.meta().format == "pbf" and source.meta().name == "roads"
        assert source.tile(5, 19, 10) == stored
    finally:
        source.close()


def test_pmtiles_with_leaf_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large archive keeps most of its directory in leaves; two entries a leaf make a small
    archive do the same."""
    monkeypatch.setattr(
        pmtiles.writer,
        "optimize_directories",
        lambda entries, _: pmtiles.writer.build_roots_leaves(entries, 2),
    )
    tiles = {
        (z, x, y): png(z, x, y) for z in range(4) for x in range(1 << z) for y in range(1 << z)
    }
    source = open_tiles(write_pmtiles(tmp_path / "leaves.pmtiles", tiles))
    try:
        for address, data in tiles.items():
            assert source.tile(*address) == data, address
        assert source.tile(4, 0, 0) is None
    finally:
        source.close()


@pytest.mark.parametrize(
    ("tile_type", "compression", "needle"),
    [
        (TileType.MVT, Compression.BROTLI, "compressed with brotli"),
        (TileType.MVT, Compression.ZSTD, "compressed with zstd"),
        (TileType.AVIF, Compression.NONE, "tiles of type avif"),
        (TileType.UNKNOWN, Compression.NONE, "tiles of type unknown"),
    ],
)
def test_pmtiles_that_browsers_cannot_show_are_refused(
    tmp_path: Path, tile_type: TileType, compression: Compression, needle: str
) -> None:
    path = write_pmtiles(
        tmp_path / "x.pmtiles", {WORLD: b"x"}, tile_type=tile_type, compression=compression
    )
    with pytest.raises(TileError, match=needle):
        open_tiles(path)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"PMTiles\x03", "too short for a PMTiles archive"),
        (b"PMTiles\x02" + bytes(200), "PMTiles version 2; holdfire reads version 3"),
    ],
)
def test_a_short_or_old_pmtiles_file_is_refused(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    path = tmp_path / "x.pmtiles"
    path.write_bytes(content)
    with pytest.raises(TileError, match=needle):
        open_tiles(path)


def test_a_truncated_pmtiles_archive_is_refused(tmp_path: Path) -> None:
    path = write_pmtiles(tmp_path / "cut.pmtiles", TILES)
    path.write_bytes(path.read_bytes()[:140])  # the header, and part of the root directory
    with pytest.raises(TileError, match=r"cut\.pmtiles: a damaged PMTiles archive"):
        open_tiles(path)


# -- what the path holds --------------------------------------------------------------------------


def test_the_content_decides_not_the_name(tmp_path: Path) -> None:
    path = write_mbtiles(tmp_path / "misnamed.pmtiles", TILES, {"format": "png"})
    source = open_tiles(path)
    try:
        assert source.tile(*NORTH) == TILES[NORTH]
    finally:
        source.close()


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TileError, match="nowhere: no such file or folder"):
        open_tiles(tmp_path / "nowhere")


@pytest.mark.parametrize("content", [b"", b"GIF89a garbage", b"PMTile", bytes(4096)])
def test_a_file_of_something_else_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tiles.mbtiles"
    path.write_bytes(content)
    with pytest.raises(
        TileError, match="neither an XYZ tile folder, an MBTiles file nor a PMTiles archive"
    ):
        open_tiles(path)

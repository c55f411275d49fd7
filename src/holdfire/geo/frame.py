"""Local metric frames for shape tests: azimuthal-equidistant (aeqd) projections on WGS 84.

Shapely works in the plane, so FSCM geometry is projected into a frame in metres (x east, y
north) before any distance or intersection test; raw degrees are never used (domain.md §6).

Accuracy. Distances from a frame's centre are exactly geodesic; elsewhere the frame stretches
slightly across the radial direction. frame_for() centres a frame on each 0.5° x 0.5° tile: between
any point of the tile and any point within 50 km of it, planar and geodesic distance differ by at
most about 0.3 m (worst at the equator, where tiles are widest; tests check < 1 m with hypothesis at
all latitudes), so the tile's longitude span need not shrink toward the poles.

Circles. ``point.buffer(r, quad_segs=32)`` is a 128-gon inscribed in the circle, so it understates
the radius by up to r·(1 - cos(π/128)) ≈ 3.0e-4·r (0.3 m at 1 km, 1 m at 3.3 km). Test footprints
with ``geometry.distance(point) <= r``, which has no polygon error, or LocalFrame.circle(), which
never understates.
"""

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from pyproj.enums import TransformDirection
from shapely import LinearRing, LineString, Point, Polygon

from holdfire.geo.coords import FloatArray, check_lat_lon, check_lat_lon_arrays
from holdfire.geo.errors import GeoError

TILE_DEG = 0.5
_TILE_ROWS = int(90 / TILE_DEG)  # rows per hemisphere
_TILE_COLS = int(180 / TILE_DEG)  # columns per side of the Greenwich meridian
_HALF_MERIDIAN_M = 20_003_931.0  # pole to pole: the shortest way to any antipode
_QUAD_SEGS = 32
# buffer() puts its vertices on the circle, so its edges cut inside it; dividing the radius by the
# cosine of half the angle per edge makes the edges tangent, so the polygon covers the circle.
_CIRCUMSCRIBE = 1.0 / math.cos(math.pi / (4 * _QUAD_SEGS))


class LocalFrame:
    """An aeqd frame centred on (lat0, lon0): x east and y north in metres.

    Built from a PROJ pipeline string, which takes about 40 µs (``Transformer.from_crs`` takes
    several ms) and transforms as fast; frame_for() caches one frame per tile.
    """

    __slots__ = ("_lat0", "_lon0", "_transformer")

    def __init__(self, lat0: float, lon0: float) -> None:
        check_lat_lon(lat0, lon0)
        self._lat0 = lat0
        self._lon0 = lon0
        self._transformer = Transformer.from_pipeline(
            f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +ellps=WGS84 +units=m"
        )

    def __repr__(self) -> str:
        return f"LocalFrame({self._lat0!r}, {self._lon0!r})"

    @property
    def lat0(self) -> float:
        return self._lat0

    @property
    def lon0(self) -> float:
        return self._lon0

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        check_lat_lon(lat, lon)
        x, y = self._transformer.transform(lon, lat)
        return float(x), float(y)

    def to_xy_many(self, lats: npt.ArrayLike, lons: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        lat, lon = check_lat_lon_arrays(lats, lons)
        x, y = self._transformer.transform(lon, lat)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        # PROJ's inverse wraps around beyond the antipode instead of failing.
        if not math.hypot(x, y) <= _HALF_MERIDIAN_M:
            raise GeoError(
                f"frame point ({x}, {y}) m has no latitude/longitude; expected finite metres "
                f"within {_HALF_MERIDIAN_M:,.0f} m of the frame centre"
            )
        lon, lat = self._transformer.transform(x, y, direction=TransformDirection.INVERSE)
        return float(lat), float(lon)

    def point(self, lat: float, lon: float) -> Point:
        return Point(self.to_xy(lat, lon))

    def circle(self, lat: float, lon: float, radius_m: float) -> Polygon:
        """A 128-gon around the point that contains the circle of ``radius_m`` metres.

        It exceeds the circle by at most 3.0e-4 of the radius, on the safe side for a footprint.
        """
        if not (math.isfinite(radius_m) and radius_m > 0.0):
            raise GeoError(f"radius {radius_m} m is invalid; expected a finite value > 0")
        return self.point(lat, lon).buffer(radius_m * _CIRCUMSCRIBE, quad_segs=_QUAD_SEGS)

    def line(self, coords: Sequence[Sequence[float]]) -> LineString:
        """A LineString from GeoJSON-order (lon, lat) positions."""
        xy = self._positions_xy(coords, "line")
        if len(xy) < 2:
            raise GeoError(f"line has {len(xy)} position(s); expected at least 2")
        return LineString(xy)

    def polygon(self, rings: Sequence[Sequence[Sequence[float]]]) -> Polygon:
        """A Polygon from GeoJSON rings of (lon, lat): the exterior first, then any holes.

        Rings may be given closed (as GeoJSON requires) or open. The polygon is not repaired;
        check ``is_valid`` if the source may be self-intersecting.
        """
        if not rings:
            raise GeoError("polygon has no rings; expected an exterior ring, then any holes")
        linear_rings = []
        for index, ring in enumerate(rings):
            xy = self._positions_xy(ring, f"polygon ring {index}")
            if len(np.unique(xy, axis=0)) < 3:
                raise GeoError(
                    f"polygon ring {index} has fewer than 3 distinct positions; expected a ring "
                    "of at least 3 corners"
                )
            linear_rings.append(LinearRing(xy))
        return Polygon(linear_rings[0], linear_rings[1:])

    def _positions_xy(self, positions: Sequence[Sequence[float]], what: str) -> FloatArray:
        # GeoJSON positions are lon, lat (and maybe a height, ignored here).
        lon_lat = np.array([(p[0], p[1]) for p in positions], dtype=np.float64).reshape(-1, 2)
        try:
            x, y = self.to_xy_many(lon_lat[:, 1], lon_lat[:, 0])
        except GeoError as exc:
            raise GeoError(f"{what}: {exc}") from None
        return np.column_stack((x, y))


def frame_for(lat: float, lon: float) -> LocalFrame:
    """The cached frame of the 0.5° x 0.5° tile containing the point, centred on the tile."""
    check_lat_lon(lat, lon)
    row = min(math.floor(lat / TILE_DEG), _TILE_ROWS - 1)  # lat 90 joins the top row
    col = math.floor(lon / TILE_DEG)
    return _tile_frame(row, -_TILE_COLS if col == _TILE_COLS else col)  # lon 180 is lon -180


@lru_cache(maxsize=4096)
def _tile_frame(row: int, col: int) -> LocalFrame:
    return LocalFrame((row + 0.5) * TILE_DEG, (col + 0.5) * TILE_DEG)


def side_of_line(line: LineString, x: float, y: float) -> float:
    """Signed distance in metres from frame point (x, y) to the polyline ``line``.

    Positive when the point is LEFT of the line's direction of travel (first vertex to last),
    negative when right, 0.0 on the line. The magnitude is the distance to the nearest segment and
    the sign is the side of that segment. Where the nearest point is a vertex between two segments,
    the side comes from the bisector of their left normals, so a point beyond a sharp bend gets the
    outside of the bend. Beyond either end the end segment is extended: the magnitude is the
    distance to the end vertex, the sign the side of the extension, and a point exactly on the
    extension has no side and gives 0.0. If two non-adjacent segments are equally near, the first
    wins. Repeated vertices are ignored.
    """
    return side_of_vertices(line_vertices(line), x, y)


def line_vertices(line: LineString) -> tuple[tuple[float, float], ...]:
    """A line's distinct consecutive vertices as plain floats (for `side_of_vertices`)."""
    xy: list[tuple[float, float]] = []
    for vx, vy in shapely.get_coordinates(line).tolist():
        if not xy or (vx, vy) != xy[-1]:
            xy.append((vx, vy))
    if len(xy) < 2:
        raise GeoError(f"line has {len(xy)} distinct vertices; expected at least 2")
    return tuple(xy)


class Polyline:
    """A line's distinct vertices (`line_vertices`) with its segments' numbers worked out once,
    for many side tests against it."""

    __slots__ = ("_segments", "vertices")

    def __init__(self, line: LineString) -> None:
        self.vertices = line_vertices(line)
        self._segments = _segments(self.vertices)

    def side(self, x: float, y: float) -> float:
        """`side_of_line` of frame point (x, y)."""
        _check_point(x, y)
        return _side(self._segments, x, y)


def side_of_vertices(xy: Sequence[tuple[float, float]], x: float, y: float) -> float:
    """`side_of_line` on vertices already taken from the line (see `line_vertices`)."""
    _check_point(x, y)
    return _side(_segments(xy), x, y)


def _check_point(x: float, y: float) -> None:
    if not (math.isfinite(x) and math.isfinite(y)):
        raise GeoError(f"frame point ({x}, {y}) is not finite; expected metres")


# Per segment: start x0, y0; direction sx, sy; sx² + sy²; the unit left normal's y and x
# components negated and as is (sy / length, sx / length).
_Segment = tuple[float, float, float, float, float, float, float]


def _segments(xy: Sequence[tuple[float, float]]) -> tuple[_Segment, ...]:
    rows = []
    for (x0, y0), (x1, y1) in itertools.pairwise(xy):
        sx, sy = x1 - x0, y1 - y0
        length = math.hypot(sx, sy)
        rows.append((x0, y0, sx, sy, sx * sx + sy * sy, sy / length, sx / length))
    return tuple(rows)


def _side(segments: Sequence[_Segment], x: float, y: float) -> float:
    # Plain floats: lines have a handful of vertices, where numpy's per-call cost dominates.
    k, distance, along, ox, oy = 0, math.inf, 0.0, 0.0, 0.0
    for i, (x0, y0, sx, sy, ss, _, _) in enumerate(segments):
        fx, fy = x - x0, y - y0
        t = (fx * sx + fy * sy) / ss
        t = t if 0.0 < t < 1.0 else (0.0 if t <= 0.0 else 1.0)  # clamped to the segment
        dx, dy = fx - t * sx, fy - t * sy
        d = math.hypot(dx, dy)
        if d < distance:  # strictly: the first of equals wins
            k, distance, along, ox, oy = i, d, t, dx, dy
    if along == 0.0 and k > 0:
        pair = segments[k - 1 : k + 1]
    elif along == 1.0 and k < len(segments) - 1:
        pair = segments[k : k + 2]
    else:
        pair = segments[k : k + 1]
    nx = ny = 0.0
    for *_, q, r in pair:
        nx, ny = nx - q, ny + r  # unit left normals, summed
    side = ox * nx + oy * ny
    return math.copysign(distance, side) if side != 0.0 else 0.0

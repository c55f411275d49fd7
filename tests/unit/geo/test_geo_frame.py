"""Local frames: accuracy against geodesics, shapely geometry, side of a line."""

import itertools
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely import LineString, Point

from holdfire.geo import (
    GeoError,
    LocalFrame,
    Polyline,
    frame_for,
    side_of_line,
    side_of_vertices,
)

GEOD = Geod(ellps="WGS84")
latitudes = st.floats(-89.99, 89.99)
longitudes = st.floats(-180.0, 180.0)
azimuths = st.floats(0.0, 360.0)


def fwd(lat: float, lon: float, azimuth: float, distance: float) -> tuple[float, float, float]:
    """(lat, lon, forward azimuth on arrival) after ``distance`` metres along a geodesic."""
    lon2, lat2, back = GEOD.fwd(lon, lat, azimuth, distance)
    return float(lat2), float(lon2), (float(back) + 180.0) % 360.0


def test_frame_for_uses_half_degree_tiles() -> None:
    frame = frame_for(51.4, 35.2)
    assert (frame.lat0, frame.lon0) == (51.25, 35.25)
    assert frame_for(51.01, 35.49) is frame  # cached per tile
    assert frame_for(51.5, 35.2) is not frame
    assert (frame_for(-0.1, -0.1).lat0, frame_for(-0.1, -0.1).lon0) == (-0.25, -0.25)


def test_frame_for_edges_of_the_world() -> None:
    assert frame_for(90.0, 0.0).lat0 == 89.75
    assert frame_for(-90.0, 0.0).lat0 == -89.75
    assert frame_for(0.0, 180.0) is frame_for(0.0, -180.0)
    assert frame_for(0.0, 180.0).lon0 == -179.75


@settings(max_examples=500, deadline=None)
@given(
    lat=latitudes,
    lon=longitudes,
    azimuth=azimuths,
    distance=st.floats(0.0, 50_000.0),
)
def test_tile_frame_distances_match_geodesics_within_1_m(
    lat: float, lon: float, azimuth: float, distance: float
) -> None:
    # Any point of a tile (the one the point is in) to any point within 50 km of it.
    frame = frame_for(lat, lon)
    lat2, lon2, _ = fwd(lat, lon, azimuth, distance)
    x1, y1 = frame.to_xy(lat, lon)
    x2, y2 = frame.to_xy(lat2, lon2)
    assert math.hypot(x2 - x1, y2 - y1) == pytest.approx(distance, abs=1.0)


def test_frame_axes_are_east_and_north() -> None:
    frame = LocalFrame(51.4, 35.2)
    assert frame.to_xy(51.4, 35.2) == pytest.approx((0.0, 0.0), abs=1e-9)
    east = frame.to_xy(*fwd(51.4, 35.2, 90.0, 1000.0)[:2])
    north = frame.to_xy(*fwd(51.4, 35.2, 0.0, 1000.0)[:2])
    assert east == pytest.approx((1000.0, 0.0), abs=1e-6)
    assert north == pytest.approx((0.0, 1000.0), abs=1e-6)


def test_to_latlon_inverts_to_xy_and_many_matches_one() -> None:
    frame = frame_for(-33.9, 18.4)
    lats = np.array([-33.9, -34.2, -33.6])
    lons = np.array([18.4, 18.1, 18.9])
    xs, ys = frame.to_xy_many(lats, lons)
    for lat, lon, x, y in zip(lats, lons, xs, ys, strict=True):
        assert frame.to_xy(float(lat), float(lon)) == (x, y)
        assert frame.to_latlon(float(x), float(y)) == pytest.approx((lat, lon), abs=1e-12)


def test_frame_rejects_bad_input() -> None:
    frame = frame_for(0.0, 0.0)
    with pytest.raises(GeoError, match=re.escape("latitude 91.0 is outside [-90, 90]")):
        frame.to_xy(91.0, 0.0)
    for x in (2.1e7, math.nan, math.inf):
        with pytest.raises(GeoError, match="has no latitude/longitude"):
            frame.to_latlon(x, 0.0)
    with pytest.raises(GeoError, match=re.escape("position 1: longitude 181.0 is outside")):
        frame.to_xy_many(np.zeros(2), np.array([0.0, 181.0]))


def test_line_across_the_antimeridian_stays_short() -> None:
    line = frame_for(0.0, 179.9).line([(179.9, 0.0), (-179.9, 0.0)])
    assert line.length == pytest.approx(22_263.9, abs=1.0)


def edge_square(
    lat: float, lon: float, azimuth: float, distance: float
) -> list[list[tuple[float, float]]]:
    """A GeoJSON ring whose nearest edge is ``distance`` m (geodesic) from the point, square-on.

    The foot F lies ``distance`` along the azimuth; the edge runs 1 km either side of F at right
    angles to the geodesic there, so F is the edge's nearest point to the aimpoint.
    """
    f_lat, f_lon, along = fwd(lat, lon, azimuth, distance)
    corners = []
    for side in (-90.0, 90.0):
        e_lat, e_lon, _ = fwd(f_lat, f_lon, along + side, 1000.0)
        corners.append((e_lon, e_lat))
        far_lat, far_lon, _ = fwd(e_lat, e_lon, along, 2000.0)
        corners.append((far_lon, far_lat))
    a, far_a, b, far_b = corners
    return [[a, b, far_b, far_a, a]]


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(-80.0, 80.0),
    lon=longitudes,
    azimuth=azimuths,
    distance=st.floats(10.0, 40_000.0),
)
def test_polygon_distance_in_frame_matches_geodesic(
    lat: float, lon: float, azimuth: float, distance: float
) -> None:
    frame = frame_for(lat, lon)
    polygon = frame.polygon(edge_square(lat, lon, azimuth, distance))
    assert polygon.distance(frame.point(lat, lon)) == pytest.approx(distance, abs=1.0)


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(-80.0, 80.0),
    lon=longitudes,
    azimuth=azimuths,
    distance=st.floats(10.0, 2_000.0),
)
def test_circles_intersect_polygons_consistently_with_geodesics(
    lat: float, lon: float, azimuth: float, distance: float
) -> None:
    frame = frame_for(lat, lon)
    polygon = frame.polygon(edge_square(lat, lon, azimuth, distance))
    point = frame.point(lat, lon)
    # Inscribed shapely buffer: short by at most 3.0e-4 of the radius (0.6 m at 2 km).
    assert point.buffer(distance + 1.0, quad_segs=32).intersects(polygon)
    assert not point.buffer(distance - 1.0, quad_segs=32).intersects(polygon)
    # frame.circle never falls short, and overshoots by at most 3.0e-4 of the radius.
    assert frame.circle(lat, lon, distance + 0.01).intersects(polygon)
    assert not frame.circle(lat, lon, distance - 1.0).intersects(polygon)


def test_circle_covers_the_true_circle_and_buffer_does_not() -> None:
    frame = frame_for(51.4, 35.2)
    radius = 5_000.0
    circle = frame.circle(51.4, 35.2, radius)
    x0, y0 = frame.to_xy(51.4, 35.2)
    angles = np.radians(np.arange(0.0, 360.0, 0.1))
    rim = [Point(x0 + radius * np.sin(a), y0 + radius * np.cos(a)) for a in angles]
    assert all(circle.covers(p) for p in rim)
    buffer = Point(x0, y0).buffer(radius, quad_segs=32)
    assert not all(buffer.covers(p) for p in rim)
    farthest = max(math.hypot(x - x0, y - y0) for x, y in circle.exterior.coords)
    assert radius < farthest <= radius * (1 + 3.1e-4)


def test_polygon_with_a_hole() -> None:
    frame = frame_for(51.4, 35.2)
    outer = [(35.0, 51.3), (35.4, 51.3), (35.4, 51.5), (35.0, 51.5), (35.0, 51.3)]
    hole = [(35.1, 51.35), (35.3, 51.35), (35.3, 51.45), (35.1, 51.45)]  # open ring: closed for us
    polygon = frame.polygon([outer, hole])
    assert len(polygon.interiors) == 1
    assert polygon.contains(frame.point(51.32, 35.2))
    assert not polygon.contains(frame.point(51.4, 35.2))
    # GeoJSON positions may carry a height; it is ignored.
    with_height = [[(lon, lat, 150.0) for lon, lat in outer]]
    assert frame.polygon(with_height).equals(frame.polygon([outer]))


@pytest.mark.parametrize(
    ("rings", "message"),
    [
        ([], "polygon has no rings"),
        ([[(35.0, 51.3), (35.1, 51.3), (35.0, 51.3)]], "polygon ring 0 has fewer than 3 distinct"),
        (
            [[(35.0, 51.3), (35.1, 51.3), (35.1, 95.0)]],
            "polygon ring 0: position 2: latitude 95.0 is outside [-90, 90]",
        ),
    ],
)
def test_polygon_rejects(rings: list[list[tuple[float, float]]], message: str) -> None:
    with pytest.raises(GeoError, match=re.escape(message)):
        frame_for(51.4, 35.2).polygon(rings)


def test_line_rejects_a_single_position() -> None:
    with pytest.raises(GeoError, match="line has 1 position"):
        frame_for(51.4, 35.2).line([(35.2, 51.4)])


# --- side_of_line -----------------------------------------------------------------------------

NORTHWARD = LineString([(0.0, -1000.0), (0.0, 0.0), (0.0, 1000.0)])


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        (-100.0, 0.0, 100.0),  # west of a northward line: left
        (250.0, 500.0, -250.0),  # east: right
        (0.0, 300.0, 0.0),  # on it
        (-30.0, 1040.0, 50.0),  # beyond the last vertex: distance to it, side of the extension
        (30.0, -1040.0, -50.0),  # before the first
        (0.0, 1500.0, 0.0),  # on the extension itself: no side
    ],
)
def test_side_of_line_sign_and_distance(x: float, y: float, expected: float) -> None:
    assert side_of_line(NORTHWARD, x, y) == pytest.approx(expected, abs=1e-9)


def test_side_of_line_reverses_with_the_line() -> None:
    southward = LineString(list(NORTHWARD.coords)[::-1])
    assert side_of_line(southward, -100.0, 0.0) == pytest.approx(-100.0)


def test_side_of_line_outside_a_sharp_bend() -> None:
    # East, then a 135° left turn back to the north-west. A point just past the tip is outside
    # the bend, i.e. on the right; the first segment alone would call it left.
    hairpin = LineString([(-1000.0, 0.0), (0.0, 0.0), (-1000.0, 1000.0)])
    assert side_of_line(hairpin, 2.0, 1.0) == pytest.approx(-math.hypot(2.0, 1.0))
    assert side_of_line(hairpin, -100.0, 50.0) > 0  # inside the bend: left of both segments


def test_side_of_line_ignores_repeated_vertices() -> None:
    line = LineString([(0.0, -1000.0), (0.0, 0.0), (0.0, 0.0), (0.0, 1000.0)])
    assert side_of_line(line, -5.0, 0.0) == pytest.approx(5.0)


def test_side_of_line_in_a_real_frame() -> None:
    # An eastward geodesic through Kursk: a point 700 m north of it is on the left.
    frame = frame_for(51.73, 36.19)
    west, east = fwd(51.73, 36.19, 270.0, 7000.0), fwd(51.73, 36.19, 90.0, 7000.0)
    line = frame.line([(west[1], west[0]), (east[1], east[0])])
    north = frame.to_xy(*fwd(51.73, 36.19, 0.0, 700.0)[:2])
    south = frame.to_xy(*fwd(51.73, 36.19, 180.0, 700.0)[:2])
    assert side_of_line(line, *north) == pytest.approx(700.0, abs=1.0)
    assert side_of_line(line, *south) == pytest.approx(-700.0, abs=1.0)


def test_side_of_line_rejects_degenerate_lines() -> None:
    with pytest.raises(GeoError, match="line has 1 distinct vertices; expected at least 2"):
        side_of_line(LineString([(1.0, 1.0), (1.0, 1.0)]), 0.0, 0.0)
    with pytest.raises(GeoError, match="is not finite"):
        side_of_line(NORTHWARD, math.nan, 0.0)


# --- Polyline ---------------------------------------------------------------------------------


def _reference_side(xy: list[tuple[float, float]], x: float, y: float) -> float:
    """side_of_line as first written, straight from its docstring: the oracle for Polyline."""
    segments = []
    for (x0, y0), (x1, y1) in itertools.pairwise(xy):
        sx, sy, fx, fy = x1 - x0, y1 - y0, x - x0, y - y0
        along = min(1.0, max(0.0, (fx * sx + fy * sy) / (sx * sx + sy * sy)))
        ox, oy = fx - along * sx, fy - along * sy
        segments.append((sx, sy, along, ox, oy, math.hypot(ox, oy)))
    k = min(range(len(segments)), key=lambda i: segments[i][5])
    _, _, along, ox, oy, distance = segments[k]
    if along == 0.0 and k > 0:
        pair = segments[k - 1 : k + 1]
    elif along == 1.0 and k < len(segments) - 1:
        pair = segments[k : k + 2]
    else:
        pair = segments[k : k + 1]
    nx = ny = 0.0
    for sx, sy, *_ in pair:
        length = math.hypot(sx, sy)
        nx, ny = nx - sy / length, ny + sx / length
    side = ox * nx + oy * ny
    return math.copysign(distance, side) if side != 0.0 else 0.0


# Small integer grids make ties common: equally near segments, points on vertices and extensions.
_grid = st.integers(-4, 4).map(float)
_metres = st.floats(-1e5, 1e5).map(lambda v: round(v, 4))  # frame coordinates, to 0.1 mm
_vertex = st.tuples(_grid, _grid) | st.tuples(_metres, _metres)
_line = st.lists(_vertex, min_size=2, max_size=8).filter(lambda v: len(set(v)) > 1)


@settings(max_examples=500, deadline=None)
@given(_line, _vertex)
def test_polyline_side_equals_the_reference_bit_for_bit(
    vertices: list[tuple[float, float]], point: tuple[float, float]
) -> None:
    line = Polyline(LineString(vertices))
    expected = _reference_side(list(line.vertices), *point)
    assert repr(line.side(*point)) == repr(expected)
    assert repr(side_of_vertices(line.vertices, *point)) == repr(expected)


def test_polyline_side_breaks_ties_as_the_reference() -> None:
    # Beyond the hairpin's tip both segments are nearest at the shared vertex; two parallel
    # legs of a U are equally near a point between them, and the first wins.
    hairpin = [(-1000.0, 0.0), (0.0, 0.0), (-1000.0, 1000.0)]
    u_turn = [(0.0, 0.0), (10.0, 0.0), (10.0, 2.0), (0.0, 2.0)]
    for xy, point in ((hairpin, (2.0, 1.0)), (u_turn, (5.0, 1.0)), (u_turn, (-1.0, 1.0))):
        assert Polyline(LineString(xy)).side(*point) == _reference_side(xy, *point)


def test_polyline_side_rejects_a_point_that_is_not_finite() -> None:
    with pytest.raises(GeoError, match="is not finite"):
        Polyline(NORTHWARD).side(math.inf, 0.0)

"""Geodesics: known values, azimuth range, round trips, vectorised distances."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from holdfire.geo import GeoError, destination, distance_m, distances_m, inverse

WASHINGTON = (38.8977, -77.0365)
LONDON = (51.5072, -0.1276)


def test_known_distance_washington_london() -> None:
    # deps.md: Geod inv(-77.0365, 38.8977, -0.1276, 51.5072) -> 5,913,624.6 m, as PostGIS.
    assert distance_m(*WASHINGTON, *LONDON) == pytest.approx(5_913_624.6, abs=0.1)
    assert distance_m(*LONDON, *WASHINGTON) == pytest.approx(5_913_624.6, abs=0.1)


def test_one_degree_of_latitude_at_the_equator() -> None:
    # WGS 84 meridian arc from 0° to 1°: 110,574.389 m (a haversine on 6,371 km gives 111,195).
    assert distance_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(110_574.389, abs=1e-3)


@pytest.mark.parametrize(
    ("lat2", "lon2", "azimuth"),
    [(1.0, 0.0, 0.0), (0.0, 1.0, 90.0), (-1.0, 0.0, 180.0), (0.0, -1.0, 270.0)],
)
def test_inverse_azimuth_is_clockwise_from_north(lat2: float, lon2: float, azimuth: float) -> None:
    _, found = inverse(0.0, 0.0, lat2, lon2)
    assert found == pytest.approx(azimuth, abs=1e-9)


def test_inverse_azimuth_never_reaches_360() -> None:
    # pyproj gives a tiny negative azimuth here, which "% 360" would turn into exactly 360.0.
    _, azimuth = inverse(0.0, 0.0, 1.0, -1e-16)
    assert 0.0 <= azimuth < 360.0


def test_distance_across_the_antimeridian_is_short() -> None:
    assert distance_m(0.0, 179.5, 0.0, -179.5) == pytest.approx(111_319.49, abs=0.01)


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(-89.0, 89.0),
    lon=st.floats(-180.0, 180.0),
    azimuth=st.floats(0.0, 359.999),
    distance=st.floats(1.0, 2_000_000.0),
)
def test_destination_and_inverse_round_trip(
    lat: float, lon: float, azimuth: float, distance: float
) -> None:
    lat2, lon2 = destination(lat, lon, azimuth, distance)
    found_distance, found_azimuth = inverse(lat, lon, lat2, lon2)
    assert found_distance == pytest.approx(distance, abs=1e-6)
    assert 0.0 <= found_azimuth < 360.0
    assert abs((found_azimuth - azimuth + 180.0) % 360.0 - 180.0) < 1e-6


def test_destination_returns_lat_lon_order() -> None:
    lat, lon = destination(51.4, 35.2, 90.0, 10_000.0)
    assert lat == pytest.approx(51.4, abs=0.01)
    assert lon == pytest.approx(35.2 + 10_000.0 / (111_320.0 * np.cos(np.radians(51.4))), abs=1e-3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((91.0, 0.0, 0.0, 1.0), "latitude 91.0 is outside [-90, 90]"),
        ((0.0, 0.0, float("nan"), 1.0), "azimuth nan is not a finite number"),
        ((0.0, 0.0, 0.0, -1.0), "distance -1.0 m is invalid; expected a finite value >= 0"),
    ],
)
def test_destination_rejects(args: tuple[float, float, float, float], message: str) -> None:
    with pytest.raises(GeoError, match=re.escape(message)):
        destination(*args)


def test_inverse_rejects_bad_points() -> None:
    with pytest.raises(GeoError, match=re.escape("longitude 200.0 is outside [-180, 180]")):
        distance_m(0.0, 0.0, 0.0, 200.0)


def test_vectorised_distances_equal_scalar_ones() -> None:
    rng = np.random.default_rng(7)
    lats = rng.uniform(-89.0, 89.0, 500)
    lons = rng.uniform(-180.0, 180.0, 500)
    found = distances_m(51.4, 35.2, lats, lons)
    expected = [distance_m(51.4, 35.2, float(a), float(b)) for a, b in zip(lats, lons, strict=True)]
    assert found.dtype == np.float64
    np.testing.assert_array_equal(found, expected)


def test_a_few_distances_equal_those_of_one_large_call() -> None:
    # Small batches take pyproj's per-point path: the figures must not depend on the batch size.
    rng = np.random.default_rng(11)
    lats = rng.uniform(-89.0, 89.0, 60)
    lons = rng.uniform(-180.0, 180.0, 60)
    whole = distances_m(-33.9, 151.2, lats, lons)
    for n in range(1, 41):
        np.testing.assert_array_equal(distances_m(-33.9, 151.2, lats[:n], lons[:n]), whole[:n])
    assert distances_m(0, 0, [1.0], [1.0]).dtype == np.float64


def test_vectorised_distances_on_empty_arrays() -> None:
    empty = np.array([], dtype=np.float64)
    found = distances_m(51.4, 35.2, empty, empty)
    assert found.shape == (0,)
    assert found.dtype == np.float64


def test_vectorised_distances_reject_bad_input() -> None:
    with pytest.raises(GeoError, match="expected one longitude per latitude"):
        distances_m(0.0, 0.0, np.zeros(3), np.zeros(2))
    with pytest.raises(GeoError, match=re.escape("position 1: latitude nan is not a finite")):
        distances_m(0.0, 0.0, np.array([0.0, np.nan]), np.zeros(2))

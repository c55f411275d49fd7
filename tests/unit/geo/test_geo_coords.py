"""Coordinate parsing: MGRS, latitude/longitude text, datums."""

import math
import re

import mgrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer
from pyproj.enums import TransformDirection

from holdfire.geo import (
    DATUM_ERROR_M,
    Datum,
    GeoError,
    Location,
    check_lat_lon,
    parse_datum,
    parse_latlon,
    parse_location,
    parse_mgrs,
    sk42_to_wgs84,
    to_mgrs,
)

GEOD = Geod(ellps="WGS84")
KURSK = "36UXB5303396604"  # domain.md §6; made from 51.4 N, 35.2 E
# Grid half-diagonals; on the ground a length is the grid length / scale factor k, and k is at
# least 0.9996 in UTM zones and 0.994 in UPS.
GRID_HALF_DIAGONALS = {1: 7071.07, 2: 707.107, 3: 70.7107, 4: 7.07107, 5: 0.707107}


def geodesic(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def cell_by_hand(ref: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """(centre, south-west corner) of the cell an MGRS ref names, computed independently.

    Only asks mgrs for the 1 m cell at the corner (padding the digits with zeros), floors that to
    whole grid metres, then adds half a cell in the UTM/UPS grid with pyproj.
    """
    match = re.fullmatch(r"(\d{0,2}[A-Z])([A-Z]{2})(\d+)", ref)
    assert match is not None
    zone_band, square, digits = match.groups()
    half = len(digits) // 2
    padded = zone_band + square + digits[:half].ljust(5, "0") + digits[half:].ljust(5, "0")
    corner_lat, corner_lon = mgrs.MGRS().toLatLon(padded)
    if zone_band[:-1]:  # UTM
        north = zone_band[-1] >= "N"
        epsg = (32600 if north else 32700) + int(zone_band[:-1])
    else:  # UPS
        epsg = 32661 if zone_band in "YZ" else 32761
    grid = Transformer.from_crs(4326, epsg, always_xy=True)
    x, y = grid.transform(corner_lon, corner_lat)
    x0, y0 = math.floor(x + 1e-6), math.floor(y + 1e-6)
    size = 10.0 ** (5 - half)
    centre_lon, centre_lat = grid.transform(
        x0 + size / 2, y0 + size / 2, direction=TransformDirection.INVERSE
    )
    sw_lon, sw_lat = grid.transform(x0, y0, direction=TransformDirection.INVERSE)
    return (centre_lat, centre_lon), (sw_lat, sw_lon)


# --- MGRS -------------------------------------------------------------------------------------


def test_kursk_worked_example() -> None:
    location = parse_mgrs(KURSK)
    assert geodesic(location.lat, location.lon, 51.4, 35.2) < 1.0
    assert location.cell_m == pytest.approx(0.7074, abs=1e-4)
    assert to_mgrs(51.4, 35.2) == KURSK
    assert parse_mgrs(" 36u xb 53033 96604 ") == location


def refs_at_every_precision() -> list[str]:
    points = [(51.4, 35.2), (-33.92, 18.42), (40.7, -74.0), (-54.8, -68.3), (78.2, 15.6)]
    refs = [to_mgrs(lat, lon, digits) for lat, lon in points for digits in range(1, 6)]
    return [*refs, "ZAB95", "ZAB9645452981", "BAT94", "YZH8906601927"]  # polar (UPS) too


@pytest.mark.parametrize("ref", refs_at_every_precision())
def test_mgrs_gives_cell_centre_and_half_diagonal(ref: str) -> None:
    (centre_lat, centre_lon), (sw_lat, sw_lon) = cell_by_hand(ref)
    location = parse_mgrs(ref)
    digits = len(re.sub(r"^\d*[A-Z]{3}", "", ref)) // 2
    k_min = 0.9996 if ref[0].isdigit() else 0.994
    assert geodesic(location.lat, location.lon, centre_lat, centre_lon) < 1e-3
    assert location.cell_m == pytest.approx(GRID_HALF_DIAGONALS[digits] / k_min, rel=1e-5)
    # An upper bound on the ground half-diagonal, but not a loose one.
    corner_to_centre = geodesic(sw_lat, sw_lon, centre_lat, centre_lon)
    assert corner_to_centre <= location.cell_m <= corner_to_centre * 1.007


def test_to_mgrs_truncates_rather_than_rounds() -> None:
    utm36n = Transformer.from_crs(32636, 4326, always_xy=True)
    lon, lat = utm36n.transform(659_999.7, 5_699_999.7)  # just short of the XB 6 / 0 lines
    assert [to_mgrs(lat, lon, d) for d in (1, 2, 5)] == [
        "36UXB59",
        "36UXB5999",
        "36UXB5999999999",
    ]


@pytest.mark.parametrize("lat", [-5.67e-8, -1e-9, -1e-14])
def test_to_mgrs_just_south_of_the_equator_is_a_valid_reference(lat: float) -> None:
    # mgrs alone writes '11MJA6602100000' here: northing 10,000,000 in band M does not exist.
    assert to_mgrs(lat, -120.0) == "11MJV6602199999"
    assert parse_mgrs(to_mgrs(lat, -120.0, 1)).lat < 0.0


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(-79.9, 83.9),
    lon=st.floats(-180.0, 180.0),
    digits=st.integers(1, 5),
)
def test_mgrs_round_trip_stays_within_the_cell(lat: float, lon: float, digits: int) -> None:
    location = parse_mgrs(to_mgrs(lat, lon, digits))
    # + 1 µm: a point may sit exactly on a cell corner (the poles do).
    assert geodesic(lat, lon, location.lat, location.lon) <= location.cell_m + 1e-6


@pytest.mark.filterwarnings("ignore:Warning in")  # mgrs warns about the band, we raise
@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("36UXB", "a 100 km square is too coarse to aim at"),
        (
            "36UXB53039660 1",
            "has an odd number of digits (9); easting and northing need the same number of digits",
        ),
        ("36UXB530339660412", "has 12 digits; expected at most 10"),
        ("61UXB5303396604", "has zone 61; zones run from 1 to 60"),
        ("0UXB5303396604", "has zone 0"),
        ("36IXB5303396604", "band letter 'I'; bands run from C to X, skipping I and O"),
        ("36AXB5303396604", "band letter 'A'"),
        ("36UXO5303396604", "100 km square 'XO'; square letters skip I and O"),
        ("36UXZ5303396604", "in UTM zones the second one runs from A to V"),
        ("36UAB5303396604", "'36UAB5303396604' is not a valid reference"),  # no column A in 36
        ("36TXB5303396604", "has band T (40° to 48°) but its square and northing put it at"),
        ("36UX5303396604", "is not a grid reference; expected zone (1-60), band letter"),
        ("", "is not a grid reference"),
    ],
)
def test_mgrs_rejections_say_what_is_wrong(ref: str, message: str) -> None:
    with pytest.raises(GeoError, match=re.escape(message)):
        parse_mgrs(ref)


@pytest.mark.parametrize("digits", [0, 6])
def test_to_mgrs_rejects_unsupported_precision(digits: int) -> None:
    with pytest.raises(GeoError, match="expected 1 to 5 digits per axis"):
        to_mgrs(51.4, 35.2, digits)


# --- latitude/longitude -----------------------------------------------------------------------

DMS_51_30_15 = 51 + 30 / 60 + 15 / 3600


@pytest.mark.parametrize(
    ("text", "lat", "lon"),
    [
        ("51.5, 35.2", 51.5, 35.2),
        ("51.5 35.2", 51.5, 35.2),
        ("51.5N 35.2E", 51.5, 35.2),
        ("N51.5 E35.2", 51.5, 35.2),
        ("51.5,-0.12", 51.5, -0.12),
        ("-33.9249, 18.4241", -33.9249, 18.4241),
        ("51.5° 35.2°", 51.5, 35.2),
        ("35.2E 51.5N", 51.5, 35.2),  # the N/S letter is the latitude whatever the order
        ("W0.12 n51.5", 51.5, -0.12),
        ("33.9S 18.4W", -33.9, -18.4),
        ("51°30'15\"N 35°12'00.5\"E", DMS_51_30_15, 35 + 12 / 60 + 0.5 / 3600),
        ("51 30 15 N 35 12 0 E", DMS_51_30_15, 35.2),
        ("N 51 30 15, E 35 12 00", DMS_51_30_15, 35.2),
        ("51°30.25'N 35°12.0'E", DMS_51_30_15, 35.2),
        ("S 33°55′30″, W 70°40′", -(33 + 55 / 60 + 30 / 3600), -(70 + 40 / 60)),
        ("51°30'15''N 35°12'E", DMS_51_30_15, 35.2),
        ("90N 180W", 90.0, -180.0),
    ],
)
def test_parse_latlon_accepts(text: str, lat: float, lon: float) -> None:
    location = parse_latlon(text)
    assert location.lat == pytest.approx(lat, abs=1e-12)
    assert location.lon == pytest.approx(lon, abs=1e-12)
    assert location.cell_m == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("51.5N 35.2N", "has two N/S letters"),
        ("51.5E, 35.2W", "has two E/W letters"),
        ("51.5N 35.2", "has 1 hemisphere letter(s)"),
        ("51 30 15, 35 12 0", "DMS needs hemisphere letters"),
        ("51°30', 35°12'", "DMS needs hemisphere letters"),
        ("135.2, 51.5", "looks like lon, lat (135.2 cannot be a latitude); write lat, lon"),
        ("95, 100", "latitude 95.0 is outside [-90, 90]"),
        ("51.5, 181", "longitude 181.0 is outside [-180, 180]"),
        ("91N 10E", "latitude 91.0 is outside [-90, 90]"),
        ("51 60 N 35 E", "has minutes 60 in N; expected less than 60"),
        ("51 30 60 N 35 E", "has seconds 60 in N; expected less than 60"),
        ("nan, 35.2", "is not a finite number"),
        ("51.5, inf", "is not a finite number"),
        ("51.5 30N 35E", "has fractional degrees (51.5) followed by minutes"),
        ("-51.5N 35E", "use either a sign or a hemisphere letter, not both"),
        ("51,5N 35,2E", "has a comma inside its N coordinate; use '.' for decimals"),
        ("N51.5 35.2E", "mixes leading and trailing hemisphere letters"),
        ('51°30"N 35E', "marks the minutes of N with \"; expected '"),
        ("51 30 15 1N 35E", "has 4 numbers for N"),
        ("51.5; 35.2", "unexpected character ';'"),
        ("", "must be two decimal numbers"),
    ],
)
def test_parse_latlon_rejections_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(GeoError, match=re.escape(message)):
        parse_latlon(text)


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        (math.nan, 0.0, "latitude nan is not a finite number"),
        (0.0, math.inf, "longitude inf is not a finite number"),
        (-90.5, 0.0, "latitude -90.5 is outside [-90, 90]"),
        (0.0, 180.5, "longitude 180.5 is outside [-180, 180]"),
    ],
)
def test_check_lat_lon(lat: float, lon: float, message: str) -> None:
    with pytest.raises(GeoError, match=re.escape(message)):
        check_lat_lon(lat, lon)


def test_location_validates_itself() -> None:
    with pytest.raises(GeoError, match="latitude 91"):
        Location(91.0, 0.0, 0.0)
    with pytest.raises(GeoError, match="expected a finite value >= 0"):
        Location(0.0, 0.0, -1.0)


# --- dispatch and datums ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "is_mgrs"),
    [
        (KURSK, True),
        ("36U XB 530 966", True),
        ("4qfj12345678", True),
        ("ZAB95", True),
        ("51N 35E", False),  # digits then N, but no square letters: lat/lon
        ("N51.5 E35.2", False),
        ("51.4, 35.2", False),
    ],
)
def test_parse_location_dispatches(text: str, is_mgrs: bool) -> None:
    expected = parse_mgrs(text) if is_mgrs else parse_latlon(text)
    assert parse_location(text) == expected


def test_parse_location_converts_sk42_latlon_but_not_mgrs() -> None:
    wgs = parse_location("51.4, 35.2", Datum.SK42)
    shift = geodesic(51.4, 35.2, wgs.lat, wgs.lon)
    assert 100.0 < shift < 140.0  # about 119 m per domain.md §3
    assert parse_location(KURSK, Datum.SK42) == parse_mgrs(KURSK)


def test_sk42_shift_matches_domain_reference() -> None:
    lat, lon = sk42_to_wgs84(51.4, 35.2)
    assert 100.0 < geodesic(51.4, 35.2, lat, lon) < 140.0
    # Axis order: the shift is tens of metres in each axis, not a lat/lon swap.
    assert abs(lat - 51.4) < 0.01
    assert abs(lon - 35.2) < 0.01


def test_datum_error() -> None:
    assert DATUM_ERROR_M[Datum.WGS84] == 0.0
    sk42 = DATUM_ERROR_M[Datum.SK42]
    transformer = Transformer.from_crs("EPSG:4284", "EPSG:4326", always_xy=True)
    transformer.transform(35.2, 51.4)
    reported = transformer.get_last_used_operation().accuracy
    assert sk42 == (math.ceil(reported) if reported > 0 else 10.0)
    assert sk42.is_integer()
    assert sk42 >= 1.0
    with pytest.raises(TypeError):
        DATUM_ERROR_M[Datum.SK42] = 0.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "datum"),
    [
        (None, Datum.WGS84),
        ("", Datum.WGS84),
        ("wgs84", Datum.WGS84),
        ("WGS 84", Datum.WGS84),
        ("WGS-84", Datum.WGS84),
        ("epsg:4326", Datum.WGS84),
        ("SK42", Datum.SK42),
        ("sk-42", Datum.SK42),
        ("PULKOVO1942", Datum.SK42),
        ("Pulkovo 1942", Datum.SK42),
        ("EPSG:4284", Datum.SK42),
    ],
)
def test_parse_datum(text: str | None, datum: Datum) -> None:
    assert parse_datum(text) is datum


@pytest.mark.parametrize("text", ["NAD27", "WGS72", "EPSG:4327", "SK63"])
def test_parse_datum_rejects(text: str) -> None:
    with pytest.raises(GeoError, match=f"datum '{text}' is not supported; expected WGS84"):
        parse_datum(text)


@settings(max_examples=200, deadline=None)
@given(
    lat=st.one_of(st.floats(84.0, 90.0), st.floats(-90.0, -80.0)),
    lon=st.floats(-180.0, 180.0),
    digits=st.integers(1, 5),
)
def test_mgrs_round_trip_in_polar_ups(lat: float, lon: float, digits: int) -> None:
    location = parse_mgrs(to_mgrs(lat, lon, digits))
    # + 1 µm: a point may sit exactly on a cell corner (the poles do).
    assert geodesic(lat, lon, location.lat, location.lon) <= location.cell_m + 1e-6

"""The public report shape -> PositionReport (holdfire.codecs.reports), design.md §3 and §5.

Expected positions are computed with pyproj directly (UTM zone 36 and the geodesic), not with
holdfire.geo.
"""

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pyproj import Geod, Proj

from holdfire.codecs.json import CodecError
from holdfire.codecs.reports import Channel, report_from_input
from holdfire.domain.identity import Affiliation
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility

GEOD = Geod(ellps="WGS84")
UTM36 = Proj(proj="utm", zone=36, ellps="WGS84")
RECEIVED = datetime(2026, 11, 22, 7, 0, 30, tzinfo=UTC)
WITNESS = Channel(source="http", reporter="token-ops", authenticated=False)


def read(data: dict[str, Any], channel: Channel = WITNESS) -> PositionReport:
    return report_from_input(data, channel, RECEIVED)


def metres_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def refused(data: Any, channel: Channel = WITNESS) -> CodecError:
    with pytest.raises(CodecError) as info:
        report_from_input(data, channel, RECEIVED)
    return info.value


# --- positions ---------------------------------------------------------------------------------


def test_lat_lon_report_is_read_as_given() -> None:
    report = read(
        {
            "uid": " u1 ",
            "lat": 51.35,
            "lon": 35.1,
            "ce_m": 8,
            "hae_m": 210.5,
            "observed_at": "2026-11-22T07:00:00Z",
            "course_deg": 90,
            "speed_mps": 3.5,
            "callsign": "ALPHA",
        }
    )
    assert report.uid == "u1"
    assert (report.lat, report.lon) == (51.35, 35.1)
    assert report.ce_m == 8.0
    assert report.hae_m == 210.5
    assert report.course_deg == 90.0
    assert report.speed_mps == 3.5
    assert report.callsign == "ALPHA"
    assert report.cell_m == 0.0
    assert report.datum == "WGS84"
    assert report.datum_error_m == 0.0
    assert report.observed_at == datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
    assert report.received_at == RECEIVED
    assert report.time_assumed is False
    assert report.source == "http"
    assert report.reporter == "token-ops"


def test_grid_report_is_the_cell_centre_and_carries_the_half_diagonal() -> None:
    # 36U XB 568 855: the 100 m cell from E 656800 / N 5685500 (square XB = E 6xx km, N 56xx km).
    report = read({"uid": "g1", "grid": "36UXB568855"})
    centre_lon, centre_lat = UTM36(656_850.0, 5_685_550.0, inverse=True)
    assert metres_between(report.lat, report.lon, centre_lat, centre_lon) < 0.5
    half_diagonal = 50.0 * math.sqrt(2.0)
    assert half_diagonal <= report.cell_m <= half_diagonal * 1.001
    assert report.datum == "WGS84"


def test_one_metre_grid_has_a_small_but_positive_cell() -> None:
    report = read({"uid": "g1", "grid": "36U XB 56852 85590"})
    centre_lon, centre_lat = UTM36(656_852.5, 5_685_590.5, inverse=True)
    assert metres_between(report.lat, report.lon, centre_lat, centre_lon) < 0.05
    assert 0.7 < report.cell_m < 0.71


def test_grid_and_lat_lon_together_are_refused() -> None:
    error = refused({"uid": "u1", "grid": "36UXB568855", "lat": 51.3, "lon": 35.2})
    assert error.field == "grid"
    assert "not both" in error.message


def test_null_lat_lon_beside_a_grid_count_as_absent() -> None:
    report = read({"uid": "u1", "grid": "36UXB568855", "lat": None, "lon": None})
    assert report.cell_m > 0


@pytest.mark.parametrize("grid", ["36UXB530396604", "36UXB", "not a grid", 36])
def test_a_bad_grid_is_refused_naming_the_grid(grid: object) -> None:
    assert refused({"uid": "u1", "grid": grid}).field == "grid"


def test_sk42_position_is_converted_to_wgs84_with_its_residual_error() -> None:
    report = read({"uid": "u1", "lat": 51.4, "lon": 35.2, "datum": "SK42"})
    moved = metres_between(51.4, 35.2, report.lat, report.lon)
    assert 100.0 < moved < 140.0  # about 119 m near Kursk
    assert report.datum == "SK42"
    assert report.datum_error_m > 0
    assert report.cell_m == 0.0


def test_datum_names_are_case_and_punctuation_insensitive() -> None:
    assert read({"uid": "u1", "lat": 51.4, "lon": 35.2, "datum": "pulkovo-1942"}).datum == "SK42"
    assert read({"uid": "u1", "lat": 51.4, "lon": 35.2, "datum": "wgs 84"}).datum == "WGS84"


@pytest.mark.parametrize("datum", ["NAD27", 42])
def test_an_unknown_datum_is_refused_naming_the_datum(datum: object) -> None:
    # A wrong datum moves a position by about 100 m: it is not guessed.
    assert refused({"uid": "u1", "lat": 51.4, "lon": 35.2, "datum": datum}).field == "datum"


# --- required fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"lat": 51.0, "lon": 35.0}, "uid"),
        ({"uid": "", "lat": 51.0, "lon": 35.0}, "uid"),
        ({"uid": "   ", "lat": 51.0, "lon": 35.0}, "uid"),
        ({"uid": 7, "lat": 51.0, "lon": 35.0}, "uid"),
        ({"uid": "u1", "lon": 35.0}, "lat"),
        ({"uid": "u1", "lat": 51.0}, "lon"),
        ({"uid": "u1"}, "lat"),
        ({"uid": "u1", "lat": 91.0, "lon": 35.0}, "lat"),
        ({"uid": "u1", "lat": -90.5, "lon": 35.0}, "lat"),
        ({"uid": "u1", "lat": 51.0, "lon": 180.5}, "lon"),
        ({"uid": "u1", "lat": math.nan, "lon": 35.0}, "lat"),
        ({"uid": "u1", "lat": 51.0, "lon": math.inf}, "lon"),
        ({"uid": "u1", "lat": "51.0", "lon": 35.0}, "lat"),
        ({"uid": "u1", "lat": 51.0, "lon": "east"}, "lon"),
        ({"uid": "u1", "lat": True, "lon": 35.0}, "lat"),
        ({"uid": "u1", "lat": 51.0, "lon": 35.0, "observed_at": "yesterday"}, "observed_at"),
        ({"uid": "u1", "lat": 51.0, "lon": 35.0, "observed_at": 1700000000}, "observed_at"),
        (
            {"uid": "u1", "lat": 51.0, "lon": 35.0, "observed_at": "2026-11-22T07:00:00"},
            "observed_at",
        ),
    ],
)
def test_missing_or_bad_required_fields_are_refused_naming_the_field(
    data: dict[str, Any], field: str
) -> None:
    error = refused(data)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")
    assert "\n" not in str(error)


@pytest.mark.parametrize("data", [None, [], "u1", 3])
def test_a_report_that_is_not_an_object_is_refused(data: object) -> None:
    assert refused(data).field == "report"


# --- optional fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "attribute"),
    [
        ("ce_m", "abc", "ce_m"),
        ("ce_m", -5, "ce_m"),
        ("ce_m", math.nan, "ce_m"),
        ("ce_m", math.inf, "ce_m"),
        ("ce_m", True, "ce_m"),
        ("hae_m", math.nan, "hae_m"),
        ("hae_m", "high", "hae_m"),
        ("course_deg", "x", "course_deg"),
        ("course_deg", -math.inf, "course_deg"),
        ("speed_mps", -1, "speed_mps"),
        ("speed_mps", "fast", "speed_mps"),
        ("callsign", 12, "callsign"),
        ("callsign", "   ", "callsign"),
    ],
)
def test_bad_optional_fields_become_unknown_and_the_position_is_kept(
    key: str, value: object, attribute: str
) -> None:
    report = read({"uid": "u1", "lat": 51.0, "lon": 35.0, key: value})
    assert getattr(report, attribute) is None
    assert (report.uid, report.lat, report.lon) == ("u1", 51.0, 35.0)


def test_all_bad_optional_fields_at_once_still_keep_the_position() -> None:
    report = read(
        {
            "uid": "u1",
            "lat": 51.0,
            "lon": 35.0,
            "ce_m": "abc",
            "hae_m": math.nan,
            "course_deg": "x",
            "speed_mps": -3,
            "affiliation": 5,
            "mobility": ["tracked"],
        }
    )
    assert (report.lat, report.lon) == (51.0, 35.0)
    assert report.ce_m is None
    assert report.hae_m is None
    assert report.course_deg is None
    assert report.speed_mps is None
    assert report.affiliation is None
    assert report.mobility is None


def test_zero_error_is_kept_as_zero_not_unknown() -> None:
    assert read({"uid": "u1", "lat": 51.0, "lon": 35.0, "ce_m": 0}).ce_m == 0.0


# --- times -------------------------------------------------------------------------------------


@pytest.mark.parametrize("observed", [None, ""])
def test_missing_observation_time_is_the_arrival_time_marked_assumed(observed: object) -> None:
    data: dict[str, Any] = {"uid": "u1", "lat": 51.0, "lon": 35.0}
    if observed is not None:
        data["observed_at"] = observed
    report = read(data)
    assert report.time_assumed is True
    assert report.observed_at == report.received_at == RECEIVED


def test_observation_time_with_an_offset_is_read_as_utc() -> None:
    report = read(
        {"uid": "u1", "lat": 51.0, "lon": 35.0, "observed_at": "2026-11-22T10:00:00+03:00"}
    )
    assert report.observed_at == datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
    assert report.time_assumed is False


def test_observation_time_may_be_an_aware_datetime() -> None:
    # TOML times arrive as datetime objects.
    msk = timezone(timedelta(hours=3))
    report = read(
        {
            "uid": "u1",
            "lat": 51.0,
            "lon": 35.0,
            "observed_at": datetime(2026, 11, 22, 10, tzinfo=msk),
        }
    )
    assert report.observed_at == datetime(2026, 11, 22, 7, tzinfo=UTC)
    naive = {"uid": "u1", "lat": 51.0, "lon": 35.0, "observed_at": datetime(2026, 11, 22, 7)}
    assert refused(naive).field == "observed_at"


def test_a_future_time_is_kept_for_the_picture_to_settle() -> None:
    # The codec keeps what was sent; the picture replaces a future time (settle_times).
    future = RECEIVED + timedelta(minutes=10)
    report = read({"uid": "u1", "lat": 51.0, "lon": 35.0, "observed_at": future.isoformat()})
    assert report.observed_at == future
    assert report.suspect_time is False


# --- trust -------------------------------------------------------------------------------------


def test_a_channel_bound_to_the_uid_makes_the_report_own() -> None:
    channel = Channel(
        source="http", reporter="token-1", authenticated=True, bound_uids=frozenset({"u1"})
    )
    report = read({"uid": "u1", "lat": 51.0, "lon": 35.0}, channel)
    assert report.reporter == "u1"
    assert report.authenticated is True
    assert report.own is True


def test_a_bound_channel_reporting_another_uid_is_a_witness() -> None:
    channel = Channel(
        source="http", reporter="token-1", authenticated=True, bound_uids=frozenset({"u1"})
    )
    report = read({"uid": "u2", "lat": 51.0, "lon": 35.0}, channel)
    assert report.reporter == "token-1"
    assert report.own is False


def test_an_unbound_authenticated_channel_is_not_own() -> None:
    channel = Channel(source="http", reporter="token-1", authenticated=True)
    report = read({"uid": "u1", "lat": 51.0, "lon": 35.0}, channel)
    assert report.reporter == "token-1"
    assert report.authenticated is True
    assert report.own is False


def test_an_unbound_channel_named_like_the_uid_is_not_own() -> None:
    # A token that happens to be called "u1" but is not bound to u1 must not speak for it.
    channel = Channel(source="http", reporter="u1", authenticated=True)
    report = read({"uid": "u1", "lat": 51.0, "lon": 35.0}, channel)
    assert report.own is False


def test_an_unauthenticated_channel_listing_the_uid_is_not_own() -> None:
    channel = Channel(
        source="cot-tcp", reporter="u1", authenticated=False, bound_uids=frozenset({"u1"})
    )
    report = read({"uid": "u1", "lat": 51.0, "lon": 35.0}, channel)
    assert report.own is False


# --- identity and mobility ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("friend", Affiliation.FRIEND),
        ("Assumed-Friend", Affiliation.ASSUMED_FRIEND),
        (" neutral ", Affiliation.NEUTRAL),
        ("hostile", Affiliation.HOSTILE),
        ("unknown", Affiliation.UNKNOWN),
    ],
)
def test_affiliation_names_are_read(text: str, expected: Affiliation) -> None:
    assert (
        read({"uid": "u1", "lat": 51.0, "lon": 35.0, "affiliation": text}).affiliation is expected
    )


@pytest.mark.parametrize("garbage", ["frend", "", "f", 3])
def test_an_unreadable_affiliation_counts_as_not_given(garbage: object) -> None:
    # Not given -> the registry decides, and a new uid registers as friend (the worst case);
    # reading a typo as "unknown" would weigh a friend as unidentified (COORDINATE, not HOLD).
    report = read({"uid": "u1", "lat": 51.0, "lon": 35.0, "affiliation": garbage})
    assert report.affiliation is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tracked", Mobility.TRACKED),
        ("Dismounted", Mobility.DISMOUNTED),
        ("hovercraft", Mobility.UNKNOWN),
        ("", Mobility.UNKNOWN),
    ],
)
def test_mobility_names_are_read_and_garbage_is_the_worst_class(
    text: str, expected: Mobility
) -> None:
    assert read({"uid": "u1", "lat": 51.0, "lon": 35.0, "mobility": text}).mobility is expected

"""holdfire.codecs.json: §5 shapes, round trips, time formats and field-naming errors."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from holdfire.codecs.json import (
    CodecError,
    alert_from_dict,
    alert_to_dict,
    clearance_from_dict,
    clearance_to_dict,
    event_from_dict,
    event_to_dict,
    format_time,
    measure_from_feature,
    measure_to_feature,
    parse_time,
    report_from_dict,
    report_to_dict,
    unit_from_dict,
    unit_to_dict,
)
from holdfire.domain.alerts import Alert, AlertKind
from holdfire.domain.checks import (
    CheckRequest,
    Clearance,
    PidBasis,
    Reason,
    ReasonCode,
    Target,
    Verdict,
)
from holdfire.domain.events import (
    AlertRaised,
    CheckEvaluated,
    Event,
    MeasureCancelled,
    MeasureDefined,
    PositionReported,
    UnitRegistered,
)
from holdfire.domain.identity import Affiliation
from holdfire.domain.measures import (
    CircleGeometry,
    LineGeometry,
    Measure,
    MeasureKind,
    MeasureStatus,
    PolygonGeometry,
    Side,
)
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility
from holdfire.domain.units import Unit, UnitStatus

T0 = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)
SQUARE = (((30.0, 50.0), (30.1, 50.0), (30.1, 50.1), (30.0, 50.1), (30.0, 50.0)),)
SQUARE_WITH_HOLE = (
    SQUARE[0],
    ((30.02, 50.02), (30.05, 50.02), (30.05, 50.05), (30.02, 50.02)),
)


def full_unit() -> Unit:
    return Unit(
        uid="ANDROID-1",
        callsign="Viper 1",
        affiliation=Affiliation.ASSUMED_FRIEND,
        nation="UKR",
        language="uk",
        mobility=Mobility.TRACKED,
        equipment=("2s1", "btr-80"),
        parent="BN-1",
        group="Cyan",
        sector=SQUARE_WITH_HOLE,
        status=UnitStatus.ABSENT,
    )


def full_report() -> PositionReport:
    return PositionReport(
        uid="ANDROID-1",
        lat=50.05,
        lon=30.05,
        observed_at=T0,
        received_at=T0 + timedelta(milliseconds=250),
        source="cot-tls",
        reporter="ANDROID-1",
        authenticated=True,
        ce_m=24.5,
        hae_m=180.25,
        cell_m=7.07,
        datum="SK42",
        datum_error_m=3.0,
        affiliation=Affiliation.FRIEND,
        mobility=Mobility.WHEELED,
        callsign="Viper 1",
        course_deg=270.0,
        speed_mps=12.5,
        stale_at=T0 + timedelta(minutes=2),
        time_assumed=True,
        suspect_time=True,
    )


def full_clearance() -> Clearance:
    request = CheckRequest(
        lat=50.0,
        lon=30.0,
        weapon="155mm-howitzer",
        time=T0 + timedelta(seconds=30),
        tle_m=10.0,
        cell_m=0.707,
        datum="SK42",
        datum_error_m=2.0,
        target_type="tor",
        pid=(PidBasis.APPEARANCE, PidBasis.SIGINT),
        pid_detail="emitter fix",
        firing_unit="BTRY-A",
        requester="token:fires-1",
    )
    return Clearance(
        id="chk-1",
        verdict=Verdict.HOLD,
        reasons=(
            Reason(
                code=ReasonCode.FRIENDLY_IN_DANGER_AREA,
                verdict=Verdict.HOLD,
                detail="Viper 1 is 212 m from the aimpoint",
                subject="ANDROID-1",
                distance_m=212.3,
                threshold_m=450.0,
            ),
            Reason(
                code=ReasonCode.UNLOCATED_FRIENDLY,
                verdict=Verdict.NO_KNOWN_CONFLICT,
                detail="Cobra 2 never reported",
                subject="ANDROID-2",
                note=True,
            ),
        ),
        target=Target(lat=50.0, lon=30.0, mgrs="36UUA0000000000"),
        weapon="155mm-howitzer",
        impact_time=T0 + timedelta(seconds=30),
        evaluated_at=T0,
        valid_until=T0 + timedelta(seconds=60),
        picture_version=42,
        request=request,
    )


def measures() -> list[Measure]:
    return [
        Measure(
            id="m-circle",
            kind=MeasureKind.NFA,
            geometry=CircleGeometry(lat=50.0, lon=30.0, radius_m=500.0),
            name="Hospital NFA",
            establishing_hq="BDE-1",
            effective_from=T0,
            effective_to=T0 + timedelta(hours=6),
            status=MeasureStatus.PLANNED,
            originator="planner-1",
        ),
        Measure(
            id="m-line",
            kind=MeasureKind.RFL,
            geometry=LineGeometry(((30.0, 50.0), (30.2, 50.1), (30.4, 50.1))),
            name="RFL Blue",
            friendly_side=Side.LEFT,
        ),
        Measure(
            id="m-poly",
            kind=MeasureKind.NSL,
            geometry=PolygonGeometry(SQUARE_WITH_HOLE),
            category="school",
        ),
        Measure(
            id="m-unit",
            kind=MeasureKind.CHECKFIRE,
            geometry=None,
            unit="BTRY-A",
            originator="ANDROID-1",
            window_invalid=True,
        ),
    ]


def events() -> list[Event]:
    return [
        UnitRegistered(unit=full_unit(), at=T0, by="planner-1"),
        PositionReported(full_report()),
        MeasureDefined(measure=measures()[0], at=T0, by="planner-1"),
        MeasureCancelled(measure_id="m-circle", at=T0 + timedelta(hours=1), by="planner-1"),
        CheckEvaluated(full_clearance()),
        AlertRaised(
            alert_id="al-1",
            alert=Alert(
                kind=AlertKind.SECURITY,
                subjects=("ANDROID-1",),
                detail="a plain-TCP report contradicts the own position",
                created_at=T0,
                recipients=("planner-1", "BN-1"),
            ),
        ),
    ]


def assert_json_only(value: Any) -> None:
    """Only JSON types, and json.dumps must not need NaN or Infinity."""
    json.dumps(value, allow_nan=False)
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            assert_json_only(item)
    elif isinstance(value, list):
        for item in value:
            assert_json_only(item)
    else:
        assert value is None or isinstance(value, str | int | float | bool)


# -- times ------------------------------------------------------------------------------------


def test_format_time_is_utc_with_z_and_keeps_milliseconds() -> None:
    assert format_time(T0) == "2026-11-22T07:00:00Z"
    assert format_time(T0 + timedelta(milliseconds=250)) == "2026-11-22T07:00:00.250Z"
    assert format_time(T0 + timedelta(microseconds=7)) == "2026-11-22T07:00:00.000007Z"
    kyiv = datetime(2026, 11, 22, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(kyiv) == "2026-11-22T07:00:00Z"


def test_format_time_refuses_naive() -> None:
    with pytest.raises(CodecError, match="time zone"):
        format_time(datetime(2026, 11, 22, 7, 0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T07:00:00Z", T0),
        ("2026-11-22t07:00:00z", T0),
        ("2026-11-22T07:00:00.250Z", T0 + timedelta(milliseconds=250)),
        ("2026-11-22T07:00:00.123456789Z", T0 + timedelta(microseconds=123456)),
        ("2026-11-22T10:00:00+03:00", T0),
        ("2026-11-22T02:00:00-05:00", T0),
        ("2026-11-22 07:00:00+00:00", T0),
    ],
)
def test_parse_time_accepts_rfc3339(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["2026-11-22T07:00:00", "2026-11-22", "yesterday", ""])
def test_parse_time_refuses_naive_and_garbage(text: str) -> None:
    with pytest.raises(CodecError) as info:
        parse_time(text)
    assert info.value.field == "time"


def test_parse_time_refuses_non_string() -> None:
    with pytest.raises(CodecError, match="RFC 3339"):
        parse_time(1234)  # type: ignore[arg-type]


def test_time_round_trip() -> None:
    for t in (T0, T0 + timedelta(milliseconds=1), T0 + timedelta(microseconds=123457)):
        assert parse_time(format_time(t)) == t


# -- units ------------------------------------------------------------------------------------


def test_unit_shape_and_round_trip() -> None:
    unit = full_unit()
    d = unit_to_dict(unit)
    assert_json_only(d)
    assert set(d) == {
        "uid",
        "callsign",
        "affiliation",
        "nation",
        "language",
        "mobility",
        "equipment",
        "parent",
        "group",
        "sector",
        "status",
    }
    assert d["affiliation"] == "assumed-friend"
    assert d["sector"]["type"] == "Polygon"
    assert d["sector"]["coordinates"][0][0] == [30.0, 50.0]
    assert unit_from_dict(json.loads(json.dumps(d))) == unit


def test_unit_minimal_uses_defaults() -> None:
    unit = unit_from_dict({"uid": "U1"})
    assert unit == Unit(uid="U1", callsign="U1")
    d = unit_to_dict(unit)
    assert d["sector"] is None
    assert d["equipment"] == []
    assert unit_from_dict(d) == unit


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"affiliation": "friendly"}, "affiliation"),
        ({"mobility": 3}, "mobility"),
        ({"equipment": ["2s1", 5]}, "equipment[1]"),
        ({"uid": ""}, "uid"),
        ({"uid": None}, "uid"),
        ({"sector": {"type": "Point", "coordinates": [30, 50]}}, "sector.type"),
        ({"sector": {"type": "Polygon", "coordinates": [[[30, 50], [31, 50], [31, 51]]]}}, None),
        ({"status": "dead"}, "status"),
    ],
)
def test_unit_errors_name_the_field(patch: dict[str, Any], field: str | None) -> None:
    d = unit_to_dict(full_unit()) | patch
    with pytest.raises(CodecError) as info:
        unit_from_dict(d)
    if field is not None:
        assert info.value.field == field
    assert info.value.field in str(info.value)
    assert info.value.field.startswith(("uid", "sector", "affiliation", "mobility", "equip", "st"))


def test_unit_domain_error_keeps_field() -> None:
    open_ring = {"type": "Polygon", "coordinates": [[[30, 50], [31, 50], [31, 51], [30, 51]]]}
    with pytest.raises(CodecError) as info:
        unit_from_dict({"uid": "U1", "sector": open_ring})
    assert info.value.field == "sector[0]"
    assert "closed" in info.value.message


# -- reports ----------------------------------------------------------------------------------


def test_report_full_round_trip() -> None:
    report = full_report()
    d = report_to_dict(report)
    assert_json_only(d)
    assert d["observed_at"] == "2026-11-22T07:00:00Z"
    assert d["received_at"] == "2026-11-22T07:00:00.250Z"
    assert d["datum"] == "SK42"
    assert report_from_dict(json.loads(json.dumps(d))) == report


def test_report_minimal_round_trip() -> None:
    report = PositionReport(
        uid="U1", lat=1.0, lon=2.0, observed_at=T0, received_at=T0, source="http", reporter="t"
    )
    d = report_to_dict(report)
    assert d["ce_m"] is None
    assert d["stale_at"] is None
    assert report_from_dict(d) == report


def test_report_non_finite_optional_numbers_become_null() -> None:
    report = PositionReport(
        uid="U1",
        lat=1.0,
        lon=2.0,
        observed_at=T0,
        received_at=T0,
        source="http",
        reporter="t",
        hae_m=math.nan,
        speed_mps=math.inf,
    )
    d = report_to_dict(report)
    assert_json_only(d)
    assert d["hae_m"] is None
    assert d["speed_mps"] is None


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"lat": 91.0}, "lat"),
        ({"lat": "50"}, "lat"),
        ({"lon": None}, "lon"),
        ({"observed_at": "2026-11-22T07:00:00"}, "observed_at"),
        ({"ce_m": -1.0}, "ce_m"),
        ({"authenticated": "yes"}, "authenticated"),
        ({"affiliation": "friendish"}, "affiliation"),
    ],
)
def test_report_errors_name_the_field(patch: dict[str, Any], field: str) -> None:
    with pytest.raises(CodecError) as info:
        report_from_dict(report_to_dict(full_report()) | patch)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_report_missing_required_field() -> None:
    d = report_to_dict(full_report())
    del d["received_at"]
    with pytest.raises(CodecError, match="received_at: is required"):
        report_from_dict(d)


# -- measures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("measure", measures(), ids=lambda m: m.id)
def test_measure_feature_round_trip(measure: Measure) -> None:
    feature = measure_to_feature(measure)
    assert_json_only(feature)
    assert feature["type"] == "Feature"
    assert feature["properties"]["id"] == measure.id
    assert measure_from_feature(json.loads(json.dumps(feature))) == measure


def test_measure_feature_geometry_kinds() -> None:
    circle, line, poly, unit_scoped = (measure_to_feature(m) for m in measures())
    assert circle["geometry"] == {"type": "Point", "coordinates": [30.0, 50.0]}
    assert circle["properties"]["radius_m"] == 500.0
    assert line["geometry"]["type"] == "LineString"
    assert line["properties"]["friendly_side"] == "left"
    assert "radius_m" not in line["properties"]
    assert poly["geometry"]["type"] == "Polygon"
    assert len(poly["geometry"]["coordinates"]) == 2
    assert unit_scoped["geometry"] is None
    assert unit_scoped["properties"]["unit"] == "BTRY-A"
    expected = {
        "id",
        "kind",
        "name",
        "establishing_hq",
        "effective_from",
        "effective_to",
        "status",
        "category",
        "friendly_side",
        "unit",
        "originator",
        "window_invalid",
    }
    assert set(line["properties"]) == expected
    assert circle["properties"]["effective_from"] == "2026-11-22T07:00:00Z"


def test_measure_id_precedence() -> None:
    feature = measure_to_feature(measures()[0])
    assert measure_from_feature(feature, measure_id="given").id == "given"
    feature["properties"]["id"] = None
    feature["id"] = "from-feature"
    assert measure_from_feature(feature).id == "from-feature"
    feature["id"] = None
    with pytest.raises(CodecError) as info:
        measure_from_feature(feature)
    assert info.value.field == "id"


def test_measure_minimal_post_body() -> None:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [30.0, 50.0, 120.0]},
        "properties": {"kind": "NFA", "radius_m": 300},
    }
    measure = measure_from_feature(feature, measure_id="m1")
    assert measure.geometry == CircleGeometry(lat=50.0, lon=30.0, radius_m=300.0)
    assert measure.status is MeasureStatus.ACTIVE
    assert measure.name == ""
    assert not measure.window_invalid


@pytest.mark.parametrize("bad", ["tomorrow", "2026-11-22T07:00:00", 12345, ["x"]])
def test_measure_bad_window_fails_closed(bad: object) -> None:
    feature = measure_to_feature(measures()[0])
    feature["properties"]["effective_to"] = bad
    measure = measure_from_feature(feature)
    assert measure.window_invalid
    assert measure.effective_to is None
    assert measure.effective_from == T0  # the readable bound is kept
    # a restrictive measure with an unreadable window counts as active at any time
    far = T0 + timedelta(days=400)
    assert measure.counts_during(far, far)
    again = measure_from_feature(measure_to_feature(measure))
    assert again == measure


def test_measure_bad_effective_from_fails_closed() -> None:
    feature = measure_to_feature(measures()[1])
    feature["properties"]["effective_from"] = "soon"
    measure = measure_from_feature(feature)
    assert measure.window_invalid
    assert measure.effective_from is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda f: f["properties"].update(kind="NOPE"), "properties.kind"),
        (lambda f: f["properties"].pop("kind"), "properties.kind"),
        (lambda f: f["properties"].pop("radius_m"), "properties.radius_m"),
        (lambda f: f["properties"].update(radius_m=-5), "properties.radius_m"),
        (lambda f: f["properties"].update(radius_m="big"), "properties.radius_m"),
        (lambda f: f["properties"].update(status="maybe"), "properties.status"),
        (lambda f: f["properties"].update(friendly_side="up"), "properties.friendly_side"),
        (lambda f: f["properties"].update(name=5), "properties.name"),
        (lambda f: f.update(geometry={"type": "MultiPoint", "coordinates": []}), "geometry.type"),
        (lambda f: f["geometry"].update(coordinates=[30.0]), "geometry.coordinates"),
        (lambda f: f["geometry"].update(coordinates=[30.0, 95.0]), "geometry.lat"),
        (lambda f: f.update(geometry=None), "geometry"),
        (lambda f: f.update(type="FeatureCollection"), "type"),
        (lambda f: f.update(properties=[1]), "properties"),
    ],
)
def test_measure_errors_name_the_field(mutate: Any, field: str) -> None:
    feature = measure_to_feature(measures()[0])
    mutate(feature)
    with pytest.raises(CodecError) as info:
        measure_from_feature(feature)
    assert info.value.field == field
    assert field in str(info.value)


def test_measure_line_and_polygon_errors() -> None:
    line = measure_to_feature(measures()[1])
    line["geometry"]["coordinates"] = [[30.0, 50.0]]
    with pytest.raises(CodecError) as info:
        measure_from_feature(line)
    assert info.value.field == "geometry"
    poly = measure_to_feature(measures()[2])
    poly["geometry"]["coordinates"][0][1] = [30.1, "north"]
    with pytest.raises(CodecError) as info:
        measure_from_feature(poly)
    assert info.value.field == "geometry.coordinates[0][1][1]"


# -- clearances -------------------------------------------------------------------------------


def test_clearance_shape() -> None:
    d = clearance_to_dict(full_clearance())
    assert_json_only(d)
    assert list(d) == [
        "id",
        "verdict",
        "reasons",
        "target",
        "weapon",
        "impact_time",
        "evaluated_at",
        "valid_until",
        "picture_version",
        "request",
    ]
    assert list(d["reasons"][0]) == [
        "code",
        "verdict",
        "note",
        "subject",
        "distance_m",
        "threshold_m",
        "detail",
    ]
    assert d["target"] == {"lat": 50.0, "lon": 30.0, "mgrs": "36UUA0000000000"}
    assert d["reasons"][1]["note"] is True
    assert d["request"]["pid"] == ["appearance", "sigint"]
    assert set(d["request"]) == {
        "lat",
        "lon",
        "weapon",
        "time",
        "tle_m",
        "cell_m",
        "datum",
        "datum_error_m",
        "target_type",
        "pid",
        "pid_detail",
        "firing_unit",
        "requester",
    }


def test_clearance_round_trip() -> None:
    clearance = full_clearance()
    d = json.loads(json.dumps(clearance_to_dict(clearance)))
    assert clearance_from_dict(d) == clearance


def test_clearance_rounds_distances_to_decimetres() -> None:
    base = full_clearance()
    reason = Reason(
        code=ReasonCode.DANGER_CLOSE,
        verdict=Verdict.DANGER_CLOSE,
        detail="close",
        subject="U1",
        distance_m=212.3456,
        threshold_m=600.04999,
    )
    clearance = replace(base, reasons=(reason,))
    d = clearance_to_dict(clearance)
    assert d["reasons"][0]["distance_m"] == 212.3
    assert d["reasons"][0]["threshold_m"] == 600.0
    back = clearance_from_dict(d)
    assert back.reasons[0].distance_m == 212.3
    assert back == replace(base, reasons=(replace(reason, distance_m=212.3, threshold_m=600.0),))


def test_clearance_minimal_request_and_invalid_numbers() -> None:
    base = full_clearance()
    request = CheckRequest(lat=50.0, lon=30.0, weapon="x", tle_m=math.nan)
    clearance = replace(base, reasons=(), request=request)
    d = clearance_to_dict(clearance)
    assert_json_only(d)
    assert d["request"]["time"] is None
    assert d["request"]["tle_m"] is None  # non-finite: kept as unknown
    back = clearance_from_dict(d)
    assert math.isnan(back.request.tle_m)
    assert back.request.requester == "anonymous"
    assert back.request.pid == ()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(verdict="SAFE"), "verdict"),
        (lambda d: d["reasons"][1].update(code="NOPE"), "reasons[1].code"),
        (lambda d: d["reasons"][0].update(note=True), "reasons[0].reason.note"),
        (lambda d: d["request"].update(pid=["telepathy"]), "request.pid[0]"),
        (lambda d: d["request"].update(time="noon"), "request.time"),
        (lambda d: d["target"].pop("lat"), "target.lat"),
        (lambda d: d.update(picture_version="7"), "picture_version"),
        (lambda d: d.update(reasons={}), "reasons"),
        (lambda d: d.pop("request"), "request"),
    ],
)
def test_clearance_errors_name_the_field(mutate: Any, field: str) -> None:
    d = clearance_to_dict(full_clearance())
    mutate(d)
    with pytest.raises(CodecError) as info:
        clearance_from_dict(d)
    assert info.value.field == field


# -- alerts and events ------------------------------------------------------------------------


def test_alert_round_trip() -> None:
    alert = Alert(
        kind=AlertKind.LOST,
        subjects=("U1", "U2"),
        detail="lost",
        created_at=T0,
        recipients=("planner",),
    )
    d = alert_to_dict("al-9", alert)
    assert_json_only(d)
    assert set(d) == {"id", "kind", "subjects", "recipients", "created_at", "cleared_at", "detail"}
    assert d["cleared_at"] is None
    assert alert_from_dict(d) == ("al-9", alert)


def test_alert_errors_name_the_field() -> None:
    d = alert_to_dict("al-1", Alert(AlertKind.STALE, ("U1",), "stale", T0))
    d["kind"] = "PANIC"
    with pytest.raises(CodecError) as info:
        alert_from_dict(d)
    assert info.value.field == "kind"


@pytest.mark.parametrize("event", events(), ids=lambda e: type(e).__name__)
def test_event_round_trip(event: Event) -> None:
    d = event_to_dict(event)
    assert_json_only(d)
    assert event_from_dict(json.loads(json.dumps(d))) == event


def test_event_type_tags() -> None:
    tags = [event_to_dict(e)["type"] for e in events()]
    assert tags == ["unit", "report", "measure", "measure_cancelled", "check", "alert"]


def test_event_errors_name_the_field() -> None:
    with pytest.raises(CodecError) as info:
        event_from_dict({"type": "gossip"})
    assert info.value.field == "type"
    d = event_to_dict(events()[1])
    d["report"]["lat"] = "north"
    with pytest.raises(CodecError) as info:
        event_from_dict(d)
    assert info.value.field == "report.lat"
    d = event_to_dict(events()[2])
    d["measure"]["properties"]["kind"] = "NOPE"
    with pytest.raises(CodecError) as info:
        event_from_dict(d)
    assert info.value.field == "measure.properties.kind"
    d = event_to_dict(events()[0])
    del d["by"]
    with pytest.raises(CodecError, match="by: is required"):
        event_from_dict(d)


def test_codec_error_is_a_value_error() -> None:
    error = CodecError("lat", "must be a number")
    assert isinstance(error, ValueError)
    assert (error.field, error.message, str(error)) == ("lat", "must be a number", error.args[0])
    assert str(error) == "lat: must be a number"


def test_a_number_too_large_for_a_float_is_a_codec_error() -> None:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [35.0, 51.0]},
        "properties": {"id": "m", "kind": "NFA", "radius_m": 10**400},
    }
    with pytest.raises(CodecError, match="too large"):
        measure_from_feature(feature)

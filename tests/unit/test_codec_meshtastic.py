"""Meshtastic JSON packets and MQTT payloads -> reports (holdfire.codecs.meshtastic,
holdfire.codecs.mqtt_payloads).

Reduced precision is reproduced as the firmware does it (keep the high bits, move to the cell's
centre) and distances are measured with pyproj directly, not with holdfire.geo.
"""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from holdfire.codecs.json import CodecError
from holdfire.codecs.meshtastic import Ignored, node_id, report_from_packet
from holdfire.codecs.mqtt_payloads import decode_payload
from holdfire.domain.reports import PositionReport

GEOD = Geod(ellps="WGS84")
RECEIVED = datetime(2026, 12, 1, 8, 0, 30, tzinfo=UTC)
FIX = 1764576000  # 2025-12-01T08:00:00Z
TOPIC = "msh/EU_868/2/json/LongFast/!a1b2c3d4"
NODES = {"!7efeee00": "btr-82-1"}


def packet(**payload: Any) -> dict[str, Any]:
    body = {"latitude_i": 513500000, "longitude_i": 351000000, "altitude": 180, "time": FIX}
    body.update(payload)
    return {
        "from": 2130636288,
        "to": 4294967295,
        "sender": "!a1b2c3d4",
        "type": "position",
        "timestamp": FIX + 5,
        "payload": {k: v for k, v in body.items() if v is not None},
    }


def read(data: dict[str, Any], nodes: dict[str, str] | None = None) -> PositionReport | Ignored:
    return report_from_packet(
        data, nodes=NODES if nodes is None else nodes, source="mqtt", reporter=TOPIC,
        received_at=RECEIVED,
    )  # fmt: skip


def position(data: dict[str, Any], nodes: dict[str, str] | None = None) -> PositionReport:
    report = read(data, nodes)
    assert isinstance(report, PositionReport)
    return report


def refused(data: dict[str, Any]) -> CodecError:
    with pytest.raises(CodecError) as info:
        read(data)
    return info.value


def truncate(value_i: int, bits: int) -> int:
    """The firmware's reduced precision: keep `bits` high bits (two's complement), then the
    centre of the cell."""
    masked = (value_i & (0xFFFFFFFF << (32 - bits))) & 0xFFFFFFFF
    signed = masked - (1 << 32) if masked >= 1 << 31 else masked
    return signed + (1 << (31 - bits))


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# --- identity and trust ------------------------------------------------------------------------


def test_a_mapped_node_reports_as_its_unit_and_never_as_its_own() -> None:
    report = position(packet(precision_bits=32))
    assert report.uid == "btr-82-1"
    assert (report.lat, report.lon) == (51.35, 35.1)
    assert report.source == "mqtt"
    assert report.reporter == TOPIC
    assert not report.authenticated
    assert not report.own


def test_an_unmapped_node_reports_under_its_node_id() -> None:
    assert position(packet(), nodes={}).uid == "!7efeee00"
    assert node_id(0x00AB) == "!000000ab"


def test_the_node_is_from_not_the_gateway_sender() -> None:
    data = packet()
    data["sender"] = "!7efeee00"
    data["from"] = 0x12345678
    assert position(data, nodes={}).uid == "!12345678"


# --- accuracy ----------------------------------------------------------------------------------


def test_full_precision_adds_no_cell_and_the_error_stays_unknown() -> None:
    report = position(packet(precision_bits=32, PDOP=150, HDOP=90))
    assert report.cell_m == 0.0
    assert report.ce_m is None  # the class's worst case
    assert report.hae_m is None  # altitude is above MSL, not the ellipsoid


@pytest.mark.parametrize("bits", [None, 0, 33, -1, "16", 16.0, True])
def test_unknown_precision_means_unknown_error_not_a_cell(bits: Any) -> None:
    report = position(packet(precision_bits=bits))
    assert report.cell_m == 0.0
    assert report.ce_m is None


def test_reduced_precision_is_the_cells_half_diagonal() -> None:
    report = position(packet(precision_bits=16))
    half = 2**15 / 1e7
    corner = metres(report.lat, report.lon, report.lat + half, report.lon + half)
    assert report.cell_m == pytest.approx(corner, rel=1e-3)
    assert 420 < report.cell_m < 440  # 16 bits: ±364 m north-south, ±228 m east-west here
    assert position(packet(precision_bits=13)).cell_m > 8 * report.cell_m * 0.99


@settings(max_examples=300, deadline=None)
@given(
    lat_i=st.integers(-850_000_000, 850_000_000),
    lon_i=st.integers(-1_799_000_000, 1_799_000_000),
    bits=st.integers(10, 31),
)
def test_the_true_position_lies_within_the_reduced_cell(lat_i: int, lon_i: int, bits: int) -> None:
    sent_lat, sent_lon = truncate(lat_i, bits), truncate(lon_i, bits)
    if (sent_lat, sent_lon) == (0, 0) or abs(sent_lat) > 9e8 or abs(sent_lon) > 18e8:
        return  # no fix, or a cell centre past the pole or the antimeridian (refused)
    report = position(packet(latitude_i=sent_lat, longitude_i=sent_lon, precision_bits=bits))
    assert metres(report.lat, report.lon, lat_i / 1e7, lon_i / 1e7) <= report.cell_m * 1.0001


# --- time --------------------------------------------------------------------------------------


def test_the_gps_solution_time_wins_then_the_payload_time() -> None:
    assert position(packet(timestamp=FIX - 60)).observed_at == datetime.fromtimestamp(FIX - 60, UTC)
    report = position(packet())
    assert report.observed_at == datetime.fromtimestamp(FIX, UTC)
    assert not report.time_assumed


def test_without_a_fix_time_the_gateways_time_is_assumed_then_the_arrival() -> None:
    report = position(packet(time=0))
    assert report.observed_at == datetime.fromtimestamp(FIX + 5, UTC)
    assert report.time_assumed
    data = packet(time=None)
    del data["timestamp"]
    report = position(data)
    assert report.observed_at == RECEIVED
    assert report.time_assumed


@pytest.mark.parametrize("value", [-5, "1764576000", 1.5e300, 10**20])
def test_an_unreadable_time_refuses_the_packet(value: Any) -> None:
    assert refused(packet(time=value)).field == "payload.time"


# --- what is not a position --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["nodeinfo", "telemetry", "text", "", None])
def test_other_packets_are_ignored(kind: str | None) -> None:
    data = packet()
    data["type"] = kind
    assert read(data) == Ignored("not-position")


def test_zero_zero_is_no_fix() -> None:
    assert read(packet(latitude_i=0, longitude_i=0)) == Ignored("no-fix")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from": -1}, "from"),
        ({"from": 2**32}, "from"),
        ({"from": "!7efeee00"}, "from"),
        ({"payload": None}, "payload"),
        ({"payload": [1, 2]}, "payload"),
    ],
)
def test_a_bad_envelope_is_refused(change: dict[str, Any], field: str) -> None:
    data = packet()
    data.update(change)
    assert refused(data).field == field


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"latitude_i": None}, "payload.latitude_i"),
        ({"latitude_i": 51.35}, "payload.latitude_i"),
        ({"latitude_i": 900_000_001}, "payload.latitude_i"),
        ({"longitude_i": -1_800_000_001}, "payload.longitude_i"),
        ({"longitude_i": True}, "payload.longitude_i"),
    ],
)
def test_bad_coordinates_are_refused(payload: dict[str, Any], field: str) -> None:
    assert refused(packet(**payload)).field == field


# --- payloads ----------------------------------------------------------------------------------


def decode(payload: bytes, max_bytes: int = 64 * 1024) -> Any:
    return decode_payload(
        payload, topic="holdfire/reports/x", received_at=RECEIVED, nodes=NODES,
        max_bytes=max_bytes,
    )  # fmt: skip


def test_a_public_report_and_a_meshtastic_packet_share_a_topic() -> None:
    out = decode(json.dumps([{"uid": "a-1", "lat": 51.4, "lon": 35.6}, packet()]).encode())
    assert [r.uid for r in out.reports] == ["a-1", "btr-82-1"]
    assert all(r.reporter == "holdfire/reports/x" and not r.authenticated for r in out.reports)
    assert out.problems == []


def test_a_bad_item_is_counted_and_the_rest_of_the_list_lands() -> None:
    items = [
        {"uid": "a-1", "lat": 51.4, "lon": 35.6},
        {"uid": "a-2", "lat": 91.0, "lon": 35.6},
        "not an object",
        {"uid": "a-3", "grid": "36UXB5303396604"},
        {**packet(), "type": "telemetry"},
    ]
    out = decode(json.dumps(items).encode())
    assert [r.uid for r in out.reports] == ["a-1", "a-3"]
    assert [(p.reason, p.index) for p in out.problems] == [("bad-lat", 1), ("bad-report", 2)]
    assert out.ignored == ["not-position"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe garbage", "not-json"),
        (b"{not json", "not-json"),
        (b"[" * 100_000, "not-json"),
        (b"1" * 5000, "not-json"),  # an integer too long to read
        (b'"a string"', "bad-shape"),
        (b"42", "bad-shape"),
        (b'{"uid": "a", "lat": NaN, "lon": 1}', "bad-lat"),
    ],
)
def test_a_bad_payload_is_one_problem(payload: bytes, reason: str) -> None:
    out = decode(payload, max_bytes=200_000)
    assert out.reports == []
    assert [p.reason for p in out.problems] == [reason]


def test_a_payload_over_the_limit_is_not_read() -> None:
    body = json.dumps({"uid": "a-1", "lat": 51.4, "lon": 35.6}).encode()
    assert [p.reason for p in decode(body, max_bytes=len(body) - 1).problems] == ["too-large"]
    assert len(decode(body, max_bytes=len(body)).reports) == 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "uid": JSON, "lat": JSON, "lon": JSON, "grid": JSON, "from": JSON, "type": JSON,
        "payload": st.dictionaries(
            st.sampled_from(["latitude_i", "longitude_i", "time", "timestamp", "precision_bits"]),
            JSON,
        ),
        "timestamp": JSON, "observed_at": JSON, "ce_m": JSON,
    },
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=64), JSON, FIELDS, st.lists(FIELDS, max_size=4)))
def test_no_payload_makes_the_decoder_raise(document: Any) -> None:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    out = decode(raw)
    if not isinstance(document, bytes):  # one outcome per object read
        outcomes = len(out.reports) + len(out.problems) + len(out.ignored)
        assert outcomes == (len(document) if isinstance(document, list) else 1)

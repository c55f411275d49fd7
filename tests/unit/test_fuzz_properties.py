"""Property tests on structured hostile input: generated CoT events, reports, GeoJSON measures.

Each reader either returns a value or raises its documented error (CotError, CodecError,
ImportFileError, GeoError), keeps what it holds bounded, and round-trips where it has an
inverse. The normal suite runs a modest number of examples; ``make fuzz-props`` sets
``FUZZ_EXAMPLES`` (default there 100,000). The byte-level fuzzers are in ``fuzz/``.
"""

import contextlib
import json
import math
import os
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from xml.sax.saxutils import escape, quoteattr

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from holdfire.codecs.cot_stream import XmlFramer
from holdfire.codecs.cot_xml import CotError, parse_event, sa_event, xml_safe
from holdfire.codecs.imports import ImportFileError, parse_import
from holdfire.codecs.json import (
    CodecError,
    measure_from_feature,
    measure_to_feature,
    report_from_dict,
    report_to_dict,
)
from holdfire.codecs.reports import Channel, report_from_input
from holdfire.codecs.tak_proto import event_to_proto, proto_to_event
from holdfire.domain.measures import MeasureKind

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
CHANNEL = Channel(source="test", reporter="fuzz", authenticated=False)
T = TypeVar("T")
E = TypeVar("E", bound=Exception)

# Numbers as hostile senders write them: in and out of range, huge, non-finite, not numbers.
number_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.sampled_from(["", " ", "nan", "-inf", "1e999", "0x10", "1_0", "٣", "51.4.2", "+90"]),
)
any_text = st.text(max_size=40)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    any_text,
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


def attr(value: str) -> str:
    return quoteattr(xml_safe(value))


def outcome(read: Callable[[], T], error: type[E]) -> T | E:
    """What `read` returns, or the `error` it raised; any other exception propagates."""
    try:
        return read()
    except error as exc:
        return exc


@st.composite
def cot_events(draw: st.DrawFn) -> bytes:
    """A CoT event with hostile attribute values, unknown detail children and odd times."""
    uid = draw(st.one_of(any_text, st.just("ANDROID-1")))
    cot_type = draw(st.sampled_from(["a-f-G-U-C", "a-h-G", "b-t-f", "t-x-c-t", "u-d-c-c", ""]))
    time = draw(st.one_of(any_text, st.just("2026-11-22T07:00:00.250Z")))
    point = ""
    if draw(st.booleans()):
        names = ["lat", "lon", "hae", "ce", "le"]
        point = "<point " + " ".join(f"{n}={attr(draw(number_text))}" for n in names) + "/>"
    children = draw(
        st.lists(
            st.tuples(
                st.sampled_from(
                    [
                        "contact",
                        "__group",
                        "track",
                        "status",
                        "takv",
                        "remarks",
                        "link",
                        "__chat",
                        "marti",
                        "emergency",
                        "precisionlocation",
                        "x-unknown",
                    ]
                ),
                st.dictionaries(
                    st.sampled_from(
                        [
                            "callsign",
                            "name",
                            "course",
                            "speed",
                            "battery",
                            "uid",
                            "type",
                            "relation",
                            "id",
                            "version",
                            "endpoint",
                        ]
                    ),
                    st.one_of(any_text, number_text),
                    max_size=4,
                ),
                st.one_of(st.just(""), any_text),
            ),
            max_size=6,
        )
    )
    detail = "".join(
        f"<{tag} " + " ".join(f"{k}={attr(v)}" for k, v in attrs.items()) + ">"
        f"{escape(xml_safe(text))}</{tag}>"
        for tag, attrs, text in children
    )
    return (
        f'<event version="2.0" uid={attr(uid)} type={attr(cot_type)} how="m-g" '
        f"time={attr(time)} start={attr(time)} stale={attr(time)}>"
        f"{point}<detail>{detail}</detail></event>"
    ).encode()


@FUZZ
@given(cot_events())
def test_a_generated_cot_event_reads_or_is_refused_and_survives_protobuf(data: bytes) -> None:
    event = outcome(lambda: parse_event(data), CotError)
    if isinstance(event, CotError):
        assert event.reason in {"no-uid", "no-type", "no-point", "bad-point"}  # valid XML
        return
    assert event.raw == data and event.uid.strip()
    once = proto_to_event(event_to_proto(event))
    assert (once.uid, once.type, once.callsign, once.chat) == (
        event.uid,
        event.type,
        event.callsign,
        event.chat,
    )
    if event.has_point:
        assert (once.lat, once.lon) == (event.lat, event.lon)
    assert proto_to_event(event_to_proto(once)) == once


finite_lat = st.floats(min_value=-90, max_value=90)
finite_lon = st.floats(min_value=-180, max_value=180)


@FUZZ
@given(
    uid=any_text.filter(str.strip),
    callsign=any_text,
    lat=finite_lat,
    lon=finite_lon,
    ce=st.one_of(st.none(), st.floats(min_value=0, max_value=1e7)),
    remarks=st.one_of(st.none(), st.text(max_size=200)),
)
def test_what_holdfire_writes_as_cot_reads_back(
    uid: str, callsign: str, lat: float, lon: float, ce: float | None, remarks: str | None
) -> None:
    data = sa_event(
        uid, callsign, "a-f-G-U-C", lat, lon, None, ce, None, NOW, NOW + timedelta(minutes=1),
        remarks=remarks,
    )  # fmt: skip
    event = parse_event(data)
    assert (event.uid, event.lat, event.lon, event.ce) == (
        xml_safe(uid),
        lat,
        lon,
        9999999.0 if ce is None else ce,  # CoT's "unknown", kept as sent
    )
    assert event.remarks == (xml_safe(remarks) if remarks else None)


@FUZZ
@given(
    st.lists(st.one_of(cot_events(), st.binary(max_size=300)), max_size=8),
    st.integers(min_value=64, max_value=2048),
    st.integers(min_value=1, max_value=500),
)
def test_the_xml_framer_holds_at_most_one_frame_and_one_read(
    parts: list[bytes], limit: int, step: int
) -> None:
    stream = b"".join(parts)
    framer = XmlFramer(limit)
    frames: list[bytes] = []
    for at in range(0, len(stream), step):
        frames += framer.feed(stream[at : at + step])
        assert framer.buffered <= limit + step
    assert all(len(f) <= limit and f.startswith((b"<event", b"<auth")) for f in frames)
    assert frames == XmlFramer(limit).feed(stream)


report_rows = st.fixed_dictionaries(
    {},
    optional={
        "uid": st.one_of(any_text, json_value),
        "lat": st.one_of(st.floats(), st.integers(min_value=-(10**400), max_value=10**400),
                         json_value),
        "lon": st.one_of(st.floats(), st.integers(min_value=-(10**400), max_value=10**400),
                         json_value),
        "grid": st.one_of(st.sampled_from(["36UXB5303396604", "36UXB53", "ZAH12", "99ZZZ1"]),
                          json_value),
        "datum": st.one_of(st.sampled_from(["WGS84", "SK42", "sk42", "NAD27"]), json_value),
        "observed_at": st.one_of(st.sampled_from(["2026-11-22T07:00:00Z", "2026-11-22T07:00:00",
                                                  "9999-12-31T23:59:59Z", ""]), json_value),
        "ce_m": json_value,
        "course_deg": json_value,
        "speed_mps": json_value,
        "affiliation": json_value,
        "mobility": json_value,
        "callsign": json_value,
    },
)  # fmt: skip


@FUZZ
@given(report_rows)
def test_a_report_reads_or_names_its_field_and_round_trips(row: dict[str, Any]) -> None:
    report = outcome(lambda: report_from_input(row, CHANNEL, NOW), CodecError)
    if isinstance(report, CodecError):
        assert report.field in {*row, "report", "uid", "lat", "lon"}  # given, or required
        return
    assert math.isfinite(report.lat) and abs(report.lat) <= 90
    assert math.isfinite(report.lon) and abs(report.lon) <= 180
    written = report_to_dict(report)
    json.dumps(written, allow_nan=False)
    assert report_from_dict(written) == report


coordinate = st.one_of(st.floats(), st.integers(min_value=-(10**400), max_value=10**400))
position = st.lists(coordinate, min_size=0, max_size=3)
geometry = st.one_of(
    st.none(),
    json_value,
    st.fixed_dictionaries({"type": st.just("Point"), "coordinates": position}),
    st.fixed_dictionaries(
        {"type": st.just("LineString"), "coordinates": st.lists(position, max_size=5)}
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("Polygon"),
            "coordinates": st.lists(st.lists(position, max_size=6), max_size=2),
        }
    ),
)
features = st.fixed_dictionaries(
    {"type": st.sampled_from(["Feature", "Feature", "feature"]), "geometry": geometry},
    optional={
        "id": json_value,
        "properties": st.fixed_dictionaries(
            {"kind": st.one_of(st.sampled_from([k.value for k in MeasureKind]), json_value)},
            optional={
                "id": json_value,
                "name": json_value,
                "radius_m": st.one_of(coordinate, json_value),
                "effective_from": st.one_of(st.just("2026-11-22T07:00:00Z"), json_value),
                "effective_to": json_value,
                "status": json_value,
                "friendly_side": json_value,
                "window_invalid": json_value,
                "establishing_hq": json_value,
            },
        ),
    },
)


@FUZZ
@given(features)
def test_a_measure_feature_reads_or_names_its_field_and_round_trips(
    feature: dict[str, Any],
) -> None:
    measure = outcome(lambda: measure_from_feature(feature), CodecError)
    if isinstance(measure, CodecError):
        assert measure.field
        return
    written = measure_to_feature(measure)
    json.dumps(written, allow_nan=False)
    assert measure_from_feature(written) == measure


csv_cell = st.text(alphabet=string.printable + "°€\u2028", max_size=12)


@FUZZ
@given(
    st.sampled_from(["units.csv", "reports.json", "measures.geojson", "picture.toml"]),
    st.one_of(
        st.lists(st.lists(csv_cell, max_size=6), max_size=5).map(
            lambda rows: "\n".join(",".join(row) for row in rows)
        ),
        json_value.map(json.dumps),
        st.lists(report_rows, max_size=4).map(json.dumps),
        st.lists(features, max_size=3).map(
            lambda fs: json.dumps({"type": "FeatureCollection", "features": fs})
        ),
        st.text(max_size=200),
    ),
)
def test_an_import_file_reads_or_is_refused_with_a_message(name: str, text: str) -> None:
    batch = outcome(lambda: parse_import(name, text), ImportFileError)
    if isinstance(batch, ImportFileError):
        assert str(batch).startswith(name)
        return
    for row in batch.reports:  # each is read or refused; any other exception fails the test
        with contextlib.suppress(CodecError):
            report_from_input(row, CHANNEL, NOW)
    for feature in batch.measures:
        with contextlib.suppress(CodecError):
            measure_from_feature(feature, measure_id="m-1")

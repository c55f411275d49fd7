"""TakMessage payloads ⇄ CotEvent (holdfire.codecs.tak_proto), checked against takproto."""

import dataclasses
import math

import pytest
import takproto
from takproto.proto.takmessage_pb2 import TakMessage

from holdfire.codecs.cot_stream import ProtoStreamFramer, encode_stream
from holdfire.codecs.cot_xml import CotError, CotEvent, parse_event
from holdfire.codecs.tak_proto import event_to_proto, proto_to_event


def atak_sa(
    point_extra: str = 'hae="12.0" ce="9.9" le="9999999.0"',
    times: str = (
        'time="2026-11-22T07:00:00.250Z" start="2026-11-22T07:00:00.250Z" '
        'stale="2026-11-22T07:01:00.250Z"'
    ),
) -> bytes:
    """An ATAK position report as ATAK sends it (millisecond times, as protobuf carries)."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<event version="2.0" uid="ANDROID-1" type="a-f-G-U-C" how="m-g" {times}>'
        f'<point lat="51.4000000" lon="35.6000000" {point_extra}/>'
        "<detail>"
        '<takv os="34" version="4.10.0" device="PIXEL" platform="ATAK-CIV"/>'
        '<contact callsign="ALPHA-1" endpoint="*:-1:stcp"/>'
        '<uid Droid="ALPHA-1"/>'
        '<__group name="Cyan" role="Team Member"/>'
        '<status battery="88"/>'
        '<track course="271.5" speed="1.4"/>'
        '<precisionlocation geopointsrc="GPS" altsrc="GPS"/>'
        "<remarks>on the move</remarks>"
        "</detail></event>"
    ).encode()


GEOCHAT = (
    b'<event version="2.0" uid="GeoChat.ANDROID-1.HOLDFIRE-UID.5f1c9a" type="b-t-f" how="h-g-i-g-o"'
    b' time="2026-11-22T07:00:00.250Z" start="2026-11-22T07:00:00.250Z"'
    b' stale="2026-11-23T07:00:00.250Z">'
    b'<point lat="51.4" lon="35.6" hae="12.0" ce="9.9" le="9999999.0"/>'
    b"<detail>"
    b'<__chat parent="RootContactGroup" groupOwner="false" messageId="5f1c9a"'
    b' chatroom="HOLDFIRE" id="HOLDFIRE-UID" senderCallsign="ALPHA-1">'
    b'<chatgrp uid0="ANDROID-1" uid1="HOLDFIRE-UID" id="HOLDFIRE-UID"/></__chat>'
    b'<link uid="ANDROID-1" type="a-f-G-U-C" relation="p-p"/>'
    b'<remarks source="BAO.F.ATAK.ANDROID-1" to="HOLDFIRE-UID" time="2026-11-22T07:00:00.250Z">'
    b"CHECK 37UDB1234567890 155mm-howitzer</remarks>"
    b'<marti><dest callsign="HOLDFIRE"/></marti>'
    b"</detail></event>"
)


def fields(event: CotEvent) -> dict[str, object]:
    """Every field but raw (equality already ignores it; this makes failures readable)."""
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "raw"}


def test_sa_round_trips_through_protobuf() -> None:
    xml_event = parse_event(atak_sa())
    payload = event_to_proto(xml_event)
    back = proto_to_event(payload)
    assert fields(back) == fields(xml_event)
    assert back == xml_event
    # The rebuilt XML is what XML clients get: it parses to the same event.
    assert parse_event(back.raw) == xml_event
    assert back.xml_bytes() == back.raw


def test_typed_fields_are_used_where_nothing_is_lost() -> None:
    message = TakMessage.FromString(event_to_proto(parse_event(atak_sa())))
    cot = message.cotEvent
    assert (cot.uid, cot.type, cot.how) == ("ANDROID-1", "a-f-G-U-C", "m-g")
    assert cot.sendTime == 1795330800250  # 2026-11-22T07:00:00.250Z in ms
    assert cot.staleTime - cot.sendTime == 60_000
    assert (cot.lat, cot.lon, cot.hae, cot.ce, cot.le) == (51.4, 35.6, 12.0, 9.9, 9999999.0)
    detail = cot.detail
    assert (detail.contact.callsign, detail.contact.endpoint) == ("ALPHA-1", "*:-1:stcp")
    assert (detail.group.name, detail.group.role) == ("Cyan", "Team Member")
    assert (detail.track.course, detail.track.speed) == (271.5, 1.4)
    assert detail.status.battery == 88
    assert detail.takv.platform == "ATAK-CIV"
    assert detail.precisionLocation.geopointsrc == "GPS"
    assert "<contact" not in detail.xmlDetail  # no duplicates between typed and XML
    assert '<uid Droid="ALPHA-1"/>' in detail.xmlDetail
    assert "<remarks>on the move</remarks>" in detail.xmlDetail


def test_takproto_reads_what_we_write() -> None:
    payload = event_to_proto(parse_event(atak_sa()))
    message = takproto.parse_proto(bytearray(encode_stream(payload)))
    assert message.cotEvent.uid == "ANDROID-1"
    assert message.cotEvent.detail.contact.callsign == "ALPHA-1"


def test_we_read_what_takproto_writes() -> None:
    data = atak_sa()
    framed = bytes(takproto.xml2proto(data, takproto.TAKProtoVer.STREAM))
    (payload,) = ProtoStreamFramer().feed(framed)
    assert proto_to_event(payload) == parse_event(data)


def test_geochat_round_trips_with_its_routing() -> None:
    xml_event = parse_event(GEOCHAT)
    back = proto_to_event(event_to_proto(xml_event))
    assert fields(back) == fields(xml_event)
    assert back.chat is not None and back.chat.chatgrp_uids == ("ANDROID-1", "HOLDFIRE-UID")
    assert back.dest_callsigns == ("HOLDFIRE",)


def test_what_a_typed_field_cannot_hold_stays_xml() -> None:
    data = atak_sa().replace(b'endpoint="*:-1:stcp"', b'endpoint="*:-1:stcp" phone="+100"')
    data = data.replace(b'<track course="271.5" speed="1.4"/>', b'<track course="271.5"/>')
    xml_event = parse_event(data)
    payload = event_to_proto(xml_event)
    detail = TakMessage.FromString(payload).cotEvent.detail
    assert not detail.HasField("contact") and 'phone="+100"' in detail.xmlDetail
    assert not detail.HasField("track")  # a speed of 0 would be invented otherwise
    back = proto_to_event(payload)
    assert back == xml_event
    assert (back.course, back.speed) == (271.5, None)
    assert b'phone="+100"' in back.raw


def test_a_second_contact_never_takes_the_first_ones_place() -> None:
    # Found by fuzzing: the first <contact> (kept as XML, it has text) was rebuilt after a later,
    # empty one that went into the typed field, so the event lost its callsign over protobuf.
    data = atak_sa().replace(
        b'<contact callsign="ALPHA-1" endpoint="*:-1:stcp"/>',
        b'<contact callsign="ALPHA-1">text</contact><contact callsign="IMPOSTOR"/>',
    )
    xml_event = parse_event(data)
    assert xml_event.callsign == "ALPHA-1"
    payload = event_to_proto(xml_event)
    assert not TakMessage.FromString(payload).cotEvent.detail.HasField("contact")
    assert proto_to_event(payload) == xml_event


def test_unknown_values_and_missing_times() -> None:
    data = atak_sa(point_extra='ce="abc"', times='time="garbage"')
    back = proto_to_event(event_to_proto(parse_event(data)))
    assert back.time is None and back.start is None and back.stale is None
    assert back.ce == 9999999.0  # unknown, as CoT writes it
    assert back.hae == 9999999.0


def message_payload(**cot: object) -> bytes:
    message = TakMessage()
    event = message.cotEvent
    event.uid = "U1"
    event.type = "a-f-G-U-C"
    event.lat, event.lon = 1.0, 2.0
    for name, value in cot.items():
        if name == "xmlDetail":
            event.detail.xmlDetail = value
        else:
            setattr(event, name, value)
    data: bytes = message.SerializeToString()
    return data


def refused(payload: bytes) -> str:
    with pytest.raises(CotError) as info:
        proto_to_event(payload)
    return info.value.reason


def test_refusals() -> None:
    assert refused(b"\xff\xff\xff\xff") == "proto"
    assert refused(b"<event/>") == "proto"
    empty = TakMessage()
    empty.takControl.minProtoVersion = 1
    assert refused(empty.SerializeToString()) == "not-event"
    assert refused(b"") == "not-event"
    assert refused(message_payload(uid="")) == "no-uid"
    assert refused(message_payload(lat=91.0)) == "bad-point"
    assert refused(message_payload(lon=math.nan)) == "bad-point"
    assert refused(message_payload(xmlDetail="<remarks>unclosed")) == "xml"
    doctype = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><remarks>&e;</remarks>'
    assert refused(message_payload(xmlDetail=doctype)) == "doctype"


def test_a_minimal_message_reads() -> None:
    event = proto_to_event(
        message_payload(sendTime=0, xmlDetail='<remarks a="&lt;">x &amp; y</remarks>')
    )
    assert (event.uid, event.lat, event.lon, event.time) == ("U1", 1.0, 2.0, None)
    assert event.remarks == "x & y"
    assert parse_event(event.raw) == event

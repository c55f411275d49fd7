"""CoT XML: hardened parsing of one event and the builders (holdfire.codecs.cot_xml)."""

import math
import warnings
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest
import takproto

from holdfire.codecs.cot_xml import (
    CotError,
    CotEvent,
    circle_shape,
    delete_event,
    disconnect_notice,
    geochat,
    parse_auth,
    parse_cot_time,
    parse_event,
    pong,
    sa_event,
    tak_protocol_support,
    tak_response,
)
from holdfire.codecs.json import CodecError

NOW = datetime(2026, 11, 22, 7, 0, 0, 250000, tzinfo=UTC)


def atak_sa(
    uid: str = "ANDROID-1",
    callsign: str = "ALPHA-1",
    lat: str = "51.4000000",
    lon: str = "35.6000000",
    point_extra: str = 'hae="12.0" ce="9.9" le="9999999.0"',
    times: str = (
        'time="2026-11-22T07:00:00.250Z" start="2026-11-22T07:00:00.250Z" '
        'stale="2026-11-22T07:01:00.250Z"'
    ),
    prolog: bool = True,
) -> bytes:
    """An ATAK position report, in the form ATAK (and the load benchmark) send it."""
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' if prolog else ""
    return (
        f'{head}<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="m-g" {times}>'
        f'<point lat="{lat}" lon="{lon}" {point_extra}/>'
        "<detail>"
        '<takv os="34" version="4.10.0" device="PIXEL" platform="ATAK-CIV"/>'
        f'<contact callsign="{callsign}" endpoint="*:-1:stcp"/>'
        f'<uid Droid="{callsign}"/>'
        '<__group name="Cyan" role="Team Member"/>'
        '<status battery="88"/>'
        '<track course="271.5" speed="1.4"/>'
        '<precisionlocation geopointsrc="GPS" altsrc="GPS"/>'
        "<remarks>on the move</remarks>"
        "</detail></event>"
    ).encode()


GEOCHAT = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<event version="2.0" uid="GeoChat.ANDROID-1.HOLDFIRE-UID.5f1c9a" type="b-t-f" how="h-g-i-g-o"'
    b' time="2026-11-22T07:00:00.250Z" start="2026-11-22T07:00:00.250Z"'
    b' stale="2026-11-23T07:00:00.250Z">'
    b'<point lat="51.4" lon="35.6" hae="12.0" ce="9.9" le="9999999.0"/>'
    b"<detail>"
    b'<__chat parent="RootContactGroup" groupOwner="false" messageId="5f1c9a"'
    b' chatroom="HOLDFIRE" id="HOLDFIRE-UID" senderCallsign="ALPHA-1">'
    b'<chatgrp uid0="ANDROID-1" uid1="HOLDFIRE-UID" id="HOLDFIRE-UID"/></__chat>'
    b'<link uid="ANDROID-1" type="a-f-G-U-C" relation="p-p"/>'
    b'<__serverdestination destinations="10.0.0.5:4242:tcp:ANDROID-1"/>'
    b'<remarks source="BAO.F.ATAK.ANDROID-1" to="HOLDFIRE-UID" time="2026-11-22T07:00:00.250Z">'
    b"CHECK 37UDB1234567890 155mm-howitzer</remarks>"
    b'<marti><dest callsign="HOLDFIRE"/></marti>'
    b"</detail></event>"
)


def refused(data: bytes) -> str:
    with pytest.raises(CotError) as info:
        parse_event(data)
    assert isinstance(info.value, CodecError)  # the edges catch one error type
    return info.value.reason


def minimal(
    uid: str = "U1", cot_type: str = "a-f-G-U-C", point: str = "", detail: str = ""
) -> bytes:
    point = point or '<point lat="1.5" lon="2.5" hae="0" ce="5" le="5"/>'
    return (
        f'<event version="2.0" uid="{uid}" type="{cot_type}" how="m-g" '
        f'time="2026-11-22T07:00:00Z" start="2026-11-22T07:00:00Z" stale="2026-11-22T07:01:00Z">'
        f"{point}<detail>{detail}</detail></event>"
    ).encode()


# --- reading real events -----------------------------------------------------------------------


def test_atak_sa_is_read_field_by_field() -> None:
    data = atak_sa()
    event = parse_event(data)
    assert event.uid == "ANDROID-1"
    assert event.type == "a-f-G-U-C"
    assert event.how == "m-g"
    assert event.time == NOW
    assert event.start == NOW
    assert event.stale == NOW + timedelta(minutes=1)
    assert (event.lat, event.lon, event.hae, event.ce, event.le) == (
        51.4,
        35.6,
        12.0,
        9.9,
        9999999.0,
    )
    assert event.callsign == "ALPHA-1"
    assert event.endpoint == "*:-1:stcp"
    assert (event.group_name, event.group_role) == ("Cyan", "Team Member")
    assert (event.course, event.speed) == (271.5, 1.4)
    assert event.remarks == "on the move"
    assert event.takv is not None and event.takv.platform == "ATAK-CIV"
    assert event.chat is None and event.tak_control is None
    assert event.raw == data  # exactly what arrived, to forward unchanged
    assert event.xml_bytes().startswith(b"<event ") and event.xml_bytes().endswith(b"</event>")
    assert data.endswith(event.xml_bytes())


def test_pytak_gen_cot_output_is_read() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pytak

    data = pytak.gen_cot(
        lat=48.5, lon=-123.25, uid="pytak-1", cot_type="a-f-G-U-C", callsign="BRAVO", stale=60
    )
    event = parse_event(data)
    assert (event.uid, event.type, event.callsign) == ("pytak-1", "a-f-G-U-C", "BRAVO")
    assert (event.lat, event.lon) == (48.5, -123.25)
    assert event.ce == 9999999.0  # pytak's "unknown", kept as sent
    assert event.time is not None and event.stale is not None
    assert event.stale - event.time == pytest.approx(
        timedelta(seconds=60), abs=timedelta(seconds=1)
    )
    assert event.xml_bytes().startswith(b"<event")


def test_geochat_is_read() -> None:
    event = parse_event(GEOCHAT)
    assert event.type == "b-t-f"
    chat = event.chat
    assert chat is not None
    assert chat.chatroom == "HOLDFIRE"
    assert chat.chat_id == "HOLDFIRE-UID"
    assert chat.parent == "RootContactGroup"
    assert chat.sender_callsign == "ALPHA-1"
    assert chat.message_id == "5f1c9a"
    assert chat.chatgrp_uids == ("ANDROID-1", "HOLDFIRE-UID")
    assert chat.chatgrp_uids[1] == "HOLDFIRE-UID"  # uid1: the recipient
    assert chat.text == "CHECK 37UDB1234567890 155mm-howitzer"
    assert chat.remarks_source == "BAO.F.ATAK.ANDROID-1"
    assert chat.link_uid == "ANDROID-1"
    assert event.dest_callsigns == ("HOLDFIRE",)
    assert event.dest_uids == ()
    assert event.link_uids == ("ANDROID-1",)
    assert event.remarks == chat.text


def test_geochat_message_id_falls_back_to_the_uid() -> None:
    data = GEOCHAT.replace(b' messageId="5f1c9a"', b"")
    chat = parse_event(data).chat
    assert chat is not None and chat.message_id == "5f1c9a"


def test_marti_dest_by_uid_and_several_dests() -> None:
    detail = '<marti><dest uid="A"/><dest callsign="B"/><dest uid="C" callsign="D"/></marti>'
    event = parse_event(minimal(cot_type="b-m-p-s-m", detail=detail))
    assert event.dest_uids == ("A", "C")
    assert event.dest_callsigns == ("B", "D")


def test_emergency_and_links() -> None:
    detail = (
        '<link uid="ANDROID-1" type="a-f-G-U-C" relation="p-p"/>'
        '<emergency type="911 Alert">ALPHA-1</emergency>'
    )
    event = parse_event(minimal(uid="ANDROID-1-9-1-1", cot_type="b-a-o-tbl", detail=detail))
    assert event.emergency_type == "911 Alert"
    assert not event.emergency_cancel
    cancel = parse_event(minimal(cot_type="b-a-o-can", detail='<emergency cancel="true"/>'))
    assert cancel.emergency_cancel and cancel.emergency_type is None


# --- hostile input -----------------------------------------------------------------------------

XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<event version="2.0" uid="U1" type="a-f-G-U-C" time="2026-11-22T07:00:00Z">'
    b'<point lat="1" lon="2"/><detail><remarks>&e;</remarks></detail></event>'
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']><event version="2.0" uid="U1" type="a-f-G-U-C"><point lat="1" lon="2"/>'
    b"<detail><remarks>&lol9;</remarks></detail></event>"
)


def test_xxe_is_refused() -> None:
    assert refused(XXE) == "doctype"


def test_billion_laughs_is_refused() -> None:
    assert refused(LAUGHS) == "doctype"


def test_a_doctype_hidden_in_another_encoding_is_refused() -> None:
    text = XXE.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    assert refused(text.encode("utf-16")) == "xml"  # UTF-16 carries NUL bytes
    utf7 = (
        b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE x +AFs-+ADw-!ENTITY e SYSTEM '
        b"+ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-"
        b'<event uid="U1"><point lat="1" lon="2"/></event>'
    )
    assert refused(utf7) == "encoding"


def test_a_latin1_declaration_is_refused_but_utf8_is_read() -> None:
    data = atak_sa(callsign="Ærø").replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    assert refused(data) == "encoding"
    assert parse_event(atak_sa(callsign="Ærø")).callsign == "Ærø"


@pytest.mark.parametrize(
    ("lat", "lon"),
    [("91", "0"), ("-90.0001", "0"), ("0", "180.5"), ("0", "-181"), ("NaN", "0"), ("0", "nan"),
     ("inf", "0"), ("abc", "0"), ("", "0")],
)  # fmt: skip
def test_a_position_out_of_range_or_unreadable_is_refused(lat: str, lon: str) -> None:
    assert refused(atak_sa(lat=lat, lon=lon)) == "bad-point"


def test_edges_of_the_range_are_kept() -> None:
    event = parse_event(atak_sa(lat="-90", lon="180"))
    assert (event.lat, event.lon) == (-90.0, 180.0)


def test_a_missing_point_attribute_is_refused() -> None:
    assert refused(minimal(point='<point lon="2.5"/>')) == "bad-point"


def test_a_missing_or_blank_uid_is_refused() -> None:
    assert refused(atak_sa().replace(b'uid="ANDROID-1" ', b"")) == "no-uid"
    assert refused(atak_sa(uid="  ")) == "no-uid"


def test_a_missing_or_blank_type_is_refused() -> None:
    """An event nothing can route: it was relayed to every client, and counted as the client
    having spoken (so it was served the picture)."""
    assert refused(atak_sa().replace(b'type="a-f-G-U-C" ', b"")) == "no-type"
    assert refused(b'<event version="2.0" uid="x" type=" "/>') == "no-type"
    assert refused(b'<event version="2.0" uid="x"></event>') == "no-type"


def test_an_atom_without_a_point_is_refused_but_a_ping_is_not() -> None:
    no_point = minimal(point="<nothing/>")
    assert refused(no_point) == "no-point"
    ping = parse_event(minimal(uid="ANDROID-1-ping", cot_type="t-x-c-t", point="<nothing/>"))
    assert ping.lat is None and ping.lon is None and not ping.has_point


def test_malformed_xml_wrong_root_and_size() -> None:
    assert refused(b'<event uid="U1"><point lat="1" lon="2"/>') == "xml"
    assert refused(b"") == "xml"
    assert refused(b"\xef\xbb\xbfnot xml at all") == "xml"
    assert refused(b'<auth><cot username="a"/></auth>') == "not-event"
    big = minimal(detail="<remarks>" + "x" * 70000 + "</remarks>")
    assert refused(big) == "too-large"
    assert parse_event(big, max_bytes=100_000).remarks == "x" * 70000


# --- bad optional fields become unknown ----------------------------------------------------------


def test_garbled_errors_and_height_are_unknown_but_the_event_is_kept() -> None:
    event = parse_event(atak_sa(point_extra='hae="NaN" ce="abc" le=""'))
    assert (event.hae, event.ce, event.le) == (None, None, None)
    assert (event.lat, event.lon) == (51.4, 35.6)
    assert parse_event(atak_sa(point_extra="")).ce is None


def test_garbled_track_is_unknown() -> None:
    event = parse_event(minimal(detail='<track course="north" speed="inf"/>'))
    assert (event.course, event.speed) == (None, None)


def test_missing_or_garbled_times_are_none() -> None:
    assert parse_event(atak_sa(times="")).time is None
    event = parse_event(atak_sa(times='time="yesterday" start="2026-13-45T00:00:00Z" stale=""'))
    assert (event.time, event.start, event.stale) == (None, None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T07:00:00Z", datetime(2026, 11, 22, 7, 0, tzinfo=UTC)),
        ("2026-11-22T07:00:00.25Z", datetime(2026, 11, 22, 7, 0, 0, 250000, tzinfo=UTC)),
        ("2026-11-22T07:00:00.123456789Z", datetime(2026, 11, 22, 7, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-22T10:00:00+03:00", datetime(2026, 11, 22, 7, 0, tzinfo=UTC)),
        ("2026-11-22T07:00:00", datetime(2026, 11, 22, 7, 0, tzinfo=UTC)),  # CoT time is UTC
        ("2026-11-22t07:00:00z", datetime(2026, 11, 22, 7, 0, tzinfo=UTC)),
        ("2026-11-22", None),
        ("07:00:00", None),
        ("", None),
        (None, None),
        ("2026-11-22T25:00:00Z", None),
        ("2026-11-22T07:00:00+25:00", None),
    ],
)
def test_time_forms(text: str | None, expected: datetime | None) -> None:
    parsed = parse_cot_time(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


# --- builders ----------------------------------------------------------------------------------


def also_read_by_others(data: bytes) -> None:
    """Other parsers agree it is CoT: stdlib ElementTree and takproto (which needs `Z` times)."""
    root = ET.fromstring(data)
    assert root.tag == "event"
    assert takproto.parse_proto(takproto.xml2proto(data, takproto.TAKProtoVer.MESH)) is not None
    assert not data.startswith(b"<?xml")


def test_sa_event_round_trips() -> None:
    data = sa_event(
        "HOLDFIRE", "HOLDFIRE", "a-f-G-U-C-I", 51.4, 35.6, 120.5, 10.0, None, NOW,
        NOW + timedelta(minutes=5), group="Cyan", role="HQ", remarks="fires deconfliction",
    )  # fmt: skip
    also_read_by_others(data)
    event = parse_event(data)
    assert (event.uid, event.callsign, event.type) == ("HOLDFIRE", "HOLDFIRE", "a-f-G-U-C-I")
    assert (event.lat, event.lon, event.hae, event.ce, event.le) == (
        51.4,
        35.6,
        120.5,
        10.0,
        9999999.0,
    )
    assert (event.time, event.stale) == (NOW, NOW + timedelta(minutes=5))
    assert (event.group_name, event.group_role) == ("Cyan", "HQ")
    assert event.endpoint == "*:-1:stcp"
    assert event.remarks == "fires deconfliction"


def test_user_text_is_escaped_and_round_trips() -> None:
    nasty = '<&">\'</event><event uid="x">'
    data = sa_event(
        'U<&">', nasty, "a-f-G", 1.0, 2.0, None, None, None, NOW, NOW, remarks=nasty + "]]>"
    )
    also_read_by_others(data)
    event = parse_event(data)
    assert event.uid == 'U<&">'
    assert event.callsign == nasty
    assert event.remarks == nasty + "]]>"
    assert data.count(b"</event>") == 1


def test_characters_xml_cannot_carry_are_replaced() -> None:
    data = geochat("HOLDFIRE", "HOLDFIRE", "U1", "A\x00B", "bell\x07 end\ud800", NOW, "m1")
    also_read_by_others(data)
    event = parse_event(data)
    assert event.remarks == "bell\ufffd end\ufffd"
    assert event.dest_callsigns == ("A\ufffdB",)


def test_pong() -> None:
    data = pong(NOW)
    also_read_by_others(data)
    event = parse_event(data)
    assert (event.uid, event.type, event.how) == ("takPong", "t-x-c-t-r", "h-g-i-g-o")
    assert event.stale == NOW + timedelta(seconds=20)


def test_protocol_offer_and_response() -> None:
    offer = parse_event(tak_protocol_support("HOLDFIRE", NOW))
    also_read_by_others(tak_protocol_support("HOLDFIRE", NOW))
    assert offer.type == "t-x-takp-v"
    assert offer.tak_control is not None and offer.tak_control.supported_versions == (1,)
    assert (offer.ce, offer.le) == (999999.0, 999999.0)
    for ok in (True, False):
        data = tak_response("HOLDFIRE", NOW, ok)
        also_read_by_others(data)
        answer = parse_event(data)
        assert answer.type == "t-x-takp-r"
        assert answer.tak_control is not None and answer.tak_control.response_status is ok


def test_disconnect_notice() -> None:
    data = disconnect_notice("ANDROID-1", "a-f-G-U-C", NOW)
    also_read_by_others(data)
    event = parse_event(data)
    assert event.type == "t-x-d-d"
    assert event.uid != "ANDROID-1"  # never replaces the leaver's SA in a store keyed by uid
    assert event.links[0].uid == "ANDROID-1"
    assert (event.links[0].type, event.links[0].relation) == ("a-f-G-U-C", "p-p")


def test_delete_event() -> None:
    data = delete_event("danger-area-7", NOW)
    also_read_by_others(data)
    event = parse_event(data)
    assert event.type == "t-x-d-d" and event.link_uids == ("danger-area-7",)
    assert b"<__forcedelete/>" in data
    assert event.stale is not None and event.stale > NOW


def test_geochat_direct_message() -> None:
    data = geochat(
        "HOLDFIRE", "HOLDFIRE", "ANDROID-1", "ALPHA-1", "HOLD: friendly 200 m", NOW, "m42"
    )
    also_read_by_others(data)
    event = parse_event(data)
    assert event.uid == "GeoChat.HOLDFIRE.ANDROID-1.m42"
    assert event.type == "b-t-f"
    chat = event.chat
    assert chat is not None
    assert (chat.chatroom, chat.chat_id, chat.parent) == (
        "ALPHA-1",
        "ANDROID-1",
        "RootContactGroup",
    )
    assert chat.chatgrp_uids == ("HOLDFIRE", "ANDROID-1")
    assert (chat.sender_callsign, chat.message_id, chat.link_uid) == ("HOLDFIRE", "m42", "HOLDFIRE")
    assert chat.text == "HOLD: friendly 200 m"
    assert event.dest_callsigns == ("ALPHA-1",)


def test_geochat_to_a_room() -> None:
    event = parse_event(
        geochat("HOLDFIRE", "HOLDFIRE", "", "", "check fire", NOW, "m1", "All Chat Rooms")
    )
    assert event.chat is not None
    assert (event.chat.chatroom, event.chat.chat_id) == ("All Chat Rooms", "All Chat Rooms")
    assert event.dest_callsigns == ()


def test_circle_shape() -> None:
    data = circle_shape(
        "check-1", 51.4, 35.6, 450.0, 0xFFFF0000, "DANGER 155mm", NOW, NOW + timedelta(minutes=2),
        remarks="red 0.1 % 450 m",
    )  # fmt: skip
    also_read_by_others(data)
    event = parse_event(data)
    assert (event.type, event.callsign, event.lat, event.lon) == (
        "u-d-c-c",
        "DANGER 155mm",
        51.4,
        35.6,
    )
    root = ET.fromstring(data)
    ellipse = root.find("detail/shape/ellipse")
    assert ellipse is not None
    assert float(ellipse.get("major", "nan")) == 450.0
    assert float(ellipse.get("minor", "nan")) == 450.0
    assert root.find("detail/strokeColor").get("value") == str(0xFFFF0000 - (1 << 32))  # type: ignore[union-attr]
    assert root.find("detail/fillColor").get("value") == str(0x40FF0000)  # type: ignore[union-attr]
    assert root.find("detail/shape/link/Style/LineStyle/color").text == "ffff0000"  # type: ignore[union-attr]
    assert root.find("detail/labels_on").get("value") == "true"  # type: ignore[union-attr]
    assert event.remarks == "red 0.1 % 450 m"
    with pytest.raises(ValueError, match="radius"):
        circle_shape("c", 0, 0, math.nan, 0, "x", NOW, NOW)


def test_builders_refuse_what_would_be_invalid_cot() -> None:
    with pytest.raises(ValueError, match="position"):
        sa_event("U", "U", "a-f-G", 91.0, 0.0, None, None, None, NOW, NOW)
    with pytest.raises(ValueError, match="aware"):
        pong(datetime(2026, 11, 22))
    offset = datetime(2026, 11, 22, 10, tzinfo=timezone(timedelta(hours=3)))
    assert parse_event(pong(offset)).time == datetime(2026, 11, 22, 7, tzinfo=UTC)


def test_parse_auth() -> None:
    auth = parse_auth(b'<auth><cot username="alice" password="s3cret" uid="ANDROID-1"/></auth>')
    assert (auth.username, auth.password, auth.uid) == ("alice", "s3cret", "ANDROID-1")
    assert "s3cret" not in repr(auth)
    with pytest.raises(CotError) as info:
        parse_auth(atak_sa())
    assert info.value.reason == "not-auth"


def test_equality_is_semantic() -> None:
    one = parse_event(atak_sa(prolog=True))
    two = parse_event(atak_sa(prolog=False))
    assert one == two and one.raw != two.raw
    assert isinstance(one, CotEvent) and one.xml_bytes() == two.xml_bytes()

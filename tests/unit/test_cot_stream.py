"""Stream framing and TAK protocol negotiation (holdfire.codecs.cot_stream)."""

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from takproto.proto.takmessage_pb2 import TakMessage

from holdfire.codecs.cot_stream import (
    FramingError,
    Negotiation,
    ProtoStreamFramer,
    StreamMode,
    XmlFramer,
    decode_mesh,
    decode_varint,
    encode_mesh,
    encode_stream,
    encode_varint,
    is_auth_frame,
)
from holdfire.codecs.cot_xml import parse_event

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
PROLOG = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


def event(uid: str, remarks: str = "ok") -> bytes:
    return (
        f'<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="m-g" '
        f'time="2026-11-22T07:00:00.000Z" start="2026-11-22T07:00:00.000Z" '
        f'stale="2026-11-22T07:01:00.000Z"><point lat="51.4" lon="35.6" hae="12.0" ce="9.9" '
        f'le="9999999.0"/><detail><contact callsign="{uid}" endpoint="*:-1:stcp"/>'
        f"<remarks>{remarks}</remarks></detail></event>"
    ).encode()


A, B = event("ANDROID-A"), event("ANDROID-B", "second &lt;/event&gt; look-alike")
STREAM = PROLOG + A + b"\n" + PROLOG + b"\r\n" + B + b"\n"


def frames_of(framer: XmlFramer, chunks: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out += framer.feed(chunk)
    return out


# --- XML framer --------------------------------------------------------------------------------


def test_two_events_split_at_every_byte_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        framer = XmlFramer()
        frames = frames_of(framer, [STREAM[:cut], STREAM[cut:]])
        assert frames == [A, B], f"split at {cut}"
        assert (framer.events, framer.oversized, framer.garbage_bytes) == (2, 0, 0)
        assert framer.buffered == 0


def test_byte_by_byte_and_all_at_once_agree() -> None:
    framer = XmlFramer()
    one_by_one = frames_of(framer, [STREAM[i : i + 1] for i in range(len(STREAM))])
    assert one_by_one == XmlFramer().feed(STREAM) == [A, B]
    assert [parse_event(f).uid for f in one_by_one] == ["ANDROID-A", "ANDROID-B"]


def test_what_follows_an_unclosed_prolog_does_not_depend_on_the_reads() -> None:
    # Found by fuzzing: read at once, a prolog that never closes swallowed everything up to the
    # next <event>, a whole <auth> included; read in pieces, the <auth> was framed.
    auth = b'<auth><cot username="a" password="p" uid="ANDROID-A"/></auth>'
    stream = b'<?xml version="1.0"' + b" " * 1100 + auth + b"\n" + A
    whole = XmlFramer().feed(stream)
    assert whole == [auth, A]
    assert frames_of(XmlFramer(), [stream[i : i + 7] for i in range(0, len(stream), 7)]) == whole


def test_an_unclosed_prolog_is_held_no_longer_than_a_frame() -> None:
    # Found by fuzzing: a small frame limit did not bound a prolog still waiting for its "?>".
    framer = XmlFramer(max_event_bytes=64)
    for byte in b'<?xml version="1.0"' + b" " * 200:
        framer.feed(bytes([byte]))
        assert framer.buffered <= 64 + 1
    small = b'<event uid="x"></event>'
    assert framer.feed(small) == [small]


def test_three_way_splits_around_the_end_tag() -> None:
    end = STREAM.index(b"</event>")
    for first in range(end - 2, end + 9):
        for second in range(first, end + 10):
            chunks = [STREAM[:first], STREAM[first:second], STREAM[second:]]
            assert frames_of(XmlFramer(), chunks) == [A, B]


def test_an_oversized_event_is_dropped_and_the_next_one_delivered() -> None:
    big = event("BIG", "x" * 5000)
    framer = XmlFramer(max_event_bytes=1024)
    assert framer.feed(A + big + B) == [A, B]
    assert framer.oversized == 1
    assert framer.garbage_bytes >= 5000


def test_an_oversized_event_arriving_slowly_never_grows_the_buffer() -> None:
    big = PROLOG + event("BIG", "y" * 20000)
    data = A + big + B + A
    framer = XmlFramer(max_event_bytes=1024)
    frames: list[bytes] = []
    peak = 0
    for i in range(0, len(data), 100):
        frames += framer.feed(data[i : i + 100])
        peak = max(peak, framer.buffered)
    assert frames == [A, B, A]
    assert framer.oversized == 1
    assert peak <= 1024 + 100


def test_an_unterminated_oversized_event_resyncs_at_the_next_event() -> None:
    framer = XmlFramer(max_event_bytes=1024)
    frames = frames_of(framer, [b'<event uid="runaway">' + b"z" * 3000, PROLOG + B])
    assert frames == [B]
    assert framer.oversized == 1


def test_a_cut_short_event_does_not_swallow_the_next() -> None:
    truncated = A[: len(A) // 2]
    framer = XmlFramer()
    assert framer.feed(truncated + B) == [B]
    assert framer.garbage_bytes == len(truncated.translate(None, b" \t\r\n"))
    assert frames_of(XmlFramer(), [truncated, PROLOG, B]) == [B]


def test_garbage_between_events_is_skipped_and_counted() -> None:
    framer = XmlFramer()
    noise = b"  hello\x00\xff <not-cot/> </event> <eventually>\n"
    assert framer.feed(A + noise + B) == [A, B]
    assert framer.garbage_bytes == len(noise.translate(None, b" \t\r\n"))


def test_auth_frames_are_passed_through_tagged() -> None:
    auth = b'<auth><cot username="alice" password="pw" uid="ANDROID-A"/></auth>'
    framer = XmlFramer()
    frames = framer.feed(PROLOG + auth + A)
    assert frames == [auth, A]
    assert is_auth_frame(frames[0]) and not is_auth_frame(frames[1])
    assert (framer.auth_frames, framer.events) == (1, 1)


def test_take_remainder_hands_over_unframed_bytes() -> None:
    framer = XmlFramer()
    framer.push(A + b"\xbf\x05hello")
    assert framer.pop() == A
    assert framer.take_remainder() == b"\xbf\x05hello"  # pop() stops right after the frame
    assert framer.buffered == 0
    assert framer.feed(B) == [B]


# --- protobuf stream framer ----------------------------------------------------------------------

PAYLOADS = [b"", b"x", b"a" * 127, b"b" * 128, b"c" * 300]
PROTO_STREAM = b"".join(encode_stream(p) for p in PAYLOADS)


def test_varints() -> None:
    for value in (0, 1, 127, 128, 300, 65536, 2**63):
        encoded = encode_varint(value)
        assert decode_varint(encoded) == (value, len(encoded))
        assert decode_varint(encoded[:-1]) is None
    assert encode_varint(300) == b"\xac\x02"
    with pytest.raises(FramingError) as info:
        decode_varint(b"\xff" * 10 + b"\x01")
    assert info.value.reason == "varint"


def test_proto_stream_split_at_every_byte_boundary() -> None:
    for cut in range(len(PROTO_STREAM) + 1):
        framer = ProtoStreamFramer()
        out = framer.feed(PROTO_STREAM[:cut]) + framer.feed(PROTO_STREAM[cut:])
        assert out == PAYLOADS, f"split at {cut}"
        assert framer.buffered == 0


def test_proto_stream_byte_by_byte() -> None:
    framer = ProtoStreamFramer()
    out: list[bytes] = []
    for i in range(len(PROTO_STREAM)):
        out += framer.feed(PROTO_STREAM[i : i + 1])
    assert out == PAYLOADS


def test_an_oversized_length_is_fatal() -> None:
    framer = ProtoStreamFramer(max_payload_bytes=1000)
    assert framer.feed(encode_stream(b"k" * 1000)) == [b"k" * 1000]
    with pytest.raises(FramingError) as info:
        framer.feed(b"\xbf" + encode_varint(1001))
    assert info.value.reason == "too-large"
    with pytest.raises(FramingError):
        framer.feed(encode_stream(b"fine"))  # the connection is done


def test_a_huge_length_fails_before_its_varint_is_complete() -> None:
    framer = ProtoStreamFramer(max_payload_bytes=1000)
    with pytest.raises(FramingError) as info:
        framer.feed(b"\xbf\xff\xff\xff")
    assert info.value.reason == "too-large"


def test_a_varint_over_ten_bytes_is_fatal() -> None:
    framer = ProtoStreamFramer(max_payload_bytes=2**70)
    with pytest.raises(FramingError) as info:
        framer.feed(b"\xbf" + b"\x80" * 10 + b"\x00")
    assert info.value.reason == "varint"


def test_a_missing_magic_byte_is_fatal() -> None:
    framer = ProtoStreamFramer()
    with pytest.raises(FramingError) as info:
        framer.feed(b"\x00" + encode_stream(b"two"))
    assert info.value.reason == "magic"


def test_payloads_before_a_fault_in_the_same_read_are_kept() -> None:
    # Found by fuzzing: a good payload read together with the garbage after it was lost, so
    # what got through depended on where the reads were cut.
    framer = ProtoStreamFramer()
    assert framer.feed(encode_stream(b"one") + b"\x00" + encode_stream(b"two")) == [b"one"]
    assert framer.failed is not None and framer.failed.reason == "magic"
    assert framer.buffered == 0
    with pytest.raises(FramingError) as info:
        framer.feed(encode_stream(b"three"))
    assert info.value.reason == "magic"


def test_mesh_datagrams() -> None:
    assert encode_mesh(b"payload") == b"\xbf\x01\xbfpayload"
    assert decode_mesh(encode_mesh(b"payload")) == b"payload"
    for bad, reason in [
        (b"<event/>", "magic"),
        (b"\xbf\x02\xbfpayload", "version"),
        (b"\xbf\x01\x00payload", "magic"),
        (b"\xbf\x81\x81", "truncated"),
    ]:
        with pytest.raises(FramingError) as info:
            decode_mesh(bad)
        assert info.value.reason == reason


# --- negotiation -------------------------------------------------------------------------------


def request(version: int = 1) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><event version="2.0" uid="ANDROID-A" '
        f'type="t-x-takp-q" how="m-g" time="2026-11-22T07:00:00Z" start="2026-11-22T07:00:00Z" '
        f'stale="2026-11-22T07:01:00Z"><point lat="0.0" lon="0.0" hae="0.0" ce="999999" '
        f'le="999999"/><detail><TakControl><TakRequest version="{version}"/></TakControl>'
        f"</detail></event>"
    ).encode()


def proto_payload(uid: str) -> bytes:
    message = TakMessage()
    message.cotEvent.uid = uid
    message.cotEvent.type = "a-f-G-U-C"
    data: bytes = message.SerializeToString()
    return data


def test_offer_is_sent_once() -> None:
    conn = Negotiation("HOLDFIRE")
    offer = conn.offer(NOW)
    assert offer is not None
    sent = parse_event(offer)
    assert (sent.uid, sent.type) == ("HOLDFIRE", "t-x-takp-v")
    assert conn.offer(NOW) is None
    assert Negotiation("HOLDFIRE", protobuf=False).offer(NOW) is None


def test_request_followed_by_protobuf_in_the_same_read() -> None:
    conn = Negotiation("HOLDFIRE")
    conn.offer(NOW)
    p1, p2 = proto_payload("ANDROID-A"), proto_payload("ANDROID-B")
    tail = encode_stream(p1) + encode_stream(p2)[:3]
    got = conn.feed(A + request() + tail, NOW)
    assert got.xml_frames == (A,)  # the request itself is consumed
    assert got.proto_payloads == (p1,)
    answer = parse_event(got.reply)
    assert (answer.uid, answer.type) == ("HOLDFIRE", "t-x-takp-r")
    assert answer.tak_control is not None and answer.tak_control.response_status is True
    assert conn.inbound is StreamMode.PROTOBUF and conn.outbound is StreamMode.PROTOBUF
    later = conn.feed(encode_stream(p2)[3:], NOW)
    assert later.proto_payloads == (p2,) and later.reply == b""
    assert conn.failed is None


def test_garbage_right_after_the_switch_keeps_the_frames_and_the_reply() -> None:
    conn = Negotiation("HOLDFIRE")
    got = conn.feed(A + request() + b"<event garbage", NOW)
    assert got.xml_frames == (A,)
    assert parse_event(got.reply).type == "t-x-takp-r"
    assert conn.failed is not None and conn.failed.reason == "magic"
    with pytest.raises(FramingError):
        conn.feed(encode_stream(proto_payload("ANDROID-B")), NOW)


def test_request_split_across_reads_at_every_byte() -> None:
    data = request() + encode_stream(proto_payload("X"))
    for cut in range(len(data) + 1):
        conn = Negotiation("HOLDFIRE")
        first = conn.feed(data[:cut], NOW)
        second = conn.feed(data[cut:], NOW)
        assert first.proto_payloads + second.proto_payloads == (proto_payload("X"),)
        assert (first.reply + second.reply).count(b"t-x-takp-r") == 1


def test_an_unsupported_version_is_declined_and_xml_goes_on() -> None:
    conn = Negotiation("HOLDFIRE")
    got = conn.feed(request(version=2) + B, NOW)
    answer = parse_event(got.reply)
    assert answer.tak_control is not None and answer.tak_control.response_status is False
    assert got.xml_frames == (B,)
    assert conn.inbound is StreamMode.XML and conn.outbound is StreamMode.XML


def test_protobuf_disabled_declines() -> None:
    conn = Negotiation("HOLDFIRE", protobuf=False)
    got = conn.feed(request(), NOW)
    assert got.reply and conn.inbound is StreamMode.XML
    assert parse_event(got.reply).tak_control.response_status is False  # type: ignore[union-attr]


def test_a_client_opening_with_protobuf_is_read_as_protobuf() -> None:
    conn = Negotiation("HOLDFIRE")
    got = conn.feed(b"\n" + encode_stream(proto_payload("P")), NOW)
    assert got.proto_payloads == (proto_payload("P"),)
    assert conn.inbound is StreamMode.PROTOBUF
    assert conn.outbound is StreamMode.XML  # it never asked for protobuf


def test_ordinary_xml_passes_through() -> None:
    conn = Negotiation("HOLDFIRE")
    got = conn.feed(STREAM, NOW)
    assert got.xml_frames == (A, B) and got.reply == b"" and got.proto_payloads == ()


GARBAGE = [b"junk", b" ", b"\r\n", b"<", b"<?xml", b"<?xml version='1.0'?>", b"<event x",
           b"<event", b"</event>", b"<auth", b"\xbf\x05", b">", b"<eventually>", b"&amp;",
           b"\xff\xfe"]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(
        st.one_of(st.sampled_from([A, B, PROLOG + A]), st.sampled_from(GARBAGE)), max_size=12
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=6),
)
def test_garbage_never_costs_a_good_event(items: list[bytes], cuts: list[int]) -> None:
    data = b"".join(items)
    good = [A if item == PROLOG + A else item for item in items if item in (A, B, PROLOG + A)]
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    framer = XmlFramer()
    frames = frames_of(framer, [data[i:j] for i, j in itertools.pairwise(bounds)])
    frames += framer.feed(b"\n")  # nothing is held back once the stream goes quiet
    remaining = iter(frames)
    assert all(any(frame == wanted for frame in remaining) for wanted in good), (data, frames)
    assert framer.buffered <= len(b"<event x<auth<?xml") + 16

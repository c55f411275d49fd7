"""Outgoing events, per-client lanes and the offline mailbox (holdfire.adapters.net.cot_routing)."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from takproto.proto.takmessage_pb2 import TakMessage

from holdfire.adapters.net import cot_routing
from holdfire.adapters.net.cot_routing import XML_DECLARATION, Mailbox, Outgoing, Sink
from holdfire.codecs.cot_stream import ProtoStreamFramer, StreamMode
from holdfire.codecs.cot_xml import CotError, parse_event, sa_event

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def sa(uid: str, lat: float = 51.0) -> Outgoing:
    xml = sa_event(
        uid, uid.upper(), "a-f-G-U-C", lat, 35.0, None, 5.0, None, NOW, NOW + timedelta(minutes=1)
    )
    return Outgoing(xml, parse_event(xml))


class Wire:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def __call__(self, data: bytes) -> None:
        self.chunks.append(data)


def uids(chunks: list[bytes]) -> list[str]:
    return [parse_event(c.removeprefix(XML_DECLARATION)).uid for c in chunks]


# --- Outgoing -----------------------------------------------------------------------------------


def test_outgoing_xml_is_the_bare_event_and_declared_on_request() -> None:
    out = sa("a")
    assert out.encoded(StreamMode.XML) == out.xml
    assert out.xml.startswith(b"<event")
    declared = out.encoded(StreamMode.XML, declared=True)
    assert declared.startswith(b"<?xml") and declared.endswith(out.xml)


def test_outgoing_protobuf_is_one_stream_frame_built_once() -> None:
    out = sa("a", 51.25)
    frame = out.encoded(StreamMode.PROTOBUF)
    assert out.encoded(StreamMode.PROTOBUF) is frame
    (payload,) = ProtoStreamFramer().feed(frame)
    message = TakMessage.FromString(payload)
    assert message.cotEvent.uid == "a" and message.cotEvent.lat == pytest.approx(51.25)
    # an event the server built (no parsed event given) is parsed when first needed
    bare = Outgoing(out.xml)
    assert bare.encoded(StreamMode.PROTOBUF) == frame


# --- Sink ---------------------------------------------------------------------------------------


def test_a_sink_writes_at_once_while_the_transport_takes_it() -> None:
    wire = Wire()
    sink = Sink(wire, must_limit=10)
    sink.send_sa("a", sa("a"))
    assert sink.send_message(sa("m"))
    assert uids(wire.chunks) == ["a", "m"]
    assert not sink.sa and not sink.messages


def test_a_paused_sink_coalesces_sa_per_uid_and_queues_every_message() -> None:
    wire = Wire()
    sink = Sink(wire, must_limit=10)
    sink.paused = True
    for n in range(100):
        sink.send_sa(f"u{n % 3}", sa(f"u{n % 3}", 50.0 + n / 1000))
    for n in range(5):
        assert sink.send_message(sa(f"m{n}"))
    assert not wire.chunks
    assert len(sink.sa) == 3 and len(sink.messages) == 5
    sink.paused = False
    sink.flush()
    # messages first and in order, then the latest SA of each uid
    assert uids(wire.chunks) == ["m0", "m1", "m2", "m3", "m4", "u1", "u2", "u0"]
    last = parse_event(wire.chunks[-1])
    assert last.lat == pytest.approx(50.099)


def test_a_message_never_overtakes_one_queued_before_it() -> None:
    wire = Wire()
    sink = Sink(wire, must_limit=10)
    sink.paused = True
    sink.send_message(sa("m0"))
    sink.paused = False  # resumed, but not flushed yet
    sink.send_message(sa("m1"))
    assert not wire.chunks
    sink.flush()
    assert uids(wire.chunks) == ["m0", "m1"]


def test_flush_stops_when_the_transport_pushes_back_again() -> None:
    sink: Sink

    def write(data: bytes) -> None:
        wire.append(data)
        if len(wire) == 2:
            sink.paused = True

    wire: list[bytes] = []
    sink = Sink(write, must_limit=10)
    sink.paused = True
    for n in range(4):
        sink.send_message(sa(f"m{n}"))
    sink.paused = False
    sink.flush()
    assert uids(wire) == ["m0", "m1"]
    assert [parse_event(o.xml).uid for o in sink.messages] == ["m2", "m3"]


def test_a_sink_over_its_message_limit_says_so_and_keeps_the_message() -> None:
    sink = Sink(Wire(), must_limit=3)
    sink.paused = True
    assert all(sink.send_message(sa(f"m{n}")) for n in range(3))
    assert not sink.send_message(sa("m3"))
    assert sink.overflowed and len(sink.messages) == 4


def test_a_closed_sink_writes_nothing_and_holds_messages_for_the_mailbox() -> None:
    wire = Wire()
    sink = Sink(wire, must_limit=3)
    sink.closed = True
    sink.send_sa("a", sa("a"))
    sink.send_message(sa("m"))
    sink.flush()
    assert not wire.chunks and not sink.sa
    assert [parse_event(o.xml).uid for o in sink.messages] == ["m"]


def test_a_sink_writes_its_clients_encoding() -> None:
    wire = Wire()
    sink = Sink(wire, must_limit=3)
    sink.mode = StreamMode.PROTOBUF
    sink.send_sa("a", sa("a"))
    assert wire.chunks[0][:1] == b"\xbf"
    sink.mode = StreamMode.XML
    sink.declared = True
    sink.send_sa("a", sa("a"))
    assert wire.chunks[1].startswith(XML_DECLARATION)


def test_an_event_that_cannot_be_encoded_is_counted_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(_: object) -> bytes:
        raise CotError("too-large", "no")

    monkeypatch.setattr(cot_routing, "event_to_proto", refuse)
    wire = Wire()
    sink = Sink(wire, must_limit=3)
    sink.mode = StreamMode.PROTOBUF
    sink.send_sa("a", sa("a"))
    assert sink.send_message(sa("m"))
    assert not wire.chunks and sink.failed == 2


# --- Mailbox ------------------------------------------------------------------------------------


def test_the_mailbox_keeps_messages_in_order_until_taken() -> None:
    box = Mailbox(ttl_s=60.0)
    for n in range(3):
        box.keep("u", sa(f"m{n}"))
    box.keep("v", sa("x"))
    assert box.waiting("u") == 3 and box.size == 4
    assert [parse_event(o.xml).uid for o in box.take("u")] == ["m0", "m1", "m2"]
    assert box.take("u") == [] and box.size == 1


def test_the_mailbox_forgets_expired_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    box = Mailbox(ttl_s=10.0)
    box.keep("u", sa("old"))
    clock[0] += 5
    box.keep("u", sa("new"))
    box.keep("v", sa("gone"))
    clock[0] += 6
    assert [parse_event(o.xml).uid for o in box.take("u")] == ["new"]
    box.prune()
    assert box.waiting("v") == 1
    clock[0] += 10
    box.prune()
    assert not box.boxes and box.size == 0


def test_the_mailbox_is_bounded_per_uid_and_in_all() -> None:
    box = Mailbox(ttl_s=60.0, limit=3, total_limit=5)
    for n in range(5):
        box.keep("u", sa(f"u{n}"))
    assert [parse_event(o.xml).uid for o in box.take("u")] == ["u2", "u3", "u4"]
    assert box.dropped == 2
    for name in ("a", "b", "c"):
        for n in range(2):
            box.keep(name, sa(f"{name}{n}"))
    # six kept, limit five: the oldest message overall ("a0") goes
    assert box.size == 5 and box.dropped == 3
    assert [parse_event(o.xml).uid for o in box.take("a")] == ["a1"]

"""Fuzz target: TAK protocol v1 bytes: stream framing, mesh datagrams and TakMessage payloads.

Properties: the framers raise only ``FramingError`` (a ``CotError`` for a payload), hold at most
one frame's worth of bytes, and frame a stream the same however it is cut into reads; a payload
that reads as an event is a fixed point of event → protobuf → event.
"""

import contextlib

from harness import CORPUS, fuzz, instrumented, reads

with instrumented():
    from holdfire.codecs.cot_stream import (
        FramingError,
        ProtoStreamFramer,
        decode_mesh,
        encode_mesh,
        encode_stream,
    )
    from holdfire.codecs.cot_xml import CotError, parse_event
    from holdfire.codecs.tak_proto import event_to_proto, proto_to_event

MAX_PAYLOAD = 4096


def frames(data: bytes, cuts: list[tuple[int, int]]) -> tuple[list[bytes], bool]:
    """The payloads framed from `data` read as `cuts` says, and whether it failed."""
    framer = ProtoStreamFramer(MAX_PAYLOAD)
    out: list[bytes] = []
    for start, stop in cuts:
        try:
            out += framer.feed(data[start:stop])
        except FramingError:
            return out, True
        assert framer.buffered <= MAX_PAYLOAD + 11 + (stop - start)
    return out, framer.failed is not None


def read_payload(payload: bytes) -> None:
    try:
        event = proto_to_event(payload)
    except CotError:
        return
    again = proto_to_event(event_to_proto(event))
    assert again == event, (again, event)


def test_one(data: bytes) -> None:
    whole, failed = frames(data, [(0, len(data))])
    split = frames(data, reads(len(data), data[0] if data else 0))
    assert split == (whole, failed), (split, whole, failed)
    for payload in whole:
        assert len(payload) <= MAX_PAYLOAD
        read_payload(payload)
    with contextlib.suppress(FramingError):
        read_payload(decode_mesh(data))
    read_payload(data)


def seeds() -> list[bytes]:
    payloads = []
    for path in sorted((CORPUS / "cot").iterdir()):
        try:
            payloads.append(event_to_proto(parse_event(path.read_bytes())))
        except CotError:
            continue  # <auth> has no protobuf form
    return [*payloads, *map(encode_mesh, payloads), b"".join(map(encode_stream, payloads))]


if __name__ == "__main__":
    fuzz(test_one, seeds())

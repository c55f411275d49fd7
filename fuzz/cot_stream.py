"""Fuzz target: the CoT XML stream framer and TAK protocol negotiation, fed arbitrary reads.

The first two bytes choose the frame limit and where the reads are cut (``harness.reads``); the
rest is the stream. Properties: nothing raises but ``FramingError`` (after a switch to
protobuf); every frame starts with ``<event`` or ``<auth`` and fits the limit; the bytes held
stay within the limit plus one read; the frames do not depend on where the reads were cut.
"""

from datetime import UTC, datetime

from harness import CORPUS, fuzz, instrumented, reads

with instrumented():
    from holdfire.codecs.cot_stream import FramingError, Negotiation, XmlFramer

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def framed(stream: bytes, limit: int, cuts: list[tuple[int, int]]) -> list[bytes]:
    framer = XmlFramer(limit)
    out: list[bytes] = []
    for start, stop in cuts:
        chunk = stream[start:stop]
        out += framer.feed(chunk)
        assert framer.buffered <= limit + len(chunk), (framer.buffered, limit)
    for frame in out:
        assert frame.startswith((b"<event", b"<auth")), frame[:20]
        assert len(frame) <= limit
    return out


def negotiate(stream: bytes, cuts: list[tuple[int, int]]) -> None:
    conn = Negotiation("HOLDFIRE", max_event_bytes=4096, max_payload_bytes=4096)
    conn.offer(NOW)
    for start, stop in cuts:
        try:
            conn.feed(stream[start:stop], NOW)
        except FramingError:
            return


def test_one(data: bytes) -> None:
    if len(data) < 2:
        return
    limit = 64 + data[0] * 16
    stream = data[2:]
    cuts = reads(len(stream), data[1])
    whole = framed(stream, limit, [(0, len(stream))])
    assert framed(stream, limit, cuts) == whole
    negotiate(stream, cuts)


def seeds() -> list[bytes]:
    events = [path.read_bytes() for path in sorted((CORPUS / "cot").iterdir())]
    return [b"\xff\x07" + b"\n".join(events[:6]), *(b"\x40\x10" + event for event in events)]


if __name__ == "__main__":
    fuzz(test_one, seeds(), max_len=8 * 1024)

"""TAK stream framing and protocol negotiation (sans-I/O: bytes in, frames and replies out).

Three pieces, each owned by one connection:

``XmlFramer``
    Splits an XML CoT stream into frames. A frame is the exact bytes of one ``<event …>…</event>``
    or one ``<auth>…</auth>`` (TAK's login message), from its ``<`` to its closing tag: a leading
    ``<?xml …?>`` prolog and whitespace between messages are dropped, so every frame starts with
    ``<event`` or ``<auth`` (use :func:`is_auth_frame`). Reads may be split anywhere, including
    inside ``</event>``. Limits, so nothing grows without bound and no following good event is
    lost:

    - a frame longer than ``max_event_bytes`` (default 64 KiB) is dropped and counted
      (``oversized``); while it is still arriving its bytes are discarded as they come, up to its
      ``</event>`` or to the next ``<event``/``<?xml`` that starts a new message;
    - a frame that is cut short by the start of a new message (``<event a…<event b…</event>``)
      is dropped as garbage, and the new message is read;
    - bytes outside any frame are skipped; non-whitespace ones are counted (``garbage_bytes``).

    Memory held is at most ``max_event_bytes`` plus one read. ``feed(data)`` returns every
    complete frame; ``push``/``pop`` do the same one frame at a time, and ``take_remainder()``
    hands over the bytes not yet framed (used when the connection switches to protobuf).

``ProtoStreamFramer``
    TAK protocol v1 stream framing: ``0xbf``, an unsigned protobuf varint length (at most 10
    bytes), then the payload (a serialized ``TakMessage``), repeated. A missing magic byte, a
    varint longer than 10 bytes or a length over ``max_payload_bytes`` (default 64 KiB) cannot be
    resynchronised: it raises :class:`FramingError`, and the caller closes the connection. The
    payloads that came whole before the fault are never lost, wherever the reads were cut: a
    ``feed`` that framed some of them returns them and sets ``failed``, and the next one raises.
    ``encode_stream``, ``encode_mesh`` and ``decode_mesh`` (``0xbf 0x01 0xbf`` + payload, one
    message per UDP datagram) complete the set.

``Negotiation``
    The server side of TAK protocol negotiation for one streaming connection; see its docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from holdfire.codecs.cot_xml import MAX_EVENT_BYTES, CotError, parse_event, tak_protocol_support
from holdfire.codecs.cot_xml import tak_response as tak_response_event
from holdfire.codecs.json import CodecError

__all__ = [
    "MAGIC",
    "MAX_PAYLOAD_BYTES",
    "FramingError",
    "Negotiation",
    "ProtoStreamFramer",
    "Received",
    "StreamMode",
    "XmlFramer",
    "decode_mesh",
    "decode_varint",
    "encode_mesh",
    "encode_stream",
    "encode_varint",
    "is_auth_frame",
]

MAGIC = 0xBF
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_VARINT_BYTES = 10
_MAX_PROLOG_BYTES = 1024

_EVENT_START = b"<event"
_EVENT_END = b"</event>"
_AUTH_START = b"<auth"
_AUTH_END = b"</auth>"
_PROLOG_START = b"<?xml"
_DELIMITERS = frozenset(b" \t\r\n>/")
_WHITESPACE = b" \t\r\n"
_OVERLAP = len(_EVENT_END) - 1  # bytes kept to find a token split across reads


class FramingError(CodecError):
    """The byte stream cannot be framed any more (fatal for the connection)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)

    @property
    def reason(self) -> str:
        return self.field


def is_auth_frame(frame: bytes) -> bool:
    """True for an ``<auth>`` frame from :class:`XmlFramer` (every other frame is an event)."""
    return frame.startswith(_AUTH_START)


# ---------------------------------------------------------------------------------------------
# XML


def _find_start(buf: bytearray, lo: int, hi: int) -> int:
    """Index of the first ``<event``+delimiter or ``<?xml`` in buf[lo:hi], else -1.

    An ``<event`` whose next byte has not arrived yet does not count (it is found again on the
    next call, which rescans the last few bytes).
    """
    best = buf.find(_PROLOG_START, lo, hi)
    if best >= 0:
        hi = best
    size = len(buf)
    index = lo
    while True:
        index = buf.find(_EVENT_START, index, hi)
        if index < 0:
            return best
        after = index + len(_EVENT_START)
        if after < size and buf[after] in _DELIMITERS:
            return index
        index += 1


def _opening(buf: bytearray, pos: int) -> tuple[str, bytes]:
    """Classify the ``<`` at pos: ("event"|"auth", end token), ("prolog"|"more"|"junk", b"")."""
    head = bytes(buf[pos : pos + 7])
    for token, kind, end in ((_EVENT_START, "event", _EVENT_END), (_AUTH_START, "auth", _AUTH_END)):
        if head.startswith(token):
            if len(head) == len(token):
                return "more", b""
            return (kind, end) if head[len(token)] in _DELIMITERS else ("junk", b"")
    if head.startswith(_PROLOG_START):
        return "prolog", b""
    if any(token.startswith(head) for token in (_EVENT_START, _AUTH_START, _PROLOG_START)):
        return "more", b""  # a token still arriving
    return "junk", b""


class XmlFramer:
    """Split an XML CoT stream into ``<event>`` / ``<auth>`` frames, with a size bound."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 64:
            raise ValueError("max_event_bytes must be at least 64")
        self.max_event_bytes = max_event_bytes
        self._max_prolog = min(_MAX_PROLOG_BYTES, max_event_bytes)  # the memory bound holds
        self._buf = bytearray()
        self._pos = 0  # first byte not consumed
        self._scan = 0  # where the search for the current frame's end resumes (0: from its start)
        self._discard_end: bytes | None = None  # set while an oversized frame is being dropped
        self.events = 0
        self.auth_frames = 0
        self.oversized = 0
        self.garbage_bytes = 0  # non-whitespace bytes dropped (oversized and cut-short frames too)

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf) - self._pos

    @property
    def mid_frame(self) -> bool:
        """A frame has begun and is not finished (held, or being dropped as oversized)."""
        return self.buffered > 0 or self._discard_end is not None

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every frame now complete, in order."""
        self.push(data)
        frames = []
        while (frame := self.pop()) is not None:
            frames.append(frame)
        return frames

    def push(self, data: bytes) -> None:
        self._buf += data

    def take_remainder(self) -> bytes:
        """Return the bytes not framed yet and forget them (the framer starts afresh)."""
        rest = bytes(self._buf[self._pos :])
        self._buf = bytearray()
        self._pos = self._scan = 0
        self._discard_end = None
        return rest

    def pop(self) -> bytes | None:
        """The next complete frame, or None when more bytes are needed."""
        buf = self._buf
        while True:
            size = len(buf)
            pos = self._pos
            if self._discard_end is not None:
                if self._discarding(buf, pos, size):
                    continue
                self._wait()
                return None
            lt = buf.find(b"<", pos)
            if lt < 0:
                self._skip(pos, size)
                self._wait()
                return None
            if lt > pos:
                self._skip(pos, lt)
                pos = lt
            kind, end_token = _opening(buf, pos)
            if kind == "more":
                self._wait()
                return None
            if kind == "junk":
                self._skip(pos, pos + 1)
                continue
            if kind == "prolog":
                # Only the prolog's longest span is looked at, however much has arrived, so
                # what is framed after a broken prolog does not depend on how reads were cut.
                window = min(size, pos + self._max_prolog + 1)
                close = buf.find(b"?>", pos + len(_PROLOG_START), window)
                restart = _find_start(buf, pos + 1, close if close >= 0 else window)
                if restart >= 0:  # a broken prolog: a new message starts before it closes
                    self._skip(pos, restart)
                    continue
                if close >= 0:
                    self._pos = close + 2
                    continue
                if size - pos > self._max_prolog:
                    self._skip(pos, pos + 1)
                    continue
                self._wait()
                return None
            frame = self._frame(buf, pos, size, end_token)
            if frame is not None:
                return frame
            if self._pos == pos and self._discard_end is None:
                self._wait()
                return None  # the frame is still arriving

    def _frame(self, buf: bytearray, pos: int, size: int, end_token: bytes) -> bytes | None:
        """Try to cut the frame starting at pos; updates the state when it cannot (yet)."""
        scan = max(self._scan, pos + 1)
        end = buf.find(end_token, scan)
        restart = _find_start(buf, scan, end if end >= 0 else size)
        if restart >= 0:  # a new message starts before this one ended: it was cut short
            self._skip(pos, restart)
            self._scan = 0
            return None
        if end < 0:
            if size - pos > self.max_event_bytes:
                self.oversized += 1
                self._discard_end = end_token
                self._skip(pos, max(pos + 1, size - _OVERLAP))
                self._scan = 0
            else:
                self._scan = max(pos + 1, size - _OVERLAP)
            return None
        stop = end + len(end_token)
        self._scan = 0
        if stop - pos > self.max_event_bytes:
            self.oversized += 1
            self._skip(pos, stop)
            return None
        self._pos = stop
        frame = bytes(buf[pos:stop])
        if end_token == _AUTH_END:
            self.auth_frames += 1
        else:
            self.events += 1
        return frame

    def _discarding(self, buf: bytearray, pos: int, size: int) -> bool:
        """Drop an oversized frame's bytes; True once its end (or a new message) is found."""
        assert self._discard_end is not None
        end = buf.find(self._discard_end, pos)
        restart = _find_start(buf, pos, end if end >= 0 else size)
        if restart >= 0:
            self._skip(pos, restart)
        elif end >= 0:
            self._skip(pos, end + len(self._discard_end))
        else:
            self._skip(pos, max(pos, size - _OVERLAP))
            return False
        self._discard_end = None
        return True

    def _skip(self, lo: int, hi: int) -> None:
        if hi > lo:
            dropped = bytes(self._buf[lo:hi])
            self.garbage_bytes += len(dropped.translate(None, _WHITESPACE))
        self._pos = max(self._pos, hi)

    def _wait(self) -> None:
        """Compact the buffer before waiting for more bytes."""
        pos = self._pos
        if pos:
            del self._buf[:pos]
            self._pos = 0
            if self._scan:
                self._scan = max(0, self._scan - pos)
        return None


# ---------------------------------------------------------------------------------------------
# Protobuf


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varints here are unsigned")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """(value, bytes used) of the varint at start; None if cut short; FramingError past 10 bytes."""
    value = 0
    size = len(data)
    for used in range(MAX_VARINT_BYTES):
        if start + used >= size:
            return None
        byte = data[start + used]
        value |= (byte & 0x7F) << (7 * used)
        if not byte & 0x80:
            return value, used + 1
    raise FramingError("varint", f"varint longer than {MAX_VARINT_BYTES} bytes")


def encode_stream(payload: bytes) -> bytes:
    """One TAK protocol v1 stream message: 0xbf, varint length, payload."""
    return b"\xbf" + encode_varint(len(payload)) + payload


def encode_mesh(payload: bytes) -> bytes:
    """One TAK protocol v1 mesh datagram: 0xbf 0x01 0xbf, payload."""
    return b"\xbf\x01\xbf" + payload


def decode_mesh(datagram: bytes) -> bytes:
    """The TakMessage payload of a mesh datagram; FramingError if the header is not v1 mesh."""
    if len(datagram) < 3 or datagram[0] != MAGIC:
        raise FramingError("magic", "not a TAK protocol mesh datagram (no 0xbf)")
    decoded = decode_varint(datagram, 1)
    if decoded is None:
        raise FramingError("truncated", "mesh header cut short")
    version, used = decoded
    if version != 1:
        raise FramingError("version", f"unsupported TAK protocol version {version}")
    if len(datagram) <= 1 + used or datagram[1 + used] != MAGIC:
        raise FramingError("magic", "mesh header lacks its second 0xbf")
    return bytes(datagram[2 + used :])


class ProtoStreamFramer:
    """Split a TAK protocol v1 stream into TakMessage payloads; any framing fault is fatal."""

    def __init__(self, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        self.max_payload_bytes = max_payload_bytes
        self._buf = bytearray()
        self.payloads = 0
        self.failed: FramingError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        if self.failed is not None:
            raise self.failed
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        size = len(buf)
        try:
            while pos < size:
                if buf[pos] != MAGIC:
                    raise FramingError("magic", f"expected 0xbf, got 0x{buf[pos]:02x}")
                decoded = self._length(buf, pos + 1)
                if decoded is None:
                    break
                length, used = decoded
                start = pos + 1 + used
                stop = start + length
                if stop > size:
                    break
                out.append(bytes(buf[start:stop]))
                pos = stop
        except FramingError as exc:
            self.failed = exc
            self._buf = bytearray()
            if not out:
                raise
            # The payloads before the fault arrived whole: hand them over; the next feed raises.
        if pos and self.failed is None:
            del buf[:pos]
        self.payloads += len(out)
        return out

    def _length(self, buf: bytearray, start: int) -> tuple[int, int] | None:
        decoded = decode_varint(buf, start)
        if decoded is None:
            # A partial varint already over the limit will not shrink: fail now.
            partial = 0
            for used, byte in enumerate(buf[start:]):
                partial |= (byte & 0x7F) << (7 * used)
            if partial > self.max_payload_bytes:
                raise FramingError("too-large", f"payload length over {self.max_payload_bytes}")
            return None
        if decoded[0] > self.max_payload_bytes:
            raise FramingError(
                "too-large", f"payload of {decoded[0]} bytes exceeds {self.max_payload_bytes}"
            )
        return decoded


# ---------------------------------------------------------------------------------------------
# Negotiation


class StreamMode(StrEnum):
    XML = "xml"
    PROTOBUF = "protobuf"


@dataclass(frozen=True, slots=True)
class Received:
    """What one read produced, in stream order: all ``xml_frames`` came before all payloads."""

    xml_frames: tuple[bytes, ...] = ()  # <event> / <auth> frames (see is_auth_frame)
    proto_payloads: tuple[bytes, ...] = ()  # serialized TakMessages (after the switch)
    reply: bytes = b""  # XML to send at once, before anything else (the t-x-takp-r answer)


class Negotiation:
    """Server side of TAK protocol negotiation for one streaming (TCP/TLS) connection.

    Use::

        conn = Negotiation(server_uid="HOLDFIRE")
        send(conn.offer(now))                  # right after connect (or after auth): t-x-takp-v
        for data in reads:
            got = conn.feed(data, now)
            send(got.reply)                    # t-x-takp-r, in XML, before any protobuf output
            for frame in got.xml_frames: ...   # parse_event / parse_auth
            for payload in got.proto_payloads: ...   # tak_proto.proto_to_event
            # encode what you send with conn.outbound: XML bytes, or encode_stream(proto)

    The connection starts in XML both ways. ``offer`` returns the ``t-x-takp-v`` bytes once
    (None afterwards, or when protobuf is disabled). A ``t-x-takp-q`` event is consumed here
    (never returned as a frame): it is answered ``status="true"`` if it requests version 1 and
    protobuf is enabled, else ``"false"``. After "true" both directions are protobuf from the
    next byte, and any bytes that followed the request in the same read are already framed as
    protobuf (the XML framer's remainder moves to the protobuf framer). The request is accepted
    at any time after connect (TAK requires at least 60 s), even before the offer.

    A client that opens with protobuf straight away (its first non-whitespace byte is 0xbf, as
    pytak with ``TAK_PROTO=1`` does) is read as protobuf; the server keeps writing XML to it,
    since it never asked for protobuf. ``FramingError`` from the protobuf framer is fatal: ``feed``
    raises it, or, when the same read also gave frames, payloads or a reply, returns those and
    sets ``failed`` (check it after handling them).
    """

    def __init__(
        self,
        server_uid: str,
        *,
        protobuf: bool = True,
        max_event_bytes: int = MAX_EVENT_BYTES,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.server_uid = server_uid
        self.protobuf = protobuf
        self.xml = XmlFramer(max_event_bytes)
        self.proto = ProtoStreamFramer(max_payload_bytes)
        self.inbound = StreamMode.XML
        self.outbound = StreamMode.XML
        self.offered = False
        self.requests = 0
        self._started = False

    @property
    def failed(self) -> FramingError | None:
        """The protobuf framing fault, once there is one: close the connection."""
        return self.proto.failed

    @property
    def mid_frame(self) -> bool:
        """Part of a frame has arrived and the rest has not."""
        if self.inbound is StreamMode.PROTOBUF:
            return self.proto.buffered > 0
        return self.xml.mid_frame

    def offer(self, now: datetime) -> bytes | None:
        """The ``t-x-takp-v`` offer to send, the first time only (None after, or if disabled)."""
        if self.offered or not self.protobuf or self.outbound is StreamMode.PROTOBUF:
            return None
        self.offered = True
        return tak_protocol_support(self.server_uid, now)

    def feed(self, data: bytes, now: datetime) -> Received:
        if not self._started:
            body = data.lstrip()
            if body:
                self._started = True
                if body[0] == MAGIC:
                    self.inbound = StreamMode.PROTOBUF
                    data = body
        if self.inbound is StreamMode.PROTOBUF:
            return Received(proto_payloads=tuple(self.proto.feed(data)))
        self.xml.push(data)
        frames: list[bytes] = []
        reply = b""
        while (frame := self.xml.pop()) is not None:
            answer = self._request(frame, now) if b"t-x-takp-q" in frame else None
            if answer is None:
                frames.append(frame)
                continue
            reply += answer[0]
            if answer[1]:
                self.inbound = self.outbound = StreamMode.PROTOBUF
                rest = self.xml.take_remainder()
                try:
                    payloads = tuple(self.proto.feed(rest)) if rest else ()
                except FramingError:  # kept in `failed`: the frames and the reply still count
                    payloads = ()
                return Received(tuple(frames), payloads, reply)
        return Received(xml_frames=tuple(frames), reply=reply)

    def _request(self, frame: bytes, now: datetime) -> tuple[bytes, bool] | None:
        """(answer, switch) for a protocol request frame; None if the frame is something else."""
        try:
            event = parse_event(frame, max_bytes=self.xml.max_event_bytes)
        except CotError:
            return None
        if event.type != "t-x-takp-q":
            return None
        self.requests += 1
        version = None if event.tak_control is None else event.tak_control.request_version
        ok = self.protobuf and version == 1
        return tak_response_event(self.server_uid, now, ok), ok

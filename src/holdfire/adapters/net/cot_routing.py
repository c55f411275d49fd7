"""What the CoT server sends where: outgoing events in both encodings, and per-client queues.

A client's outbound side has two lanes. Situational awareness (positions, drawings) is
coalesced: while the socket is backed up only the latest event per uid waits, so a slow reader
costs memory bounded by the number of uids, and the others are never delayed. Messages (chat,
check replies, alerts, emergencies) are never dropped while the client is connected: they queue
in order, and a client whose queue passes its limit is disconnected, its messages kept for it
(`Mailbox`, in memory and bounded) until it reconnects or they expire.
"""

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from holdfire.codecs.cot_stream import StreamMode, encode_stream
from holdfire.codecs.cot_xml import CotEvent, parse_event
from holdfire.codecs.tak_proto import event_to_proto

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


class Outgoing:
    """One event to send; its protobuf frame is built once, the first time a client needs it.

    ``xml`` is one bare ``<event>`` (no declaration). ``encoded(mode, declared=True)`` puts an
    XML declaration in front of it: pytak's protobuf reader (a client that sent protobuf without
    negotiating) only decodes XML that starts with ``<?xml``.
    """

    __slots__ = ("_event", "_proto", "xml")

    def __init__(self, xml: bytes, event: CotEvent | None = None) -> None:
        self.xml = xml
        self._event = event
        self._proto: bytes | None = None

    def encoded(self, mode: StreamMode, *, declared: bool = False) -> bytes:
        if mode is StreamMode.XML:
            return XML_DECLARATION + self.xml if declared else self.xml
        if self._proto is None:
            event = self._event if self._event is not None else parse_event(self.xml)
            self._proto = encode_stream(event_to_proto(event))
        return self._proto


class Sink:
    """The outbound side of one client: a transport plus the two lanes.

    ``paused`` follows the transport's flow control (``pause_writing``/``resume_writing``).
    Once ``closed`` (the connection is going away) nothing more is written: messages are held
    in ``messages`` for the caller to keep in the mailbox, and SA is dropped (the next SA
    replaces it anyway). ``failed`` counts events that could not be encoded for this client,
    ``sent`` those written.
    """

    __slots__ = (
        "_write",
        "closed",
        "declared",
        "failed",
        "messages",
        "mode",
        "must_limit",
        "overflowed",
        "paused",
        "sa",
        "sent",
    )

    def __init__(self, write: Callable[[bytes], None], must_limit: int) -> None:
        self._write = write
        self.mode = StreamMode.XML
        self.declared = False  # write an XML declaration before each XML event
        self.paused = False
        self.closed = False
        self.sa: OrderedDict[str, Outgoing] = OrderedDict()
        self.messages: deque[Outgoing] = deque()
        self.must_limit = must_limit
        self.overflowed = False
        self.failed = 0
        self.sent = 0  # events written to the transport

    def send_sa(self, key: str, out: Outgoing) -> None:
        if self.closed:
            return
        if self.paused:
            self.sa[key] = out  # the latest replaces what was waiting for the same uid
            self.sa.move_to_end(key)
        else:
            self._send(out)

    def send_message(self, out: Outgoing) -> bool:
        """Queue or write a message; False once the client is over its limit."""
        if self.paused or self.messages or self.closed:
            self.messages.append(out)
            if len(self.messages) > self.must_limit:
                self.overflowed = True
                return False
            return True
        self._send(out)
        return True

    def flush(self) -> None:
        """Write what waited, messages first, until the transport pushes back again."""
        while self.messages and not self.paused and not self.closed:
            self._send(self.messages.popleft())
        while self.sa and not self.paused and not self.closed:
            _, out = self.sa.popitem(last=False)
            self._send(out)

    def _send(self, out: Outgoing) -> None:
        try:
            data = out.encoded(self.mode, declared=self.declared)
        except Exception:  # CotError, or a codec bug: this client's copy only, never the others'
            self.failed += 1
            return
        self.sent += 1
        self._write(data)


@dataclass(slots=True)
class Mailbox:
    """Messages kept for uids that are offline, each until its deadline (monotonic seconds).

    Memory is bounded: at most ``limit`` messages per uid and ``total_limit`` in all; past
    either, the oldest message (of that uid, or of all) is dropped and counted in ``dropped``.
    ``journal``, when set, is told of every message kept (uid, message, time to live) and of
    every box taken (uid, None, 0), so a durable copy can follow.
    """

    ttl_s: float
    limit: int = 10_000
    total_limit: int = 100_000
    boxes: dict[str, deque[tuple[float, Outgoing]]] = field(default_factory=dict)
    size: int = 0
    dropped: int = 0
    journal: Callable[[str, Outgoing | None, float], None] | None = None

    def keep(self, uid: str, out: Outgoing, ttl_s: float | None = None) -> None:
        """Keep a message for `uid` (for `ttl_s`, default the mailbox's)."""
        ttl = self.ttl_s if ttl_s is None else ttl_s
        if self.journal is not None and ttl_s is None:
            self.journal(uid, out, ttl)
        box = self.boxes.pop(uid, None) or deque()
        self.boxes[uid] = box  # most recently used last
        box.append((time.monotonic() + ttl, out))
        self.size += 1
        if len(box) > self.limit:
            box.popleft()
            self.size -= 1
            self.dropped += 1
        while self.size > self.total_limit:
            oldest_uid = next(iter(self.boxes))
            oldest = self.boxes[oldest_uid]
            oldest.popleft()
            self.size -= 1
            self.dropped += 1
            if not oldest:
                del self.boxes[oldest_uid]

    def take(self, uid: str) -> list[Outgoing]:
        """Everything still valid kept for `uid`, oldest first; the box is emptied."""
        now = time.monotonic()
        box = self.boxes.pop(uid, None)
        if box is None:
            return []
        if self.journal is not None:
            self.journal(uid, None, 0.0)
        self.size -= len(box)
        return [out for deadline, out in box if deadline > now]

    def waiting(self, uid: str) -> int:
        return len(self.boxes.get(uid, ()))

    def prune(self) -> None:
        """Drop messages past their deadline."""
        now = time.monotonic()
        for uid, box in list(self.boxes.items()):
            while box and box[0][0] <= now:
                box.popleft()
                self.size -= 1
            if not box:
                del self.boxes[uid]

"""What the CoT server sends where: outgoing events in both encodings, and per-client queues.

A client's outbound side has two lanes. Situational awareness (positions, drawings) is
coalesced: while the socket is backed up only the latest event per uid waits, so a slow reader
costs memory bounded by the number of uids, and the others are never delayed. Messages (chat,
check replies, alerts, emergencies) are never dropped while the client is connected: they queue
in order, and a client whose queue passes its limit is disconnected, its messages kept for it
(`Mailbox`) until it reconnects or they expire.
"""

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from holdfire.codecs.cot_stream import StreamMode, encode_stream
from holdfire.codecs.cot_xml import CotEvent, parse_event
from holdfire.codecs.tak_proto import event_to_proto


class Outgoing:
    """One event to send; its protobuf frame is built once, the first time a client needs it."""

    __slots__ = ("_event", "_proto", "xml")

    def __init__(self, xml: bytes, event: CotEvent | None = None) -> None:
        self.xml = xml
        self._event = event
        self._proto: bytes | None = None

    def encoded(self, mode: StreamMode) -> bytes:
        if mode is StreamMode.XML:
            return self.xml
        if self._proto is None:
            event = self._event if self._event is not None else parse_event(self.xml)
            self._proto = encode_stream(event_to_proto(event))
        return self._proto


class Sink:
    """The outbound side of one client: a transport plus the two lanes."""

    __slots__ = ("_write", "messages", "mode", "must_limit", "overflowed", "paused", "sa")

    def __init__(self, write: Callable[[bytes], None], must_limit: int) -> None:
        self._write = write
        self.mode = StreamMode.XML
        self.paused = False
        self.sa: OrderedDict[str, Outgoing] = OrderedDict()
        self.messages: deque[Outgoing] = deque()
        self.must_limit = must_limit
        self.overflowed = False

    def send_sa(self, key: str, out: Outgoing) -> None:
        if self.paused:
            self.sa[key] = out  # the latest replaces what was waiting for the same uid
            self.sa.move_to_end(key)
        else:
            self._write(out.encoded(self.mode))

    def send_message(self, out: Outgoing) -> bool:
        """Queue or write a message; False once the client is over its limit."""
        if self.paused or self.messages:
            self.messages.append(out)
            if len(self.messages) > self.must_limit:
                self.overflowed = True
                return False
            return True
        self._write(out.encoded(self.mode))
        return True

    def flush(self) -> None:
        """Write what waited, messages first, until the transport pushes back again."""
        while self.messages and not self.paused:
            self._write(self.messages.popleft().encoded(self.mode))
        while self.sa and not self.paused:
            _, out = self.sa.popitem(last=False)
            self._write(out.encoded(self.mode))


@dataclass(slots=True)
class Mailbox:
    """Messages kept for uids that are offline, each until its deadline (monotonic seconds)."""

    ttl_s: float
    limit: int = 10_000
    boxes: dict[str, deque[tuple[float, Outgoing]]] = field(default_factory=dict)

    def keep(self, uid: str, out: Outgoing) -> None:
        box = self.boxes.setdefault(uid, deque())
        box.append((time.monotonic() + self.ttl_s, out))
        while len(box) > self.limit:
            box.popleft()

    def take(self, uid: str) -> list[Outgoing]:
        now = time.monotonic()
        return [out for deadline, out in self.boxes.pop(uid, ()) if deadline > now]

"""One CoT client connection: framing, parsing, flow control and who is on the other end.

`CotConnection` (TCP or TLS) and `UdpInput` turn bytes into parsed events and hand them to the
server (`CotServer.on_event`); they never route anything themselves. Malformed input is dropped
and counted against a token bucket; a client that keeps sending garbage is cut off.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from holdfire.adapters.certs import TlsIdentity, identity_from_peercert
from holdfire.adapters.net.cot_routing import Outgoing, Sink
from holdfire.codecs.cot_stream import (
    FramingError,
    Negotiation,
    StreamMode,
    decode_mesh,
    is_auth_frame,
)
from holdfire.codecs.cot_xml import CotError, CotEvent, parse_event
from holdfire.codecs.tak_proto import proto_to_event
from holdfire.service.connections import ClientInfo, TlsPeer

if TYPE_CHECKING:
    from holdfire.adapters.net.cot_server import CotServer

log = logging.getLogger("holdfire.cot")


@dataclass(frozen=True, slots=True)
class CotConfig:
    server_uid: str = "HOLDFIRE"
    callsign: str = "HOLDFIRE"
    position: tuple[float, float] | None = None  # where holdfire shows on the map, if anywhere
    protobuf: bool = True
    max_event_bytes: int = 64 * 1024
    write_high_water: int = 256 * 1024
    message_limit: int = 2_000  # queued messages a slow client may hold before it is cut off
    mailbox_ttl_s: float = 24 * 3600.0
    garbage_burst: int = 50  # malformed events tolerated in a burst ...
    garbage_per_s: float = 1.0  # ... refilled at this rate
    garbage_bytes_per_token: int = 64 * 1024  # unframeable bytes that cost one malformed event
    emergency_repeat_s: float = 3.0
    announce_every_s: float = 60.0
    housekeeping_s: float = 30.0  # stale latest SAs and expired mailbox entries are pruned
    latest_sa_limit: int = 100_000  # uids whose latest SA is kept for clients that connect
    anonymous_group: str = "__ANON__"
    ingest_batch: int = 1_000
    ingest_high_water: int = 50_000  # reports waiting for the picture before readers pause
    close_timeout_s: float = 5.0
    revocation_poll_s: float = 0.5  # how often the CRL file is looked at (one stat)
    expiry_check_s: float = 86_400.0  # how often certificate expiry is looked at


@dataclass(slots=True)
class Peer:
    """Who is on the other end of one connection, as far as the server knows."""

    address: str
    source: str  # cot-tcp, cot-tls, cot-udp
    groups: frozenset[str]
    identity: TlsIdentity | None = None
    uid: str | None = None  # the client's own uid (certificate, else its first own SA)
    callsign: str | None = None
    cot_type: str = "a-f-G-U-C"
    team: str | None = None
    counters: Counter[str] = field(default_factory=Counter)

    @property
    def bound_uid(self) -> str | None:
        return self.identity.uid if self.identity is not None else None

    @property
    def label(self) -> str:
        name = self.callsign or self.uid or self.address
        if self.bound_uid is None:
            return f"tak-unauthenticated:{name}@{self.address}"
        return f"tak:{self.identity.name if self.identity else name}"


@dataclass(frozen=True, slots=True)
class Kept:
    """An event kept for later delivery (latest SA, open emergency) and who may receive it."""

    out: Outgoing
    groups: frozenset[str]
    event: CotEvent


def is_message(cot_type: str) -> bool:
    """Never coalesced nor dropped while the client is connected: chat and alarms."""
    return cot_type.startswith(("b-t-f", "b-a-"))


class CotConnection(asyncio.Protocol):
    """One streaming client (TCP or TLS)."""

    def __init__(self, server: CotServer, source: str) -> None:
        self.server = server
        self.source = source
        self.transport: asyncio.Transport | None = None
        self.peer = Peer("?", source, frozenset())
        self.sink = Sink(self._write, server.config.message_limit)
        self.negotiation = Negotiation(
            server.config.server_uid,
            protobuf=server.config.protobuf,
            max_event_bytes=server.config.max_event_bytes,
        )
        self._tokens = float(server.config.garbage_burst)
        self._refilled = time.monotonic()
        self._garbage_bytes = 0  # unframeable bytes not yet charged as a token
        self.reading_paused = False
        self.refused = False  # revoked at the handshake: never joined the server
        self._pending: list[bytes] = []  # written this loop iteration, sent by flush_pending
        self.since = server.clock.now()
        self.received = 0  # events parsed from this client
        self.client_id: str | None = None  # in the server's list of live connections

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.server.config.write_high_water)
        address = transport.get_extra_info("peername")
        identity = None
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            identity = identity_from_peercert(der) if der else None
        self.peer = Peer(
            address=f"{address[0]}:{address[1]}" if address else "?",
            source=self.source,
            groups=self.server.groups_for(identity),
            identity=identity,
            uid=identity.uid if identity is not None else None,
        )
        if identity is not None and self.server.revoked(identity):
            # Right after the handshake, before a byte is read: it never joins.
            log.warning(
                "%s: certificate %s (serial %x) is revoked; refused",
                self.peer.address,
                identity.name,
                identity.serial,
            )
            self.server.counters["revoked-refused"] += 1
            self.refused = True
            self.abort()
            return
        self.server.joined(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        now = self.server.clock.now()
        framer = self.negotiation.xml
        garbage, oversized = framer.garbage_bytes, framer.oversized
        try:
            got = self.negotiation.feed(data, now)
        except FramingError as exc:
            self._unframeable(exc)
            return
        if got.reply:
            self._write(got.reply)
            self.sink.mode = self.negotiation.outbound
        # A client that speaks protobuf without having negotiated (pytak with TAK_PROTO=1)
        # reads XML, and decodes it only when it starts with an XML declaration.
        self.sink.declared = (
            self.negotiation.inbound is StreamMode.PROTOBUF
            and self.negotiation.outbound is StreamMode.XML
        )
        for frame in got.xml_frames:
            if is_auth_frame(frame):
                continue  # <auth>: identities come from certificates, not passwords
            self._accept(frame, parse_event)
        for payload in got.proto_payloads:
            self._accept(payload, proto_to_event)
        self._charge_garbage(framer.garbage_bytes - garbage, framer.oversized - oversized)
        if self.negotiation.failed is not None and not self.closing:
            self._unframeable(self.negotiation.failed)

    def pause_writing(self) -> None:
        self.sink.paused = True

    def resume_writing(self) -> None:
        self.sink.paused = False
        self.sink.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.sink.closed = True
        if not self.refused:
            self.server.left(self)

    # --- helpers ---------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self.sink.closed or self.transport is None or self.transport.is_closing()

    def _unframeable(self, exc: FramingError) -> None:
        self.server.count(self, f"framing-{exc.reason}")
        log.warning("%s: cannot frame the stream (%s); closing", self.peer.address, exc)
        self.close()

    def _accept(self, data: bytes, parse: Callable[[bytes], CotEvent]) -> None:
        if self.closing:
            return
        try:
            event = parse(data)
        except CotError as exc:
            self.server.count(self, f"dropped-{exc.reason}")
            self._malformed()
            return
        self.received += 1
        self.server.on_event(self, event)

    def _charge_garbage(self, garbage_bytes: int, oversized: int) -> None:
        """Oversized frames and bytes outside any frame count against the same budget."""
        if oversized > 0:
            self.server.count(self, "dropped-too-large", oversized)
        self._garbage_bytes += max(0, garbage_bytes)
        per_token = max(1, self.server.config.garbage_bytes_per_token)
        tokens = oversized + self._garbage_bytes // per_token
        self._garbage_bytes %= per_token
        if garbage_bytes > 0:
            self.server.count(self, "garbage-bytes", garbage_bytes)
        for _ in range(tokens):
            if not self._malformed():
                return

    def _malformed(self) -> bool:
        """Spend one token; False (and the connection cut off) once the budget is gone."""
        if self.closing:
            return False
        if self._spend_token():
            return True
        log.warning("%s: too much malformed input; cut off", self.peer.address)
        self.server.count(self, "cut-off")
        self.abort()
        return False

    def _spend_token(self) -> bool:
        now = time.monotonic()
        cfg = self.server.config
        self._tokens = min(
            float(cfg.garbage_burst), self._tokens + (now - self._refilled) * cfg.garbage_per_s
        )
        self._refilled = now
        self._tokens -= 1.0
        return self._tokens >= 0.0

    def _write(self, data: bytes) -> None:
        """Collect what is written in this loop iteration; the server hands it to the transport
        in one write (one send syscall) once the iteration's input has been routed."""
        if self.transport is not None and not self.transport.is_closing():
            if not self._pending:
                self.server.wrote(self)
            self._pending.append(data)

    def flush_pending(self) -> None:
        pending, self._pending = self._pending, []
        if pending and self.transport is not None and not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def send_message(self, out: Outgoing) -> None:
        if self.sink.send_message(out):
            return
        if not self.sink.closed:
            log.warning("%s: message queue full; disconnecting", self.peer.address)
            self.server.count(self, "slow-client-cut")
        # Also when it is already closing but does not read what is left: do not wait for it.
        self.abort()

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.closing:
            self.transport.pause_reading()
            self.reading_paused = True

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.closing:
            self.transport.resume_reading()
        self.reading_paused = False

    def describe(self, client_id: str) -> ClientInfo:
        """This connection as `GET /clients` lists it."""
        peer, identity = self.peer, self.peer.identity
        tls = None
        if identity is not None:
            tls = TlsPeer(identity.name, identity.uid, identity.serial, identity.not_after)
        return ClientInfo(
            id=client_id,
            protocol=self.source.replace("cot-", "tak-"),
            address=peer.address,
            since=self.since,
            uid=peer.uid,
            callsign=peer.callsign,
            identity=identity.name if identity is not None else None,
            tls=tls,
            messages_in=self.received,
            messages_out=self.sink.sent,
            queue=len(self.sink.messages) + len(self.sink.sa),
        )

    def disconnect(self) -> None:
        """An administrator cuts it off: at once, like a revoked certificate."""
        log.warning("%s (%s): disconnected by an administrator", self.peer.address, self.peer.uid)
        self.server.count(self, "disconnected-by-admin")
        self.abort()

    def backlog(self) -> int:
        """What still waits to go out to the client: queued events and buffered bytes."""
        if self.closing or self.transport is None:
            return 0
        sink = self.sink
        buffered = self.transport.get_write_buffer_size() + sum(map(len, self._pending))
        return len(sink.messages) + len(sink.sa) + buffered

    def close(self) -> None:
        """Stop reading and writing; what is already written is still flushed to the client.
        Messages sent from now on wait in `sink.messages` (the mailbox, once it has left)."""
        self.sink.closed = True
        self.flush_pending()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Close at once, without waiting for a client that does not read to take what was
        written (a plain close would wait for it for ever, and so would its messages)."""
        self.sink.closed = True
        if self.transport is not None:
            self.transport.abort()


class UdpInput(asyncio.DatagramProtocol):
    """SA input over UDP: one event per datagram, XML or TAK mesh protobuf."""

    def __init__(self, server: CotServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        peer = Peer(f"{addr[0]}:{addr[1]}", "cot-udp", self.server.anonymous)
        try:
            event = proto_to_event(decode_mesh(data)) if data[:1] == b"\xbf" else parse_event(data)
        except (CotError, FramingError) as exc:
            self.server.counters[f"udp-dropped-{exc.reason}"] += 1
            return
        self.server.on_udp_event(peer, event)


def multicast_socket(group: str, port: int, interface: str) -> socket.socket:
    """A UDP socket bound to a multicast group and port, member of the group on `interface`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((group, port))  # only this group's datagrams, not every datagram to the port
        membership = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock

"""One CoT client connection: framing, parsing, flow control and who is on the other end.

`CotConnection` (TCP or TLS) and `UdpInput` turn bytes into parsed events and hand them to the
server (`CotServer.on_event`); they never route anything themselves. Malformed input is dropped
and counted against a token bucket; a client that keeps sending garbage is cut off.

Hostile load (per source address, `CotServer.admission`): a connection is admitted or refused
the moment it is accepted, before any TLS handshake (`CotServer._accept`; the handshake then
runs on the admitted connection, bounded by `handshake_timeout_s`). What an address sends is
charged to its byte and event buckets; an address over its rate is *read more slowly*, not
dropped: the connection that went into debt stops being read until the debt is paid, so TCP
pushes back on the sender and nothing a real client sent is lost (chat and emergencies
included), while a flood costs the server no more than the rate. The server's watchdog closes
connections that send no complete event for `idle_timeout_s`, and those that leave a frame
unfinished for `frame_timeout_s` (slowloris); neither clock runs while the server does not read
a connection because the picture is behind (they do while its address is over its budget: a
slowloris cannot shelter behind a flood from its own address).
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
    # Hostile load, per source address (0 turns a limit off). A fires cell behind one NAT
    # address fits easily: dozens of devices, each an SA every few seconds.
    max_per_address: int = 128  # connections open at once
    connects_per_s: float = 2.0  # new connections, after a burst as large as max_per_address
    bytes_per_s: float = 1 << 20  # read from one address ...
    bytes_burst_s: float = 16.0  # ... after a burst of this many seconds of it
    events_per_s: float = 200.0  # complete frames from one address ...
    events_burst_s: float = 25.0  # ... after a burst of this many seconds of them
    idle_timeout_s: float = 120.0  # no complete event for this long: closed
    frame_timeout_s: float = 30.0  # a frame begun and not finished for this long: closed
    handshake_timeout_s: float = 10.0  # TLS handshake not finished: closed
    limits_log_every_s: float = 60.0  # one log line per address and interval at most


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

    def __init__(self, server: CotServer, source: str, host: str, address: str) -> None:
        self.server = server
        self.source = source
        self.transport: asyncio.Transport | None = None
        self.peer = Peer(address, source, frozenset())
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
        self._paused_for: set[str] = set()  # why reading is paused: "ingest", "rate"
        self.host: str | None = host  # the admitted source address, until released
        self.joined = False  # handshake done, not revoked: one of the server's clients
        self.served = False  # in its groups' audience (see CotServer.joined)
        self.last_frame = time.monotonic()  # when the last complete event arrived
        self.frame_since: float | None = None  # when the unfinished frame held now began
        self._pending: list[bytes] = []  # written this loop iteration, sent by flush_pending
        self.since = server.clock.now()
        self.received = 0  # events parsed from this client
        self.client_id: str | None = None  # in the server's list of live connections

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """The stream is ready (after the TLS handshake, on TLS): who is it, and may it
        join? (It was admitted when accepted: `CotServer._accept`.)"""
        # uvloop's transports implement asyncio.Transport without subclassing it
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.server.config.write_high_water)
        identity = None
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            identity = identity_from_peercert(der) if der else None
        self.peer = Peer(
            address=self.peer.address,
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
            self.abort()
            return
        self.last_frame = time.monotonic()
        self.joined = True
        self.server.joined(self)
        self._watch(0, 0)  # an address in debt: not a byte read from its new connection yet

    def data_received(self, data: bytes) -> None:
        if self.closing or not self.joined:
            return
        if self.reading_paused and self.transport is not None:
            # Paused already, and yet read: uvloop starts reading after `connection_made`
            # whatever it did, so a pause asked for there is asked for again here.
            self.transport.pause_reading()
        # Charged even when the connection is cut off for it: a client that reconnects after
        # each cut-off still spends its address's budget.
        self._watch(len(data), self._take(data))

    def _take(self, data: bytes) -> int:
        """Frame, parse and hand on what was read; how many frames it held."""
        now = self.server.clock.now()
        framer = self.negotiation.xml
        garbage, oversized = framer.garbage_bytes, framer.oversized
        try:
            got = self.negotiation.feed(data, now)
        except FramingError as exc:
            self._unframeable(exc)
            return 0
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
        return len(got.xml_frames) + len(got.proto_payloads) + (1 if got.reply else 0)

    def _watch(self, size: int, frames: int) -> None:
        """The watchdog's clocks, and the address's byte and event budgets."""
        now = time.monotonic()
        if frames:
            self.last_frame = now
        if not self.negotiation.mid_frame:
            self.frame_since = None
        elif frames or self.frame_since is None:
            self.frame_since = now
        if self.host is None:
            return
        wait = self.server.charge(self.host, size, frames)
        if wait > 0.0 and "rate" not in self._paused_for and not self.closing:
            self.peer.counters["rate-limited"] += 1
            self.server.admission.refuse(self.host, "rate-limited")
            self.pause_reading("rate")
            asyncio.get_running_loop().call_later(wait, self.resume_reading, "rate")

    def overdue(self, now: float) -> str | None:
        """Why the watchdog should close this connection now, if it should."""
        cfg = self.server.config
        if not self.joined or self.closing or "ingest" in self._paused_for:
            # not joined: in its handshake, which has its own time-out; not read because the
            # picture is behind: not its fault (paused for its address's rate: its own)
            return None
        since = self.frame_since
        if since is not None and cfg.frame_timeout_s and now - since > cfg.frame_timeout_s:
            return "slow-frame"
        if cfg.idle_timeout_s and now - self.last_frame > cfg.idle_timeout_s:
            return "idle-timeout"
        return None

    def pause_writing(self) -> None:
        self.sink.paused = True

    def resume_writing(self) -> None:
        self.sink.paused = False
        self.sink.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.sink.closed = True
        self.release()
        if self.joined:
            self.joined = False
            self.server.left(self)

    def release(self) -> None:
        """The connection no longer counts against its address (called once it is gone)."""
        if self.host is not None:
            self.server.admission.release(self.host)
            self.host = None
        self.server.connections.discard(self)

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

    def pause_reading(self, why: str = "ingest") -> None:
        """Stop reading, for `why` (the ingest backlog, or the address's rate), until
        `resume_reading(why)` for every reason given."""
        if self.transport is None or self.closing:
            return
        if not self._paused_for:
            self.transport.pause_reading()
            self.reading_paused = True
        self._paused_for.add(why)

    def resume_reading(self, why: str = "ingest") -> None:
        if why == "ingest" and why in self._paused_for:
            # The watchdog's clocks stopped while the picture was behind.
            now = time.monotonic()
            self.last_frame = now
            if self.frame_since is not None:
                self.frame_since = now
        self._paused_for.discard(why)
        if self._paused_for or not self.reading_paused:
            return
        self.reading_paused = False
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

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

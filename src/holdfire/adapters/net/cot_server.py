"""The CoT server: TAK clients (ATAK, WinTAK, iTAK) over plain TCP, TLS and UDP.

Every valid event is routed like a TAK server routes it, and every position lands in the picture.
Per connection: bytes -> `Negotiation` (XML or TAK protocol v1) -> frames -> `CotEvent` (parsed
once, hardened) -> the server's handlers; a malformed event is dropped and counted and the
connection carries on, unless it keeps sending garbage, when it is cut off.

Routing: each connection has server-side groups (anonymous clients share one; a TLS client's
certificate may name others); an event goes to every other client sharing a group, or, with
`marti/dest`, only to the named uids or callsigns among them. `__group` is the team (colour and
role), used for team chat rooms, never for access. A client that connects is sent the server's
own SA and the latest SA of every uid it may see. Pings get pongs; a client that leaves is
announced with `t-x-d-d`; emergencies (`b-a-*`) are repeated until cancelled; GeoChat to the
server's callsign is a command (`CHECK`, `HELP`).

Identity: a TLS client's own uid is the one its certificate names; only its reports about that
uid are *own* (authenticated). Everything else (plain TCP, UDP, a TLS client's markers for other
uids) is kept as positions reported by that client, which add protection and never move an own
position (design.md §3).
"""

import asyncio
import contextlib
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from holdfire.adapters.certs import TlsIdentity, identity_from_peercert
from holdfire.adapters.net.cot_routing import Mailbox, Outgoing, Sink
from holdfire.codecs.chat_commands import (
    HELP_TEXT,
    BadCommand,
    CheckCommand,
    HelpCommand,
    format_reply,
    parse_command,
)
from holdfire.codecs.cot_reports import report_from_cot
from holdfire.codecs.cot_stream import FramingError, Negotiation, decode_mesh, is_auth_frame
from holdfire.codecs.cot_xml import (
    CotError,
    CotEvent,
    circle_shape,
    disconnect_notice,
    geochat,
    parse_event,
    pong,
    sa_event,
)
from holdfire.codecs.tak_proto import proto_to_event
from holdfire.domain.checks import CheckRequest, Clearance, Verdict
from holdfire.domain.reports import PositionReport
from holdfire.geo import GeoError, parse_location
from holdfire.service.handlers import Service
from holdfire.service.ports import Clock, StoreError

log = logging.getLogger("holdfire.cot")

_VERDICT_COLOURS = {  # ARGB, as ATAK writes them
    Verdict.HOLD: 0xFFFF0000,
    Verdict.DANGER_CLOSE: 0xFFFF8000,
    Verdict.COORDINATE: 0xFFFFFF00,
    Verdict.NO_KNOWN_CONFLICT: 0xFF00FFFF,
}


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
    emergency_repeat_s: float = 3.0
    announce_every_s: float = 60.0
    anonymous_group: str = "__ANON__"
    ingest_batch: int = 1_000


@dataclass(slots=True)
class _Peer:
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


class CotConnection(asyncio.Protocol):
    """One streaming client (TCP or TLS)."""

    def __init__(self, server: "CotServer", source: str) -> None:
        self.server = server
        self.source = source
        self.transport: asyncio.Transport | None = None
        self.peer = _Peer("?", source, frozenset())
        self.sink = Sink(self._write, server.config.message_limit)
        self.negotiation = Negotiation(
            server.config.server_uid,
            protobuf=server.config.protobuf,
            max_event_bytes=server.config.max_event_bytes,
        )
        self._tokens = float(server.config.garbage_burst)
        self._refilled = time.monotonic()

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
        self.peer = _Peer(
            address=f"{address[0]}:{address[1]}" if address else "?",
            source=self.source,
            groups=self.server.groups_for(identity),
            identity=identity,
            uid=identity.uid if identity is not None else None,
        )
        self.server.joined(self)

    def data_received(self, data: bytes) -> None:
        now = self.server.clock.now()
        try:
            got = self.negotiation.feed(data, now)
        except FramingError as exc:
            self.server.count(self, f"framing-{exc.reason}")
            log.warning("%s: cannot frame the stream (%s); closing", self.peer.address, exc)
            self.close()
            return
        if got.reply:
            self._write(got.reply)
            self.sink.mode = self.negotiation.outbound
        for frame in got.xml_frames:
            if is_auth_frame(frame):
                continue  # <auth>: identities come from certificates, not passwords
            self._accept(frame, parse_event)
        for payload in got.proto_payloads:
            self._accept(payload, proto_to_event)

    def pause_writing(self) -> None:
        self.sink.paused = True

    def resume_writing(self) -> None:
        self.sink.paused = False
        self.sink.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.left(self)

    # --- helpers ---------------------------------------------------------------------------

    def _accept(self, data: bytes, parse: Callable[[bytes], CotEvent]) -> None:
        try:
            event = parse(data)
        except CotError as exc:
            self.server.count(self, f"dropped-{exc.reason}")
            if not self._spend_token():
                log.warning("%s: too many malformed events; cut off", self.peer.address)
                self.server.count(self, "cut-off")
                self.close()
            return
        self.server.on_event(self, event)

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
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def send_message(self, out: Outgoing) -> None:
        if not self.sink.send_message(out):
            log.warning("%s: message queue full; disconnecting", self.peer.address)
            self.server.count(self, "slow-client-cut")
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _UdpInput(asyncio.DatagramProtocol):
    """SA input over UDP: one event per datagram, XML or TAK mesh protobuf."""

    def __init__(self, server: "CotServer") -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        peer = _Peer(f"{addr[0]}:{addr[1]}", "cot-udp", self.server.anonymous)
        try:
            event = proto_to_event(decode_mesh(data)) if data[:1] == b"\xbf" else parse_event(data)
        except (CotError, FramingError) as exc:
            self.server.counters[f"udp-dropped-{exc.reason}"] += 1
            return
        self.server.on_udp_event(peer, event)


class CotServer:
    """Listeners, routing tables and the bridge into the service."""

    def __init__(
        self,
        service: Service,
        clock: Clock,
        config: CotConfig | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.service = service
        self.clock = clock
        self.config = config or CotConfig()
        self.tls_context = tls_context
        self.anonymous = frozenset({self.config.anonymous_group})
        self.counters: Counter[str] = Counter()
        self.clients: set[CotConnection] = set()
        self.members: dict[str, set[CotConnection]] = {}
        self.by_uid: dict[str, CotConnection] = {}
        self.latest_sa: dict[str, tuple[Outgoing, frozenset[str]]] = {}
        self.emergencies: dict[str, tuple[Outgoing, frozenset[str]]] = {}
        self.mailbox = Mailbox(self.config.mailbox_ttl_s)
        self._servers: list[asyncio.AbstractServer] = []
        self._udp: list[asyncio.DatagramTransport] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._ingest: asyncio.Queue[PositionReport] = asyncio.Queue()

    # --- life cycle ------------------------------------------------------------------------

    async def start(
        self,
        tcp: tuple[str, int] | None = None,
        tls: tuple[str, int] | None = None,
        udp: tuple[str, int] | None = None,
    ) -> dict[str, tuple[str, int]]:
        """Open the listeners asked for; returns the addresses actually bound."""
        loop = asyncio.get_running_loop()
        bound: dict[str, tuple[str, int]] = {}
        if tcp is not None:
            server = await loop.create_server(lambda: CotConnection(self, "cot-tcp"), *tcp)
            self._servers.append(server)
            bound["tcp"] = server.sockets[0].getsockname()[:2]
        if tls is not None:
            if self.tls_context is None:
                raise ValueError("a TLS listener needs the server's TLS context")
            server = await loop.create_server(
                lambda: CotConnection(self, "cot-tls"), *tls, ssl=self.tls_context
            )
            self._servers.append(server)
            bound["tls"] = server.sockets[0].getsockname()[:2]
        if udp is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpInput(self), local_addr=udp
            )
            self._udp.append(transport)
            bound["udp"] = transport.get_extra_info("sockname")[:2]
        for work in (self._ingest_loop(), self._emergency_loop(), self._announce_loop()):
            self._spawn(work)
        return bound

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for client in list(self.clients):
            client.close()
        for transport in self._udp:
            transport.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        await self._drain_ingest()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- connections -----------------------------------------------------------------------

    def groups_for(self, identity: TlsIdentity | None) -> frozenset[str]:
        return self.anonymous

    def joined(self, conn: CotConnection) -> None:
        self.clients.add(conn)
        for group in conn.peer.groups:
            self.members.setdefault(group, set()).add(conn)
        now = self.clock.now()
        offer = conn.negotiation.offer(now)
        if offer is not None:
            conn.sink.send_message(Outgoing(offer))
        conn.sink.send_sa(self.config.server_uid, self._own_sa(now))
        for uid, (out, groups) in list(self.latest_sa.items()):
            if uid != conn.peer.uid and not groups.isdisjoint(conn.peer.groups):
                conn.sink.send_sa(uid, out)
        if conn.peer.uid is not None:
            self._bind(conn, conn.peer.uid)
        log.info("%s connected over %s", conn.peer.address, conn.source)

    def left(self, conn: CotConnection) -> None:
        self.clients.discard(conn)
        for group in conn.peer.groups:
            self.members.get(group, set()).discard(conn)
        uid = conn.peer.uid
        if uid is not None and self.by_uid.get(uid) is conn:
            del self.by_uid[uid]
            # Whatever still waited for it is kept until it comes back.
            for out in conn.sink.messages:
                self.mailbox.keep(uid, out)
            notice = Outgoing(disconnect_notice(uid, conn.peer.cot_type, self.clock.now()))
            for other in self._audience(conn.peer.groups, exclude=conn):
                other.sink.send_sa(f"{uid}.disconnect", notice)
        log.info("%s (%s) disconnected", conn.peer.address, uid or "no uid")

    def _bind(self, conn: CotConnection, uid: str) -> None:
        conn.peer.uid = uid
        self.by_uid[uid] = conn
        for out in self.mailbox.take(uid):
            conn.send_message(out)

    def count(self, conn: CotConnection, what: str) -> None:
        self.counters[what] += 1
        conn.peer.counters[what] += 1

    # --- events ----------------------------------------------------------------------------

    def on_event(self, conn: CotConnection, event: CotEvent) -> None:
        self.counters["events"] += 1
        kind = event.type
        if kind == "t-x-c-t":
            conn.send_message(Outgoing(pong(self.clock.now())))
            return
        if kind.startswith("t-x-takp"):
            return
        self._learn(conn, event)
        if kind.startswith("a-") and event.has_point:
            self._report(conn.peer, event)
        if kind == "b-t-f":
            self._chat(conn, event)
            return
        if kind.startswith("b-a-"):
            self._emergency(conn.peer.groups, event)
        self._route(conn.peer.groups, event, sender=conn)

    def on_udp_event(self, peer: _Peer, event: CotEvent) -> None:
        self.counters["udp-events"] += 1
        if event.type.startswith("a-") and event.has_point:
            self._report(peer, event)
            self._route(peer.groups, event, sender=None)

    def _learn(self, conn: CotConnection, event: CotEvent) -> None:
        """A client's own SA tells its uid (when no certificate did), callsign and team."""
        peer = conn.peer
        own = event.uid == peer.uid or (
            peer.uid is None and event.type.startswith("a-") and event.endpoint is not None
        )
        if not own:
            return
        if peer.uid is None:
            self._bind(conn, event.uid)
        peer.callsign = event.callsign or peer.callsign
        peer.cot_type = event.type
        peer.team = event.group_name or peer.team

    def _report(self, peer: _Peer, event: CotEvent) -> None:
        bound = peer.bound_uid
        report = report_from_cot(
            event,
            received_at=self.clock.now(),
            source=peer.source,
            # A certificate-bound client speaks for its own uid; anyone else is a witness.
            reporter=bound or peer.uid or f"{peer.source}:{peer.address}",
            authenticated=bound is not None,
        )
        if report is not None:
            self._ingest.put_nowait(report)

    def _route(self, groups: frozenset[str], event: CotEvent, sender: CotConnection | None) -> None:
        out = Outgoing(event.xml_bytes(), event)
        targets = self._addressed(groups, event, sender)
        if event.type.startswith("b-t-f") or event.type.startswith("b-a-"):
            for target in targets:
                target.send_message(out)
            return
        if event.type.startswith("a-"):
            self.latest_sa[event.uid] = (out, groups)
        for target in targets:
            target.sink.send_sa(event.uid, out)

    def _addressed(
        self, groups: frozenset[str], event: CotEvent, sender: CotConnection | None
    ) -> Iterable[CotConnection]:
        if not (event.dest_uids or event.dest_callsigns):
            return self._audience(groups, exclude=sender)
        wanted_uids = set(event.dest_uids)
        wanted_calls = set(event.dest_callsigns)
        return [
            c
            for c in self._audience(groups, exclude=sender)
            if c.peer.uid in wanted_uids or c.peer.callsign in wanted_calls
        ]

    def _audience(
        self, groups: frozenset[str], exclude: CotConnection | None
    ) -> Iterable[CotConnection]:
        if len(groups) == 1:
            (group,) = groups
            members = self.members.get(group, ())
            return [c for c in members if c is not exclude]
        found: set[CotConnection] = set()
        for group in groups:
            found.update(self.members.get(group, ()))
        if exclude is not None:
            found.discard(exclude)
        return found

    # --- chat ------------------------------------------------------------------------------

    def _chat(self, conn: CotConnection, event: CotEvent) -> None:
        chat = event.chat
        cfg = self.config
        to_server = (
            cfg.callsign in event.dest_callsigns
            or cfg.server_uid in event.dest_uids
            or (
                chat is not None
                and (
                    chat.chat_id == cfg.server_uid
                    or chat.chatroom == cfg.callsign
                    or cfg.server_uid in chat.chatgrp_uids[1:]
                )
            )
        )
        if to_server:
            self._spawn(self._command(conn, event))
            return
        out = Outgoing(event.xml_bytes(), event)
        groups = conn.peer.groups
        if event.dest_uids or event.dest_callsigns or chat is None:
            targets = list(self._addressed(groups, event, conn))
        elif chat.chatroom == "All Chat Rooms":
            targets = list(self._audience(groups, exclude=conn))
        elif chat.parent == "TeamGroups":
            targets = [c for c in self._audience(groups, conn) if c.peer.team == chat.chatroom]
        else:
            recipient = chat.chat_id
            target = self.by_uid.get(recipient or "")
            if target is None and recipient:
                self.mailbox.keep(recipient, out)  # delivered when it reconnects
            targets = [target] if target is not None and target is not conn else []
        for target in targets:
            target.send_message(out)

    async def _command(self, conn: CotConnection, event: CotEvent) -> None:
        chat = event.chat
        text = (chat.text if chat is not None else None) or event.remarks or ""
        command = parse_command(text)
        if isinstance(command, HelpCommand):
            self._reply(conn, event, HELP_TEXT)
        elif isinstance(command, BadCommand):
            self._reply(conn, event, command.message)
        elif isinstance(command, CheckCommand):
            try:
                clearance = await self._check(conn.peer, command)
            except GeoError as exc:
                self._reply(conn, event, f"target: {exc}")
                return
            except StoreError as exc:
                log.error("check from %s not stored: %s", conn.peer.label, exc)
                self._reply(conn, event, "the check could not be recorded; try again")
                return
            reply = format_reply(clearance)
            if conn.peer.bound_uid is None:
                reply += "\n(unauthenticated request: recorded as such)"
            self._reply(conn, event, reply)
            self._send_footprint(conn, clearance, command)

    async def _check(self, peer: _Peer, command: CheckCommand) -> Clearance:
        location = parse_location(command.target)
        request = CheckRequest(
            lat=location.lat,
            lon=location.lon,
            weapon=command.weapon,
            cell_m=location.cell_m,
            target_type=command.target_type,
            pid=command.pid,
            pid_detail=command.pid_detail,
            firing_unit=peer.bound_uid,  # only a certificate says which unit is asking
            requester=peer.label,
        )
        return await self.service.check(request)

    def _reply(self, conn: CotConnection, event: CotEvent, text: str) -> None:
        chat = event.chat
        to_uid = (chat.link_uid if chat else None) or conn.peer.uid or event.uid
        to_callsign = (chat.sender_callsign if chat else None) or conn.peer.callsign or to_uid
        now = self.clock.now()
        out = Outgoing(
            geochat(
                self.config.server_uid,
                self.config.callsign,
                to_uid,
                to_callsign,
                text,
                now,
                message_id=self.service.new_id(),
            )
        )
        if conn.transport is not None and not conn.transport.is_closing():
            conn.send_message(out)
        else:
            self.mailbox.keep(to_uid, out)

    def _send_footprint(self, conn: CotConnection, clearance: Clearance, cmd: CheckCommand) -> None:
        tables = self.service.picture.tables
        weapon = tables.weapons.get(cmd.weapon) or tables.worst_weapon()
        request = clearance.request
        radius = weapon.red01_m + weapon.cep_m + request.tle_m + request.cell_m
        now = self.clock.now()
        shape = circle_shape(
            f"holdfire-check-{clearance.id}",
            clearance.target.lat,
            clearance.target.lon,
            radius,
            _VERDICT_COLOURS[clearance.verdict],
            f"{clearance.verdict.value} {cmd.weapon}",
            now,
            now + timedelta(minutes=10),
            remarks=format_reply(clearance),
        )
        conn.send_message(Outgoing(shape))

    # --- emergencies and the server's own presence -----------------------------------------

    def _emergency(self, groups: frozenset[str], event: CotEvent) -> None:
        key = event.links[0].uid if event.links else event.uid
        if event.type == "b-a-o-can" or event.emergency_cancel:
            self.emergencies.pop(key, None)
        else:
            self.emergencies[key] = (Outgoing(event.xml_bytes(), event), groups)

    async def _emergency_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.emergency_repeat_s)
            for key, (out, groups) in list(self.emergencies.items()):
                for conn in self._audience(groups, exclude=None):
                    if conn.peer.uid != key:
                        conn.sink.send_sa(f"emergency:{key}", out)

    def _own_sa(self, now: datetime) -> Outgoing:
        cfg = self.config
        lat, lon = cfg.position if cfg.position is not None else (0.0, 0.0)
        ce = 10.0 if cfg.position is not None else 9_999_999.0
        return Outgoing(
            sa_event(
                cfg.server_uid,
                cfg.callsign,
                "a-f-G-U-C-I",
                lat,
                lon,
                None,
                ce,
                None,
                now,
                now + timedelta(seconds=2 * cfg.announce_every_s),
                group="Cyan",
                role="HQ",
                remarks="holdfire: send CHECK <grid> <weapon> [type], or HELP",
            )
        )

    async def _announce_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.announce_every_s)
            out = self._own_sa(self.clock.now())
            for conn in list(self.clients):
                conn.sink.send_sa(self.config.server_uid, out)

    # --- into the picture ------------------------------------------------------------------

    async def _ingest_loop(self) -> None:
        """Reports go to the service in batches: one durable write per batch."""
        while True:
            batch = [await self._ingest.get()]
            while len(batch) < self.config.ingest_batch and not self._ingest.empty():
                batch.append(self._ingest.get_nowait())
            await self._apply(batch)

    async def _drain_ingest(self) -> None:
        batch: list[PositionReport] = []
        while not self._ingest.empty():
            batch.append(self._ingest.get_nowait())
        if batch:
            await self._apply(batch)

    async def _apply(self, batch: list[PositionReport]) -> None:
        try:
            results = await self.service.reports(batch)
        except (StoreError, ValueError) as exc:
            self.counters["ingest-failed"] += len(batch)
            log.error("%d reports not stored: %s", len(batch), exc)
            return
        self.counters["reports"] += sum(1 for r in results if r.accepted)


def with_position(config: CotConfig, position: tuple[float, float] | None) -> CotConfig:
    return replace(config, position=position)

"""The CoT server: TAK clients (ATAK, WinTAK, iTAK) over plain TCP, TLS and UDP.

Every valid event is routed like a TAK server routes it, and every position lands in the picture.
Per connection: bytes -> `Negotiation` (XML or TAK protocol v1) -> frames -> `CotEvent` (parsed
once, hardened) -> the server's handlers; a malformed or oversized event is dropped and counted
and the connection carries on, unless it keeps sending garbage, when it is cut off.

Routing: each connection has server-side groups (anonymous clients share one; a TLS client's
certificate may name others); an event goes to every other client sharing a group, or, with
`marti/dest`, only to the named uids or callsigns among them. `__group` is the team (colour and
role), used for team chat rooms, never for access. A client that connects is sent the server's
own SA and the latest SA of every uid it may see (still valid, of clients still connected or
markers; directed ones only to whom they name). Pings get pongs; a client that leaves is
announced with `t-x-d-d`; emergencies (`b-a-*`) are repeated until cancelled; GeoChat to the
server's callsign is a command (`CHECK`, `MSG`, `ACK`, `WILCO`, `HELP`); catalog messages reach
their recipients as GeoChat from holdfire (`CommandDesk.on_service_events`, subscribed to the
service's hub while the server runs). Messages (chat, emergencies, replies, catalog messages)
for a uid that is offline wait in the mailbox until it reconnects.

Identity: a TLS client's own uid is the one its certificate names; only its reports about that
uid are *own* (authenticated). Everything else (plain TCP, UDP, a TLS client's markers for other
uids) is kept as positions reported by that client, which add protection and never move an own
position (design.md §3). A uid a certificate has spoken for is the certificate's: an event for it
from anyone else goes to the picture (as that sender's claim, which may raise a SECURITY alert)
but is not routed to clients, so it cannot move the unit on anyone's map either; nor can an
unauthenticated client take such a uid to receive its messages.

Expiry: at start and once a day every certificate of the store that ends within 14 days (or
has ended) is logged as a warning, with what to do about it (`onboarding.expiring`).

Revocation: a client certificate the CA's CRL lists is refused right after the handshake,
before anything it sent is read; the CRL file is watched (`revocation_poll_s`) and every open
connection whose certificate it newly lists is aborted at once (see `certs.Revocations`).

Hostile load: per source address, a cap on open connections, a rate of new ones, and budgets
of bytes and events read (`admission`, see `cot_connection`); a watchdog closes idle and
slowloris connections, TLS handshakes are bounded in time. Every refusal is counted by reason
(`counters`, `refused-<reason>`) and logged at most once per address and minute.

Flow control: a slow reader costs bounded memory (`Sink`: SA coalesced per uid, messages capped,
then disconnect with the messages kept for it). A client that sends faster than the picture can
take its reports is read more slowly (its socket is paused while the ingest backlog is full).
"""

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from holdfire.adapters.certs import CertStoreError, Revocations, TlsIdentity
from holdfire.adapters.net.admission import AddressBook
from holdfire.adapters.net.cot_commands import CommandDesk, chat_senders
from holdfire.adapters.net.cot_connection import (
    CotConfig,
    CotConnection,
    Kept,
    Peer,
    UdpInput,
    is_message,
    multicast_socket,
)
from holdfire.adapters.net.cot_routing import Mailbox, Outgoing
from holdfire.adapters.net.groups import GroupPolicy
from holdfire.adapters.onboarding import expiring, expiry_message
from holdfire.codecs.cot_reports import report_from_cot
from holdfire.codecs.cot_xml import (
    CotChat,
    CotError,
    CotEvent,
    disconnect_notice,
    parse_event,
    pong,
    sa_event,
)
from holdfire.domain.reports import PositionReport
from holdfire.service.handlers import Service
from holdfire.service.ports import Clock, StoreError, StoreNotWritable

log = logging.getLogger("holdfire.cot")

_ALL_CHAT_ROOMS = "All Chat Rooms"
_TEAM_GROUPS = "TeamGroups"


class CotServer:
    """Listeners, routing tables and the bridge into the service."""

    def __init__(
        self,
        service: Service,
        clock: Clock,
        config: CotConfig | None = None,
        tls_context: ssl.SSLContext | None = None,
        groups: GroupPolicy | None = None,
        revocations: Revocations | None = None,
    ) -> None:
        self.service = service
        self.revocations = revocations
        self.clock = clock
        self.config = config or CotConfig()
        self.tls_context = tls_context
        self.groups = groups or GroupPolicy(default=frozenset({self.config.anonymous_group}))
        self.anonymous = self.groups.default
        self.counters: Counter[str] = Counter()
        cfg = self.config
        self.admission = AddressBook(
            "cot",
            max_open=cfg.max_per_address,
            connects_per_s=cfg.connects_per_s,
            connect_burst=cfg.max_per_address or 64,
            log=log,
            log_every_s=cfg.limits_log_every_s,
        )
        self.admission.counters = self.counters  # one set of counters for the whole server
        self.connections: set[CotConnection] = set()  # admitted, joined or not (handshakes)
        self.clients: set[CotConnection] = set()
        self.members: dict[str, set[CotConnection]] = {}
        self.by_uid: dict[str, CotConnection] = {}
        self.callsigns: dict[str, str] = {}  # latest callsign -> uid (for offline delivery)
        # uids a client certificate has spoken for (and holdfire's own, which no client has)
        self.certified: set[str] = {self.config.server_uid}
        self.latest_sa: dict[str, Kept] = {}  # oldest update first
        self.emergencies: dict[str, Kept] = {}
        self.mailbox = Mailbox(self.config.mailbox_ttl_s)
        self._journal_writes: set[asyncio.Task[None]] = set()
        self._restore_mailbox()
        self.mailbox.journal = self._journal
        self.desk = CommandDesk(self)
        self._listeners: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        self._udp: list[asyncio.DatagramTransport] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._ingest: asyncio.Queue[PositionReport] = asyncio.Queue()
        self._throttled: set[CotConnection] = set()
        self._to_flush: list[CotConnection] = []
        self._unsubscribe: Callable[[], None] | None = None  # from the service's event hub
        # Where routed events go for the other nodes of a cluster (None on a single node).
        self.relay: Callable[[bytes, frozenset[str]], None] | None = None

    def _restore_mailbox(self) -> None:
        """Messages kept durably for offline recipients before the last stop wait again."""
        now = self.clock.now()
        for kept in self.service.kept_messages:
            remaining = (kept.expires_at - now).total_seconds()
            if remaining > 0:
                self.mailbox.keep(kept.recipient, Outgoing(kept.body.encode()), remaining)

    def _journal(self, uid: str, out: Outgoing | None, ttl_s: float) -> None:
        """Mirror the mailbox in the store, so kept messages survive a restart."""
        if out is None:
            work = self.service.messages_delivered(uid)
        else:
            expires = self.clock.now() + timedelta(seconds=ttl_s)
            work = self.service.keep_message(uid, out.xml.decode("utf-8", "replace"), expires)
        task = asyncio.ensure_future(self._durably(work))
        self._journal_writes.add(task)  # awaited on close, never cancelled
        task.add_done_callback(self._journal_writes.discard)

    @staticmethod
    async def _durably(work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except StoreNotWritable:
            pass  # the store logs a full or read-only disk once, not per write
        except StoreError as exc:
            log.error("mailbox not stored: %s", exc)

    def wrote(self, conn: CotConnection) -> None:
        """`conn` has output pending: flush it (and every other) once this iteration is done;
        one send per client per iteration instead of one per event (batches grow on their own
        when the server falls behind, which is when it matters)."""
        if not self._to_flush:
            asyncio.get_running_loop().call_soon(self._flush_writes)
        self._to_flush.append(conn)

    def _flush_writes(self) -> None:
        conns, self._to_flush = self._to_flush, []
        for conn in conns:
            conn.flush_pending()

    # --- life cycle ------------------------------------------------------------------------

    async def start(
        self,
        tcp: tuple[str, int] | None = None,
        tls: tuple[str, int] | None = None,
        udp: tuple[str, int] | None = None,
        multicast: tuple[str, int] | None = None,
        multicast_interface: str = "0.0.0.0",
    ) -> dict[str, tuple[str, int]]:
        """Open the listeners asked for; returns the addresses actually bound.

        `multicast` (group, port) joins a multicast group for SA input (ATAK's default mesh SA
        is 239.2.3.1:6969) on the interface with address `multicast_interface`.
        """
        loop = asyncio.get_running_loop()
        bound: dict[str, tuple[str, int]] = {}
        if tls is not None and self.tls_context is None:
            raise ValueError("a TLS listener needs the server's TLS context")
        if tcp is not None:
            bound["tcp"] = self._listen(tcp, "cot-tcp", None)
        if tls is not None:
            bound["tls"] = self._listen(tls, "cot-tls", self.tls_context)
        if udp is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: UdpInput(self), local_addr=udp
            )
            self._udp.append(transport)
            bound["udp"] = transport.get_extra_info("sockname")[:2]
        if multicast is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: UdpInput(self), sock=multicast_socket(*multicast, multicast_interface)
            )
            self._udp.append(transport)
            bound["multicast"] = transport.get_extra_info("sockname")[:2]
        if self._unsubscribe is None:
            hub = self.service.hub
            stops = (
                hub.subscribe(self.desk.on_service_events, remote=False),
                hub.subscribe(self.desk.on_remote_events, local=False, audit=False),
            )

            def unsubscribe() -> None:
                for stop in stops:
                    stop()

            self._unsubscribe = unsubscribe
        for work in (
            self._ingest_loop(),
            self._emergency_loop(),
            self._announce_loop(),
            self._housekeeping_loop(),
            self._revocation_loop(),
            self._expiry_loop(),
            self._watchdog_loop(),
        ):
            self.spawn(work)
        return bound

    async def close(self) -> None:
        """Stop listening and reading, let the picture take what was received and every client
        take what waits for it (queued messages included), then close every client."""
        for task in self._accepting:
            task.cancel()
        await asyncio.gather(*self._accepting, return_exceptions=True)
        for listener in self._listeners:
            listener.close()
        for conn in list(self.connections - self.clients):
            conn.abort()  # admitted, still in its handshake
        for transport in self._udp:
            transport.close()
        for client in list(self.clients):
            client.pause_reading()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ingest.join(), self.config.close_timeout_s)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._flush_clients()
        for client in list(self.clients):
            if client.backlog():
                client.abort()  # it stopped reading: its queued messages go to the mailbox
            else:
                client.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(1.0, self.config.close_timeout_s)):
                while self.clients:
                    await asyncio.sleep(0.01)
        for client in list(self.clients):
            client.abort()
        await asyncio.gather(*self._journal_writes, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._drain_ingest()

    @property
    def ingest_backlog(self) -> int:
        """Reports received and not yet handed to the picture."""
        return self._ingest.qsize()

    async def _flush_clients(self) -> None:
        """Wait while what is queued for the clients goes out, for at most close_timeout_s,
        and no longer than a second once none of them takes any more (one that does not read
        is not waited for)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.config.close_timeout_s
        last, idle_since = -1, loop.time()
        while (waiting := sum(client.backlog() for client in self.clients)) and loop.time() < end:
            if waiting != last:
                last, idle_since = waiting, loop.time()
            elif loop.time() - idle_since >= 1.0:
                return
            await asyncio.sleep(0.01)

    def _listen(
        self, address: tuple[str, int], source: str, tls: ssl.SSLContext | None
    ) -> tuple[str, int]:
        host, port = address
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.create_server(address, family=family, backlog=1024)
        listener.setblocking(False)
        self._listeners.append(listener)
        self._accepting.append(asyncio.ensure_future(self._accept(listener, source, tls)))
        bound = listener.getsockname()
        return (str(bound[0]), int(bound[1]))

    async def _accept(
        self, listener: socket.socket, source: str, tls: ssl.SSLContext | None
    ) -> None:
        """Accept, and admit or refuse by source address before anything else is done with
        the connection (a refused one costs an accept and a close: no transport, no TLS)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, address = await loop.sock_accept(listener)
            except OSError as exc:  # out of file descriptors, say: wait rather than spin
                self.counters["accept-failed"] += 1
                if self.counters["accept-failed"] in (1, 10, 100, 1000, 10000):
                    log.error("%s: cannot accept (%s)", source, exc)
                await asyncio.sleep(0.1)
                continue
            host = str(address[0])
            if self.admission.admit(host) is not None:
                sock.close()
                continue
            conn = CotConnection(self, source, host, f"{host}:{address[1]}")
            self.connections.add(conn)
            self.spawn(self._connect(conn, sock, tls))

    async def _connect(
        self, conn: CotConnection, sock: socket.socket, tls: ssl.SSLContext | None
    ) -> None:
        """The transport (and, on TLS, the handshake, bounded in time) of an admitted
        connection."""
        loop = asyncio.get_running_loop()
        try:
            if tls is None:
                await loop.connect_accepted_socket(lambda: conn, sock)
            else:
                await loop.connect_accepted_socket(
                    lambda: conn,
                    sock,
                    ssl=tls,
                    ssl_handshake_timeout=self.config.handshake_timeout_s or None,
                )
        except (OSError, ssl.SSLError, EOFError) as exc:
            # One reason for a handshake that failed and one that never finished (uvloop
            # reports a failed one only when the time-out fires).
            if conn.host is not None:
                self.admission.refuse(conn.host, "tls-handshake" if tls else "connect-failed")
            log.debug("%s: not connected: %r", conn.peer.address, exc)
            conn.release()
            sock.close()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- connections -----------------------------------------------------------------------

    def revoked(self, identity: TlsIdentity) -> bool:
        return self.revocations is not None and self.revocations.revoked(identity)

    async def _revocation_loop(self) -> None:
        """Watch the CRL and cut off, at once, every open connection it newly lists."""
        if self.revocations is None:
            return
        while True:
            await asyncio.sleep(self.config.revocation_poll_s)
            self.cut_off(self.revocations.refresh())

    async def _expiry_loop(self) -> None:
        """At start and once a day: a warning for every certificate that ends within 14 days."""
        if self.revocations is None:
            return
        while True:
            now = self.clock.now()
            try:
                for status in expiring(self.revocations.store, now):
                    log.warning("certificate: %s", expiry_message(status, now))
            except CertStoreError as exc:
                log.error("certificate expiry not checked: %s", exc)
            await asyncio.sleep(self.config.expiry_check_s)

    def cut_off(self, serials: frozenset[int]) -> None:
        """Abort the connections whose client certificate has one of these serials."""
        if not serials:
            return
        for conn in list(self.clients):
            identity = conn.peer.identity
            if identity is not None and identity.serial in serials:
                log.warning(
                    "%s: certificate %s (serial %x) revoked; connection cut off",
                    conn.peer.address,
                    identity.name,
                    identity.serial,
                )
                self.counters["revoked-cut"] += 1
                conn.abort()

    def charge(self, host: str, size: int, frames: int) -> float:
        """Charge what `host` sent to its budgets; seconds its connection should now go
        unread (0.0: none). Charged after a read, so an address may get up to one read (256
        KiB) past its budget before it waits."""
        cfg = self.config
        wait = 0.0
        if cfg.bytes_per_s:
            burst = cfg.bytes_burst_s * cfg.bytes_per_s
            bucket = self.admission.bucket(host, "bytes", cfg.bytes_per_s, burst)
            wait = bucket.spend(time.monotonic(), size)
        if cfg.events_per_s and frames:
            burst = cfg.events_burst_s * cfg.events_per_s
            bucket = self.admission.bucket(host, "events", cfg.events_per_s, burst)
            wait = max(wait, bucket.spend(time.monotonic(), frames))
        return wait

    async def _watchdog_loop(self) -> None:
        """Once a second: close the connections idle or slowloris for too long."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for conn in list(self.connections):
                reason = conn.overdue(now)
                if reason is None:
                    continue
                if conn.host is not None:
                    self.admission.refuse(conn.host, reason)
                conn.peer.counters[f"refused-{reason}"] += 1
                conn.abort()
            self.admission.prune()

    def groups_for(self, identity: TlsIdentity | None) -> frozenset[str]:
        """A certificate's groups from groups.toml; everyone else the default groups."""
        return self.groups.groups_for(identity.name if identity is not None else None)

    def joined(self, conn: CotConnection) -> None:
        """A connection in. One a certificate names is served at once; one without is served
        the picture (the kept SA, then every event of its groups) once it has sent one valid
        event: ATAK, WinTAK and iTAK send their own position as they connect. Idle, slow and
        garbage connections, which never do, then cost the fan-out nothing."""
        self.clients.add(conn)
        conn.client_id = self.service.connections.add("tak", conn)
        bound = conn.peer.bound_uid
        if bound is not None:
            self.certified.add(bound)
            for other in self.clients:  # an unauthenticated claim to the uid ends here
                if other is not conn and other.peer.uid == bound and other.peer.bound_uid != bound:
                    other.peer.uid = None
                    self.count(other, "uid-claim-revoked")
        offer = conn.negotiation.offer(self.clock.now())
        if offer is not None:
            conn.sink.send_message(Outgoing(offer))
        if conn.peer.identity is not None:
            self._serve(conn)
        if conn.peer.uid is not None:
            self._bind(conn, conn.peer.uid)
        log.info("%s connected over %s", conn.peer.address, conn.source)

    def _serve(self, conn: CotConnection) -> None:
        """Into its groups' audience, with the server's own SA and every kept one."""
        conn.served = True
        for group in conn.peer.groups:
            self.members.setdefault(group, set()).add(conn)
        now = self.clock.now()
        conn.sink.send_sa(self.config.server_uid, self._own_sa(now))
        for uid, kept in list(self.latest_sa.items()):
            if uid != conn.peer.uid and self._may_receive(conn, kept, now):
                conn.sink.send_sa(uid, kept.out)

    def left(self, conn: CotConnection) -> None:
        self.clients.discard(conn)
        self.service.connections.remove(conn.client_id)
        self._throttled.discard(conn)
        for group in conn.peer.groups:
            self.members.get(group, set()).discard(conn)
        held = list(conn.sink.messages)
        conn.sink.messages.clear()
        conn.sink.sa.clear()
        uid = conn.peer.uid
        if uid is None:
            if held:
                self.counters["messages-unaddressable"] += len(held)
                log.warning("%s left with %d messages and no uid", conn.peer.address, len(held))
        elif self.by_uid.get(uid) is conn:
            del self.by_uid[uid]
            # Whatever still waited for it is kept until it comes back.
            for out in held:
                self.mailbox.keep(uid, out)
            # Its presence goes with it: clients that connect later are not shown a ghost.
            self.latest_sa.pop(uid, None)
            notice = Outgoing(disconnect_notice(uid, conn.peer.cot_type, self.clock.now()))
            for other in self._audience(conn.peer.groups, exclude=conn):
                other.sink.send_sa(f"{uid}.disconnect", notice)
        else:  # it had reconnected already: the new connection takes what waited
            current = self.by_uid.get(uid)
            for out in held:
                if current is not None:
                    current.send_message(out)
                else:
                    self.mailbox.keep(uid, out)
        log.info("%s (%s) disconnected", conn.peer.address, uid or "no uid")

    def _bind(self, conn: CotConnection, uid: str) -> None:
        conn.peer.uid = uid
        self.by_uid[uid] = conn
        for out in self.mailbox.take(uid):
            conn.send_message(out)

    def certified_elsewhere(self, peer: Peer, uid: str) -> bool:
        """Does a certificate other than this peer's speak for `uid`?"""
        if peer.bound_uid == uid:
            return False
        if uid in self.certified:
            return True
        track = self.service.picture.track(uid)
        return track is not None and track.own is not None

    def count(self, conn: CotConnection, what: str, n: int = 1) -> None:
        self.counters[what] += n
        conn.peer.counters[what] += n

    def _warn(self, conn: CotConnection, what: str, message: str, *args: object) -> None:
        """Count, and log the 1st, 10th, 100th … time for this connection (not a log flood)."""
        self.count(conn, what)
        seen = conn.peer.counters[what]
        if seen == 10 ** (len(str(seen)) - 1):
            log.warning("%s (%s #%d): " + message, conn.peer.label, what, seen, *args)

    # --- events ----------------------------------------------------------------------------

    def on_event(self, conn: CotConnection, event: CotEvent) -> None:
        self.counters["events"] += 1
        try:
            self._on_event(conn, event)
        except Exception:  # one event's bug must not take the connection down
            self.count(conn, "internal-error")
            log.exception("%s: event %r (%s) not handled", conn.peer.address, event.uid, event.type)

    def _on_event(self, conn: CotConnection, event: CotEvent) -> None:
        if not conn.served:
            self._serve(conn)
        kind = event.type
        if kind == "t-x-c-t":
            conn.send_message(Outgoing(pong(self.clock.now())))
            return
        if kind.startswith("t-x-takp"):
            return
        self._learn(conn, event)
        if kind.startswith("a-") and event.has_point:
            self._report(conn.peer, event, conn)
        if kind == "t-x-d-d":
            self._delete_markers(conn.peer, event)
        if kind == "b-t-f":
            self._chat(conn, event)
            return
        self._route(conn.peer, event, sender=conn)

    def on_udp_event(self, peer: Peer, event: CotEvent) -> None:
        self.counters["udp-events"] += 1
        if not (event.type.startswith("a-") and event.has_point):
            return
        try:
            if self._ingest.qsize() >= 2 * self.config.ingest_high_water:
                self.counters["udp-dropped-backlog"] += 1  # UDP cannot be slowed down
                return
            self._report(peer, event, None)
            self._route(peer, event, sender=None)
        except Exception:
            self.counters["internal-error"] += 1
            log.exception("udp event %r (%s) not handled", event.uid, event.type)

    def _learn(self, conn: CotConnection, event: CotEvent) -> None:
        """A client's own SA tells its uid (when no certificate did), callsign and team."""
        peer = conn.peer
        if event.uid != peer.uid:
            if not event.type.startswith("a-") or event.endpoint is None:
                return
            if peer.uid is not None:
                if peer.bound_uid is not None:  # a contact SA, but not for its certificate's uid
                    self._warn(
                        conn,
                        "own-sa-uid-mismatch",
                        "certificate binds %r but it sends contact SA for %r",
                        peer.bound_uid,
                        event.uid,
                    )
                return
            if self.certified_elsewhere(peer, event.uid):
                # Taking the uid would hand it the unit's messages.
                self._warn(
                    conn,
                    "uid-claim-refused",
                    "claims %r, which a certificate speaks for; not bound",
                    event.uid,
                )
                return
            self._bind(conn, event.uid)
        peer.callsign = event.callsign or peer.callsign
        peer.cot_type = event.type if event.type.startswith("a-") else peer.cot_type
        peer.team = event.group_name or peer.team
        if peer.callsign and peer.uid is not None:
            self.callsigns[peer.callsign] = peer.uid
            for out in self.mailbox.take(f"callsign:{peer.callsign}"):
                conn.send_message(out)

    def _report(self, peer: Peer, event: CotEvent, conn: CotConnection | None) -> None:
        bound = peer.bound_uid
        try:
            report = report_from_cot(
                event,
                received_at=self.clock.now(),
                source=peer.source,
                # A certificate-bound client speaks for its own uid; anyone else is a witness.
                reporter=bound or peer.uid or f"{peer.source}:{peer.address}",
                authenticated=bound is not None,
            )
        except CotError as exc:
            self.counters[f"report-dropped-{exc.reason}"] += 1
            return
        if report is None:
            return
        # Whatever a client places about another uid is a marker; its own SA is not.
        own = bound or peer.uid
        marker = event.uid != own if own is not None else event.endpoint is None
        self._ingest.put_nowait(replace(report, marker=marker) if marker else report)
        backlog = self._ingest.qsize() >= self.config.ingest_high_water
        if conn is not None and backlog and conn not in self._throttled:
            self.count(conn, "ingest-throttled")
            conn.pause_reading()
            self._throttled.add(conn)

    def _delete_markers(self, peer: Peer, event: CotEvent) -> None:
        """A client deleting a marker it placed: it leaves the picture (registered units never
        leave this way)."""
        reporter = peer.bound_uid or peer.uid or f"{peer.source}:{peer.address}"
        picture = self.service.picture
        for uid in event.link_uids:
            track = picture.track(uid)
            if track is None or not picture.is_marker(uid):
                continue
            if any(r.reporter == reporter for r in track.positions):
                self.spawn(self._remove_marker(uid, peer.label))
            else:
                self.counters["marker-delete-refused"] += 1

    async def _remove_marker(self, uid: str, by: str) -> None:
        try:
            await self.service.remove_marker(uid, by=by, reason="deleted by its client")
        except StoreNotWritable:
            pass
        except StoreError as exc:
            log.error("marker %s not removed: %s", uid, exc)

    def on_remote(self, xml: bytes, groups: frozenset[str]) -> None:
        """A CoT event another node of the cluster routed to its clients, in `groups`: to this
        node's clients in the same groups (nothing kept for offline ones: the origin keeps)."""
        self.counters["cluster-events"] += 1
        try:
            event = parse_event(xml, max_bytes=self.config.max_event_bytes)
        except CotError as exc:
            self.counters[f"cluster-dropped-{exc.reason}"] += 1
            return
        peer = Peer(address="cluster", source="cluster", groups=groups)
        try:
            if event.type == "b-t-f":
                self._pass_chat(peer, event, None, remote=True)
            else:
                self._route(peer, event, None, remote=True)
        except Exception:
            self.counters["internal-error"] += 1
            log.exception("cluster event %r (%s) not handled", event.uid, event.type)

    def _route(
        self, peer: Peer, event: CotEvent, sender: CotConnection | None, *, remote: bool = False
    ) -> None:
        if self.certified_elsewhere(peer, event.uid):
            if sender is None:
                self.counters["spoof-not-routed"] += 1
            else:
                self._warn(
                    sender,
                    "spoof-not-routed",
                    "sent %s for %r, which a certificate speaks for; not routed",
                    event.type,
                    event.uid,
                )
            return
        out = Outgoing(event.xml_bytes(), event)
        groups = peer.groups
        if not remote and self.relay is not None:
            self.relay(out.xml, groups)
        if is_message(event.type):
            if event.type.startswith("b-a-"):
                self._emergency(groups, event, out)
            if event.dest_uids or event.dest_callsigns:
                self._deliver_to(
                    set(event.dest_uids),
                    set(event.dest_callsigns),
                    groups,
                    out,
                    sender,
                    keep=not remote,
                )
            else:
                for target in self._audience(groups, exclude=sender):
                    target.send_message(out)
            return
        if event.type.startswith("a-"):
            self._remember_sa(event.uid, Kept(out, groups, event))
        for target in self._addressed(groups, event, sender):
            target.sink.send_sa(event.uid, out)

    def _remember_sa(self, uid: str, kept: Kept) -> None:
        self.latest_sa.pop(uid, None)
        self.latest_sa[uid] = kept
        while len(self.latest_sa) > self.config.latest_sa_limit:
            del self.latest_sa[next(iter(self.latest_sa))]
            self.counters["latest-sa-evicted"] += 1

    def _may_receive(self, conn: CotConnection, kept: Kept, now: datetime) -> bool:
        """May `conn`, connecting now, be sent this kept event?"""
        event = kept.event
        if event.stale is not None and event.stale <= now:
            return False
        if kept.groups.isdisjoint(conn.peer.groups):
            return False
        if event.dest_uids or event.dest_callsigns:
            peer = conn.peer
            return peer.uid in event.dest_uids or peer.callsign in event.dest_callsigns
        return True

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

    def _deliver_to(
        self,
        uids: set[str],
        callsigns: set[str],
        groups: frozenset[str],
        out: Outgoing,
        sender: CotConnection | None,
        *,
        keep: bool = True,
    ) -> None:
        """A message for named uids or callsigns: to those connected, kept for the others
        (unless `keep` is false: another node of the cluster took it and keeps it)."""
        reached: set[str] = set()
        for conn in self._audience(groups, exclude=sender):
            peer = conn.peer
            if peer.uid in uids or peer.callsign in callsigns:
                conn.send_message(out)
                if peer.uid is not None:
                    reached.add(peer.uid)
                if peer.callsign is not None:
                    reached.add(f"callsign:{peer.callsign}")
        if not keep:
            return
        sender_uid = sender.peer.uid if sender is not None else None
        absent = {uid for uid in uids if uid not in reached}
        for callsign in callsigns:
            if f"callsign:{callsign}" in reached:
                continue
            uid = self.callsigns.get(callsign)
            absent.add(f"callsign:{callsign}" if uid is None else uid)
        for key in sorted(absent - reached):
            if key == sender_uid or key == self.config.server_uid or key in self.by_uid:
                continue  # online but not in the sender's groups: not for it
            self.mailbox.keep(key, out)
            self.counters["kept-for-offline"] += 1

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

    def _to_server(self, event: CotEvent) -> bool:
        chat = event.chat
        cfg = self.config
        return (
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

    def _chat(self, conn: CotConnection, event: CotEvent) -> None:
        if self._to_server(event):
            self.spawn(self.desk.command(conn, event))
            return
        chat = event.chat
        if (chat is not None and chat.sender_callsign == self.config.callsign) or any(
            self.certified_elsewhere(conn.peer, uid) for uid in chat_senders(event)
        ):
            # A chat "from" holdfire or a certified unit, sent by someone else: not passed on
            # (a forged reply could tell a crew its target is clear).
            self._warn(
                conn,
                "spoof-not-routed",
                "sent a chat in someone else's name (%r); not routed",
                event.uid,
            )
            return
        self._pass_chat(conn.peer, event, conn)

    def _pass_chat(
        self, peer: Peer, event: CotEvent, sender: CotConnection | None, *, remote: bool = False
    ) -> None:
        """A chat to whom it is for: named recipients, a team, or everyone in its groups."""
        chat = event.chat
        out = Outgoing(event.xml_bytes(), event)
        groups = peer.groups
        if not remote and self.relay is not None:
            self.relay(out.xml, groups)
        directed = bool(event.dest_uids or event.dest_callsigns)
        room = chat is not None and (
            chat.chatroom == _ALL_CHAT_ROOMS or chat.parent == _TEAM_GROUPS
        )
        if directed or (chat is not None and not room):
            uids = set(event.dest_uids)
            if chat is not None and not directed:
                uids |= _chat_recipients(chat, peer.uid)
            self._deliver_to(uids, set(event.dest_callsigns), groups, out, sender, keep=not remote)
            return
        if chat is not None and chat.parent == _TEAM_GROUPS:
            targets = [c for c in self._audience(groups, sender) if c.peer.team == chat.chatroom]
        else:  # All Chat Rooms, or a chat without __chat
            targets = list(self._audience(groups, exclude=sender))
        for target in targets:
            target.send_message(out)

    # --- emergencies and the server's own presence -----------------------------------------

    def _emergency(self, groups: frozenset[str], event: CotEvent, out: Outgoing) -> None:
        key = event.links[0].uid if event.links else event.uid
        if event.type == "b-a-o-can" or event.emergency_cancel:
            for open_key, kept in list(self.emergencies.items()):
                if open_key in (key, event.uid) or kept.event.uid == event.uid:
                    del self.emergencies[open_key]
        else:
            self.emergencies[key] = Kept(out, groups, event)

    async def _emergency_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.emergency_repeat_s)
            for key, kept in list(self.emergencies.items()):
                for conn in self._audience(kept.groups, exclude=None):
                    if conn.peer.uid != key:
                        conn.sink.send_sa(f"emergency:{key}", kept.out)

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
                if conn.served:
                    conn.sink.send_sa(self.config.server_uid, out)

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.housekeeping_s)
            self.prune()
            try:
                expired = await self.service.expire_markers()
            except StoreError as exc:
                if not isinstance(exc, StoreNotWritable):
                    log.error("markers not expired: %s", exc)
                continue
            if expired:
                log.info("markers expired: %s", ", ".join(expired))

    def prune(self) -> None:
        """Forget latest SAs past their stale time and mailbox entries past their deadline."""
        now = self.clock.now()
        for uid, kept in list(self.latest_sa.items()):
            if kept.event.stale is not None and kept.event.stale <= now:
                del self.latest_sa[uid]
        self.mailbox.prune()

    # --- into the picture ------------------------------------------------------------------

    async def _ingest_loop(self) -> None:
        """Reports go to the service in batches: one durable write per batch."""
        while True:
            batch = [await self._ingest.get()]
            while len(batch) < self.config.ingest_batch and not self._ingest.empty():
                batch.append(self._ingest.get_nowait())
            try:
                await self._apply(batch)
            finally:
                for _ in batch:
                    self._ingest.task_done()
            if self._throttled and self._ingest.qsize() <= self.config.ingest_high_water // 2:
                for conn in list(self._throttled):
                    conn.resume_reading()
                self._throttled.clear()

    async def _drain_ingest(self) -> None:
        batch: list[PositionReport] = []
        while not self._ingest.empty():
            batch.append(self._ingest.get_nowait())
            self._ingest.task_done()
        if batch:
            await self._apply(batch)

    async def _apply(self, batch: list[PositionReport]) -> None:
        try:
            results = await self.service.reports(batch)
        except Exception as exc:  # StoreError, or a bug: counted and logged, the loop goes on
            self.counters["ingest-failed"] += len(batch)
            if not isinstance(exc, StoreNotWritable):  # the store logs that once
                log.error("%d reports not stored: %s", len(batch), exc, exc_info=True)
            return
        self.counters["reports"] += sum(1 for r in results if r.accepted)


def _chat_recipients(chat: CotChat, sender_uid: str | None) -> set[str]:
    """Who a direct or user-group chat is for: `chatgrp` uid1…, else `__chat` id."""
    members = {uid for uid in chat.chatgrp_uids[1:] if uid and uid != sender_uid}
    if members:
        return members
    return {chat.chat_id} if chat.chat_id and chat.chat_id != sender_uid else set()

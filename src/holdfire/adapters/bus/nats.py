"""One node of a holdfire cluster, kept in step with the others over NATS JetStream.

The nodes share one store (PostgreSQL), which is what lasts; the stream carries every event to
every node, so each node's in-memory picture sees what any node took.

Publishing. A node's service writes each event to the store together with an entry in this
node's *outbox*, in one transaction (``Store.append(..., outbox=node)``), and only then
acknowledges it. The publisher here reads the outbox and publishes its events to
``<cluster>.events.<node>``, as the store keeps their JSON text, many to a message (up to 200 or
256 KB: a message costs every receiver more than an event does), the range of their store
sequence numbers as ``Nats-Msg-Id``, check records in messages of their own (header
``Holdfire-Kind: audit``, so a node no listener of which shows them need not decode them); it
removes them from the outbox once JetStream has acknowledged them. An event is published at least
once, whatever dies when: if the node is killed between the two, it publishes again on restart,
and JetStream's duplicate window or the receivers (by sequence number) drop the second copy.
While NATS is unreachable the outbox simply grows, and drains when NATS is back.

Applying. Each node follows the stream with an ordered consumer and hands every event another
node published to ``Service.apply_remote``, once: events already applied are recognised by their
store sequence number; at start, those the store's snapshot already held are skipped the same
way (the snapshot lists the recent sequence numbers it contains).

Starting. A node loads the store's snapshot, then follows the stream from a little before the
snapshot was taken (``start_margin_s``, which also covers clock skew between the node and the
NATS server), and reports itself ready once it has applied everything the stream held when it
subscribed. Until then ``/api/v1/health`` says not ready and checks are refused. A node that
cannot reach NATS within ``connect_wait_s`` starts cut off (below) rather than not at all.

Cut off. From the moment the connection to NATS is lost until the node has reconnected and caught
up again, ``cut_off_since`` is set, and every check this node answers carries CLUSTER_DEGRADED
(COORDINATE) saying for how long. The node goes on answering from its own picture and taking
reports; what it took is published when the stream is back.

Coordination. Re-sends, escalations and stale-unit alerts are the work of one node, the
*coordinator*: the node with the smallest name among this one and those heard from (ready) in
the last ``silent_after_s``. A node that hears nobody coordinates for itself, so a cut-off node
still warns its own users.

CoT. Events a node routes to its TAK clients (SA, GeoChat, emergencies) are published to a second
stream, ``<cluster>.cot.<node>``, with the groups they were routed in; every other node routes
them to its own clients in the same groups, so TAK clients on different nodes see each other.

Heartbeats. Every ``heartbeat_s`` each node publishes its state and lag on ``<cluster>.nodes``;
``GET /api/v1/cluster`` lists what was heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext, api
from nats.js.errors import Error as JetStreamError

from holdfire.codecs.cluster import (
    NodeStatus,
    cot_envelope,
    events_envelope,
    node_status_to_bytes,
    read_cot_envelope,
    read_events_envelope,
    read_node_status,
)
from holdfire.codecs.json import CodecError
from holdfire.service.handlers import Service
from holdfire.service.ports import Clock, Queued, StoreError

log = logging.getLogger("holdfire.cluster")

CotSink = Callable[[bytes, frozenset[str]], None]
# Whether a message holds only records for the audit, readable without decoding it.
KIND_HEADER = "Holdfire-Kind"
AUDIT, STATE = "audit", "state"
# Events that change nothing in a picture: only listeners (the stream's clients) want them.
AUDIT_ONLY = frozenset({"check", "decision", "fired"})
MAX_CHUNK_BYTES = 256 * 1024  # well under NATS's default 1 MB message limit
MAX_CHUNK_EVENTS = 200


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    url: str  # nats://host:port
    node: str
    cluster: str = "holdfire"  # names the streams and subjects: clusters may share one NATS
    events_max_age_s: float = 7 * 24 * 3600.0  # how far back a node can catch up from the stream
    cot_max_age_s: float = 600.0  # SA and chat are of no use later than this
    duplicate_window_s: float = 120.0
    start_margin_s: float = 30.0
    connect_wait_s: float = 5.0
    heartbeat_s: float = 1.0
    silent_after_s: float = 3.5
    publish_batch: int = 500
    seen_limit: int = 200_000  # sequence numbers remembered to recognise a second copy

    @property
    def events_stream(self) -> str:
        return f"{self.cluster.upper()}_EVENTS"

    @property
    def events_subject(self) -> str:
        return f"{self.cluster}.events"

    @property
    def cot_stream(self) -> str:
        return f"{self.cluster.upper()}_COT"

    @property
    def cot_subject(self) -> str:
        return f"{self.cluster}.cot"

    @property
    def nodes_subject(self) -> str:
        return f"{self.cluster}.nodes"


@dataclass(slots=True)
class _Follower:
    """One stream followed with an ordered consumer, resumable after a reconnect."""

    stream: str
    subject: str
    handle: Callable[[Msg], None]
    last_seq: int = 0  # the last stream sequence number handed to `handle`
    target: int = 0  # the stream's last sequence number when (re)subscribed: caught up at it
    subscription: Any = None


@dataclass(slots=True)
class _Heard:
    status: NodeStatus
    heard_at: datetime


@dataclass(slots=True)
class NatsLink:
    """The ClusterLink of the service, on NATS JetStream (see the module docstring)."""

    settings: ClusterSettings
    service: Service
    clock: Clock
    http: str | None = None
    on_cot: CotSink | None = None  # where CoT from other nodes goes (the CoT server)
    counters: Counter[str] = field(default_factory=Counter)
    _nc: NatsClient | None = None
    _js: JetStreamContext | None = None
    _state: str = "starting"
    _cut_off_since: datetime | None = None
    _since: datetime | None = None  # where the stream is first followed from
    _skip: frozenset[int] = frozenset()  # store seqs the snapshot already held
    _seen: OrderedDict[int, None] = field(default_factory=OrderedDict)
    _followers: list[_Follower] = field(default_factory=list)
    _heard: dict[str, _Heard] = field(default_factory=dict)
    _kick: asyncio.Event = field(default_factory=asyncio.Event)
    _caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stream_last: int = 0
    _cot_out: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(10_000))

    # --- ClusterLink ---------------------------------------------------------------------

    @property
    def node(self) -> str:
        return self.settings.node

    @property
    def url(self) -> str:
        """The NATS URL as it may be shown (no password)."""
        return without_password(self.settings.url)

    def cut_off_since(self) -> datetime | None:
        return self._cut_off_since

    def coordinates(self) -> bool:
        return self.coordinator() == self.node

    def coordinator(self) -> str:
        """The node that coordinates: the smallest name among this one and the ready nodes
        heard from lately."""
        now = self.clock.now()
        silent = timedelta(seconds=self.settings.silent_after_s)
        peers = [
            name
            for name, heard in self._heard.items()
            if heard.status.state == "ready" and now - heard.heard_at <= silent
        ]
        return min([self.node, *peers])

    @property
    def stream_name(self) -> str:
        return self.settings.events_stream

    @property
    def stream_last(self) -> int:
        """The events stream's last sequence number, as last seen."""
        return self._stream_last

    def recorded(self) -> None:
        self._kick.set()

    @property
    def cot_backlog(self) -> int:
        """CoT events waiting to be published for the other nodes' clients."""
        return self._cot_out.qsize()

    # --- life ----------------------------------------------------------------------------

    async def start(self, snapshot_at: datetime, snapshot_seqs: frozenset[int]) -> None:
        """Follow the stream from a little before the snapshot; return once caught up, or once
        NATS has not answered for `connect_wait_s` (then the node starts cut off)."""
        self._since = snapshot_at - timedelta(seconds=self.settings.start_margin_s)
        self._skip = snapshot_seqs
        s = self.settings
        self._followers = [
            _Follower(s.events_stream, f"{s.events_subject}.>", self._on_event),
            _Follower(s.cot_stream, f"{s.cot_subject}.>", self._on_cot),
        ]
        self._spawn(self._connect_loop(), "cluster-connect")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.connect_wait_s):
                while self._nc is None:
                    await asyncio.sleep(0.05)
        if self._nc is None:
            self._cut_off(self.clock.now())
            log.warning(
                "cluster: NATS at %s did not answer within %.0f s; starting cut off",
                self.url,
                self.settings.connect_wait_s,
            )
            return
        while not self._caught_up.is_set() and self._state != "cut-off":
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        nc, self._nc = self._nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2.0)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=name))

    # --- connection ----------------------------------------------------------------------

    async def _connect_loop(self) -> None:
        while self._nc is None:
            try:
                nc = await nats.connect(
                    self.settings.url,
                    name=f"holdfire-{self.node}",
                    connect_timeout=2,
                    reconnect_time_wait=0.5,
                    max_reconnect_attempts=-1,
                    ping_interval=2,
                    max_outstanding_pings=2,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                    error_cb=self._error,
                )
                js = nc.jetstream(timeout=2.0)
                await self._ensure_streams(js)
            except (OSError, NatsError, JetStreamError, TimeoutError) as exc:
                self.counters["connect-failed"] += 1
                log.debug("cluster: cannot reach NATS at %s: %s", self.url, exc)
                await asyncio.sleep(0.5)
                continue
            self._nc, self._js = nc, js
            await nc.subscribe(self.settings.nodes_subject, cb=self._on_status)
            await self._follow_all()
            for work, name in (
                (self._publish_loop(), "cluster-publish"),
                (self._cot_loop(), "cluster-cot"),
                (self._heartbeat_loop(), "cluster-heartbeat"),
            ):
                self._spawn(work, name)
            log.info("cluster: node %s joined through %s", self.node, self.url)

    async def _ensure_streams(self, js: JetStreamContext) -> None:
        s = self.settings
        for name, subject, max_age in (
            (s.events_stream, s.events_subject, s.events_max_age_s),
            (s.cot_stream, s.cot_subject, s.cot_max_age_s),
        ):
            config = api.StreamConfig(
                name=name,
                subjects=[f"{subject}.>"],
                storage=api.StorageType.FILE,
                max_age=max_age,
                duplicate_window=min(s.duplicate_window_s, max_age),
            )
            try:
                await js.add_stream(config)
            except JetStreamError:  # exists already (created by another node)
                await js.stream_info(name)

    async def _disconnected(self) -> None:
        self.counters["disconnected"] += 1
        self._cut_off(self.clock.now())
        log.warning("cluster: node %s lost NATS; checks carry CLUSTER_DEGRADED", self.node)

    async def _reconnected(self) -> None:
        self.counters["reconnected"] += 1
        log.info("cluster: node %s reached NATS again; catching up", self.node)
        self._spawn(self._resume(), "cluster-resume")

    async def _resume(self) -> None:
        try:
            await self._follow_all()
        except (NatsError, JetStreamError, TimeoutError) as exc:
            log.warning("cluster: cannot follow the stream again yet: %s", exc)
            return  # the next reconnect tries again
        self._kick.set()

    async def _error(self, exc: Exception) -> None:
        log.debug("cluster: NATS error: %s", exc)

    def _cut_off(self, now: datetime) -> None:
        if self._cut_off_since is None:
            self._cut_off_since = now
        self._state = "cut-off"
        self._caught_up.clear()

    # --- following the streams -----------------------------------------------------------

    async def _follow_all(self) -> None:
        js = self._js
        assert js is not None
        self._caught_up.clear()
        if self._state != "cut-off":
            self._state = "catching-up"
        for follower in self._followers:
            await self._follow(js, follower)
        self._spawn(self._await_catch_up(), "cluster-catch-up")

    async def _follow(self, js: JetStreamContext, follower: _Follower) -> None:
        if follower.subscription is not None:
            with contextlib.suppress(Exception):
                await follower.subscription.unsubscribe()
            follower.subscription = None
        info = await js.stream_info(follower.stream)
        follower.target = info.state.last_seq
        if follower.last_seq:
            config = api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=follower.last_seq + 1,
            )
        else:
            assert self._since is not None
            config = api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.BY_START_TIME,
                opt_start_time=self._since,
            )
        handle = follower.handle

        async def on_message(msg: Msg) -> None:
            seq = msg.metadata.sequence.stream
            if seq <= follower.last_seq:
                return  # a copy delivered again after a resubscribe
            follower.last_seq = seq
            try:
                handle(msg)
            except Exception:  # one bad message must not stop the follower
                self.counters["apply-failed"] += 1
                log.exception("cluster: message %d of %s not applied", seq, follower.stream)

        follower.subscription = await js.subscribe(
            follower.subject, cb=on_message, ordered_consumer=True, config=config
        )

    async def _await_catch_up(self) -> None:
        """Ready once every follower reached what its stream held when it subscribed (or the
        stream holds nothing from the start time on)."""
        while True:
            pending = 0
            for follower in self._followers:
                if follower.last_seq >= follower.target:
                    continue
                subscription = follower.subscription
                try:
                    info = await subscription.consumer_info()
                except (NatsError, JetStreamError, TimeoutError, AttributeError):
                    pending += 1
                    continue
                if info.num_pending or follower.last_seq < info.delivered.stream_seq:
                    pending += 1
            if not pending:
                break
            await asyncio.sleep(0.05)
        self._state = "ready"
        self._cut_off_since = None
        self._caught_up.set()
        log.info("cluster: node %s is in step with the stream", self.node)

    def _on_event(self, msg: Msg) -> None:
        audit = (msg.headers or {}).get(KIND_HEADER) == AUDIT
        if audit and not self.service.hub.wants_remote_audit:
            # Records for the audit (in the shared database already) that nobody here would
            # be shown: decoding a check of 40 reasons costs more than applying 10 reports.
            self.counters["audit-skipped"] += 1
            return
        try:
            origin, items = read_events_envelope(msg.data)
        except CodecError as exc:
            self.counters["bad-event"] += 1
            log.warning("cluster: unreadable events on %s dropped: %s", msg.subject, exc)
            return
        if origin == self.node:
            return  # applied here when they were taken
        fresh = []
        for seq, event in items:
            if seq in self._skip or seq in self._seen:
                continue  # already in the snapshot, or a copy
            self._seen[seq] = None
            fresh.append(event)
        while len(self._seen) > self.settings.seen_limit:
            self._seen.popitem(last=False)
        if fresh:
            self.counters["applied"] += len(fresh)
            self.service.apply_remote(fresh)

    def _on_cot(self, msg: Msg) -> None:
        try:
            origin, xml, groups = read_cot_envelope(msg.data)
        except CodecError as exc:
            self.counters["bad-cot"] += 1
            log.warning("cluster: unreadable CoT on %s dropped: %s", msg.subject, exc)
            return
        if origin != self.node and self.on_cot is not None:
            self.counters["cot-in"] += 1
            self.on_cot(xml, groups)

    # --- publishing ----------------------------------------------------------------------

    async def _publish_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), 1.0)
            self._kick.clear()
            try:
                while await self._publish_some():
                    pass
            except StoreError as exc:
                self.counters["outbox-unreadable"] += 1
                log.warning("cluster: outbox not readable now: %s", exc)
            except (NatsError, JetStreamError, TimeoutError) as exc:
                self.counters["publish-failed"] += 1
                log.debug("cluster: publishing paused: %s", exc)

    async def _publish_some(self) -> bool:
        """Publish one batch from the outbox; True if there may be more."""
        js, store = self._js, self.service.store
        if js is None or self._nc is None or not self._nc.is_connected:
            return False
        batch = await store.outbox(self.node, self.settings.publish_batch)
        if not batch:
            return False
        subject = f"{self.settings.events_subject}.{self.node}"
        chunks = _chunks(batch)
        acks = await asyncio.gather(
            *(
                js.publish(
                    subject,
                    events_envelope(self.node, [(q.seq, q.body) for q in chunk]),
                    headers={
                        "Nats-Msg-Id": f"{chunk[0].seq}-{chunk[-1].seq}",
                        KIND_HEADER: AUDIT if chunk[0].type in AUDIT_ONLY else STATE,
                    },
                )
                for chunk in chunks
            )
        )
        self.counters["published"] += sum(
            len(chunk) for chunk, ack in zip(chunks, acks, strict=True) if not ack.duplicate
        )
        await store.unqueue([queued.seq for queued in batch])
        return len(batch) == self.settings.publish_batch

    def cot_out(self, xml: bytes, groups: frozenset[str]) -> None:
        """A CoT event this node routed to its clients: for the other nodes' clients too."""
        try:
            self._cot_out.put_nowait(cot_envelope(self.node, xml, groups))
        except asyncio.QueueFull:
            self.counters["cot-out-dropped"] += 1

    async def _cot_loop(self) -> None:
        subject = f"{self.settings.cot_subject}.{self.node}"
        while True:
            payload = await self._cot_out.get()
            js = self._js
            try:
                if js is not None:
                    await js.publish(subject, payload)
                    self.counters["cot-out"] += 1
            except (NatsError, JetStreamError, TimeoutError):
                self.counters["cot-out-dropped"] += 1  # SA comes again; a lost chat is counted

    # --- heartbeats ----------------------------------------------------------------------

    def status(self) -> NodeStatus:
        events = self._followers[0] if self._followers else None
        applied = events.last_seq if events is not None else 0
        return NodeStatus(
            node=self.node,
            state=self._state,
            lag=max(0, self._stream_last - applied),
            applied=applied,
            at=self.clock.now(),
            http=self.http,
            cut_off_since=self._cut_off_since,
        )

    def heard(self) -> list[tuple[NodeStatus, datetime]]:
        """Every other node heard from, with when (this node's clock)."""
        return [(h.status, h.heard_at) for _, h in sorted(self._heard.items())]

    async def _heartbeat_loop(self) -> None:
        while True:
            nc, js = self._nc, self._js
            if nc is not None and js is not None and nc.is_connected:
                try:
                    info = await js.stream_info(self.settings.events_stream)
                    self._stream_last = info.state.last_seq
                    status = node_status_to_bytes(self.status())
                    await nc.publish(self.settings.nodes_subject, status)
                except (NatsError, JetStreamError, TimeoutError) as exc:
                    log.debug("cluster: heartbeat not sent: %s", exc)
            await asyncio.sleep(self.settings.heartbeat_s)

    async def _on_status(self, msg: Msg) -> None:
        try:
            status = read_node_status(msg.data)
        except CodecError as exc:
            self.counters["bad-status"] += 1
            log.debug("cluster: unreadable node status dropped: %s", exc)
            return
        if status.node != self.node:
            self._heard[status.node] = _Heard(status, self.clock.now())


def without_password(url: str) -> str:
    """The URL as it may be shown (a password in it replaced by ***)."""
    head, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{head}://{user}:***@{host}" if ":" in credentials else url


def _chunks(batch: list[Queued]) -> list[list[Queued]]:
    """Consecutive events in messages of at most MAX_CHUNK_EVENTS / MAX_CHUNK_BYTES, audit
    records apart from the rest (so a node can leave them unread)."""
    chunks: list[list[Queued]] = []
    size = 0
    for queued in batch:
        current = chunks[-1] if chunks else None
        same_kind = current is not None and (
            (current[0].type in AUDIT_ONLY) == (queued.type in AUDIT_ONLY)
        )
        if (
            current is None
            or not same_kind
            or len(current) >= MAX_CHUNK_EVENTS
            or size + len(queued.body) > MAX_CHUNK_BYTES
        ):
            chunks.append([queued])
            size = len(queued.body)
        else:
            current.append(queued)
            size += len(queued.body)
    return chunks

"""MQTT tracker ingest: subscribe to a broker and put every position it carries in the picture.

`--mqtt mqtt://user:pass@host:1883` (or `mqtts://` for TLS, port 8883 by default, the system's
CA certificates) and topic filters (MQTT wildcards; default `holdfire/reports/#` for the public
report JSON and `msh/+/2/json/#` for Meshtastic's JSON uplink). Payloads are read by
`codecs.mqtt_payloads`; reports go to the service in batches, one durable write per batch.

Decisions written down here:

- Trust: MQTT carries no binding between a publisher and a uid, so every report is kept as a
  position reported by its topic (`source` mqtt, `reporter` the topic, never authenticated): it
  adds protection, never moves an own position (design.md §3).
- Node ids: `DATA_DIR/mqtt-nodes.toml` maps Meshtastic node ids to unit uids
  (`"!7efeee00" = "btr-82-1"`); it is read at start and a bad file stops the start. A node it
  does not name reports under its node id, so registering a unit with the uid `!7efeee00` is the
  other way to give it an identity, and a node nobody registered still lands (as a new friend
  of unknown mobility, the worst case) instead of being dropped. The file wins over the
  registry: it is the operator's explicit statement of who carries which radio.
- Topics given on the command line replace the defaults (so one can narrow them).
- `start()` returns once subscribed, or once the first attempt has failed: a broker that is
  down does not stop the server (the CoT inputs still work); the subscriber keeps retrying,
  logs each failure and `connected` stays False until it is back.
- Reconnect: jittered exponential backoff (×2 from `backoff_initial_s`, capped at
  `backoff_max_s`, each delay drawn in [d/2, d]) so many servers do not reconnect in step; a
  successful subscription resets it. Every (re)connect subscribes again to every filter (QoS 1;
  a clean session, since queued old positions would be superseded by the next report anyway).
- Bad payloads are counted by reason (`counters`) and logged: the first few of each reason as
  warnings, the rest at debug, so a noisy publisher cannot flood the log. Nothing a publisher
  sends stops the subscriber.
- A retained message (the broker's last copy, delivered on every subscription) whose only time
  is its arrival is dropped and counted (`retained-without-time`): its age is unknown, and
  taking the arrival time would make an old position look fresh again on every reconnect.
  Retained reports that carry their own time are kept.
- Back-pressure: at most `queue_limit` reports wait for the picture; beyond that the
  subscriber stops reading and the client library buffers up to `queue_limit` messages, then
  drops (and logs) further ones.
- Messages out: a delivery (first send or re-send) for a unit whose latest position came over
  MQTT is published as the delivery JSON (`delivery_to_dict`) to `<messages_topic>/<uid>`
  (default `holdfire/messages/<uid>`) at QoS 1, not retained (a stale order must not greet the
  next subscriber). The outbox holds at most `outbox_limit` while the broker is away and is
  flushed once connected; past the limit the oldest is dropped and counted
  (`outbox-dropped`): an unacknowledged delivery is re-sent by the coordinator anyway. What is
  still in the outbox at shutdown is not kept (the deliveries are in the store, and pending
  ones are re-sent after the restart). A uid with `+`, `#` or NUL cannot be a topic level and
  is counted (`outbox-bad-topic`).
- Who is connected: while subscribed, the broker connection is in the list of live connections
  (`mqtt-N`: broker address, user name, messages received and published on this connection,
  reports and deliveries waiting). Disconnecting it drops this connection to the broker; the
  subscriber connects again after its backoff (the way to make it pick up a broker that was
  reconfigured); `--mqtt off` is what keeps it away.
"""

import asyncio
import contextlib
import json
import logging
import random
import ssl
import tomllib
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from holdfire.codecs.json import delivery_to_dict
from holdfire.codecs.meshtastic import node_id
from holdfire.codecs.mqtt_payloads import SOURCE, decode_payload
from holdfire.domain.events import Event
from holdfire.domain.reports import PositionReport
from holdfire.service.connections import ClientInfo
from holdfire.service.handlers import Service
from holdfire.service.messaging import to_carry
from holdfire.service.ports import StoreNotWritable

log = logging.getLogger("holdfire.mqtt")

DEFAULT_TOPICS = ("holdfire/reports/#", "msh/+/2/json/#")
NODES_FILE = "mqtt-nodes.toml"
_CLOSE_TIMEOUT_S = 5.0  # how long close() lets the picture take what is queued
_LOUD_FIRST = 5  # problems of one reason logged as warnings before the rest go to debug


class MqttConfigError(ValueError):
    """The MQTT settings or the node file cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log line
    tls: bool = False
    topics: tuple[str, ...] = DEFAULT_TOPICS
    client_id: str | None = None  # None: a fresh one per connection
    max_payload_bytes: int = 64 * 1024
    batch: int = 1_000
    queue_limit: int = 10_000
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    messages_topic: str = "holdfire/messages"  # deliveries out, to <messages_topic>/<uid>
    outbox_limit: int = 1_000

    @property
    def address(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt_url(url: str, topics: Sequence[str] = ()) -> MqttSettings | None:
    """`mqtt://[user[:password]@]host[:port]`, `mqtts://...`, or `off` (None). Topics, when
    given, replace the defaults."""
    text = url.strip()
    if text.lower() == "off":
        return None
    shown = _without_password(text)
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # e.g. an unclosed [IPv6 address
        raise MqttConfigError(f"--mqtt {shown}: {exc}") from None
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = 0
    scheme = parts.scheme.lower()
    if scheme not in ("mqtt", "mqtts"):
        raise MqttConfigError(
            f"--mqtt must be mqtt://[user:password@]host[:port], mqtts://... or off, got {shown!r}"
        )
    if not parts.hostname:
        raise MqttConfigError(f"--mqtt {shown}: no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise MqttConfigError(f"--mqtt {shown}: only scheme, user, password, host and port")
    if port == 0:
        raise MqttConfigError(f"--mqtt {shown}: the port must be a number in 1-65535")
    for topic in topics:
        check_topic_filter(topic)
    tls = scheme == "mqtts"
    return MqttSettings(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls,
        topics=tuple(topics) or DEFAULT_TOPICS,
    )


def _without_password(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return text
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def check_topic_filter(topic: str) -> None:
    """An MQTT topic filter: `+` stands for a whole level, `#` only for the last one."""
    if not topic or "\x00" in topic or len(topic.encode("utf-8")) > 65535:
        raise MqttConfigError(f"--mqtt-topic {topic!r}: must be a non-empty MQTT topic filter")
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if ("+" in level and level != "+") or ("#" in level and level != "#"):
            raise MqttConfigError(f"--mqtt-topic {topic!r}: + and # must fill a whole level")
        if level == "#" and i != len(levels) - 1:
            raise MqttConfigError(f"--mqtt-topic {topic!r}: # may only be the last level")


def load_nodes(data_dir: Path) -> dict[str, str]:
    """`DATA_DIR/mqtt-nodes.toml`: `"!7efeee00" = "btr-82-1"` lines; no file, no mapping."""
    path = data_dir / NODES_FILE
    if not path.exists():
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MqttConfigError(f"{path}: not readable: {exc}") from None
    nodes = {}
    for key, uid in document.items():
        number = key.removeprefix("!")
        if not key.startswith("!") or len(number) != 8 or not _is_hex(number):
            raise MqttConfigError(f"{path}: {key!r}: a node id is ! and 8 hex digits (!7efeee00)")
        if not isinstance(uid, str) or not uid.strip():
            raise MqttConfigError(f"{path}: {key!r}: the unit uid must be a non-empty string")
        nodes[node_id(int(number, 16))] = uid.strip()
    return nodes


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


class MqttIngest:
    """The subscriber and its bridge into the service."""

    def __init__(
        self, service: Service, settings: MqttSettings, nodes: Mapping[str, str] | None = None
    ) -> None:
        self.service = service
        self.settings = settings
        self.nodes = dict(nodes or {})
        self.counters: Counter[str] = Counter()
        self.connected = False
        self._queue: asyncio.Queue[PositionReport] = asyncio.Queue(settings.queue_limit)
        self._attempted = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._outbox_ready = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def waiting(self) -> int:
        """Reports waiting for the picture and deliveries waiting for the broker."""
        return self._queue.qsize() + len(self._outbox)

    async def start(self) -> None:
        """Start subscribing; returns once subscribed or once the first attempt failed."""
        self._unsubscribe = self.service.hub.subscribe(self.on_service_events, remote=False)
        subscriber = asyncio.create_task(self._subscriber(), name="mqtt-subscriber")
        self._tasks = [asyncio.create_task(self._ingest_loop(), name="mqtt-ingest"), subscriber]
        attempted = asyncio.create_task(self._attempted.wait())
        await asyncio.wait((attempted, subscriber), return_when=asyncio.FIRST_COMPLETED)
        attempted.cancel()
        if subscriber.done():  # it can only end by a bug: fail the start with it
            await self.close()
            subscriber.result()

    async def close(self) -> None:
        """Stop subscribing and let the picture take every report already received."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if not self._tasks:
            return
        ingest, *others = self._tasks
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), _CLOSE_TIMEOUT_S)
        ingest.cancel()
        await asyncio.gather(ingest, return_exceptions=True)
        batch = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            await self._apply(batch)

    @property
    def ingest_backlog(self) -> int:
        """Reports received and not yet handed to the picture."""
        return self._queue.qsize()

    @property
    def outbox_backlog(self) -> int:
        """Deliveries waiting to be published to the broker."""
        return len(self._outbox)

    # --- the broker ------------------------------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=s.client_id,
            tls_context=ssl.create_default_context() if s.tls else None,
            max_queued_incoming_messages=s.queue_limit,
        )

    async def _subscriber(self) -> None:
        failures = 0
        while True:
            try:
                async with self._client() as client:
                    granted = await client.subscribe([(topic, 1) for topic in self.settings.topics])
                    self.connected = True
                    self.counters["subscribed"] += 1
                    failures = 0
                    self._log_subscription(granted)
                    self._attempted.set()
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                self.counters["connection-lost" if self.connected else "connect-failed"] += 1
                log.warning("mqtt: %s: %s", self.settings.address, exc)
            finally:
                self.connected = False
            self._attempted.set()
            await asyncio.sleep(self._backoff(failures))
            failures += 1

    async def _session(self, client: aiomqtt.Client) -> None:
        """One subscribed connection: read and publish until it fails or is disconnected."""
        reader = asyncio.create_task(self._read(client), name="mqtt-in")
        publisher = asyncio.create_task(self._publisher(client), name="mqtt-out")
        live = _BrokerConnection(self, reader, self.service.clock.now())
        client_id = self.service.connections.add("mqtt", live)
        try:
            await reader
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # closing: not a disconnection
                raise
            self.counters["disconnected-by-admin"] += 1
            log.warning("mqtt: %s: disconnected by an administrator", self.settings.address)
        finally:
            self.service.connections.remove(client_id)
            publisher.cancel()
            await asyncio.gather(reader, publisher, return_exceptions=True)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self.counters["received"] += 1
            await self._received(message)

    def _log_subscription(self, granted: Sequence[int | ReasonCode]) -> None:
        """A broker may refuse a filter (SUBACK 0x80, e.g. its ACL): said loudly, not retried."""
        topics = self.settings.topics
        refused = [
            topic
            for topic, code in zip(topics, granted, strict=False)
            if (code.value if isinstance(code, ReasonCode) else code) >= 0x80
        ]
        if refused:
            self.counters["subscribe-refused"] += len(refused)
            where = self.settings.address
            log.error("mqtt: %s refused the subscription to %s", where, ", ".join(refused))
        log.info("mqtt: subscribed at %s to %s", self.settings.address, ", ".join(topics))

    def _backoff(self, failures: int) -> float:
        s = self.settings
        delay = min(s.backoff_max_s, s.backoff_initial_s * 2.0 ** min(failures, 30))
        return random.uniform(delay / 2, delay)

    async def _received(self, message: aiomqtt.Message) -> None:
        topic = str(message.topic)
        payload = message.payload
        if not isinstance(payload, bytes | bytearray):  # received payloads are bytes
            self._problem("bad-shape", topic, f"payload of type {type(payload).__name__}")
            return
        try:
            decoded = decode_payload(
                bytes(payload),
                topic=topic,
                received_at=self.service.clock.now(),
                nodes=self.nodes,
                max_bytes=self.settings.max_payload_bytes,
            )
        except Exception:  # a bug in a codec must not stop the subscriber: counted, logged
            self.counters["decode-failed"] += 1
            log.error("mqtt: %s: payload not decoded", topic, exc_info=True)
            return
        for problem in decoded.problems:
            where = f"{topic}[{problem.index}]" if problem.index is not None else topic
            self._problem(problem.reason, where, problem.detail)
        for reason in decoded.ignored:
            self.counters[f"ignored-{reason}"] += 1
        for report in decoded.reports:
            if message.retain and report.time_assumed and report.observed_at == report.received_at:
                # A retained message is the broker's last copy, of any age: without a time of
                # its own it would look fresh on every (re)subscription.
                self._problem("retained-without-time", topic, f"uid {report.uid}")
                continue
            await self._queue.put(report)  # waits while the picture is behind

    def _problem(self, reason: str, where: str, detail: str) -> None:
        self.counters[reason] += 1
        level = logging.WARNING if self.counters[reason] <= _LOUD_FIRST else logging.DEBUG
        log.log(level, "mqtt: %s: dropped (%s): %s", where, reason, detail)

    # --- messages out ----------------------------------------------------------------------

    def on_service_events(self, events: Sequence[Event]) -> None:
        """A hub listener: deliveries for units last heard of over MQTT go to the outbox."""
        picture = self.service.picture
        for delivery in to_carry(events):
            uid = delivery.recipient
            track = picture.track(uid)
            if track is None or track.latest.source != SOURCE:
                continue
            if any(c in uid for c in "+#\x00"):
                self.counters["outbox-bad-topic"] += 1
                continue
            if len(self._outbox) >= self.settings.outbox_limit:
                self._outbox.popleft()
                self.counters["outbox-dropped"] += 1
            payload = json.dumps(delivery_to_dict(delivery), ensure_ascii=False).encode()
            self._outbox.append((f"{self.settings.messages_topic}/{uid}", payload))
            self._outbox_ready.set()

    async def _publisher(self, client: aiomqtt.Client) -> None:
        """While connected: publish the outbox in order, each once the broker has it (QoS 1)."""
        while True:
            while self._outbox:
                topic, payload = self._outbox[0]
                try:
                    await client.publish(topic, payload, qos=1)
                except aiomqtt.MqttError as exc:  # kept; tried again, or after the reconnect
                    self.counters["publish-failed"] += 1
                    log.warning("mqtt: %s: not published: %s", topic, exc)
                    await asyncio.sleep(self.settings.backoff_initial_s)
                    continue
                if self._outbox and self._outbox[0][1] is payload:
                    self._outbox.popleft()
                self.counters["published"] += 1
            self._outbox_ready.clear()
            await self._outbox_ready.wait()

    # --- into the picture ------------------------------------------------------------------

    async def _ingest_loop(self) -> None:
        """Reports go to the service in batches: one durable write per batch."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.settings.batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._apply(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _apply(self, batch: list[PositionReport]) -> None:
        try:
            results = await self.service.reports(batch)
        except Exception as exc:  # StoreError, or a bug: counted and logged, the loop goes on
            self.counters["ingest-failed"] += len(batch)
            if not isinstance(exc, StoreNotWritable):  # the store logs that once
                log.error("mqtt: %d reports not stored: %s", len(batch), exc, exc_info=True)
            return
        accepted = sum(1 for r in results if r.accepted)
        self.counters["reports"] += accepted
        if accepted < len(results):  # e.g. older than the unit's own latest fix
            self.counters["reports-not-applied"] += len(results) - accepted


class _BrokerConnection:
    """The subscriber's connection to the broker, in the list of live connections."""

    def __init__(self, ingest: MqttIngest, reader: asyncio.Task[None], since: datetime) -> None:
        self.ingest = ingest
        self.reader = reader
        self.since = since
        counters = ingest.counters
        self._base = (counters["received"], counters["published"])  # this connection's share

    def describe(self, client_id: str) -> ClientInfo:
        ingest, settings = self.ingest, self.ingest.settings
        return ClientInfo(
            id=client_id,
            protocol="mqtt",
            address=f"{settings.host}:{settings.port}",
            since=self.since,
            identity=settings.username,
            messages_in=ingest.counters["received"] - self._base[0],
            messages_out=ingest.counters["published"] - self._base[1],
            queue=ingest.waiting,
        )

    def disconnect(self) -> None:
        self.reader.cancel()

"""Prometheus metrics of one running server, on a registry of its own.

Each server (``bootstrap.start_server``) has its own ``CollectorRegistry``, never the global
one, so servers started in one process (as the tests do) count apart. What is counted:

- as it happens: reports the picture took, by channel (``holdfire_reports_total``); checks
  answered, by verdict (``holdfire_checks_total``); the engine's evaluation time of every
  check, whatever asked it (``holdfire_check_evaluate_seconds``: the picture and rules only,
  no I/O); the HTTP time of each check ``POST /api/v1/checks`` answered, from the request's
  first byte to the answer's last (``holdfire_http_check_seconds``: parsing, the evaluation,
  the durable write);
  API refusals, by status (``holdfire_api_refused_total``);
- at scrape time, from what the adapters keep anyway (so nothing on their paths gets slower):
  events dropped or refused, by channel and reason (``holdfire_dropped_total``: the CoT
  server's counters, MQTT payloads that were no report, cluster messages that could not be
  read, stream clients cut off as too slow, API reports refused); queue depths
  (``holdfire_queue_depth`` and, for per-client queues, ``holdfire_queue_depth_max``);
  connections by protocol; tracks by state and affiliation (``holdfire_tracks``: stale and
  lost units at the moment of the scrape); units that never reported; this node's replication
  lag and how long it has been cut off from its cluster.

Who may read ``GET /metrics``: an admin token, or the scrape token in ``DATA/metrics.token``
(see ``ScrapeToken``), which opens nothing else.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from holdfire.adapters.bus.nats import NatsLink
from holdfire.adapters.net.cot_server import CotServer
from holdfire.adapters.net.mqtt import MqttIngest
from holdfire.domain.checks import Verdict
from holdfire.domain.tracks import TrackState, state_at
from holdfire.service.handlers import Service
from holdfire.service.ports import Store, StoreError

SCRAPE_TOKEN_FILENAME = "metrics.token"
_SLICE = 1_000  # tracks counted between two turns of the event loop
# From a cached check (under a millisecond) to one that waits on a slow disk or database.
CHECK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# What the CoT server and the MQTT subscriber count that is not an event lost or refused
# (traffic, slow-downs, connection states); every other counter of theirs is one, by reason.
_COT_TRAFFIC = frozenset(
    {
        "events",
        "udp-events",
        "cluster-events",
        "reports",
        "kept-for-offline",
        "garbage-bytes",  # bytes, not events: the frames they held are counted as framing-*
        "ingest-throttled",
        "uid-claim-revoked",
    }
)
_MQTT_TRAFFIC = frozenset(
    {"subscribed", "connection-lost", "connect-failed", "subscribe-refused", "published",
     "publish-failed", "reports"}
)  # fmt: skip
_MQTT_TRAFFIC_PREFIXES = ("ignored-",)  # messages that carry no position (telemetry, text)
# What the cluster link drops: messages it cannot read or apply, CoT it could not pass on.
_CLUSTER_DROPS = frozenset(
    {"bad-event", "bad-cot", "bad-status", "apply-failed", "cot-out-dropped"}
)


@dataclass(frozen=True, slots=True)
class Reading:
    """One sample a probe read at scrape time."""

    family: str
    labels: tuple[str, ...]
    value: float


Probe = Callable[[], Iterable[Reading]]
AsyncProbe = Callable[[], Awaitable[list[Reading]]]

# name -> (kind, help, label names) of every family the probes fill.
_FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "holdfire_dropped": (
        "counter",
        "Events dropped or refused, by channel and reason.",
        ("channel", "reason"),
    ),
    "holdfire_queue_depth": (
        "gauge",
        "Items waiting in a queue (per-client queues: summed over the clients).",
        ("queue",),
    ),
    "holdfire_queue_depth_max": (
        "gauge",
        "Items waiting in the fullest client's queue.",
        ("queue",),
    ),
    "holdfire_connections": ("gauge", "Open client connections, by protocol.", ("protocol",)),
    "holdfire_tracks": (
        "gauge",
        "Tracks in the picture by state (fresh, stale, lost) and affiliation.",
        ("state", "affiliation"),
    ),
    "holdfire_units_unlocated": (
        "gauge",
        "Active registered units that never reported a position.",
        (),
    ),
    "holdfire_ready": ("gauge", "1 while the server answers checks, else 0.", ()),
    "holdfire_replication_lag_events": (
        "gauge",
        "Events in the cluster's stream this node has not applied yet.",
        (),
    ),
    "holdfire_cluster_cut_off_seconds": (
        "gauge",
        "How long this node has been out of step with its cluster (0 while in step).",
        (),
    ),
}


class Metrics:
    """The registry of one server and what it counts (a ``ServiceMetrics`` for the service)."""

    def __init__(self, service: Service, scrape_token: ScrapeToken) -> None:
        self.scrape_token = scrape_token
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.reports = PromCounter(
            "holdfire_reports",
            "Position reports the picture took, by channel.",
            ["channel"],
            registry=registry,
        )
        self.checks = PromCounter(
            "holdfire_checks", "Checks answered, by verdict.", ["verdict"], registry=registry
        )
        for verdict in Verdict:
            self.checks.labels(verdict.value)  # every verdict present from the start, at 0
        self.evaluate_seconds = Histogram(
            "holdfire_check_evaluate_seconds",
            "Engine time of one check (picture and rules, no I/O), whatever asked it.",
            buckets=CHECK_BUCKETS,
            registry=registry,
        )
        self.http_check_seconds = Histogram(
            "holdfire_http_check_seconds",
            "HTTP time of a check answered by POST /api/v1/checks, first byte in to last out.",
            buckets=CHECK_BUCKETS,
            registry=registry,
        )
        self.refused = PromCounter(
            "holdfire_api_refused",
            "API requests refused (4xx), by status.",
            ["status", "kind"],
            registry=registry,
        )
        ProcessCollector(namespace="holdfire", registry=registry)
        self.probes: list[Probe] = []
        self._async_probes: list[AsyncProbe] = [lambda: _service_readings(service)]
        self._fetched: list[Reading] = []  # what the async probes read for this scrape
        self.probes.append(lambda: self._fetched)
        registry.register(_ProbeCollector(self.probes))
        service.metrics = self

    # --- ServiceMetrics --------------------------------------------------------------------

    def reports_taken(self, channels: Mapping[str, int]) -> None:
        for channel, n in channels.items():
            self.reports.labels(channel).inc(n)

    def check_answered(self, verdict: Verdict, evaluate_s: float) -> None:
        self.checks.labels(verdict.value).inc()
        self.evaluate_seconds.observe(evaluate_s)

    # --- what the API tells ----------------------------------------------------------------

    def refusal(self, status: int, kind: str) -> None:
        self.refused.labels(str(status), kind).inc()

    def watch(self, probe: Probe) -> None:
        """Read `probe` at every scrape."""
        self.probes.append(probe)

    def watch_async(self, probe: AsyncProbe) -> None:
        """Await `probe` before every scrape (what needs I/O: the store)."""
        self._async_probes.append(probe)

    async def scrape(self) -> bytes:
        """The Prometheus text exposition of everything, read now."""
        fetched: list[Reading] = []
        for probe in self._async_probes:
            fetched += await probe()
        self._fetched = fetched
        return generate_latest(self.registry)


class _ProbeCollector(Collector):
    def __init__(self, probes: Sequence[Probe]) -> None:
        self._probes = probes

    def describe(self) -> Iterable[Metric]:
        return list(_families())

    def collect(self) -> Iterable[Metric]:
        families = {family.name: family for family in _families()}
        for probe in self._probes:
            for reading in probe():
                family = families[reading.family]
                family.add_metric(list(reading.labels), reading.value)
        return list(families.values())


def _families() -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    for name, (kind, text, labels) in _FAMILIES.items():
        if kind == "counter":
            yield CounterMetricFamily(name, text, labels=list(labels))
        else:
            yield GaugeMetricFamily(name, text, labels=list(labels))


async def _service_readings(service: Service) -> list[Reading]:
    """The picture at this instant: tracks by state and affiliation, units never located.

    Counting 100,000 tracks takes long enough to matter (bench/metrics_scrape.py): the tracks
    are taken at once (they are immutable) and counted in slices, letting the event loop serve
    requests between them."""
    picture = service.picture
    now = service.clock.now()
    tracks = list(picture.tracks())
    states: Counter[tuple[str, str]] = Counter()
    for start in range(0, len(tracks), _SLICE):
        for track in tracks[start : start + _SLICE]:
            state = state_at(track.latest, picture.mobility_of(track.uid), now)
            states[(state.value, picture.affiliation_of(track.uid).value)] += 1
        await asyncio.sleep(0)
    for state in TrackState:  # the three states always present, so a rule can watch for > 0
        states[(state.value, "friend")] += 0
    readings = [Reading("holdfire_tracks", key, n) for key, n in sorted(states.items())]
    readings.append(Reading("holdfire_units_unlocated", (), len(picture.unlocated())))
    readings.append(Reading("holdfire_ready", (), 1.0 if service.ready else 0.0))
    return readings


def _drops(
    channel: str, counters: Mapping[str, int], keep: Callable[[str], bool]
) -> Iterator[Reading]:
    for reason, n in sorted(counters.items()):
        if keep(reason):
            yield Reading("holdfire_dropped", (channel, reason), n)


def _depths(queue: str, sizes: Sequence[int]) -> Iterator[Reading]:
    yield Reading("holdfire_queue_depth", (queue,), sum(sizes))
    yield Reading("holdfire_queue_depth_max", (queue,), max(sizes, default=0))


def cot_probe(server: CotServer) -> Probe:
    """TAK clients: connections, their send queues (messages and coalesced SA waiting), the
    reports waiting for the picture, messages kept for offline uids, and every drop."""

    def read() -> Iterator[Reading]:
        clients = list(server.clients)
        by_source = Counter(conn.source for conn in clients)
        for source in ("cot-tcp", "cot-tls"):
            yield Reading("holdfire_connections", (source,), by_source[source])
        yield from _depths("tak-send", [len(c.sink.messages) + len(c.sink.sa) for c in clients])
        yield Reading("holdfire_queue_depth", ("cot-ingest",), server.ingest_backlog)
        yield Reading("holdfire_queue_depth", ("tak-mailbox",), server.mailbox.size)
        yield from _drops("cot", server.counters, lambda key: key not in _COT_TRAFFIC)

    return read


def mqtt_probe(ingest: MqttIngest) -> Probe:
    def read() -> Iterator[Reading]:
        yield Reading("holdfire_connections", ("mqtt",), 1.0 if ingest.connected else 0.0)
        yield Reading("holdfire_queue_depth", ("mqtt-ingest",), ingest.ingest_backlog)
        yield Reading("holdfire_queue_depth", ("mqtt-outbox",), ingest.outbox_backlog)
        yield from _drops(
            "mqtt",
            ingest.counters,
            lambda key: key not in _MQTT_TRAFFIC and not key.startswith(_MQTT_TRAFFIC_PREFIXES),
        )

    return read


def cluster_probe(link: NatsLink) -> Probe:
    """This node's lag behind the stream, how long it has been cut off, CoT waiting for the
    other nodes, and what the cluster link dropped."""

    def read() -> Iterator[Reading]:
        yield Reading("holdfire_replication_lag_events", (), link.status().lag)
        since = link.cut_off_since()
        cut = 0.0 if since is None else (link.clock.now() - since).total_seconds()
        yield Reading("holdfire_cluster_cut_off_seconds", (), max(0.0, cut))
        yield Reading("holdfire_queue_depth", ("cluster-cot-out",), link.cot_backlog)
        yield from _drops("cluster", link.counters, lambda key: key in _CLUSTER_DROPS)

    return read


def outbox_probe(store: Store, node: str) -> AsyncProbe:
    """Events this node took and has not yet published to the others (none while the store
    cannot be read: the scrape still answers)."""

    async def read() -> list[Reading]:
        try:
            waiting = await store.outbox_size(node)
        except StoreError:
            return []
        return [Reading("holdfire_queue_depth", ("cluster-outbox",), waiting)]

    return read


def api_probe(counters: Mapping[str, int], stream_queues: Callable[[], list[int]]) -> Probe:
    """The WebSocket stream's clients and queues, and what the API refused of what it read
    (reports refused in a list; stream clients cut off as too slow)."""

    def read() -> Iterator[Reading]:
        queues = stream_queues()
        yield Reading("holdfire_connections", ("websocket",), len(queues))
        yield from _depths("ws-send", queues)
        yield Reading("holdfire_dropped", ("http", "report-refused"), counters["reports_rejected"])
        yield Reading("holdfire_dropped", ("websocket", "too-slow"), counters["stream_too_slow"])

    return read


@dataclass(frozen=True, slots=True)
class ScrapeToken:
    """The secret a Prometheus scraper sends as its bearer token (``DATA/metrics.token``).

    Written (mode 0600) at start when absent; read again at every scrape, so replacing the
    file's content changes the token without a restart, and deleting it leaves only admin
    tokens able to scrape (until the next start writes a new one). It opens ``/metrics`` and
    nothing else."""

    path: Path

    def ensure(self) -> bool:
        """Write a new token if there is none; True if this call wrote it."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as out:
            out.write("hf_" + secrets.token_urlsafe(32) + "\n")
        return True

    def matches(self, secret: str) -> bool:
        try:
            expected = self.path.read_text().strip()
        except OSError:
            return False
        return bool(expected) and hmac.compare_digest(expected.encode(), secret.encode())

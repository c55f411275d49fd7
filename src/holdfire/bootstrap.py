"""The one composition root: settings -> adapters -> service (and the servers around it)."""

import asyncio
import contextlib
import logging
import re
import resource
import signal
import tempfile
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from holdfire.adapters.auth import ensure_admin_token
from holdfire.adapters.bus.nats import ClusterSettings, NatsLink
from holdfire.adapters.catalog import load_catalog
from holdfire.adapters.certs import CertStore, Revocations
from holdfire.adapters.clock import SystemClock
from holdfire.adapters.data_lock import DataLock
from holdfire.adapters.metrics import (
    SCRAPE_TOKEN_FILENAME,
    Metrics,
    ScrapeToken,
    api_probe,
    cluster_probe,
    cot_probe,
    mqtt_probe,
    outbox_probe,
)
from holdfire.adapters.net.cot_connection import CotConfig
from holdfire.adapters.net.cot_server import CotServer
from holdfire.adapters.net.groups import load_groups
from holdfire.adapters.net.mqtt import MqttIngest, MqttSettings, load_nodes
from holdfire.adapters.store.factory import make_store
from holdfire.adapters.store.spool import CheckSpoolFile
from holdfire.adapters.tables import load_tables
from holdfire.adapters.tiles import open_tiles
from holdfire.api.app import create_app
from holdfire.api.context import ApiContext
from holdfire.api.guard import HttpGuard, HttpLimits, guarded_protocols
from holdfire.config import Settings
from holdfire.engine.coordination import CoordinationConfig
from holdfire.service.handlers import Service
from holdfire.service.ports import Clock, StoreNotWritable
from holdfire.sim.drivers import ServiceDriver
from holdfire.sim.model import Scenario
from holdfire.sim.pace import FakeClock, FakePacer, WallPacer
from holdfire.sim.runner import Entry, RunResult, run_scenario

log = logging.getLogger("holdfire")

# A stream URL carries its token (`?token=`), and uvicorn logs the path of every WebSocket it
# accepts; any holdfire token (`hf_…`) is masked wherever it would appear.
_SECRET_IN_TEXT = re.compile(r"(?<=[?&]token=)[^&\s\"']+|\bhf_[A-Za-z0-9_-]{16,}")


def mask_secrets(text: str) -> str:
    """`text` with every token in it replaced by ***."""
    return _SECRET_IN_TEXT.sub("***", text)


class RedactSecrets(logging.Filter):
    """Masks tokens in a log record's message before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


Address = tuple[str, int]


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit (every connection is a
    file: the usual soft limit of 1,024 would refuse clients long before any limit of ours);
    returns (soft, hard) as they are now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def new_id() -> str:
    return uuid.uuid4().hex


class DataDirError(Exception):
    """The data directory cannot be created or written: `serve` does not start there."""


def writable_data_dir(path: Path) -> None:
    """Create the data directory if needed and prove a file can be made in it.

    A read-only mount or a directory owned by someone else stops the start here, in one line
    that names the directory, before anything listens: a fires cell must not reach a server
    that cannot keep the record of its checks."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".holdfire-write-"):
            pass
    except OSError as exc:
        raise DataDirError(
            f"data directory {path} is not writable ({exc.strerror or exc}); holdfire keeps "
            "its database, check spool, admin token and certificates there"
        ) from None


def build_service(
    settings: Settings,
    coordination: CoordinationConfig | None = None,
    clock: Clock | None = None,
) -> Service:
    """Wire the store (SQLite in the data directory, or PostgreSQL with ``settings.db``), the
    tables and the message catalog (shipped, overridden from the data directory) and the clock
    (the system's unless given: a scenario's fake one). The caller starts and closes the
    service. A ``db`` that is not a PostgreSQL URL raises DbUrlError."""
    return Service(
        store=make_store(settings.data_dir, settings.db, must_write=True),
        tables=load_tables(settings.data_dir),
        clock=clock or SystemClock(),
        new_id=new_id,
        catalog=load_catalog(settings.data_dir),
        coordination=coordination,
    )


class Ticker:
    """Lets time pass for the coordinator: re-sends, escalations, tracks turning stale."""

    def __init__(self, service: Service, every_s: float = 1.0) -> None:
        self._service = service
        self._every_s = every_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="holdfire-coordination")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            try:
                await self._service.tick()
            except StoreNotWritable:
                pass  # retried on the next tick; the store logs a full or read-only disk once
            except Exception:  # a failed tick is retried on the next one; never stop the loop
                log.exception("coordination tick failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


@dataclass(frozen=True, slots=True)
class Listeners:
    """Where to listen; None turns a listener off."""

    http: Address | None = None  # `holdfire serve` defaults to 127.0.0.1:8080
    cot_tcp: Address | None = ("127.0.0.1", 8087)
    cot_tls: Address | None = ("0.0.0.0", 8089)
    cot_udp: Address | None = None
    cot_multicast: Address | None = None  # (group, port), e.g. ("239.2.3.1", 6969)
    multicast_interface: str = "0.0.0.0"
    mqtt: MqttSettings | None = None  # tracker ingest from an MQTT broker
    cluster: ClusterSettings | None = None  # one node of several, over NATS JetStream


class HttpServer:
    """uvicorn serving the API inside this event loop (no signal handlers of its own: the
    composition root owns SIGINT and SIGTERM)."""

    def __init__(self, api: ApiContext, address: Address) -> None:
        http, ws = guarded_protocols(api.guard)
        config = uvicorn.Config(
            create_app(api),
            host=address[0],
            port=address[1],
            http=http,
            ws=ws,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            # Every limit is per address: a client may not name another address for itself.
            proxy_headers=False,
            timeout_keep_alive=api.guard.limits.keep_alive_s,
            timeout_graceful_shutdown=5,
            ws_max_size=1 << 20,
        )
        self._server = uvicorn.Server(config)
        uvicorn_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, RedactSecrets) for f in uvicorn_log.filters):
            uvicorn_log.addFilter(RedactSecrets())
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> Address:
        server = self._server
        server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        await server.startup()
        if not server.started:
            raise OSError(f"cannot listen on {server.config.host}:{server.config.port}")
        self._ticker = asyncio.create_task(server.main_loop())  # date header, exit flag
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        return (str(host), int(port))

    async def close(self) -> None:
        server = self._server
        server.should_exit = True
        if self._ticker is not None:
            await self._ticker
            self._ticker = None
        if server.started:
            await server.shutdown()
            server.started = False


@dataclass(slots=True)
class Running:
    service: Service
    cot: CotServer
    bound: dict[str, Address]
    certs: CertStore | None
    api: ApiContext
    http: HttpServer | None = None
    admin_token_file: Path | None = None  # written by this start (the first one)
    mqtt: MqttIngest | None = None
    ticker: Ticker | None = None
    cluster: NatsLink | None = None
    spool: CheckSpoolFile | None = None
    lock: DataLock | None = None  # held on the data directory until closed

    async def close(self) -> None:
        self.service.ready = False
        if self.ticker is not None:
            await self.ticker.close()
        if self.spool is not None:
            await self.spool.close()
        if self.http is not None:
            await self.http.close()
        if self.mqtt is not None:
            await self.mqtt.close()
        await self.cot.close()
        if self.cluster is not None:
            await self.cluster.close()
        await self.service.close()
        if self.api.tiles is not None:
            self.api.tiles.close()
        if self.lock is not None:
            self.lock.close()


async def start_server(
    settings: Settings,
    listeners: Listeners,
    cot: CotConfig | None = None,
    coordination: CoordinationConfig | None = None,
    http_limits: HttpLimits | None = None,
) -> Running:
    """Start the service and its listeners. The first start in an empty data directory creates
    it and, unless TLS is off, a CA and a server certificate. Map tiles that cannot be served
    stop the start before anything is written; a data directory, database or check spool that
    cannot be written stops it before anything listens (DataDirError, StoreNotWritable)."""
    tiles = open_tiles(settings.tiles) if settings.tiles is not None else None
    lock: DataLock | None = None
    try:
        writable_data_dir(settings.data_dir)
        lock = DataLock(settings.data_dir)  # one server per data directory
        groups = load_groups(settings.data_dir)  # a bad file stops the start, before listening
        nodes = load_nodes(settings.data_dir) if listeners.mqtt is not None else {}
        service = build_service(settings, coordination)
        clock = service.clock
        certs = None
        tls_context = None
        revocations = None
        if listeners.cot_tls is not None:
            certs = CertStore(settings.data_dir / "certs")
            host = listeners.cot_tls[0]
            names = ("localhost", "127.0.0.1") if host in ("0.0.0.0", "::", "") else (host,)
            if certs.init(names, now=clock.now()).created:
                log.info("created a CA and a server certificate in %s", certs.directory)
            tls_context = certs.server_ssl_context()
            revocations = Revocations(certs)
        link = None
        if listeners.cluster is not None:
            link = service.cluster = NatsLink(listeners.cluster, service, clock)
        await service.start()
    except BaseException:
        if lock is not None:
            lock.close()
        if tiles is not None:
            tiles.close()
        raise
    server = CotServer(service, clock, cot, tls_context, groups, revocations)
    scrape_token = ScrapeToken(settings.data_dir / SCRAPE_TOKEN_FILENAME)
    metrics = Metrics(service, scrape_token)
    api = ApiContext(
        service,
        tiles=tiles,
        cluster=link,
        certs=certs,
        metrics=metrics,
        guard=HttpGuard(http_limits),
        cot_counters=server.counters,
    )
    metrics.watch(cot_probe(server))
    metrics.watch(api_probe(api.counters, lambda: [s.pending() for s in api.streams]))
    if link is not None:
        metrics.watch(cluster_probe(link))
        metrics.watch_async(outbox_probe(service.store, link.node))
    spool = CheckSpoolFile(settings.data_dir, service.store, outbox=link.node if link else None)
    service.spool = spool
    running = Running(service, server, {}, certs, api, cluster=link, spool=spool, lock=lock)
    if link is not None:
        server.relay = link.cot_out
        link.on_cot = server.on_remote
    try:
        await asyncio.to_thread(spool.prove_writable)
        running.admin_token_file = await ensure_admin_token(
            service.store, settings.data_dir, clock.now()
        )
        if scrape_token.ensure():
            log.info("wrote the metrics scrape token to %s", scrape_token.path)
        running.bound = await server.start(
            listeners.cot_tcp,
            listeners.cot_tls,
            listeners.cot_udp,
            listeners.cot_multicast,
            listeners.multicast_interface,
        )
        if listeners.mqtt is not None:
            running.mqtt = MqttIngest(service, listeners.mqtt, nodes)
            await running.mqtt.start()  # returns once subscribed or after a first failed try
            metrics.watch(mqtt_probe(running.mqtt))
        if listeners.http is not None:
            running.http = HttpServer(api, listeners.http)
            running.bound["http"] = await running.http.start()
        if link is not None:
            if "http" in running.bound:
                host, port = running.bound["http"]
                link.http = f"http://{host}:{port}"
            assert service.loaded_at is not None
            await link.start(service.loaded_at, service.loaded_seqs)
    except BaseException:
        await running.close()
        raise
    spool.start()
    running.ticker = Ticker(service)
    running.ticker.start()
    service.ready = True
    return running


async def run_in_process(
    scenario: Scenario,
    *,
    speed: float | None = None,
    on_entry: Callable[[Entry], None] | None = None,
) -> RunResult:
    """Replay a scenario against a fresh service on a fake clock, in a temporary data
    directory (the real SQLite store and the shipped tables and catalog)."""
    clock = FakeClock(scenario.start)
    with tempfile.TemporaryDirectory(prefix="holdfire-scenario-") as tmp:
        service = build_service(Settings(Path(tmp)), clock=clock)
        await service.start()
        driver = ServiceDriver(service)
        try:
            return await run_scenario(scenario, driver, FakePacer(clock, speed), on_entry=on_entry)
        finally:
            driver.close()
            await service.close()


async def play_on_server(
    running: Running,
    scenario: Scenario,
    *,
    speed: float,
    on_entry: Callable[[Entry], None] | None = None,
) -> RunResult:
    """Play a scenario into the running server's own service, in real time `speed` times
    faster, through the service API every client goes through: whoever is connected (TAK
    clients, the API, the stream) sees the units move, the checks and the alerts."""
    driver = ServiceDriver(running.service)
    try:
        return await run_scenario(
            scenario, driver, WallPacer(speed), on_entry=on_entry, mode=f"served, x{speed:g}"
        )
    finally:
        driver.close()


async def serve_until_stopped(
    settings: Settings,
    listeners: Listeners,
    announce: Callable[[Running], None],
    alongside: Callable[[Running], Coroutine[Any, Any, object]] | None = None,
    cot: CotConfig | None = None,
    http_limits: HttpLimits | None = None,
) -> None:
    """Run until SIGINT or SIGTERM, then close the listeners and the store cleanly.
    `alongside` (a scenario playing) runs as a task that ends with the server, not before."""
    running = await start_server(settings, listeners, cot, http_limits=http_limits)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    announce(running)
    task = asyncio.create_task(alongside(running)) if alongside is not None else None
    try:
        await stop.wait()
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await running.close()

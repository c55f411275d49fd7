"""The one composition root: settings -> adapters -> service (and the servers around it)."""

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from holdfire.adapters.certs import CertStore
from holdfire.adapters.clock import SystemClock
from holdfire.adapters.net.cot_connection import CotConfig
from holdfire.adapters.net.cot_server import CotServer
from holdfire.adapters.net.groups import load_groups
from holdfire.adapters.store.sqlite import SQLiteStore
from holdfire.adapters.tables import load_tables
from holdfire.config import Settings
from holdfire.service.handlers import Service

log = logging.getLogger("holdfire")

Address = tuple[str, int]


def new_id() -> str:
    return uuid.uuid4().hex


def build_service(settings: Settings) -> Service:
    """Wire the embedded SQLite store, the tables (shipped, overridden from the data directory)
    and the system clock. The caller starts and closes the service."""
    return Service(
        store=SQLiteStore(settings.database),
        tables=load_tables(settings.data_dir),
        clock=SystemClock(),
        new_id=new_id,
    )


@dataclass(frozen=True, slots=True)
class Listeners:
    """Where to listen; None turns a listener off."""

    cot_tcp: Address | None = ("127.0.0.1", 8087)
    cot_tls: Address | None = ("0.0.0.0", 8089)
    cot_udp: Address | None = None
    cot_multicast: Address | None = None  # (group, port), e.g. ("239.2.3.1", 6969)
    multicast_interface: str = "0.0.0.0"


@dataclass(slots=True)
class Running:
    service: Service
    cot: CotServer
    bound: dict[str, Address]
    certs: CertStore | None

    async def close(self) -> None:
        await self.cot.close()
        await self.service.close()


async def start_server(
    settings: Settings, listeners: Listeners, cot: CotConfig | None = None
) -> Running:
    """Start the service and its listeners. The first start in an empty data directory creates
    it and, unless TLS is off, a CA and a server certificate."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    groups = load_groups(settings.data_dir)  # a bad file stops the start, before any listener
    service = build_service(settings)
    clock = service.clock
    certs = None
    tls_context = None
    if listeners.cot_tls is not None:
        certs = CertStore(settings.data_dir / "certs")
        host = listeners.cot_tls[0]
        names = ("localhost", "127.0.0.1") if host in ("0.0.0.0", "::", "") else (host,)
        if certs.init(names, now=clock.now()).created:
            log.info("created a CA and a server certificate in %s", certs.directory)
        tls_context = certs.server_ssl_context()
    await service.start()
    server = CotServer(service, clock, cot, tls_context, groups)
    try:
        bound = await server.start(
            listeners.cot_tcp,
            listeners.cot_tls,
            listeners.cot_udp,
            listeners.cot_multicast,
            listeners.multicast_interface,
        )
    except BaseException:
        await server.close()
        await service.close()
        raise
    return Running(service, server, bound, certs)


async def serve_until_stopped(
    settings: Settings, listeners: Listeners, announce: Callable[[Running], None]
) -> None:
    """Run until SIGINT or SIGTERM, then close the listeners and the store cleanly."""
    running = await start_server(settings, listeners)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    announce(running)
    try:
        await stop.wait()
    finally:
        await running.close()

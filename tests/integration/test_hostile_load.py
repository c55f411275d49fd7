"""Hostile load: per-address limits and time-outs on CoT and HTTP, over real sockets.

Hostile clients bind to their own loopback addresses (127.0.0.2 and up) so that the limits of
one address can be told apart from another's; well-behaved TAK clients (pytak) connect from
127.0.0.1. Servers run in-process with short time-outs, except the last test, which runs
`holdfire serve` itself (uvloop, the flags) and checks the same on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from holdfire.adapters.certs import CertStore
from holdfire.adapters.net.cot_connection import CotConfig
from holdfire.api.guard import HttpLimits
from holdfire.bootstrap import Listeners, Running, start_server
from holdfire.config import Settings
from support.process import free_port, holdfire
from support.tak import TIMEOUT, PytakClient, open_pytak, sa

pytestmark = pytest.mark.integration

SERVER_SA = b'uid="HOLDFIRE"'  # the server's own SA, sent to every client that joins


@dataclass
class Raw:
    """A raw client from a chosen local address, collecting everything it reads."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    data: bytearray
    eof: asyncio.Event
    task: asyncio.Task[None]

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def until(self, needle: bytes, what: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.data:
            assert not self.eof.is_set(), f"closed before {what}: {bytes(self.data[-200:])!r}"
            assert time.monotonic() < deadline, f"no {what} within {timeout} s"
            await asyncio.sleep(0.01)

    async def closed(self, timeout: float = TIMEOUT) -> bytes:
        """What was read before the server closed the connection (within `timeout`)."""
        await asyncio.wait_for(self.eof.wait(), timeout)
        return bytes(self.data)

    async def close(self) -> None:
        self.writer.close()
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


async def raw(
    port: int, local: str, *, tls: ssl.SSLContext | None = None, server_hostname: str = ""
) -> Raw:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1",
            port,
            local_addr=(local, 0),
            ssl=tls,
            server_hostname=server_hostname or None if tls else None,
        ),
        TIMEOUT,
    )
    data, eof = bytearray(), asyncio.Event()

    async def pump() -> None:
        try:
            while chunk := await reader.read(65536):
                data.extend(chunk)
        except (OSError, ssl.SSLError):
            pass
        finally:
            eof.set()

    return Raw(reader, writer, data, eof, asyncio.ensure_future(pump()))


@contextlib.asynccontextmanager
async def server(
    tmp_path: Path, *, tls: bool = False, http: HttpLimits | None = None, **cot: Any
) -> AsyncIterator[Running]:
    listeners = Listeners(
        http=("127.0.0.1", 0) if http is not None else None,
        cot_tcp=("127.0.0.1", 0),
        cot_tls=("127.0.0.1", 0) if tls else None,
    )
    running = await start_server(
        Settings(tmp_path / "data"), listeners, CotConfig(**cot), http_limits=http
    )
    try:
        yield running
    finally:
        await asyncio.wait_for(running.close(), 2 * TIMEOUT)


async def open_count(running: Running, host: str, expected: int) -> None:
    for _ in range(int(TIMEOUT / 0.01)):
        address = running.cot.admission.addresses.get(host)
        if (address.open if address is not None else 0) == expected:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{host} never had {expected} connections open")


async def pytak(running: Running, name: str) -> PytakClient:
    return await open_pytak(name, COT_URL=f"tcp://127.0.0.1:{running.bound['tcp'][1]}")


# ---------------------------------------------------------------------------------------------
# CoT


async def test_cot_connections_past_the_cap_of_one_address_are_refused_not_another(
    tmp_path: Path,
) -> None:
    async with server(tmp_path, max_per_address=3, connects_per_s=0) as running:
        port = running.bound["tcp"][1]
        admitted = [await raw(port, "127.0.0.2") for _ in range(3)]
        for client in admitted:
            await client.until(SERVER_SA, "the server's SA")
        over = await raw(port, "127.0.0.2")
        assert SERVER_SA not in await over.closed()
        other = await raw(port, "127.0.0.3")
        await other.until(SERVER_SA, "the server's SA, from another address")
        assert running.cot.counters["refused-too-many-connections"] == 1

        await admitted[0].close()  # its slot is free again
        await open_count(running, "127.0.0.2", 2)
        again = await raw(port, "127.0.0.2")
        await again.until(SERVER_SA, "the server's SA, once a slot was free")
        assert running.cot.counters["refused-too-many-connections"] == 1
        for client in [*admitted[1:], over, other, again]:
            await client.close()


async def test_new_cot_connections_of_one_address_are_rate_limited(tmp_path: Path) -> None:
    async with server(tmp_path, max_per_address=2, connects_per_s=0.01) as running:
        port = running.bound["tcp"][1]
        for _ in range(2):  # the burst: as many as the cap
            client = await raw(port, "127.0.0.2")
            await client.until(SERVER_SA, "the server's SA")
            await client.close()
        await open_count(running, "127.0.0.2", 0)
        refused = await raw(port, "127.0.0.2")
        assert SERVER_SA not in await refused.closed()
        other = await raw(port, "127.0.0.3")
        await other.until(SERVER_SA, "the server's SA, from another address")
        assert running.cot.counters["refused-connection-rate"] == 1
        await other.close()


async def test_idle_slowloris_and_stalled_handshakes_are_closed_while_tak_clients_go_on(
    tmp_path: Path,
) -> None:
    limits = {"idle_timeout_s": 1.5, "frame_timeout_s": 1.5, "handshake_timeout_s": 1.5}
    async with server(tmp_path, tls=True, **limits) as running:
        alpha, bravo = await pytak(running, "alpha"), await pytak(running, "bravo")
        sent = {"n": 0}

        async def report_every_300_ms() -> None:  # as ATAK does (more often, to be quick)
            while True:
                n = sent["n"] = sent["n"] + 1
                await alpha.send(sa("ANDROID-alpha", "ALPHA", remarks=f"alpha {n}"))
                await bravo.send(sa("ANDROID-bravo", "BRAVO", remarks=f"bravo {n}"))
                await asyncio.sleep(0.3)

        reporting = asyncio.ensure_future(report_every_300_ms())
        try:
            idle = await raw(running.bound["tcp"][1], "127.0.0.2")
            slow = await raw(running.bound["tcp"][1], "127.0.0.3")
            slow.send(b'<event version="2.0" uid="slow"')
            handshake = await raw(running.bound["tls"][1], "127.0.0.4")
            handshake.send(b"\x16\x03\x01\x02")  # the start of a ClientHello, and no more

            async def drip() -> None:
                while not slow.eof.is_set():  # a byte every 200 ms, never the frame's end
                    slow.send(b" ")
                    await asyncio.sleep(0.2)

            dripping = asyncio.ensure_future(drip())
            for client in (idle, slow, handshake):
                await client.closed(4 * TIMEOUT)
            await dripping
            counters = running.cot.counters
            assert counters["refused-idle-timeout"] == 1
            assert counters["refused-slow-frame"] == 1
            assert counters["refused-tls-handshake"] == 1

            after = sent["n"] + 1  # sent after the hostile ones were closed
            await bravo.wait_for(
                lambda e: (e.findtext("detail/remarks") or "") == f"alpha {after}",
                "alpha's SA after the hostile connections went",
            )
            await alpha.wait_for(
                lambda e: (e.findtext("detail/remarks") or "") == f"bravo {after}",
                "bravo's SA after the hostile connections went",
            )
            assert len(running.cot.clients) == 2  # the TAK clients were never cut
        finally:
            reporting.cancel()
            for client in (alpha, bravo):
                client.tx.writer.close()
                client.rx_task.cancel()


async def test_a_flood_from_one_address_is_read_more_slowly_and_others_still_flow(
    tmp_path: Path,
) -> None:
    async with server(tmp_path, events_per_s=500.0, events_burst_s=1.0) as running:
        port = running.bound["tcp"][1]
        listener = await raw(port, "127.0.0.1")
        listener.send(sa("ANDROID-listener", "LISTENER"))
        flooder = await raw(port, "127.0.0.2")
        total = 3000  # 2,500 past the burst: 5 s at the rate
        for n in range(total):
            flooder.send(sa(f"flood-{n % 10}", "FLOOD", remarks=f"flood-{n:04d}."))
        for _ in range(int(TIMEOUT / 0.01)):
            if running.cot.counters["refused-rate-limited"]:
                break
            await asyncio.sleep(0.01)
        assert running.cot.counters["refused-rate-limited"] >= 1

        other = await raw(port, "127.0.0.3")
        other.send(sa("ANDROID-other", "OTHER", remarks="other-sa"))
        await listener.until(b"other-sa", "the other address's SA while the flood waits")
        assert f"flood-{total - 1:04d}.".encode() not in listener.data, "the flood was not paced"
        assert not flooder.eof.is_set()  # read more slowly, not cut off

        await listener.until(f"flood-{total - 1:04d}.".encode(), "the flood's end", 4 * TIMEOUT)
        received = set(re.findall(rb"flood-(\d{4})\.", bytes(listener.data)))
        assert len(received) == total, "flood events were dropped"
        for client in (listener, flooder, other):
            await client.close()


# ---------------------------------------------------------------------------------------------
# HTTP


def from_address(local: str, base: str, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        base_url=base + "/api/v1",
        headers=headers,
        timeout=TIMEOUT,
        transport=httpx.AsyncHTTPTransport(local_address=local),
    )


def base_url(running: Running) -> str:
    host, port = running.bound["http"]
    return f"http://{host}:{port}"


def admin_token(running: Running) -> str:
    assert running.admin_token_file is not None
    return running.admin_token_file.read_text().strip()


async def test_a_client_cannot_name_another_address_for_itself(tmp_path: Path) -> None:
    """X-Forwarded-For is not believed, even from 127.0.0.1: the limits are per socket address."""
    limits = HttpLimits(requests_per_s=0.2)
    async with server(tmp_path, http=limits) as running:
        client = from_address("127.0.0.1", base_url(running))
        async with client:
            statuses = [
                (
                    await client.get("/health", headers={"X-Forwarded-For": f"10.9.0.{n}"})
                ).status_code
                for n in range(4)
            ]
    assert statuses == [200, 200, 429, 429]


async def test_http_requests_past_the_rate_are_429_and_other_addresses_are_served(
    tmp_path: Path,
) -> None:
    limits = HttpLimits(requests_per_s=0.2)  # a burst of 2, then one every 5 s
    async with server(tmp_path, http=limits) as running:
        base = base_url(running)
        async with from_address("127.0.0.2", base) as hostile:
            statuses = [(await hostile.get("/health")).status_code for _ in range(4)]
            refused = await hostile.get("/health")
        assert statuses == [200, 200, 429, 429]
        assert refused.status_code == 429
        assert refused.json() == {
            "error": "too many requests from this address; try again later",
            "field": None,
        }
        assert int(refused.headers["retry-after"]) >= 1
        async with from_address("127.0.0.3", base, admin_token(running)) as other:
            assert (await other.get("/health")).status_code == 200
            counters = (await other.get("/admin/counters")).json()
        assert counters["http"]["refused-request-rate"] == 3


async def test_http_connections_past_the_cap_of_one_address_are_refused(tmp_path: Path) -> None:
    async with server(tmp_path, http=HttpLimits(max_per_address=2)) as running:
        port = running.bound["http"][1]
        held = [await raw(port, "127.0.0.2") for _ in range(2)]
        for _ in range(int(TIMEOUT / 0.01)):
            if running.api.guard.book.addresses["127.0.0.2"].open == 2:
                break
            await asyncio.sleep(0.01)
        over = await raw(port, "127.0.0.2")
        answer = await over.closed()
        assert answer.startswith(b"HTTP/1.1 429 "), answer
        assert b"too many connections from this address" in answer
        async with from_address("127.0.0.3", base_url(running)) as other:
            assert (await other.get("/health")).status_code == 200
        await held[0].close()
        for _ in range(int(TIMEOUT / 0.01)):
            if running.api.guard.book.addresses["127.0.0.2"].open == 1:
                break
            await asyncio.sleep(0.01)
        async with from_address("127.0.0.2", base_url(running)) as again:
            assert (await again.get("/health")).status_code == 200
        assert running.api.counters["refused-too-many-connections"] == 1
        await held[1].close()


async def test_slow_http_headers_and_bodies_are_closed_others_served(tmp_path: Path) -> None:
    limits = HttpLimits(header_timeout_s=1.0, body_timeout_s=1.0)
    async with server(tmp_path, http=limits) as running:
        port = running.bound["http"][1]
        headers = await raw(port, "127.0.0.2")
        headers.send(b"GET /api/v1/health HTTP/1.1\r\nHost: holdfire\r\n")

        async def drip() -> None:  # a header line, a byte every 200 ms
            while not headers.eof.is_set():
                headers.send(b"X")
                await asyncio.sleep(0.2)

        dripping = asyncio.ensure_future(drip())
        body = await raw(port, "127.0.0.3")
        body.send(
            b"POST /api/v1/reports HTTP/1.1\r\nHost: holdfire\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"
        )
        async with from_address("127.0.0.4", base_url(running)) as other:
            assert (await other.get("/health")).status_code == 200
        assert (await headers.closed(3 * TIMEOUT)).startswith(b"HTTP/1.1 408 ")
        await dripping
        await body.closed(3 * TIMEOUT)
        assert running.api.counters["refused-slow-headers"] == 1
        assert running.api.counters["refused-slow-body"] == 1
        for client in (headers, body):
            await client.close()


# ---------------------------------------------------------------------------------------------
# `holdfire serve`: the flags, uvloop, the open-file limit


async def test_serve_applies_its_limit_flags(tmp_path: Path) -> None:
    http, tcp, tls = free_port(), free_port(), free_port()
    data = tmp_path / "data"
    args = ["serve", "--data", str(data), "--http", f"127.0.0.1:{http}"]
    args += ["--cot-tcp", f"127.0.0.1:{tcp}", "--cot-tls", f"127.0.0.1:{tls}"]
    args += ["--cot-max-per-address", "1", "--cot-idle-timeout", "1.5"]
    args += ["--cot-handshake-timeout", "1.5", "--http-requests-per-s", "0.1"]  # a burst of 1
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([*holdfire(), *args], stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{http}"
        for _ in range(int(6 * TIMEOUT / 0.1)):
            with contextlib.suppress(httpx.HTTPError):
                async with from_address("127.0.0.9", base) as probe:
                    if (await probe.get("/health")).status_code in (200, 429):  # it answers
                        break
            await asyncio.sleep(0.1)
        store = CertStore(data / "certs")
        bundle = store.client("good", "ANDROID-good", now=datetime.now(UTC), host="127.0.0.1")
        good = await raw(
            tls,
            "127.0.0.1",
            tls=store.client_ssl_context(bundle.p12_path, bundle.password),
            server_hostname="127.0.0.1",
        )
        await good.until(SERVER_SA, "the server's SA over TLS")

        idle = await raw(tcp, "127.0.0.2")
        await idle.until(SERVER_SA, "the server's SA")
        over = await raw(tcp, "127.0.0.2")
        assert SERVER_SA not in await over.closed()
        handshake = await raw(tls, "127.0.0.3")
        handshake.send(b"\x16\x03\x01")
        pings = 0
        while not (idle.eof.is_set() and handshake.eof.is_set()):
            good.send(sa("ANDROID-good", "GOOD", remarks=f"ping {pings}"))  # never idle
            pings += 1
            await asyncio.sleep(0.3)
            assert pings < 4 * TIMEOUT / 0.3, "the idle and handshaking ones were not closed"
        assert not good.eof.is_set()

        token = (data / "admin.token").read_text().strip()
        async with from_address("127.0.0.4", base) as busy:
            statuses = [(await busy.get("/health")).status_code for _ in range(3)]
        async with from_address("127.0.0.5", base, token) as admin:
            counters = (await admin.get("/admin/counters")).json()
        assert statuses == [200, 429, 429]
        assert counters["cot"]["refused-too-many-connections"] == 1
        assert counters["cot"]["refused-idle-timeout"] == 1
        assert counters["cot"]["refused-tls-handshake"] == 1
        for client in (good, idle, over, handshake):
            await client.close()
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0
    logged = log_path.read_text()
    assert re.search(r"open files: up to \d+ \(hard limit \d+\)", logged), logged
    assert "cot 127.0.0.2: too-many-connections" in logged

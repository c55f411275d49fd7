"""Revoking a device: real TLS sockets on 127.0.0.1 against a real holdfire CoT listener.

`holdfire certs revoke NAME` runs as a subprocess against the data directory of a server
running in-process; the device's open connection must be cut off within two seconds, a
reconnect with the same certificate must get nothing (not even the server's own SA, which every
accepted client is sent first), and the other clients must carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from holdfire.adapters.certs import CertStore
from holdfire.adapters.net.cot_connection import CotConfig
from holdfire.bootstrap import Listeners, Running, start_server
from holdfire.config import Settings
from support.process import holdfire
from support.tak import sa

pytestmark = pytest.mark.integration

TIMEOUT = 5.0
CUT_WITHIN = 2.0  # seconds from the revocation to the connection's end


@dataclass
class Device:
    name: str
    uid: str
    context: ssl.SSLContext


@dataclass
class Link:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    received: bytearray

    async def read_until(self, needle: bytes) -> None:
        async with asyncio.timeout(TIMEOUT):
            while needle not in self.received:
                data = await self.reader.read(65536)
                assert data, f"closed before {needle!r} arrived"
                self.received += data

    async def eof(self, within: float) -> float:
        """Seconds until the server ends the connection (fails after ``within``)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with asyncio.timeout(within):
            while True:
                try:
                    data = await self.reader.read(65536)
                except (ConnectionError, ssl.SSLError):
                    break
                if not data:
                    break
                self.received += data
        return loop.time() - start

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    listeners = Listeners(cot_tcp=None, cot_tls=("127.0.0.1", 0), http=None)
    server = await start_server(
        Settings(tmp_path / "data"), listeners, CotConfig(revocation_poll_s=0.2)
    )
    try:
        yield server
    finally:
        await asyncio.wait_for(server.close(), TIMEOUT)


def device(running: Running, name: str, uid: str) -> Device:
    certs = running.certs
    assert certs is not None
    bundle = certs.client(name, uid, now=datetime.now(UTC), host="127.0.0.1")
    return Device(name, uid, certs.client_ssl_context(bundle.p12_path, bundle.password))


async def connect(running: Running, dev: Device) -> Link:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1", running.bound["tls"][1], ssl=dev.context, server_hostname="127.0.0.1"
        ),
        TIMEOUT,
    )
    return Link(reader, writer, bytearray())


def revoke_with_cli(data_dir: Path, name: str) -> str:
    done = subprocess.run(
        [*holdfire(), "certs", "revoke", name, "--data", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_revoking_a_connected_device_cuts_it_off_and_refuses_it_others_carry_on(
    running: Running, tmp_path: Path
) -> None:
    lost = device(running, "lost-tablet", "ANDROID-lost")
    other = device(running, "alpha-lead", "ANDROID-alpha")
    lost_link = await connect(running, lost)
    other_link = await connect(running, other)
    for link in (lost_link, other_link):
        await link.read_until(b'uid="HOLDFIRE"')  # accepted: the server's own SA came
    lost_link.writer.write(sa("ANDROID-lost", "LOST"))
    await other_link.read_until(b'uid="ANDROID-lost"')  # routed between them while valid

    # In a worker thread: the CLI takes about a second to start, the server must keep running.
    out = await asyncio.to_thread(revoke_with_cli, tmp_path / "data", "lost-tablet")
    assert "lost-tablet" in out and "revoked" in out
    took = await lost_link.eof(within=CUT_WITHIN)
    assert took < CUT_WITHIN
    assert running.cot.counters["revoked-cut"] == 1

    # A reconnect with the same certificate gets nothing, not even the server's own SA.
    again = await connect(running, lost)
    await again.eof(within=TIMEOUT)
    assert b"<event" not in again.received
    assert running.cot.counters["revoked-refused"] == 1
    assert all(c.peer.bound_uid != "ANDROID-lost" for c in running.cot.clients)

    # The other device carries on: it is still connected, its SA is routed to a third device.
    third = device(running, "bravo", "ANDROID-bravo")
    third_link = await connect(running, third)
    await third_link.read_until(b'uid="HOLDFIRE"')
    other_link.writer.write(sa("ANDROID-alpha", "ALPHA"))
    await third_link.read_until(b'uid="ANDROID-alpha"')
    third_link.writer.write(sa("ANDROID-bravo", "BRAVO"))
    await other_link.read_until(b'uid="ANDROID-bravo"')
    for link in (lost_link, again, other_link, third_link):
        link.close()


async def test_a_revocation_list_the_ca_did_not_sign_is_ignored_while_running(
    running: Running, tmp_path: Path
) -> None:
    dev = device(running, "charlie", "ANDROID-charlie")
    link = await connect(running, dev)
    await link.read_until(b'uid="HOLDFIRE"')
    # A forged list naming charlie, signed by another CA, written over the real one.
    forger = CertStore(tmp_path / "forger")
    forger.init(now=datetime.now(UTC))
    forger.client("charlie", "ANDROID-charlie", now=datetime.now(UTC), host="127.0.0.1")
    forger.revoke("charlie", now=datetime.now(UTC))
    certs = running.certs
    assert certs is not None
    certs.crl_path.write_bytes(forger.crl_path.read_bytes())
    await asyncio.sleep(1.0)  # five polls
    link.writer.write(sa("ANDROID-charlie", "CHARLIE"))
    await link.writer.drain()
    with contextlib.suppress(TimeoutError):
        await link.eof(within=0.5)
        raise AssertionError("a forged revocation list cut a valid device off")
    assert running.cot.counters["revoked-cut"] == 0
    link.close()


def legacy_context(base: ssl.SSLContext, version: ssl.TLSVersion) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        base.minimum_version = version
        base.maximum_version = version
    base.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this OpenSSL offer what a legacy client does
    return base


async def greeting(port: int, context: ssl.SSLContext) -> bytes:
    """Connect and read what the server sends first ("" if it ends the connection)."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"),
        TIMEOUT,
    )
    try:
        return await asyncio.wait_for(reader.read(100), TIMEOUT)
    finally:
        writer.close()


async def test_the_listener_refuses_tls11_and_accepts_the_same_device_over_tls12(
    running: Running,
) -> None:
    certs = running.certs
    assert certs is not None
    old = device(running, "old-phone", "ANDROID-old")
    old.context = legacy_context(old.context, ssl.TLSVersion.TLSv1_1)
    # Control: this client really speaks TLS 1.1 (a server that allows it accepts it) ...
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    legacy_context(permissive, ssl.TLSVersion.TLSv1_1)
    permissive.load_cert_chain(str(certs.server_cert_path), str(certs.server_key_path))

    async def hello(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(writer.get_extra_info("ssl_object").version().encode())
        await writer.drain()
        writer.close()

    control = await asyncio.start_server(hello, "127.0.0.1", 0, ssl=permissive)
    async with control:
        try:
            spoke = await greeting(control.sockets[0].getsockname()[1], old.context)
        except (ssl.SSLError, ConnectionError) as exc:
            pytest.skip(f"the local OpenSSL cannot speak TLS 1.1 at all: {exc}")
    assert spoke == b"TLSv1.1"
    # ... and holdfire's listener refuses it.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await greeting(running.bound["tls"][1], old.context)
    assert running.cot.clients == set()
    same = device(running, "old-phone-2", "ANDROID-old")
    same.context = legacy_context(same.context, ssl.TLSVersion.TLSv1_2)
    link = await connect(running, same)
    await link.read_until(b'uid="HOLDFIRE"')
    assert link.writer.get_extra_info("ssl_object").version() == "TLSv1.2"
    link.close()

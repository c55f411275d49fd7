"""Real TLS handshakes on 127.0.0.1 against an asyncio server using CertStore.server_ssl_context.

A client with a certificate from the store's CA is accepted and its certificate names its uid;
a client without a certificate, with one from another CA, with the server's own certificate
(no clientAuth EKU) or speaking TLS 1.1 is refused at the handshake: the server's connection
handler never runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from holdfire.adapters.certs import (
    CertStore,
    ClientBundle,
    TlsIdentity,
    client_ssl_context,
    identity_from_peercert,
)

pytestmark = pytest.mark.integration

UID = "ANDROID-5f3e2d1c"
TIMEOUT = 10.0


@dataclass
class Server:
    port: int
    identities: list[TlsIdentity] = field(default_factory=list)
    failures: list[ssl.SSLError] = field(default_factory=list)

    async def failure(self) -> ssl.SSLError:
        """The server side's handshake error (asyncio logs it only in debug mode)."""
        for _ in range(200):
            if self.failures:
                return self.failures[0]
            await asyncio.sleep(0.01)
        raise AssertionError("the server recorded no handshake failure")


class HandshakeFailures(logging.Handler):
    def __init__(self, into: list[ssl.SSLError]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        protocol = record.args[0] if isinstance(record.args, tuple) and record.args else None
        # The client's side of a refused handshake fails in the same loop: keep the server's
        # (SSLProtocol._server_side is private; if it goes away, failure() says so loudly).
        server_side = getattr(protocol, "_server_side", None)
        if (
            isinstance(exc, ssl.SSLError)
            and server_side
            and "handshake failed" in record.getMessage()
        ):
            self.into.append(exc)


@pytest.fixture
def store(tmp_path: Path) -> CertStore:
    certs = CertStore(tmp_path / "certs")
    certs.init(now=datetime.now(UTC))
    return certs


@pytest.fixture
def bundle(store: CertStore) -> ClientBundle:
    # The production default key (RSA 2048) under the EC P-256 CA: the shape ATAK gets.
    return store.client("alpha", UID, now=datetime.now(UTC), host="127.0.0.1")


@pytest.fixture
async def server(store: CertStore) -> AsyncIterator[Server]:
    state = Server(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        state.identities.append(identity_from_peercert(der))
        writer.write(f"hello {ssl_object.version()}\n".encode())
        await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()

    # asyncio aborts a failed server handshake and logs why only in debug mode; collect those
    # errors so each refusal can be pinned on the server, for the expected reason.
    loop = asyncio.get_running_loop()
    debug, slow = loop.get_debug(), loop.slow_callback_duration
    asyncio_logger = logging.getLogger("asyncio")
    level = asyncio_logger.level
    collector = HandshakeFailures(state.failures)
    loop.set_debug(True)
    loop.slow_callback_duration = 60.0
    asyncio_logger.setLevel(logging.DEBUG)
    asyncio_logger.addHandler(collector)
    srv = await asyncio.start_server(
        handle, "127.0.0.1", 0, ssl=store.server_ssl_context(), ssl_handshake_timeout=TIMEOUT
    )
    state.port = srv.sockets[0].getsockname()[1]
    try:
        async with srv:
            yield state
            srv.close()
    finally:
        asyncio_logger.removeHandler(collector)
        asyncio_logger.setLevel(level)
        loop.set_debug(debug)
        loop.slow_callback_duration = slow


async def exchange(port: int, ctx: ssl.SSLContext) -> bytes | BaseException:
    """Connect and read the greeting; the bytes read, or the error that ended the attempt."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx), TIMEOUT
        )
    except (ssl.SSLError, ConnectionError) as exc:
        return exc
    try:
        # With TLS 1.3 the client finishes its side before the server has checked the client
        # certificate, so a refusal shows up on the first read.
        return await asyncio.wait_for(reader.read(100), TIMEOUT)
    except (ssl.SSLError, ConnectionError) as exc:
        return exc
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def assert_refused(
    result: bytes | BaseException, server: Server, reason: str, detail: str = ""
) -> None:
    """The client got an error or EOF, the server never ran its handler, and the server failed
    the handshake for ``reason`` (an OpenSSL reason code) with ``detail`` in its message."""
    assert isinstance(result, BaseException) or result == b"", f"not refused: {result!r}"
    failure = await server.failure()
    assert failure.reason == reason, failure
    assert detail in str(failure), failure
    assert server.identities == [], "the server ran its handler for a refused client"


async def test_a_client_of_the_ca_connects_and_names_its_uid(
    store: CertStore, bundle: ClientBundle, server: Server
) -> None:
    ctx = client_ssl_context(bundle.p12_path, bundle.password)
    result = await exchange(server.port, ctx)
    assert isinstance(result, bytes)
    assert result.startswith(b"hello TLSv1.")
    assert result.split()[1] in {b"TLSv1.2", b"TLSv1.3"}
    assert len(server.identities) == 1
    identity = server.identities[0]
    assert identity.uid == UID
    assert identity.name == "alpha"
    assert identity.serial == bundle.serial


async def test_a_tls12_client_connects_with_a_modern_cipher(
    store: CertStore, bundle: ClientBundle, server: Server
) -> None:
    ctx = store.client_ssl_context(bundle.p12_path, bundle.password)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    result = await exchange(server.port, ctx)
    assert result == b"hello TLSv1.2\n"
    assert server.identities[0].uid == UID


async def test_a_tls12_client_offering_only_cbc_ciphers_is_refused(
    store: CertStore, bundle: ClientBundle, server: Server
) -> None:
    ctx = store.client_ssl_context(bundle.p12_path, bundle.password)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE+AES128+SHA1:AES128-SHA256")
    await assert_refused(await exchange(server.port, ctx), server, "NO_SHARED_CIPHER")


async def test_a_client_without_a_certificate_is_refused(store: CertStore, server: Server) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(store.ca_cert_path))
    await assert_refused(
        await exchange(server.port, ctx), server, "PEER_DID_NOT_RETURN_A_CERTIFICATE"
    )


async def test_a_client_of_another_ca_is_refused(
    store: CertStore, server: Server, tmp_path: Path
) -> None:
    other = CertStore(tmp_path / "other-certs")
    other.init(now=datetime.now(UTC))
    stranger = other.client(
        "mallory", UID, now=datetime.now(UTC), host="127.0.0.1", key_type="ec-p256"
    )
    # Trusts our server (so the client side does not give up first) but presents the other
    # CA's certificate, which claims the same uid.
    ctx = client_ssl_context(stranger.p12_path, stranger.password, cafile=store.ca_cert_path)
    await assert_refused(
        await exchange(server.port, ctx),
        server,
        "CERTIFICATE_VERIFY_FAILED",
        "unable to get local issuer certificate",
    )


async def test_the_server_certificate_is_not_a_client_certificate(
    store: CertStore, server: Server
) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(store.ca_cert_path))
    ctx.load_cert_chain(str(store.server_cert_path), str(store.server_key_path))
    await assert_refused(
        await exchange(server.port, ctx),
        server,
        "CERTIFICATE_VERIFY_FAILED",
        "unsuitable certificate purpose",
    )


async def test_tls11_is_refused(store: CertStore, bundle: ClientBundle, server: Server) -> None:
    ctx = client_ssl_context(bundle.p12_path, bundle.password)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"the local OpenSSL cannot build a TLS 1.1 client: {exc}")
    result = await exchange(server.port, ctx)
    if isinstance(result, ssl.SSLError) and result.reason in {
        "NO_PROTOCOLS_AVAILABLE",
        "NO_CIPHERS_AVAILABLE",
        "UNSUPPORTED_PROTOCOL",
    }:
        pytest.skip(f"the local OpenSSL refused to send a TLS 1.1 hello: {result.reason}")
    await assert_refused(result, server, "UNSUPPORTED_PROTOCOL")

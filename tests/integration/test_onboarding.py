"""Onboarding against a real server: the QR code `holdfire certs client` prints leads a phone to
its data package, once; the package, used exactly as it arrives (its pref's connect string, the
password it carries, its two .p12 files), gets a TLS device onto the server as the uid its
certificate binds. A certificate ending in ten days is warned about at start and by `holdfire
certs list`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import ssl
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from holdfire.adapters.certs import CertStore, client_ssl_context
from holdfire.bootstrap import Listeners, Running, start_server
from holdfire.commands_certs import phone_hint
from holdfire.config import Settings
from support.process import holdfire
from support.qr import decode_png, decode_terminal
from support.tak import TIMEOUT, sa

pytestmark = pytest.mark.integration

UID = "ANDROID-7d2a91"


@dataclass
class Server:
    running: Running
    data: Path
    base: str
    admin: str


@pytest.fixture
async def server(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Server]:
    data = tmp_path / "data"
    # a device issued 355 days ago, for a year: its certificate ends in ten days
    store = CertStore(data / "certs")
    store.init(now=datetime.now(UTC))
    old = datetime.now(UTC) - timedelta(days=355)
    store.client("old-radio", "ANDROID-old", now=old, host="127.0.0.1", key_type="ec-p256")
    caplog.set_level(logging.WARNING, logger="holdfire.cot")
    listeners = Listeners(http=("127.0.0.1", 0), cot_tcp=None, cot_tls=("127.0.0.1", 0))
    running = await start_server(Settings(data), listeners)
    try:
        assert running.admin_token_file is not None
        host, port = running.bound["http"]
        admin = running.admin_token_file.read_text().strip()
        yield Server(running, data, f"http://{host}:{port}", admin)
    finally:
        await running.close()


async def run(*args: str) -> tuple[int, str, str]:
    """The CLI as a process, awaited without blocking the server in this event loop."""
    proc = await asyncio.create_subprocess_exec(
        *holdfire(), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def pref(prefs: ET.Element, key: str) -> str:
    (entry,) = [e for e in prefs.iter("entry") if e.get("key") == key]
    return entry.text or ""


async def test_the_qr_code_brings_a_phone_its_package_once_and_the_package_connects(
    server: Server, tmp_path: Path
) -> None:
    tls_port = server.running.bound["tls"][1]
    code, out, err = await run(
        "certs", "client", "alpha", "--uid", UID, "--host", "127.0.0.1", "--port", str(tls_port),
        "--download-url", server.base, "--data", str(server.data),
    )  # fmt: skip
    assert code == 0, err
    # The QR code in the terminal and the PNG beside the package say the same: ATAK's import
    # link to a one-time URL on this server.
    (text,) = decode_terminal(out)
    assert decode_png(server.data / "certs" / "clients" / "alpha-qr.png") == [text]
    assert text.startswith("tak://com.atakmap.app/import?url=")
    (url,) = parse_qs(urlsplit(text).query)["url"]
    assert f"link: {url}" in out

    async with httpx.AsyncClient(timeout=10.0) as http:
        got = await http.get(url)  # no token: the link is the credential
        again = await http.get(url)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    assert got.content == (server.data / "certs" / "clients" / "alpha.zip").read_bytes()
    assert again.status_code == 404 and "used or expired" in again.json()["error"]

    # The device, from nothing but the package: the pref says where and with what password.
    with zipfile.ZipFile(io.BytesIO(got.content)) as package:
        files = {name: package.read(name) for name in package.namelist()}
    prefs = ET.fromstring(files["holdfire.pref"])
    host, port, protocol = pref(prefs, "connectString0").split(":")
    assert (host, port, protocol) == ("127.0.0.1", str(tls_port), "ssl")
    client_file = pref(prefs, "certificateLocation").removeprefix("cert/")
    ca_file = pref(prefs, "caLocation").removeprefix("cert/")
    ca = pkcs12.load_pkcs12(files[ca_file], pref(prefs, "caPassword").encode())
    (ca_cert,) = ca.additional_certs
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(ca_cert.certificate.public_bytes(pkcs12.serialization.Encoding.PEM))
    p12_path = tmp_path / client_file
    p12_path.write_bytes(files[client_file])
    context = client_ssl_context(p12_path, pref(prefs, "clientPassword"), cafile=ca_path)
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(host, int(port), ssl=context, server_hostname=host), TIMEOUT
    )
    try:
        writer.write(sa(UID, "ALPHA"))
        await writer.drain()
        headers = {"Authorization": f"Bearer {server.admin}"}
        async with httpx.AsyncClient(base_url=server.base, headers=headers) as api:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    items = (await api.get("/api/v1/clients")).json()["items"]
                    if items and items[0]["callsign"] == "ALPHA":
                        break
                    await asyncio.sleep(0.02)
        (device,) = items
        assert (device["protocol"], device["uid"], device["tls"]["name"]) == (
            "tak-tls",
            UID,
            "alpha",
        )
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def test_a_certificate_ending_in_ten_days_is_warned_about_at_start_and_listed(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    def warned() -> list[logging.LogRecord]:
        # logged by the server's first check, while the fixture started it or just after
        records = caplog.get_records("setup") + caplog.records
        return [r for r in records if "old-radio" in r.getMessage()]

    async with asyncio.timeout(TIMEOUT):
        while not warned():
            await asyncio.sleep(0.02)
    (warning,) = warned()
    assert warning.levelno == logging.WARNING
    assert "client certificate old-radio expires on " in warning.getMessage()
    assert "(in 10 days)" in warning.getMessage()

    code, out, err = await run("certs", "list", "--data", str(server.data))
    assert code == 1, err  # something to renew
    (row,) = [line for line in out.splitlines() if line.startswith("client  old-radio")]
    assert row.split()[-4:] == [row.split()[-4], "10", "expires", "soon"]
    assert "warning: client certificate old-radio expires on " in out

    # what `holdfire serve` says about phones: the TLS listener is on loopback here, and the
    # HTTP listener too, so both flags that open them are named, with what that means
    hint = "\n".join(phone_hint(server.running))
    assert f"--cot-tls 0.0.0.0:{server.running.bound['tls'][1]}" in hint
    assert f"--http 0.0.0.0:{server.running.bound['http'][1]}" in hint
    assert "network you trust" in hint

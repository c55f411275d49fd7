"""No secret is ever written to a log: a real `holdfire serve` on PostgreSQL, used with real
tokens, certificates and a broker password, and every line it logged searched for them.

The secrets: the admin token of the first start, tokens made with `holdfire token create`
(one later revoked, one a reporter refused an action), an unknown token tried by a stranger,
a client certificate's PKCS#12 password, the database URL's password and the MQTT URL's
password (the broker is down, so its retries are logged). Each is used the way a client uses it
(bearer header, `?token=` on the stream, a first stream message, a TLS handshake). Searched:
the server's stdout and stderr, every `*.log` file under the data directory, and what the CLI
wrote besides the one secret it exists to print. So that the test can fail, it also checks that
the log did record what was done (the TLS connection, the stream's URL with its token masked,
the databases' host and names, the broker). It runs with each `--log-format`: text lines, and
JSON objects (where every line on stderr must parse, and what they say is searched too).
The metrics scrape token (`DATA/metrics.token`) is one of the secrets, used for a scrape.

No default secret either: two first starts make different admin tokens and CA keys, and the code
holds no token- or password-shaped literal.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import signal
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import holdfire as holdfire_package
from holdfire.adapters.certs import CertStore
from holdfire.bootstrap import Listeners, start_server
from holdfire.config import Settings
from support.cluster import wait_until
from support.process import free_port, holdfire
from support.stores import pg_schema

pytestmark = pytest.mark.integration

TIMEOUT = 10.0


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*holdfire(), *args], capture_output=True, text=True, timeout=60, check=False
    )


def ready(base: str) -> bool:
    with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2) as reply:
        return bool(json.load(reply)["ready"])


async def use_everything(
    base: str, tls_port: int, tokens: dict[str, str], certs: CertStore, pw: str, common: list[str]
) -> None:
    """Every secret used as a client uses it, with failures among them."""

    async def get(token: str, path: str = "/tracks") -> int:
        async with httpx.AsyncClient(base_url=f"{base}/api/v1", timeout=TIMEOUT) as c:
            reply = await c.get(path, headers={"Authorization": f"Bearer {token}"})
            return reply.status_code

    assert await get(tokens["admin"]) == 200
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as c:
        scraped = await c.get("/metrics", headers={"Authorization": f"Bearer {tokens['scrape']}"})
        assert scraped.status_code == 200
    assert await get(tokens["planner"]) == 200
    assert await get(tokens["stranger"]) == 401
    async with httpx.AsyncClient(base_url=f"{base}/api/v1", timeout=TIMEOUT) as c:
        refused = await c.post(  # a reporter for another unit: 403 and a SECURITY alert
            "/measures",
            headers={"Authorization": f"Bearer {tokens['reporter']}"},
            json={
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [35.6, 51.4]},
                "properties": {"kind": "NFA", "radius_m": 100, "name": "x"},
            },
        )
        assert refused.status_code == 403
    ws_base = base.replace("http://", "ws://") + "/api/v1/stream"
    async with connect(f"{ws_base}?token={tokens['planner']}", open_timeout=TIMEOUT) as ws:
        await ws.ping()
    async with connect(ws_base, open_timeout=TIMEOUT) as ws:
        await ws.send(json.dumps({"token": tokens["stranger"]}))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    done = await asyncio.to_thread(run, "token", "revoke", "ops-planner", *common)
    assert done.returncode == 0, done.stderr
    assert await get(tokens["planner"]) == 401  # a revoked token tried again
    context = certs.client_ssl_context(certs.clients_dir / "alpha.p12", pw)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", tls_port, ssl=context, server_hostname="127.0.0.1"
    )
    await asyncio.wait_for(reader.readuntil(b"</event>"), TIMEOUT)
    writer.close()
    wrong = ssl.create_default_context(cafile=str(certs.ca_cert_path))  # no client certificate
    assert await refused_handshake(tls_port, wrong) == b""


async def refused_handshake(port: int, context: ssl.SSLContext) -> bytes:
    """What a refused client reads: nothing (an error, or the end of the stream at once)."""
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
        )
    except (ssl.SSLError, ConnectionError):
        return b""
    try:
        return await asyncio.wait_for(reader.read(100), TIMEOUT)
    except (ssl.SSLError, ConnectionError):
        return b""
    finally:
        writer.close()


def readable(log_format: str, stderr: str) -> str:
    """What the log says: the text lines as they are; each JSON line parsed (every one must
    parse) and its message and fields written out."""
    if log_format == "text":
        return stderr
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert all(isinstance(r, dict) and r.keys() >= {"time", "level", "logger"} for r in records)
    return "\n".join(" ".join(str(v) for v in r.values()) for r in records)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_a_log(tmp_path: Path, log_format: str) -> None:
    data = tmp_path / "data"
    db_password = secrets.token_urlsafe(12)
    mqtt_password = secrets.token_urlsafe(12)
    http, tls, mqtt = free_port(), free_port(), free_port()  # nothing listens on `mqtt`
    with pg_schema() as (_, url):
        db_url = url.replace("://postgres@", f"://postgres:{db_password}@", 1)
        assert db_password in db_url  # the server trusts loopback: the password is not checked
        common = ["--data", str(data), "--db", db_url]
        certs = CertStore(data / "certs")
        log_path, out_path = tmp_path / "serve.log", tmp_path / "serve.out"
        with log_path.open("wb") as err, out_path.open("wb") as out:
            server = subprocess.Popen(
                [
                    *holdfire(),
                    "serve",
                    *common,
                    "--http",
                    f"127.0.0.1:{http}",
                    "--cot-tcp",
                    "off",
                    "--cot-tls",
                    f"127.0.0.1:{tls}",
                    "--mqtt",
                    f"mqtt://tracker:{mqtt_password}@127.0.0.1:{mqtt}",
                    "--log-format",
                    log_format,
                ],
                stdout=out,
                stderr=err,
            )
        try:
            base = f"http://127.0.0.1:{http}"
            wait_until("holdfire serving", lambda: ready(base), 30)
            cli_output: list[str] = []
            tokens = {
                "admin": (data / "admin.token").read_text().strip(),
                "scrape": (data / "metrics.token").read_text().strip(),
            }
            for role, extra in (("planner", []), ("reporter", ["--unit", "inf-1"])):
                named = ["--role", role, "--name", f"ops-{role}", *extra]
                made = run("token", "create", *named, *common)
                assert made.returncode == 0, made.stderr
                tokens[role] = made.stdout.strip()
                cli_output.append(made.stderr)
            tokens["stranger"] = "hf_" + secrets.token_urlsafe(32)
            device = ["alpha", "--uid", "ANDROID-a", "--host", "127.0.0.1", "--data", str(data)]
            client = run("certs", "client", *device)
            assert client.returncode == 0, client.stderr
            (pw,) = [line.split()[-1] for line in client.stdout.splitlines() if "password:" in line]
            cli_output.append(client.stderr)
            asyncio.run(use_everything(base, tls, tokens, certs, pw, common))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(TIMEOUT * 3)
        # A database that does not exist: the error names it, never the password.
        database = db_url.split("?")[0].rsplit("/", 1)[1]
        missing = db_url.replace(f"/{database}?", "/no_such_db?", 1)
        bad_db = run(
            "check", "51.4, 35.6", "--weapon", "fpv-drone", "--data", str(data), "--db", missing
        )
        assert bad_db.returncode != 0
        cli_output += [bad_db.stdout, bad_db.stderr]

    stderr = log_path.read_text(errors="replace")
    logs: dict[str, str] = {"serve": stderr, "serve stdout": out_path.read_text(errors="replace")}
    logs.update({str(p): p.read_text(errors="replace") for p in data.rglob("*.log")})
    logs["cli"] = "\n".join(cli_output)
    found: dict[str, Any] = {}
    named = {**tokens, "p12 password": pw, "db password": db_password, "mqtt": mqtt_password}
    for what, secret in named.items():
        hits = [source for source, text in logs.items() if secret in text]
        if hits:
            found[what] = hits
    assert not found, f"secrets in the logs: {found}"
    served = logs["serve stdout"] + readable(log_format, stderr)
    # The log did see what was done (else finding no secret in it would prove nothing).
    for seen in (
        "connected over cot-tls",  # the certificate was used
        'WebSocket /api/v1/stream?token=***"',  # the stream URL is logged, its token masked
        "127.0.0.1:5432",  # the database is named
        "no_such_db",  # so is the one that does not exist
        f"mqtt://127.0.0.1:{mqtt}",  # and the broker, without its password
    ):
        assert seen in served + logs["cli"], f"the log never mentions {seen!r}:\n{served}"


async def test_no_secret_is_fixed_every_first_start_makes_its_own(tmp_path: Path) -> None:
    made: list[tuple[str, bytes]] = []
    for n in range(2):
        running = await start_server(
            Settings(tmp_path / f"data-{n}"),
            Listeners(http=None, cot_tcp=None, cot_tls=("127.0.0.1", 0)),
        )
        try:
            assert running.admin_token_file is not None and running.certs is not None
            made.append(
                (running.admin_token_file.read_text(), running.certs.ca_key_path.read_bytes())
            )
        finally:
            await running.close()
    (token_a, ca_a), (token_b, ca_b) = made
    assert token_a != token_b and ca_a != ca_b
    # No token- or password-shaped literal in the code (TAK peers ship such defaults).
    source = Path(holdfire_package.__file__).parent
    literal = re.compile(
        r"""["']hf_[A-Za-z0-9_-]{8,}|(?i:password|secret)\w*\s*=\s*["'][^"']+["']"""
    )
    hits = [
        f"{path.relative_to(source)}: {match[0]}"
        for path in source.rglob("*.py")
        for match in literal.finditer(path.read_text())
    ]
    assert hits == []

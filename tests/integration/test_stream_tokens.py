"""Token revocation and expiry reach open WebSocket streams, against a real server.

A stream is closed with code 4401 and the reason `token revoked` or `token expired` within two
seconds; streams of other tokens carry on. Revocation goes through `holdfire token revoke` in a
process of its own (it reaches the server only through the store), expiry through a token made
with `POST /tokens` and an `expires_at`, and `holdfire token create --expires`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from holdfire.bootstrap import Listeners, Running, start_server
from holdfire.config import Settings
from support.process import holdfire

pytestmark = pytest.mark.integration

TIMEOUT = 5.0
CLOSE_WITHIN = 2.0
AIM = (51.40, 35.60)


class Server:
    def __init__(self, running: Running, data_dir: Path) -> None:
        assert running.admin_token_file is not None
        self.running = running
        self.data_dir = data_dir
        self.admin = running.admin_token_file.read_text().strip()
        host, port = running.bound["http"]
        self.http = f"http://{host}:{port}/api/v1"
        self.ws = f"ws://{host}:{port}/api/v1/stream"

    def client(self, token: str) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.AsyncClient(base_url=self.http, headers=headers, timeout=10.0)

    async def token(self, name: str, **extra: str) -> str:
        async with self.client(self.admin) as c:
            r = await c.post("/tokens", json={"name": name, "role": "observer", **extra})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*holdfire(), *args, "--data", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    data = tmp_path / "data"
    running = await start_server(
        Settings(data), Listeners(http=("127.0.0.1", 0), cot_tcp=None, cot_tls=None)
    )
    try:
        yield Server(running, data)
    finally:
        await running.close()


async def report(server: Server, uid: str) -> None:
    async with server.client(server.admin) as c:
        r = await c.post("/reports", json={"uid": uid, "lat": AIM[0], "lon": AIM[1], "ce_m": 5})
    assert r.status_code == 202, r.text


async def track(ws: ClientConnection, uid: str) -> None:
    async with asyncio.timeout(TIMEOUT):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["kind"] == "track" and message["data"]["id"] == uid:
                return


async def closed(ws: ClientConnection, within: float) -> tuple[int, str]:
    """The close code and reason the server sent, within ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            try:
                await ws.recv()
            except ConnectionClosed as exc:
                received = exc.rcvd
                break
    assert received is not None, "the connection ended without a close frame"
    return received.code, received.reason


async def test_a_revoked_token_closes_its_open_stream_and_others_carry_on(
    server: Server,
) -> None:
    lost = await server.token("lost-tablet")
    kept = await server.token("ops-wall")
    async with (
        connect(f"{server.ws}?token={lost}", open_timeout=TIMEOUT) as doomed,
        connect(server.ws, open_timeout=TIMEOUT) as other,
    ):
        await other.send(json.dumps({"token": kept}))  # the first-message sign-in
        await report(server, "inf-1")
        await track(doomed, "inf-1")
        await track(other, "inf-1")

        done = await asyncio.to_thread(server.cli, "token", "revoke", "lost-tablet")
        assert done.returncode == 0, done.stderr
        assert await closed(doomed, CLOSE_WITHIN) == (4401, "token revoked")

        await report(server, "inf-2")
        await track(other, "inf-2")
    async with server.client(lost) as c:
        assert (await c.get("/tracks")).status_code == 401


async def test_an_expiring_token_closes_its_stream_when_it_expires(server: Server) -> None:
    lifetime = timedelta(seconds=2)
    expires = datetime.now(UTC) + lifetime
    short = await server.token("short", expires_at=expires.isoformat().replace("+00:00", "Z"))
    async with server.client(short) as c:
        assert (await c.get("/tracks")).status_code == 200
    async with connect(f"{server.ws}?token={short}", open_timeout=TIMEOUT) as ws:
        await report(server, "inf-1")
        await track(ws, "inf-1")
        left = (expires - datetime.now(UTC)).total_seconds()
        assert await closed(ws, left + CLOSE_WITHIN) == (4401, "token expired")
        assert datetime.now(UTC) >= expires  # not before its time
    async with server.client(short) as c:
        assert (await c.get("/tracks")).status_code == 401
    async with server.client(server.admin) as c:
        listed = (await c.get("/tokens")).json()["items"]
    (row,) = [t for t in listed if t["name"] == "short"]
    assert row["expires_at"] is not None


async def test_token_create_expires(server: Server) -> None:
    done = await asyncio.to_thread(
        server.cli, "token", "create", "--role", "observer", "--name", "day", "--expires", "1d"
    )
    assert done.returncode == 0, done.stderr
    async with server.client(done.stdout.strip()) as c:
        assert (await c.get("/me")).status_code == 200
    listed = await asyncio.to_thread(server.cli, "token", "list")
    (line,) = [row for row in listed.stdout.splitlines() if " day " in row]
    assert "expires " in line
    past = await asyncio.to_thread(
        server.cli, "token", "create", "--role", "observer", "--expires", "2020-01-01T00:00:00Z"
    )
    assert past.returncode == 2 and "future" in past.stderr
    async with server.client(server.admin) as c:
        r = await c.post(
            "/tokens",
            json={"name": "old", "role": "observer", "expires_at": "2020-01-01T00:00:00Z"},
        )
    assert r.status_code == 422 and r.json()["field"] == "expires_at"

"""Who is connected, against a real server: a pytak TLS client, a WebSocket stream and the MQTT
subscription on the machine's broker are listed by `GET /clients` and `holdfire clients`, each
with what identifies it; disconnecting one ends exactly that connection.

The CLI runs as a real process; it is awaited with asyncio's subprocesses, since the server it
talks to runs in this event loop.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from holdfire.adapters.auth import create_token
from holdfire.adapters.net.mqtt import parse_mqtt_url
from holdfire.bootstrap import Listeners, Running, start_server
from holdfire.codecs.json import parse_time
from holdfire.config import Settings
from holdfire.domain.access import Role
from support.process import holdfire
from support.streams import closing
from support.tak import TIMEOUT, PytakClient, open_pytak, sa

pytestmark = pytest.mark.integration

BROKER = ("127.0.0.1", 1883)
UID = "ANDROID-4c1e7b"


@dataclass
class Server:
    running: Running
    base: str
    admin: str
    observer: str
    topic: str  # where the MQTT subscription listens

    def client(self, secret: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {secret or self.admin}"}
        return httpx.AsyncClient(base_url=f"{self.base}/api/v1", headers=headers, timeout=10.0)

    async def clients(self) -> list[dict[str, Any]]:
        async with self.client() as c:
            r = await c.get("/clients")
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def until(
        self, pred: Callable[[list[dict[str, Any]]], bool], what: str
    ) -> list[dict[str, Any]]:
        async with asyncio.timeout(TIMEOUT):
            while not pred(items := await self.clients()):
                await asyncio.sleep(0.02)
        return items

    async def cli(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *holdfire(),
            "clients",
            "--url",
            self.base,
            "--token",
            self.admin,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()


def by_protocol(items: list[dict[str, Any]], protocol: str) -> list[dict[str, Any]]:
    return [item for item in items if item["protocol"] == protocol]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    try:
        socket.create_connection(BROKER, timeout=1.0).close()
    except OSError:
        pytest.fail("no MQTT broker on 127.0.0.1:1883 (.ci/run starts mosquitto)")
    topic = f"holdfire-test/{uuid.uuid4().hex}/reports"
    listeners = Listeners(
        http=("127.0.0.1", 0),
        cot_tcp=None,
        cot_tls=("127.0.0.1", 0),
        mqtt=parse_mqtt_url("mqtt://127.0.0.1:1883", [f"{topic}/#"]),
    )
    running = await start_server(Settings(tmp_path / "data"), listeners)
    try:
        assert running.admin_token_file is not None
        admin = running.admin_token_file.read_text().strip()
        made = await create_token(
            running.service.store, "map-screen", Role.OBSERVER, by="test", now=datetime.now(UTC)
        )
        host, port = running.bound["http"]
        yield Server(running, f"http://{host}:{port}", admin, made.secret, topic)
    finally:
        await running.close()


async def tls_client(server: Server) -> tuple[PytakClient, int]:
    """A pytak client over TLS with a certificate from the server's CA, as a phone has one."""
    certs = server.running.certs
    assert certs is not None
    bundle = certs.client("alpha", UID, now=datetime.now(UTC), host="127.0.0.1")
    client = await open_pytak(
        "alpha",
        COT_URL=f"tls://127.0.0.1:{server.running.bound['tls'][1]}",
        PYTAK_TLS_CLIENT_CERT=str(bundle.p12_path),
        PYTAK_TLS_CLIENT_PASSWORD=bundle.password,
        PYTAK_TLS_CLIENT_CAFILE=str(certs.ca_cert_path),
    )
    await client.send(sa(UID, "ALPHA"))
    return client, bundle.serial


async def stream(server: Server) -> ClientConnection:
    url = server.base.replace("http://", "ws://") + f"/api/v1/stream?token={server.observer}"
    return await connect(url, open_timeout=TIMEOUT)


async def test_the_list_shows_a_pytak_tls_client_a_stream_and_the_mqtt_subscription(
    server: Server,
) -> None:
    started = datetime.now(UTC)
    alpha, serial = await tls_client(server)
    ws = await stream(server)
    try:
        async with aiomqtt.Client(*BROKER) as broker:
            report = {"uid": "tracker-1", "lat": 51.4, "lon": 35.6}
            await broker.publish(f"{server.topic}/tracker-1", json.dumps(report))
        items = await server.until(
            lambda items: (
                any(i["callsign"] == "ALPHA" for i in by_protocol(items, "tak-tls"))
                and any(i["messages_in"] for i in by_protocol(items, "mqtt"))
                and by_protocol(items, "websocket")
            ),
            "the three connections",
        )
        assert sorted(i["protocol"] for i in items) == ["mqtt", "tak-tls", "websocket"]
        (tak,) = by_protocol(items, "tak-tls")
        certs = server.running.certs
        assert certs is not None
        local_port = alpha.tx.writer.get_extra_info("sockname")[1]
        assert tak["address"] == f"127.0.0.1:{local_port}"
        assert (tak["uid"], tak["callsign"], tak["identity"]) == (UID, "ALPHA", "alpha")
        assert tak["tls"]["name"] == "alpha" and tak["tls"]["uid"] == UID
        assert tak["tls"]["serial"] == f"{serial:x}"
        assert parse_time(tak["tls"]["not_after"]) > started
        assert tak["messages_in"] == 1  # the SA it sent
        assert tak["messages_out"] >= 1  # at least holdfire's own SA
        assert tak["queue"] == 0
        assert started <= parse_time(tak["since"]) <= datetime.now(UTC)

        (live,) = by_protocol(items, "websocket")
        ws_port = ws.local_address[1]
        assert live["address"] == f"127.0.0.1:{ws_port}"
        assert live["identity"] == "token map-screen (observer)" and live["tls"] is None

        (mqtt,) = by_protocol(items, "mqtt")
        assert mqtt["address"] == "127.0.0.1:1883" and mqtt["messages_in"] == 1
        assert mqtt["tls"] is None and mqtt["uid"] is None

        # only an admin sees who is connected
        async with server.client(server.observer) as c:
            assert (await c.get("/clients")).status_code == 403
            assert (await c.delete(f"/clients/{tak['id']}")).status_code == 403

        # the CLI shows the same, readable and as JSON
        code, out, err = await server.cli()
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].split() == [
            "ID", "PROTOCOL", "ADDRESS", "UID", "CALLSIGN", "IDENTITY", "SINCE", "IN", "OUT",
            "QUEUE",
        ]  # fmt: skip
        (tak_line,) = [line for line in lines if line.startswith(tak["id"] + " ")]
        assert f"127.0.0.1:{local_port}" in tak_line and f" {UID} " in tak_line
        assert f"cert alpha (serial {serial:x}, until " in tak_line
        assert lines[-1] == "3 connected"
        code, out, err = await server.cli("--json")
        assert code == 0, err
        assert {i["id"] for i in json.loads(out)["items"]} == {i["id"] for i in items}
    finally:
        alpha.rx_task.cancel()
        alpha.tx.writer.close()
        await ws.close()


async def test_an_admin_disconnects_one_client_and_only_that_one(server: Server) -> None:
    alpha, _ = await tls_client(server)
    ws = await stream(server)
    try:
        items = await server.until(
            lambda items: (
                len(by_protocol(items, "tak-tls")) == 1
                and len(by_protocol(items, "websocket")) == 1
                and len(by_protocol(items, "mqtt")) == 1
            ),
            "the three connections",
        )
        (tak,), (live,), (mqtt,) = (by_protocol(items, p) for p in ("tak-tls", "websocket", "mqtt"))

        # the TAK client, with the CLI: its socket is closed at once
        code, out, err = await server.cli("--disconnect", tak["id"])
        assert (code, out.strip()) == (0, f"{tak['id']} disconnected"), err
        await asyncio.wait_for(asyncio.shield(alpha.rx_task), TIMEOUT)
        assert alpha.rx.reader.at_eof() or alpha.rx_task.exception() is not None
        cot = server.running.cot
        assert cot.counters["disconnected-by-admin"] == 1 and not cot.clients
        items = await server.until(lambda items: not by_protocol(items, "tak-tls"), "tak gone")
        assert {i["id"] for i in items} == {live["id"], mqtt["id"]}

        # the stream, over the API: closed with its own code
        async with server.client() as c:
            assert (await c.delete(f"/clients/{live['id']}")).status_code == 204
        closed = await closing(ws)
        assert closed.rcvd is not None
        assert (closed.rcvd.code, closed.rcvd.reason) == (4000, "disconnected by an administrator")

        # the MQTT subscription drops its broker connection and comes back under a new id
        async with server.client() as c:
            assert (await c.delete(f"/clients/{mqtt['id']}")).status_code == 204
        items = await server.until(
            lambda items: (
                [i["id"] for i in items] not in ([], [mqtt["id"]])
                and all(i["protocol"] == "mqtt" for i in items)
            ),
            "the MQTT subscription back",
        )
        assert len(items) == 1 and items[0]["id"] != mqtt["id"]
        mqtt_ingest = server.running.mqtt
        assert mqtt_ingest is not None and mqtt_ingest.counters["disconnected-by-admin"] == 1

        # an id nobody has
        async with server.client() as c:
            r = await c.delete("/clients/tak-999")
        assert r.status_code == 404 and "tak-999" in r.json()["error"]
        code, _, err = await server.cli("--disconnect", "tak-999")
        assert code == 1 and "404" in err
    finally:
        alpha.rx_task.cancel()
        alpha.tx.writer.close()
        await ws.close()

"""WS /api/v1/stream against a real server, with the `websockets` client.

What happens in the picture (reports, checks, alerts, measures) arrives on the stream; filters
narrow it; a client that does not keep up is coalesced, then cut off, and never slows anyone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from holdfire.bootstrap import Listeners, Running, start_server
from holdfire.config import Settings
from holdfire.domain.events import CheckEvaluated, PositionReported
from holdfire.domain.reports import PositionReport
from support.streams import closing

pytestmark = pytest.mark.integration

TIMEOUT = 5.0
AIM = (51.40, 35.60)
FAR = (50.90, 36.40)


class Server:
    def __init__(self, running: Running) -> None:
        self.running = running
        assert running.admin_token_file is not None
        self.token = running.admin_token_file.read_text().strip()
        host, port = running.bound["http"]
        self.http = f"http://{host}:{port}/api/v1"
        self.ws = f"ws://{host}:{port}/api/v1/stream"

    def client(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.AsyncClient(base_url=self.http, headers=headers, timeout=10.0)

    def stream(self, **params: str) -> Any:
        query = "&".join(f"{k}={v}" for k, v in {"token": self.token, **params}.items())
        return connect(f"{self.ws}?{query}", open_timeout=TIMEOUT)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await start_server(
        Settings(tmp_path / "data"), Listeners(http=("127.0.0.1", 0), cot_tcp=None, cot_tls=None)
    )
    try:
        yield Server(running)
    finally:
        await running.close()


async def receive(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of this kind (others are skipped), within the timeout."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = json.loads(await ws.recv())
            if message["kind"] == kind:
                data: dict[str, Any] = message["data"]
                return data


async def nothing_arrives(ws: ClientConnection, quiet_s: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(quiet_s):
            await ws.recv()


async def post_report(c: httpx.AsyncClient, uid: str, at: tuple[float, float]) -> None:
    r = await c.post("/reports", json={"uid": uid, "lat": at[0], "lon": at[1], "ce_m": 5})
    assert r.status_code == 202, r.text


async def test_reports_checks_alerts_and_measures_arrive_as_they_happen(server: Server) -> None:
    async with server.stream() as ws, server.client() as c:
        await post_report(c, "inf-1", AIM)
        track = await receive(ws, "track")
        assert track["id"] == "inf-1" and track["properties"]["state"] == "fresh"
        assert track["geometry"]["coordinates"][:2] == pytest.approx([AIM[1], AIM[0]])
        r = await c.post(
            "/checks", json={"target": {"lat": AIM[0], "lon": AIM[1]}, "weapon": "fpv-drone"}
        )
        check = await receive(ws, "check")
        assert check["id"] == r.json()["id"] and check["verdict"] == "HOLD"
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [FAR[1], FAR[0]]},
            "properties": {"kind": "NFA", "radius_m": 300, "name": "Clinic"},
        }
        mid = (await c.post("/measures", json=feature)).json()["id"]
        measure = await receive(ws, "measure")
        assert measure["id"] == mid and measure["properties"]["name"] == "Clinic"
        await c.delete(f"/measures/{mid}")
        cancelled = await receive(ws, "measure")
        assert cancelled["id"] == mid and cancelled["properties"]["status"] == "cancelled"
        alert_id = await server.running.service.security_event("test alert", ("inf-1",))
        alert = await receive(ws, "alert")
        assert alert["id"] == alert_id and alert["kind"] == "SECURITY"
        await c.post(f"/alerts/{alert_id}/ack")
        ack = await receive(ws, "alert")
        assert ack == {
            "id": alert_id,
            "acked_at": ack["acked_at"],
            "acked_by": "admin",
            "update": True,
        }


async def test_kinds_and_bbox_filter_the_stream(server: Server) -> None:
    box = f"{AIM[1] - 0.1},{AIM[0] - 0.1},{AIM[1] + 0.1},{AIM[0] + 0.1}"
    async with server.stream(kinds="track", bbox=box) as ws, server.client() as c:
        await c.post(
            "/checks", json={"target": {"lat": AIM[0], "lon": AIM[1]}, "weapon": "fpv-drone"}
        )
        await post_report(c, "far-1", FAR)
        await post_report(c, "near-1", AIM)
        first = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert first["kind"] == "track" and first["data"]["id"] == "near-1"
        await ws.send(json.dumps({"kinds": ["check"], "bbox": None}))
        await asyncio.sleep(0.2)  # the filter change is read before the next event
        r = await c.post(
            "/checks", json={"target": {"lat": FAR[0], "lon": FAR[1]}, "weapon": "fpv-drone"}
        )
        got = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert got["kind"] == "check" and got["data"]["id"] == r.json()["id"]
        await ws.send(json.dumps({"kinds": ["nonsense"]}))
        error = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert error["kind"] == "error" and "nonsense" in error["data"]["error"]


async def test_the_token_may_come_as_the_first_message(server: Server) -> None:
    async with connect(server.ws, open_timeout=TIMEOUT) as ws, server.client() as c:
        await ws.send(json.dumps({"token": server.token}))
        await asyncio.sleep(0.2)
        await post_report(c, "inf-2", AIM)
        assert (await receive(ws, "track"))["id"] == "inf-2"
    async with connect(server.ws, open_timeout=TIMEOUT) as ws:
        await ws.send(json.dumps({"token": "hf_wrong"}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_bad_token_or_filter_is_refused_at_the_door(server: Server) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{server.ws}?token=hf_wrong", open_timeout=TIMEOUT):
            pass
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        async with server.stream(kinds="bogus"):
            pass


def _fix(uid: str, i: int) -> PositionReport:
    at = datetime.now(UTC) + timedelta(milliseconds=i)
    return PositionReport(uid, AIM[0], AIM[1] + i * 1e-5, at, at, "test", "test")


async def test_a_slow_client_is_coalesced_then_cut_off_and_never_stalls_the_server(
    server: Server,
) -> None:
    service = server.running.service
    channels = service.hub.listeners  # the CoT server's, while it runs
    async with server.stream(kinds="track") as ws:
        await asyncio.sleep(0.2)
        # A burst of positions for one uid, faster than anyone reads: one track message, the latest.
        for i in range(500):
            service.picture.apply_report(_fix("burst-1", i))
        service.hub.publish([PositionReported(_fix("burst-1", i)) for i in range(500)])
        track = await receive(ws, "track")
        assert track["id"] == "burst-1"
        assert track["geometry"]["coordinates"][0] == pytest.approx(AIM[1] + 499 * 1e-5)
        await nothing_arrives(ws)
    server.running.api.stream_queue = 20
    async with server.stream(kinds="check") as slow, server.client() as c:
        await asyncio.sleep(0.2)
        # More queued messages than the limit at once: the server closes the socket (1013).
        r = await c.post(
            "/checks", json={"target": {"lat": FAR[0], "lon": FAR[1]}, "weapon": "fpv-drone"}
        )
        stored = await service.store.get_check(r.json()["id"])
        assert stored is not None
        service.hub.publish([CheckEvaluated(stored)] * 50)
        closed = await closing(slow)
        assert closed.rcvd is not None and closed.rcvd.code == 1013
        # The server carries on for everyone else.
        r = await c.post(
            "/checks", json={"target": {"lat": FAR[0], "lon": FAR[1]}, "weapon": "fpv-drone"}
        )
        assert r.status_code == 200
    assert server.running.api.counters["stream_too_slow"] == 1
    assert service.hub.listeners == channels  # the streams' are gone

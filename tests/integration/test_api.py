"""The HTTP API against a real server: uvicorn on an ephemeral port, httpx as the client.

The server runs in-process (`start_server` with only the HTTP listener, a fresh data directory)
so a test can compare what the API answers with what the engine and the store hold. Tokens for
each role are made the way `holdfire token create` makes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from pyproj import Geod
from websockets.asyncio.client import connect

from holdfire.adapters.auth import create_token
from holdfire.adapters.net.mqtt import parse_mqtt_url
from holdfire.bootstrap import Listeners, Running, start_server
from holdfire.codecs.json import clearance_to_dict, parse_time
from holdfire.config import Settings
from holdfire.domain.access import Action, Role, may
from holdfire.domain.checks import CheckRequest, PidBasis
from holdfire.domain.tables import Mobility
from holdfire.engine.clearance import evaluate

pytestmark = pytest.mark.integration

GEOD = Geod(ellps="WGS84")
AIM = (51.40, 35.60)
FAR = (50.90, 36.40)  # about 80 km away: nothing of the picture is near
WEAPON = "155mm-howitzer"
ROLES = ("observer", "reporter", "fires", "planner", "admin")


def offset(origin: tuple[float, float], bearing: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[1], origin[0], bearing, metres)
    return lat, lon


@dataclass
class Api:
    running: Running
    base: str
    tokens: dict[str, str]  # role -> secret
    data_dir: Path
    streams: contextlib.AsyncExitStack  # WebSocket streams a case opened, closed at the end

    def client(self, role: str | None = None, secret: str | None = None) -> httpx.AsyncClient:
        headers = {}
        key = secret if secret is not None else (self.tokens[role] if role else None)
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.AsyncClient(base_url=self.base + "/api/v1", headers=headers, timeout=10.0)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    data_dir = tmp_path / "data"
    running = await start_server(
        Settings(data_dir), Listeners(http=("127.0.0.1", 0), cot_tcp=None, cot_tls=None)
    )
    try:
        assert running.admin_token_file is not None
        tokens = {"admin": running.admin_token_file.read_text().strip()}
        store, now = running.service.store, datetime.now(UTC)
        for role in ROLES[:-1]:
            units = ("unit-r",) if role == "reporter" else ()
            made = await create_token(store, role, Role(role), units=units, by="test", now=now)
            tokens[role] = made.secret
        host, port = running.bound["http"]
        async with contextlib.AsyncExitStack() as streams:
            yield Api(running, f"http://{host}:{port}", tokens, data_dir, streams)
    finally:
        await running.close()


async def put_unit(c: httpx.AsyncClient, uid: str, **fields: Any) -> None:
    body = {"callsign": uid.upper(), "mobility": "static", **fields}
    r = await c.put(f"/units/{uid}", json=body)
    assert r.status_code == 200, r.text


async def report(c: httpx.AsyncClient, uid: str, at: tuple[float, float], **fields: Any) -> None:
    r = await c.post("/reports", json={"uid": uid, "lat": at[0], "lon": at[1], "ce_m": 5, **fields})
    assert r.status_code == 202 and r.json()["accepted"] == 1, r.text


def polygon_around(center: tuple[float, float], metres: float) -> dict[str, Any]:
    ring = [list(reversed(offset(center, b, metres))) for b in (0, 90, 180, 270)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def feature(kind: str, geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"kind": kind, **properties}}


async def check(c: httpx.AsyncClient, at: tuple[float, float], **fields: Any) -> dict[str, Any]:
    body = {
        "target": {"lat": at[0], "lon": at[1]},
        "weapon": WEAPON,
        **fields,
    }  # fields may replace the target
    r = await c.post("/checks", json=body)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


# ---------------------------------------------------------------------------------------------
# Health, tokens, roles


async def test_health_needs_no_token(api: Api) -> None:
    async with api.client() as c:
        r = await c.get("/health")
    assert r.status_code == 200 and r.json() == {"ready": True}
    api.running.service.ready = False
    async with api.client() as c:
        r = await c.get("/health")
    assert r.status_code == 503 and r.json() == {"ready": False}


async def test_a_server_not_ready_refuses_checks_with_a_retryable_503(api: Api) -> None:
    api.running.service.ready = False  # as while a cluster node catches up
    async with api.client("fires") as c:
        r = await c.post("/checks", json={"target": {"lat": 51.4, "lon": 35.6}, "weapon": "x"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "catching up" in r.json()["error"]
    api.running.service.ready = True
    async with api.client("fires") as c:
        r = await c.post("/checks", json={"target": {"lat": 51.4, "lon": 35.6}, "weapon": "x"})
    assert r.status_code == 200 and r.json()["verdict"] == "HOLD"


async def test_me_names_the_token_its_role_and_what_it_may_do(api: Api) -> None:
    for role in ROLES:
        async with api.client(role) as c:
            me = (await c.get("/me")).json()
        assert me["role"] == role
        assert set(me["may"]) == {a.value for a in Action if may(Role(role), a)}
        assert "token" not in me and "secret_hash" not in me


async def test_first_start_writes_an_admin_token_only_its_owner_reads(api: Api) -> None:
    path = api.running.admin_token_file
    assert path is not None and path == api.data_dir / "admin.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    async with api.client("admin") as c:
        r = await c.get("/tokens")
    assert r.status_code == 200
    names = [t["name"] for t in r.json()["items"]]
    assert names[0] == "admin" and "secret_hash" not in json.dumps(r.json())


async def test_missing_or_unknown_token_is_401(api: Api) -> None:
    for client in (api.client(), api.client(secret="hf_not-a-token"), api.client(secret="x y")):
        async with client as c:
            r = await c.get("/tracks")
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]


@dataclass
class Case:
    method: str
    path: str
    allowed: frozenset[str]
    body: Any = None


async def _cases(api: Api) -> list[Case]:
    """Every endpoint of design.md §5 with a body that succeeds for a role that may call it.
    Each case gets fresh objects, so a success for one role never changes the next one."""
    async with api.client("admin") as c:
        await put_unit(c, "unit-r")
        await put_unit(c, "unit-v", mobility="wheeled")
        await put_unit(c, "unit-d", mobility="dismounted")
        await report(c, "unit-r", offset(AIM, 0, 3000))
        clearance = await check(c, FAR)
        r = await c.post("/measures", json=feature("NFA", polygon_around(FAR, 300)))
        measure_id = r.json()["id"]
    everyone = frozenset(ROLES)
    return [
        Case("GET", "/tracks", everyone),
        Case("GET", "/units", everyone),
        Case("GET", "/units/unit-r", everyone),
        Case("GET", "/measures", everyone),
        Case("GET", f"/measures/{measure_id}", everyone),
        Case("GET", "/checks", everyone),
        Case("GET", f"/checks/{clearance['id']}", everyone),
        Case("GET", f"/checks/{clearance['id']}/picture", everyone - {"reporter"}),
        Case("GET", "/picture", everyone - {"reporter"}),
        Case("GET", "/pairings", everyone),
        Case("GET", "/alerts", everyone),
        Case("GET", "/me", everyone),
        Case("GET", "/weapons", everyone),
        Case("GET", "/equipment", everyone),
        Case(
            "POST",
            "/reports",
            frozenset({"reporter", "planner", "admin"}),
            {"uid": "unit-r", "lat": AIM[0], "lon": AIM[1]},
        ),
        Case(
            "PUT",
            "/units/unit-x",
            frozenset({"planner", "admin"}),
            {"callsign": "X", "mobility": "tracked"},
        ),
        Case(
            "POST",
            "/measures",
            frozenset({"planner", "admin"}),
            feature("RFA", polygon_around(FAR, 200)),
        ),
        Case("DELETE", "/measures/{new_measure}", frozenset({"planner", "admin"})),
        Case(
            "POST",
            "/checks",
            frozenset({"fires", "admin"}),
            {"target": {"grid": "37UCB1212"}, "weapon": WEAPON},
        ),
        Case("POST", "/checks/{new_check}/fired", frozenset({"fires", "admin"}), {}),
        Case(
            "POST",
            "/checks/{rfa_check}/decisions",
            frozenset({"fires", "planner", "admin"}),
            {
                "kind": "rfa-waiver",
                "by": "Maj. Petrov",
                "authority": "BDE FSO",
                "initials": "AP",
                "expires": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            },
        ),
        Case(
            "POST",
            "/checkfire",
            frozenset({"reporter", "fires", "planner", "admin"}),
            {"type": "Feature", "geometry": None, "properties": {"unit": "unit-v"}},
        ),
        Case(
            "DELETE",
            "/checkfire/{own_checkfire}",
            frozenset({"reporter", "fires", "planner", "admin"}),
        ),
        Case(
            "POST",
            "/pairings",
            frozenset({"planner", "admin"}),
            {"vehicle": "unit-v", "dismounts": ["unit-d"]},
        ),
        Case(
            "POST",
            "/alerts/{unit_r_alert}/ack",
            frozenset({"reporter", "fires", "planner", "admin"}),
        ),
        Case("GET", "/catalog", everyone),
        Case("GET", "/messages", everyone),
        Case(
            "POST",
            "/messages",
            frozenset({"reporter", "planner", "admin"}),
            {"to": "unit-v", "code": "WAIT_FOR_US"},
        ),
        Case(
            "POST",
            "/messages",
            frozenset({"reporter", "fires", "planner", "admin"}),
            {"to": "unit-v", "code": "CEASE_FIRE"},
        ),
        Case("POST", "/messages/{msg_to_unit_r}/ack", frozenset({"reporter", "planner", "admin"})),
        Case("GET", "/tokens", frozenset({"admin"})),
        Case("GET", "/cluster", frozenset({"admin"})),
        Case("GET", "/clients", frozenset({"admin"})),
        Case("DELETE", "/clients/{live_client}", frozenset({"admin"})),
        Case("POST", "/tokens", frozenset({"admin"}), {"name": "{fresh_name}", "role": "observer"}),
        Case("DELETE", "/tokens/{new_token}", frozenset({"admin"})),
    ]


async def _fill(api: Api, role: str, text: str, n: int) -> str:
    """Fresh objects a case acts on, made by the admin (or by the role itself where only the
    originator may act on it)."""
    store, now = api.running.service.store, datetime.now(UTC)
    async with api.client("admin") as c:
        if "{new_measure}" in text:
            r = await c.post("/measures", json=feature("RFA", polygon_around(FAR, 100 + n)))
            text = text.replace("{new_measure}", r.json()["id"])
        if "{new_check}" in text:
            text = text.replace("{new_check}", (await check(c, FAR))["id"])
        if "{rfa_check}" in text:
            center = offset(FAR, 90, 20_000 + 500 * n)
            await c.post("/measures", json=feature("RFA", polygon_around(center, 300)))
            text = text.replace("{rfa_check}", (await check(c, center))["id"])
        if "{msg_to_unit_r}" in text:
            r = await c.post(
                "/messages",
                json={"to": "unit-r", "code": "RALLY_POINT", "params": {"grid": "37UCB1212"}},
            )
            text = text.replace("{msg_to_unit_r}", r.json()["id"])
        if "{unit_r_alert}" in text:
            alert_id = await api.running.service.security_event("test", ("unit-r",))
            text = text.replace("{unit_r_alert}", alert_id)
        if "{new_token}" in text:
            made = await create_token(store, f"victim-{n}", Role.OBSERVER, by="test", now=now)
            text = text.replace("{new_token}", made.token.id)
    if "{live_client}" in text:
        text = text.replace("{live_client}", await _open_stream(api))
    if "{own_checkfire}" in text:
        # Called by the role itself when it may; else by the admin (and then it is not its own).
        caller = role if role != "observer" else "admin"
        async with api.client(caller) as c:
            r = await c.post(
                "/checkfire",
                json={"type": "Feature", "geometry": None, "properties": {"unit": "unit-v"}},
            )
            text = text.replace("{own_checkfire}", r.json()["id"])
    return text.replace("{fresh_name}", f"made-by-{role}-{n}")


async def _open_stream(api: Api) -> str:
    """A live connection to disconnect: an observer's WebSocket stream; its id in the list."""
    connections = api.running.service.connections
    before = {info.id for info in connections.list()}
    ws_url = api.base.replace("http://", "ws://") + "/api/v1/stream"
    await api.streams.enter_async_context(connect(f"{ws_url}?token={api.tokens['observer']}"))
    for _ in range(500):
        new = {info.id for info in connections.list()} - before
        if new:
            return new.pop()
        await asyncio.sleep(0.01)
    raise AssertionError("the stream never appeared in the list of connections")


async def test_role_matrix(api: Api) -> None:
    """Every endpoint x every role: 2xx where the role may, 403 where it may not, 401 without
    a token."""
    wrong: list[str] = []
    n = 0
    for case in await _cases(api):
        for role in (*ROLES, None):
            n += 1
            path = await _fill(api, role or "admin", case.path, n)
            body = None
            if case.body is not None:
                body = json.loads(await _fill(api, role or "admin", json.dumps(case.body), n))
            async with api.client(role) as c:
                r = await c.request(case.method, path, json=body)
            if role is None:
                expected = "401"
                ok = r.status_code == 401
            elif role in case.allowed:
                expected = "2xx"
                ok = 200 <= r.status_code < 300
            else:
                expected = "403"
                ok = r.status_code == 403
            if not ok:
                got = f"{r.status_code} (want {expected}) {r.text[:200]}"
                wrong.append(f"{case.method} {case.path} as {role}: {got}")
    assert not wrong, "\n".join(wrong)


async def test_a_reporter_cannot_move_a_unit_it_is_not_bound_to(api: Api) -> None:
    async with api.client("admin") as c:
        await put_unit(c, "unit-r")
        await put_unit(c, "unit-z")
        await report(c, "unit-z", AIM)
    async with api.client("reporter") as c:
        r = await c.post("/reports", json={"uid": "unit-z", "lat": FAR[0], "lon": FAR[1]})
        assert r.status_code == 403 and "unit-z" in r.json()["error"]
        r = await c.post(
            "/reports",
            json=[
                {"uid": "unit-z", "lat": FAR[0], "lon": FAR[1]},
                {"uid": "unit-r", "lat": FAR[0], "lon": FAR[1], "ce_m": 4},
            ],
        )
        assert r.status_code == 202
        assert r.json()["accepted"] == 1 and [x["index"] for x in r.json()["rejected"]] == [0]
        tracks = (await c.get("/tracks")).json()["features"]
    by_uid = {f["id"]: f for f in tracks}
    assert by_uid["unit-z"]["geometry"]["coordinates"][:2] == pytest.approx([AIM[1], AIM[0]])
    # The bound unit's report is its own: authenticated.
    assert by_uid["unit-r"]["properties"]["authenticated"] is True
    assert by_uid["unit-z"]["properties"]["authenticated"] is False
    async with api.client("observer") as c:
        alerts = (await c.get("/alerts", params={"kind": "SECURITY"})).json()["items"]
    assert len(alerts) == 2 and all("unit-z" in a["subjects"] for a in alerts)


# ---------------------------------------------------------------------------------------------
# Checks


async def test_a_check_over_http_gives_the_engines_clearance(api: Api) -> None:
    async with api.client("admin") as c:
        await put_unit(c, "prk-ad-1", mobility="tracked", nation="PRK", equipment=["prk-tor"])
        await put_unit(c, "btr-1", mobility="wheeled")
        await report(c, "prk-ad-1", offset(AIM, 45, 40))
        await report(c, "btr-1", offset(AIM, 200, 700))
        await c.post("/measures", json=feature("NFA", polygon_around(offset(AIM, 90, 600), 200)))
    async with api.client("fires") as c:
        body = await check(c, AIM, target_type="tor", tle_m=15, pid=["appearance"])
    assert body["verdict"] == "HOLD"
    codes = {r["code"] for r in body["reasons"]}
    assert {"FRIENDLY_IN_DANGER_AREA", "LOOKALIKE", "NO_FIRE_AREA"} <= codes
    request = CheckRequest(
        lat=AIM[0],
        lon=AIM[1],
        weapon=WEAPON,
        tle_m=15,
        target_type="tor",
        pid=(PidBasis.APPEARANCE,),
        requester="fires",
    )
    engine = evaluate(
        api.running.service.picture,
        request,
        now=parse_time(body["evaluated_at"]),
        check_id=body["id"],
    )
    expected = clearance_to_dict(engine)
    for key in ("evaluated_at", "valid_until"):
        expected.pop(key), body.pop(key)
    assert body == expected
    stored = await api.running.service.store.get_check(body["id"])
    assert stored is not None and stored.request.requester == "fires"


async def test_bad_input_is_422_naming_the_field(api: Api) -> None:
    async with api.client("fires") as c:
        cases = [
            ({"target": {"lat": 95, "lon": 35}, "weapon": WEAPON}, "target.lat"),
            ({"target": {"grid": "36UXZ99"}, "weapon": WEAPON}, "target.grid"),
            ({"target": {"lat": 51, "lon": 35}, "weapon": WEAPON, "tle_m": -1}, "tle_m"),
            ({"target": {"lat": 51, "lon": 35}, "weapon": WEAPON, "tle": 5}, "tle"),
            ({"target": {"lat": 51, "lon": 35}}, "weapon"),
            ({"target": {"lat": 51, "lon": 35}, "weapon": WEAPON, "pid": ["rumour"]}, "pid[0]"),
            (
                {
                    "target": {"lat": 51, "lon": 35},
                    "weapon": WEAPON,
                    "time": "2026-01-01T00:00:00Z",
                },
                "time",
            ),
            (
                {"target": {"lat": 51, "lon": 35}, "weapon": WEAPON, "time": "2026-12-01T10:00:00"},
                "time",
            ),
            ({"target": {"lat": 51, "lon": 35}, "weapon": WEAPON, "time": 1764576000}, "time"),
        ]
        for body, field in cases:
            r = await c.post("/checks", json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["field"] == field, (body, r.json())
        r = await c.post(
            "/checks",
            content=b'{"target": {"lat": NaN, "lon": 35}, "weapon": "x"}',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422
    async with api.client("admin") as c:
        r = await c.post("/reports", content=b'{"uid": "a", "lat": NaN, "lon": 1}')
        assert r.status_code == 422 and r.json()["field"] == "body"
        r = await c.post("/reports", json={"uid": "a", "lat": 91, "lon": 1})
        assert r.status_code == 422 and r.json()["field"] == "lat"
        r = await c.post(
            "/measures", json=feature("NFA", {"type": "Point", "coordinates": [35, 51]})
        )
        assert r.status_code == 422 and "radius" in r.json()["error"]


async def test_an_unknown_weapon_is_a_hold_verdict_not_an_error(api: Api) -> None:
    async with api.client("fires") as c:
        body = await check(c, FAR, weapon="trebuchet")
    assert body["verdict"] == "HOLD"
    assert "UNKNOWN_WEAPON" in {r["code"] for r in body["reasons"]}


async def test_a_body_over_the_limit_is_413(api: Api) -> None:
    big = [{"uid": f"u{i}", "lat": 51.0, "lon": 35.0, "callsign": "x" * 100} for i in range(9000)]
    async with api.client("admin") as c:
        r = await c.post("/reports", json=big)
        assert r.status_code == 413 and r.json()["field"] == "body"
        assert (await c.get("/tracks")).json()["features"] == []


async def test_the_audit_log_pages_and_filters(api: Api) -> None:
    async with api.client("admin") as c:
        await c.post("/measures", json=feature("NFA", polygon_around(AIM, 200)))
        for _ in range(3):
            await check(c, FAR)
    async with api.client("fires") as c:
        for _ in range(2):
            await check(c, AIM)
        r = await c.get("/checks", params={"limit": 2})
        first = r.json()
        assert len(first["items"]) == 2 and first["next"]
        seen = [x["id"] for x in first["items"]]
        cursor = first["next"]
        while cursor:
            page = (await c.get("/checks", params={"limit": 2, "cursor": cursor})).json()
            seen += [x["id"] for x in page["items"]]
            cursor = page["next"]
        assert len(seen) == len(set(seen)) == 5
        held = (await c.get("/checks", params={"verdict": "HOLD"})).json()["items"]
        assert len(held) == 2 and {x["request"]["requester"] for x in held} == {"fires"}
        mine = (await c.get("/checks", params={"requester": "admin"})).json()["items"]
        assert len(mine) == 3
        later = datetime.now(UTC) + timedelta(minutes=1)
        r = await c.get("/checks", params={"since": later.isoformat()})
        assert r.json()["items"] == []
        assert (await c.get("/checks", params={"cursor": "garbage"})).status_code == 422
        for bad in ("0.48", "1764576000", "2026-12-01T10:00:00", "yesterday"):
            r = await c.get("/checks", params={"since": bad})
            assert r.status_code == 422 and r.json()["field"] == "since", (bad, r.text)
        assert (await c.get("/checks/no-such-check")).status_code == 404


async def test_decisions_and_fired_notices_are_recorded_never_inferred(api: Api) -> None:
    async with api.client("admin") as c:
        await c.post("/measures", json=feature("RFA", polygon_around(AIM, 300)))
        await c.post("/measures", json=feature("NFA", polygon_around(FAR, 300)))
    expires = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    decision = {"by": "Maj. Petrov", "authority": "BDE FSO", "initials": "AP", "expires": expires}
    async with api.client("fires") as c:
        rfa = await check(c, AIM)
        assert rfa["verdict"] == "COORDINATE"
        r = await c.post(f"/checks/{rfa['id']}/decisions", json={**decision, "kind": "rfa-waiver"})
        assert r.status_code == 201, r.text
        # A decision must answer one of the check's reasons, and be time-bounded.
        r = await c.post(
            f"/checks/{rfa['id']}/decisions", json={**decision, "kind": "nfa-exception"}
        )
        assert r.status_code == 422 and r.json()["field"] == "kind"
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        r = await c.post(
            f"/checks/{rfa['id']}/decisions",
            json={**decision, "kind": "rfa-waiver", "expires": past},
        )
        assert r.status_code == 422 and r.json()["field"] == "expires"
        got = (await c.get(f"/checks/{rfa['id']}")).json()
        assert got["verdict"] == "COORDINATE"  # a decision never changes the verdict
        assert [d["kind"] for d in got["decisions"]] == ["rfa-waiver"]
        assert got["decisions"][0]["recorded_by"] == "fires"
        r = await c.post(f"/checks/{rfa['id']}/fired", json={"remarks": "2 rounds"})
        assert r.status_code == 201
        assert (await c.get("/alerts", params={"kind": "HOLD_FIRED"})).json()["items"] == []
        hold = await check(c, FAR)
        assert hold["verdict"] == "HOLD"
        r = await c.post(f"/checks/{hold['id']}/fired", json={})
        assert r.status_code == 201
        alerts = (await c.get("/alerts", params={"kind": "HOLD_FIRED"})).json()["items"]
        assert len(alerts) == 1 and alerts[0]["subjects"] == [hold["id"]]
        assert "NO_FIRE_AREA" in alerts[0]["detail"]
        got = (await c.get(f"/checks/{hold['id']}")).json()
        assert len(got["fired"]) == 1 and got["fired"][0]["recorded_by"] == "fires"
        assert (await c.post("/checks/nope/fired", json={})).status_code == 404


async def test_a_check_fire_holds_until_its_originator_or_a_planner_cancels_it(api: Api) -> None:
    area = {"type": "Feature", "geometry": polygon_around(FAR, 500), "properties": {}}
    async with api.client("fires") as c:
        assert "CHECK_FIRE" not in {x["code"] for x in (await check(c, FAR))["reasons"]}
        r = await c.post("/checkfire", json=area)
        assert r.status_code == 201
        cf = r.json()["id"]
        held = await check(c, FAR)
        assert held["verdict"] == "HOLD"
        assert "CHECK_FIRE" in {x["code"] for x in held["reasons"]}
        alerts = (await c.get("/alerts", params={"kind": "CHECK_FIRE"})).json()["items"]
        assert len(alerts) == 1 and cf in alerts[0]["subjects"]
    async with api.client("reporter") as c:
        r = await c.delete(f"/checkfire/{cf}")
        assert r.status_code == 403 and "originator" in r.json()["error"]
    async with api.client("planner") as c:
        assert (await c.delete(f"/checkfire/{cf}")).status_code == 204
        assert (await c.delete(f"/checkfire/{cf}")).status_code == 404
    async with api.client("fires") as c:
        assert "CHECK_FIRE" not in {x["code"] for x in (await check(c, FAR))["reasons"]}
        r = await c.post("/checkfire", json={**area, "properties": {"kind": "NFA"}})
        assert r.status_code == 422


# ---------------------------------------------------------------------------------------------
# The picture


async def test_measures_go_in_and_out_as_geojson(api: Api) -> None:
    nfa = feature(
        "NFA",
        polygon_around(AIM, 400),
        name="Hospital 3",
        establishing_hq="1 BDE",
        effective_from="2026-12-01T00:00:00Z",
    )
    async with api.client("planner") as c:
        r = await c.post("/measures", json=nfa)
        assert r.status_code == 201
        mid = r.json()["id"]
        r = await c.post(
            "/measures",
            json={
                **feature(
                    "NSL",
                    {"type": "Point", "coordinates": [35.0, 51.0]},
                    radius_m=150,
                    category="hospital",
                ),
                "id": "nsl-1",
            },
        )
        assert r.status_code == 201 and r.json()["id"] == "nsl-1"
        everything = await c.get("/measures")
        assert everything.headers["content-type"].startswith("application/geo+json")
        fc = everything.json()
        assert fc["type"] == "FeatureCollection" and {f["id"] for f in fc["features"]} == {
            mid,
            "nsl-1",
        }
        one = (await c.get(f"/measures/{mid}")).json()
        assert one["properties"]["name"] == "Hospital 3" and one["properties"]["kind"] == "NFA"
        assert one["geometry"]["type"] == "Polygon"
        only = (await c.get("/measures", params={"kind": "NSL"})).json()["features"]
        assert [f["id"] for f in only] == ["nsl-1"]
        assert (await c.delete(f"/measures/{mid}")).status_code == 204
        assert (await c.get(f"/measures/{mid}")).status_code == 404
        assert (await c.delete(f"/measures/{mid}")).status_code == 404


async def test_tracks_carry_radius_state_and_age(api: Api) -> None:
    old = (datetime.now(UTC) - timedelta(minutes=20)).isoformat()
    async with api.client("admin") as c:
        await put_unit(c, "inf-1", mobility="dismounted")
        await put_unit(c, "inf-2", mobility="dismounted")
        await report(c, "inf-1", AIM)
        await report(c, "inf-2", FAR, observed_at=old)
        tracks = await c.get("/tracks")
        assert tracks.headers["content-type"].startswith("application/geo+json")
        by_uid = {f["id"]: f["properties"] for f in tracks.json()["features"]}
        assert by_uid["inf-1"]["state"] == "fresh" and by_uid["inf-1"]["age_s"] < 60
        assert by_uid["inf-2"]["state"] == "lost" and by_uid["inf-2"]["age_s"] >= 1200
        # 20 minutes at the dismounted class's top speed: the radius grows without a cap.
        assert by_uid["inf-2"]["radius_m"] > by_uid["inf-1"]["radius_m"] + 1000
        # what a map needs to age a track between updates as the check does
        dismounted = api.running.service.picture.tables.mobility[Mobility.DISMOUNTED]
        inf2 = by_uid["inf-2"]
        assert inf2["growth_mps"] == dismounted.v_max_mps
        assert inf2["display_cap_m"] == dismounted.r_cap_m
        observed = datetime.fromisoformat(inf2["observed_at"])
        stale_after = datetime.fromisoformat(inf2["stale_at"]) - observed
        lost_after = datetime.fromisoformat(inf2["lost_at"]) - observed
        assert stale_after == timedelta(seconds=dismounted.stale_after_s)
        assert lost_after == timedelta(seconds=dismounted.lost_after_s)
        lost = (await c.get("/tracks", params={"state": "lost"})).json()["features"]
        assert [f["id"] for f in lost] == ["inf-2"]
        west, south = AIM[1] - 0.1, AIM[0] - 0.1
        boxed = (
            await c.get("/tracks", params={"bbox": f"{west},{south},{AIM[1] + 0.1},{AIM[0] + 0.1}"})
        ).json()
        assert [f["id"] for f in boxed["features"]] == ["inf-1"]
        assert (await c.get("/tracks", params={"bbox": "1,2,3"})).status_code == 422


async def test_units_page_and_absent_units_leave_the_map(api: Api) -> None:
    async with api.client("planner") as c:
        for i in range(5):
            await put_unit(c, f"u{i}")
        first = (await c.get("/units", params={"limit": 3})).json()
        rest = (await c.get("/units", params={"limit": 3, "cursor": first["next"]})).json()
        assert [u["uid"] for u in first["items"] + rest["items"]] == [f"u{i}" for i in range(5)]
        assert rest["next"] is None
        whole = (await c.get("/units", params={"limit": 10_000})).json()  # the map's one read
        assert len(whole["items"]) == 5 and whole["next"] is None
        assert (await c.get("/units", params={"limit": 10_001})).status_code == 422
        r = await c.put("/units/u0", json={"uid": "u1", "callsign": "X"})
        assert r.status_code == 422 and r.json()["field"] == "uid"
        await report(c, "u0", AIM)
        assert [f["id"] for f in (await c.get("/tracks")).json()["features"]] == ["u0"]
        moved = (AIM[0] + 0.01, AIM[1])
        await report(c, "u0", moved)  # GET /tracks keeps each Feature's text until it changes
        [feature] = (await c.get("/tracks")).json()["features"]
        assert feature["geometry"]["coordinates"][:2] == [moved[1], moved[0]]
        await put_unit(c, "u0", status="absent")
        assert (await c.get("/tracks")).json()["features"] == []
        assert (await c.get("/units/u0")).json()["status"] == "absent"
        assert (await c.get("/units/nobody")).status_code == 404


async def test_pairings_need_registered_units(api: Api) -> None:
    async with api.client("planner") as c:
        await put_unit(c, "btr-1", mobility="wheeled")
        await put_unit(c, "sqd-1", mobility="dismounted")
        r = await c.post(
            "/pairings", json={"vehicle": "btr-1", "dismounts": ["sqd-1"], "max_separation_m": 150}
        )
        assert r.status_code == 201
        items = (await c.get("/pairings")).json()["items"]
        assert items[0]["vehicle"] == "btr-1" and items[0]["dismounts"] == ["sqd-1"]
        r = await c.post("/pairings", json={"vehicle": "btr-1", "dismounts": ["ghost"]})
        assert r.status_code == 422 and r.json()["field"] == "dismounts[0]"


async def test_alerts_are_acknowledged_once(api: Api) -> None:
    alert_id = await api.running.service.security_event("spoofed position", ("unit-r",))
    async with api.client("reporter") as c:
        r = await c.post(f"/alerts/{alert_id}/ack")
        assert r.status_code == 200 and r.json()["acked_by"] == "reporter"
    async with api.client("planner") as c:
        r = await c.post(f"/alerts/{alert_id}/ack")
        assert r.json()["acked_by"] == "reporter"  # the first acknowledgement stands
        assert (await c.get("/alerts", params={"unacked": True})).json()["items"] == []
        other = await api.running.service.security_event("other", ("unit-q",))
    async with api.client("reporter") as c:
        assert (await c.post(f"/alerts/{other}/ack")).status_code == 403
        assert (await c.post("/alerts/nope/ack")).status_code == 404


# ---------------------------------------------------------------------------------------------
# Messages


async def test_messages_reach_each_recipient_in_its_language(api: Api) -> None:
    async with api.client("planner") as c:
        await put_unit(c, "unit-r", language="ru", group="sec-1")
        await put_unit(c, "sqd-1", language="ko", mobility="dismounted", group="sec-1")
        await put_unit(c, "sqd-2", language="uk", mobility="dismounted", group="sec-1")
        catalog = (await c.get("/catalog")).json()
        assert {"en", "ru", "uk", "ko"} <= set(catalog["languages"])
        r = await c.post(
            "/messages",
            json={
                "to": "group:sec-1",
                "code": "WITHDRAWING_IN",
                "params": {"minutes": 2, "rally_grid": "37UCB1212"},
            },
        )
        assert r.status_code == 201, r.text
        sent = r.json()
        assert {d["to"]: d["language"] for d in sent["deliveries"]} == {
            "unit-r": "ru",
            "sqd-1": "ko",
            "sqd-2": "uk",
        }
        for d in sent["deliveries"]:
            assert "37UCB1212" in d["text"] and "2" in d["text"] and d["text"] != d["text_en"]
            assert d["text_en"].startswith("Withdrawing") and d["acked_at"] is None
        listed = (await c.get("/messages", params={"to": "sqd-1"})).json()["items"]
        assert [d["message_id"] for d in listed] == [sent["id"]]
        bad = await c.post(
            "/messages",
            json={
                "to": "sqd-1",
                "code": "WITHDRAWING_IN",
                "params": {"minutes": -3, "rally_grid": "37UCB1212"},
            },
        )
        assert bad.status_code == 422 and bad.json()["field"] == "params.minutes"
        bad = await c.post("/messages", json={"to": "sqd-1", "code": "NO_SUCH_THING"})
        assert bad.status_code == 422 and bad.json()["field"] == "code"
        bad = await c.post("/messages", json={"to": "ghost", "code": "WAIT_FOR_US"})
        assert bad.status_code == 422 and bad.json()["field"] == "to"
    async with api.client("reporter") as c:  # bound to unit-r
        r = await c.post(f"/messages/{sent['id'][:8]}/ack")
        assert r.status_code == 200 and [d["to"] for d in r.json()["items"]] == ["unit-r"]
        assert (
            await c.post(f"/messages/{sent['id']}/ack", params={"for": "sqd-1"})
        ).status_code == 403
    async with api.client("planner") as c:
        r = await c.post(f"/messages/{sent['id']}/ack", params={"for": "sqd-1"})
        assert r.json()["items"][0]["acked_by"] == "planner"
        pending = (await c.get("/messages", params={"pending": True})).json()["items"]
        assert [d["to"] for d in pending] == ["sqd-2"]
        assert (await c.post("/messages/ffffffffffff/ack")).status_code == 404


async def test_a_check_fire_message_holds_checks_until_cancelled(api: Api) -> None:
    async with api.client("admin") as c:
        await put_unit(c, "bty-1", language="ru", mobility="tracked")
    grid = "37UCB1212"
    async with api.client("fires") as c:
        r = await c.post(
            "/messages", json={"to": "bty-1", "code": "CHECK_FIRE", "params": {"grid": grid}}
        )
        assert r.status_code == 201, r.text
        body = await check(c, FAR, target={"grid": grid})
        assert body["verdict"] == "HOLD" and "CHECK_FIRE" in {x["code"] for x in body["reasons"]}
        r = await c.post(
            "/messages", json={"to": "bty-1", "code": "CANCEL_CHECK_FIRE", "params": {"grid": grid}}
        )
        assert r.status_code == 201
        body = await check(c, FAR, target={"grid": grid})
        assert "CHECK_FIRE" not in {x["code"] for x in body["reasons"]}


# ---------------------------------------------------------------------------------------------
# Tokens made and revoked while the server runs


def holdfire(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("holdfire")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=60, check=False
    )


async def test_a_token_created_while_serving_works_at_once_and_revoking_stops_it(api: Api) -> None:
    made = holdfire(
        "token", "create", "--role", "fires", "--name", "fdc-2", "--data", str(api.data_dir)
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("hf_") and "\n" not in secret  # only the token on stdout
    async with api.client(secret=secret) as c:
        assert (await check(c, FAR))["request"]["requester"] == "fdc-2"
    listed = holdfire("token", "list", "--data", str(api.data_dir))
    assert "fdc-2" in listed.stdout and secret not in listed.stdout
    assert (
        holdfire(
            "token", "create", "--role", "fires", "--name", "fdc-2", "--data", str(api.data_dir)
        ).returncode
        == 2
    )
    assert holdfire("token", "revoke", "fdc-2", "--data", str(api.data_dir)).returncode == 0
    async with api.client(secret=secret) as c:
        assert (await c.get("/tracks")).status_code == 401
    assert (
        holdfire("token", "create", "--role", "reporter", "--data", str(api.data_dir)).returncode
        == 2
    )


def test_serve_writes_the_admin_token_and_never_prints_it(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("holdfire")
    data = tmp_path / "d"
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--data",
            str(data),
            "--http",
            f"127.0.0.1:{port}",
            "--cot-tcp",
            "off",
            "--cot-tls",
            "off",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and not ready:
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200
            time.sleep(0.1)
        assert ready
        secret = (data / "admin.token").read_text().strip()
        r = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/units", headers={"Authorization": f"Bearer {secret}"}
        )
        assert r.status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert str(data / "admin.token") in out and secret not in out
    assert stat.S_IMODE(os.stat(data / "admin.token").st_mode) == 0o600


async def test_an_mqtt_position_appears_in_tracks(tmp_path: Path) -> None:
    """The whole server: a tracker publishes to the machine's broker, the API shows it."""
    prefix = f"holdfire-test-{uuid.uuid4().hex[:8]}"
    mqtt = parse_mqtt_url("mqtt://127.0.0.1:1883", [f"{prefix}/#"])
    listeners = Listeners(http=("127.0.0.1", 0), cot_tcp=None, cot_tls=None, mqtt=mqtt)
    running = await start_server(Settings(tmp_path / "data"), listeners)
    try:
        assert running.admin_token_file is not None and running.mqtt is not None
        secret = running.admin_token_file.read_text().strip()
        host, port = running.bound["http"]
        payload = {"uid": "tracker-7", "lat": AIM[0], "lon": AIM[1], "ce_m": 8}
        async with aiomqtt.Client("127.0.0.1", 1883) as broker:
            await broker.publish(f"{prefix}/reports/tracker-7", json.dumps(payload), qos=1)
            await broker.publish(f"{prefix}/reports/junk", b"\xff not json", qos=1)
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}/api/v1", headers=headers) as c:
            features: list[dict[str, Any]] = []
            for _ in range(200):
                features = (await c.get("/tracks")).json()["features"]
                if features:
                    break
                await asyncio.sleep(0.05)
        assert [f["id"] for f in features] == ["tracker-7"]
        assert features[0]["properties"]["source"] == "mqtt"
        assert features[0]["properties"]["authenticated"] is False
        for _ in range(200):
            if running.mqtt.counters["not-json"]:
                break
            await asyncio.sleep(0.05)
        assert running.mqtt.counters["not-json"] == 1
    finally:
        await running.close()

"""After-action replay against a real `holdfire serve`: the picture at a stored check's time
reproduces its verdict and reasons, a report recorded later is not in it, `holdfire replay`
prints the same picture, and only the roles that may replay get it.

One server for the module: a friend reported next to an aimpoint inside a no-fire area, a check
(HOLD), then the friend moves away and the area is cancelled, and a second check (no conflict).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyproj import Geod
from typer.testing import CliRunner

from holdfire.adapters.store.sqlite import SQLiteStore
from holdfire.adapters.tables import load_tables
from holdfire.cli import app
from holdfire.codecs.json import clearance_to_dict, format_time, parse_time
from holdfire.engine.clearance import evaluate
from holdfire.service.replay import picture_at
from support.browser import Served, serving
from support.process import holdfire

pytestmark = pytest.mark.integration

GEOD = Geod(ellps="WGS84")
AIM = (51.40, 35.60)
WEAPON = "155mm-howitzer"


def offset(bearing: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(AIM[1], AIM[0], bearing, metres)
    return lat, lon


NEAR = offset(90.0, 60.0)
FAR = offset(90.0, 30_000.0)


@dataclass
class Story:
    served: Served
    hold: dict[str, Any]  # the first check, as answered
    clear: dict[str, Any]  # the second, after the friend moved and the area was cancelled

    def client(self, role: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.served.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.served.base + "/api/v1", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    data = tmp_path_factory.mktemp("replay-data")
    with serving(data) as served:
        for role in ("observer", "fires", "planner", "reporter"):
            body = {"name": f"t-{role}", "role": role, "units": ["f1"] * (role == "reporter")}
            served.tokens[role] = served.api("POST", "/tokens", body)["token"]
        served.api("PUT", "/units/f1", {"callsign": "FRIEND-1", "mobility": "dismounted"})
        served.api("POST", "/reports", {"uid": "f1", "lat": NEAR[0], "lon": NEAR[1], "ce_m": 5})
        nfa = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [AIM[1], AIM[0]]},
            "properties": {"kind": "NFA", "name": "village", "radius_m": 100},
        }
        nfa_id = served.api("POST", "/measures", nfa)["id"]
        ask = {"target": {"lat": AIM[0], "lon": AIM[1]}, "weapon": WEAPON, "target_type": "t-72"}
        hold = served.api("POST", "/checks", ask, role="fires")
        served.api("POST", "/reports", {"uid": "f1", "lat": FAR[0], "lon": FAR[1], "ce_m": 5})
        served.api("DELETE", f"/measures/{nfa_id}")
        clear = served.api("POST", "/checks", ask, role="fires")
        yield Story(served, hold, clear)


def codes(clearance: dict[str, Any]) -> set[str]:
    return {r["code"] for r in clearance["reasons"] if not r["note"]}


def test_the_story_changed_the_answer(story: Story) -> None:
    assert story.hold["verdict"] == "HOLD"
    assert {"FRIENDLY_IN_DANGER_AREA", "NO_FIRE_AREA"} <= codes(story.hold)
    assert not {"FRIENDLY_IN_DANGER_AREA", "NO_FIRE_AREA"} & codes(story.clear)


def test_the_engine_on_the_replayed_picture_gives_the_stored_verdict_and_reasons(
    story: Story,
) -> None:
    """Rebuilt by time (`--at` the check's evaluation time), with the stored request."""

    async def replayed() -> tuple[dict[str, Any], dict[str, Any]]:
        store = SQLiteStore(story.served.data, read_only=True)
        await store.open()
        try:
            out = []
            for answer in (story.hold, story.clear):
                stored = await store.get_check(answer["id"])
                assert stored is not None
                tables = load_tables(story.served.data)
                folded = await picture_at(store, tables, stored.evaluated_at)
                again = evaluate(
                    folded.picture, stored.request, now=stored.evaluated_at, check_id=stored.id
                )
                out.append((clearance_to_dict(stored), clearance_to_dict(again)))
            return out[0], out[1]
        finally:
            await store.close()

    for stored, again in asyncio.run(replayed()):
        assert again["verdict"] == stored["verdict"]
        assert again["reasons"] == stored["reasons"]


def test_the_check_picture_shows_what_it_weighed_and_reproduces_it(story: Story) -> None:
    with story.client("observer") as c:
        r = c.get(f"/checks/{story.hold['id']}/picture")
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["check"]["id"] == story.hold["id"]
    assert seen["replayed"]["reproduced"] is True
    assert seen["replayed"]["verdict"] == "HOLD"
    assert seen["replayed"]["reasons"] == story.hold["reasons"]
    [position] = seen["positions"]
    assert position["uid"] == "f1" and position["callsign"] == "FRIEND-1"
    assert (position["lat"], position["lon"]) == pytest.approx(NEAR)
    assert position["distance_m"] == pytest.approx(60.0, abs=0.1)
    assert position["state"] == "fresh" and position["radius_m"] >= 5.0
    assert [m["properties"]["kind"] for m in seen["measures"]["features"]] == ["NFA"]
    assert seen["at"] == story.hold["evaluated_at"]
    with story.client("observer") as c:
        later = c.get(f"/checks/{story.clear['id']}/picture").json()
    assert later["replayed"]["reproduced"] is True
    assert later["positions"] == [] and later["measures"]["features"] == []


def test_a_report_recorded_after_the_instant_is_not_in_the_replay(story: Story) -> None:
    with story.client("planner") as c:
        then = c.get("/picture", params={"at": story.hold["evaluated_at"]}).json()
        now = c.get("/picture").json()
    [track] = then["tracks"]["features"]
    assert track["geometry"]["coordinates"][:2] == pytest.approx([NEAR[1], NEAR[0]])
    assert track["properties"]["state"] == "fresh"
    age = track["properties"]["age_s"]
    assert 0 <= age < 30
    [nfa] = then["measures"]["features"]
    assert nfa["properties"]["kind"] == "NFA" and nfa["properties"]["in_force"] is True
    assert [u["uid"] for u in then["units"]] == ["f1"]
    [track] = now["tracks"]["features"]
    assert track["geometry"]["coordinates"][:2] == pytest.approx([FAR[1], FAR[0]])
    assert now["measures"]["features"] == []
    assert parse_time(now["since"]) <= parse_time(then["at"]) < parse_time(now["at"])
    # before the first report: the unit is registered, nothing is on the map
    with story.client("planner") as c:
        empty = c.get("/picture", params={"at": now["since"]}).json()
    assert empty["tracks"]["features"] == [] and empty["measures"]["features"] == []


def test_holdfire_replay_prints_the_same_picture(story: Story) -> None:
    at = story.hold["evaluated_at"]
    base = ["replay", "--at", at, "--data", str(story.served.data)]
    done = subprocess.run([*holdfire(), *base, "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    with story.client("admin") as c:
        served = c.get("/picture", params={"at": at}).json()
    assert printed == served
    table = CliRunner().invoke(app, base)
    assert table.exit_code == 0, table.output
    [track, unit] = [line for line in table.stdout.splitlines() if "FRIEND-1" in line]
    assert "friend" in track and "fresh" in track and f"{NEAR[0]:.5f}" in track
    assert "dismounted" in unit and "active" in unit
    assert "village" in table.stdout and "yes" in table.stdout


def test_holdfire_replay_refuses_bad_times_and_empty_directories(
    story: Story, tmp_path: Path
) -> None:
    data = ["--data", str(story.served.data)]
    future = format_time(datetime.now(UTC) + timedelta(hours=1))
    for args in (["--at", "yesterday", *data], ["--at", future, *data]):
        done = CliRunner().invoke(app, ["replay", *args])
        assert done.exit_code == 2, done.output
        assert done.stderr.startswith("holdfire: --at")
    empty = ["--at", story.hold["evaluated_at"], "--data", str(tmp_path)]
    done = CliRunner().invoke(app, ["replay", *empty])
    assert done.exit_code == 2 and "holds no holdfire.db" in done.stderr


def test_only_the_roles_that_may_replay_get_the_past(story: Story) -> None:
    paths = ["/picture", f"/checks/{story.hold['id']}/picture"]
    for path in paths:
        with story.client(None) as c:
            assert c.get(path).status_code == 401
        for role in ("observer", "fires", "planner", "admin"):
            with story.client(role) as c:
                assert c.get(path).status_code == 200, (role, path)
        with story.client("reporter") as c:
            refused = c.get(path)
        assert refused.status_code == 403
        assert refused.json()["error"] == "role reporter may not replay the past"
    with story.client("observer") as c:
        assert c.get("/checks/no-such-check/picture").status_code == 404
        bad = c.get("/picture", params={"at": "14:32"})
        assert bad.status_code == 422 and bad.json()["field"] == "at"
        future = format_time(datetime.now(UTC) + timedelta(minutes=5))
        assert c.get("/picture", params={"at": future}).status_code == 422

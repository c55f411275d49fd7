"""Several holdfire nodes, each a `holdfire serve` process of its own on loopback ports, kept in
step over NATS JetStream and sharing one PostgreSQL database: the real servers of this machine,
or private ones from the same binaries where a test stops them.

What is counted: a report taken by one node reaches a check on another; a node killed with
SIGKILL while reports stream in comes back with the same picture as the others; a node cut off
from NATS answers with CLUSTER_DEGRADED and converges once NATS is back; while PostgreSQL is down
no write is acknowledged that is not durable (every acknowledged report and every answered check
is in the database afterwards).
"""

from __future__ import annotations

import asyncio
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from support.cluster import (
    NATS_URL,
    Cluster,
    Node,
    PrivateNats,
    PrivatePostgres,
    fresh_database,
    wait_until,
)
from support.tak import geochat, open_pytak, sa

pytestmark = pytest.mark.integration

AIM = (51.5, 35.5)
WEAPON = "155mm-howitzer"
FRIEND = {
    "callsign": "ALPHA",
    "affiliation": "friend",
    "nation": "UKR",
    "language": "uk",
    "mobility": "tracked",
    "equipment": ["2s1"],
}


def now_text(offset_s: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def report(uid: str, lat: float, lon: float, offset_s: float = 0.0) -> dict[str, Any]:
    return {"uid": uid, "lat": lat, "lon": lon, "observed_at": now_text(offset_s), "ce_m": 10}


def check_at(node: Node, lat: float = AIM[0], lon: float = AIM[1]) -> Any:
    body = {"target": {"lat": lat, "lon": lon}, "weapon": WEAPON, "target_type": "t-72"}
    return node.call("POST", "/checks", body)


def codes(clearance: Any) -> set[str]:
    return {r["code"] for r in clearance["reasons"]}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with fresh_database() as db:
        c = Cluster(tmp_path, db, NATS_URL)
        try:
            yield c
        finally:
            c.close()


def test_a_report_on_one_node_makes_a_check_on_another_hold(cluster: Cluster) -> None:
    a, b, c = cluster.start("a", "b", "c")
    assert check_at(c).body["verdict"] == "NO_KNOWN_CONFLICT"
    a.api("PUT", "/units/u1", FRIEND)
    a.api("POST", "/reports", report("u1", *AIM))

    def held() -> bool:
        return bool(check_at(c).body["verdict"] == "HOLD")

    wait_until("the check on c to see a's report", held, 5)
    clearance = check_at(c).body
    assert "FRIENDLY_IN_DANGER_AREA" in codes(clearance)
    assert "CLUSTER_DEGRADED" not in codes(clearance)
    assert b.tracks() == a.tracks() == c.tracks()

    # Every node lists the three, in step, one of them coordinating.
    listing = wait_until(
        "three ready nodes",
        lambda: (
            (r := b.api("GET", "/cluster"))
            and len([n for n in r["nodes"] if n["state"] == "ready"]) == 3
            and r
        ),
    )
    assert listing["clustered"] is True and listing["node"] == "b"
    assert {n["node"] for n in listing["nodes"]} == {"a", "b", "c"}
    assert [n["node"] for n in listing["nodes"] if n["coordinator"]] == ["a"]
    assert all(n["lag"] >= 0 for n in listing["nodes"])
    observer = b.api("POST", "/tokens", {"name": "watcher", "role": "observer"})["token"]
    assert b.call("GET", "/cluster", token=observer).status == 403


def test_tak_clients_on_different_nodes_see_each_others_sa_and_geochat(cluster: Cluster) -> None:
    a, b = cluster.start("a", "b")

    async def talk() -> tuple[ET.Element, ET.Element]:
        alpha = await open_pytak("alpha", COT_URL=f"tcp://127.0.0.1:{a.cot_port}")
        bravo = await open_pytak("bravo", COT_URL=f"tcp://127.0.0.1:{b.cot_port}")
        try:
            await bravo.send(sa("ANDROID-bravo", "BRAVO", 51.41, 35.61))
            await alpha.send(sa("ANDROID-alpha", "ALPHA", 51.40, 35.60))
            seen = await bravo.wait_for(
                lambda e: e.get("uid") == "ANDROID-alpha", "alpha's SA through the cluster"
            )
            await alpha.send(geochat("ANDROID-alpha", "ALPHA", "moving to phase line"))
            chat = await bravo.wait_for(
                lambda e: (
                    e.get("type") == "b-t-f"
                    and e.findtext("detail/remarks") == "moving to phase line"
                ),
                "alpha's GeoChat through the cluster",
            )
            back = await alpha.wait_for(
                lambda e: e.get("uid") == "ANDROID-bravo", "bravo's SA through the cluster"
            )
            assert back is not None
            return seen, chat
        finally:
            for client in (alpha, bravo):
                client.tx.writer.close()
                client.rx_task.cancel()

    seen, chat = asyncio.run(talk())
    assert seen.find("detail/contact").get("callsign") == "ALPHA"  # type: ignore[union-attr]
    assert chat.find("detail/__chat").get("senderCallsign") == "ALPHA"  # type: ignore[union-attr]


class Reporter(threading.Thread):
    """Streams reports of `units` units to a node until stopped, counting what was accepted."""

    def __init__(self, node: Node, units: int, prefix: str) -> None:
        super().__init__(daemon=True)
        self.node, self.units, self.prefix = node, units, prefix
        self.stop = threading.Event()
        self.accepted = 0
        self.refused = 0

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            uid = f"{self.prefix}{i % self.units}"
            lat = 51.0 + (i % 97) * 0.001
            reply = self.node.call("POST", "/reports", report(uid, lat, 35.0 + (i % 89) * 0.001))
            if reply.status == 202:
                self.accepted += 1
            else:
                self.refused += 1
            i += 1


def in_step(*nodes: Node) -> bool:
    pictures = [n.tracks() for n in nodes]
    return all(p == pictures[0] for p in pictures[1:])


def test_a_node_killed_while_reports_stream_in_catches_up_on_restart(cluster: Cluster) -> None:
    a, b, c = cluster.start("a", "b", "c")
    feeds = [Reporter(a, 40, "ua-"), Reporter(c, 40, "uc-")]
    for feed in feeds:
        feed.start()
    time.sleep(1.5)
    b.kill()
    time.sleep(1.5)  # reports go on while b is gone
    b.start()
    time.sleep(1.0)
    for feed in feeds:
        feed.stop.set()
        feed.join(10)
    b.wait_ready()
    assert all(feed.accepted > 20 for feed in feeds), [f.accepted for f in feeds]
    wait_until("b's picture to equal a's and c's", lambda: in_step(a, b, c), 10)
    assert len(a.tracks()) == 80
    # Nothing applied twice: each node applied every event of the others exactly once.
    listing = b.api("GET", "/cluster")
    assert all(n["lag"] == 0 for n in listing["nodes"] if n["state"] == "ready")


def test_cut_off_from_nats_checks_carry_cluster_degraded_then_converge(tmp_path: Path) -> None:
    nats = PrivateNats(tmp_path)
    nats.start()
    with fresh_database() as db:
        cluster = Cluster(tmp_path, db, nats.url)
        try:
            a, b = cluster.start("a", "b")
            a.api("PUT", "/units/u1", FRIEND)
            nats.stop()
            degraded = wait_until(
                "a check on a to carry CLUSTER_DEGRADED",
                lambda: (r := check_at(a).body) and "CLUSTER_DEGRADED" in codes(r) and r,
            )
            reason = next(r for r in degraded["reasons"] if r["code"] == "CLUSTER_DEGRADED")
            assert reason["verdict"] == "COORDINATE"
            assert "cut off from its cluster" in reason["detail"]
            assert degraded["verdict"] in ("COORDINATE", "HOLD")
            # Cut off, a still takes reports (durable in the shared database) ...
            a.api("POST", "/reports", report("u1", *AIM))
            assert check_at(a).body["verdict"] == "HOLD"
            # ... which b cannot have yet.
            assert "u1" not in b.tracks() or b.tracks()["u1"][:2] != AIM
            nats.start()
            wait_until(
                "checks on a to be in step again",
                lambda: "CLUSTER_DEGRADED" not in codes(check_at(a).body),
                20,
            )
            wait_until("b to see a's report", lambda: check_at(b).body["verdict"] == "HOLD", 20)
            wait_until("the pictures to converge", lambda: in_step(a, b), 10)
            assert "CLUSTER_DEGRADED" not in codes(check_at(b).body)
        finally:
            cluster.close()
            nats.stop()


def test_postgres_down_no_acknowledged_write_is_lost(tmp_path: Path) -> None:
    pg = PrivatePostgres()
    pg.init()
    pg.start()
    try:
        with fresh_database(pg.url) as db:
            cluster = Cluster(tmp_path, db, NATS_URL)
            try:
                (a,) = cluster.start("a")
                acknowledged: list[str] = []
                checks: list[str] = []
                refused = 0

                def write(i: int) -> None:
                    nonlocal refused
                    uid = f"w{i}"
                    reply = a.call("POST", "/reports", report(uid, 51.2 + i * 1e-4, 35.2))
                    if reply.status == 202:
                        acknowledged.append(uid)
                    else:
                        assert reply.status == 503, reply
                        assert reply.body["retryable"] is True
                        # where the database is stays in the server's log
                        assert str(pg.port) not in reply.body["error"]
                        assert "cannot be reached" in reply.body["error"]
                        refused += 1
                    answered = check_at(a, 51.2 + i * 1e-4, 35.2)
                    assert answered.status == 200, answered  # checks are answered regardless
                    checks.append(answered.body["id"])

                for i in range(30):
                    write(i)
                pg.stop()
                for i in range(30, 60):
                    write(i)
                assert refused >= 20  # the writes while it was down were refused, not kept
                before = len(acknowledged)
                pg.start()
                back = time.monotonic()
                i = 60
                while len(acknowledged) < before + 30:  # the store comes back by itself
                    assert time.monotonic() - back < 30, "the store did not come back"
                    write(i)
                    i += 1
                wait_until(
                    "the spooled checks to reach the database",
                    lambda: len(_stored(db, "SELECT id FROM checks")) >= len(checks),
                    20,
                )
                stored_checks = _stored(db, "SELECT id FROM checks")
                assert set(checks) <= stored_checks, "an answered check was not recorded"
                positions = _stored(db, "SELECT uid FROM positions")
                assert set(acknowledged) <= positions, "an acknowledged report was lost"
            finally:
                cluster.close()
    finally:
        pg.remove()


def _stored(db: str, sql: str) -> set[str]:
    with psycopg.connect(db) as conn:
        return {row[0] for row in conn.execute(sql)}

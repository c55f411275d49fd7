"""`holdfire serve` on a data directory that is read-only, or whose disk fills up while it runs.

Real processes on real file systems (tests/support/disks.py): a read-only bind mount, and a
small tmpfs filled to the last byte while the server is under writes over HTTP and CoT.

- Read-only at start (empty or not, or only the database file): no start at all, one line on
  stderr naming what cannot be written, exit code 1, nothing listening.
- The check spool (DATA/spool.db, where checks answered while PostgreSQL is down wait): on a
  full disk a check that would be spooled is refused (503) instead of answered without its
  record; once space is freed checks are spooled again, and all reach the database.
- Disk full while running: every write is refused with 503 `retryable`, reads still answer,
  the server keeps running, the log says "disk full in DATA" once (not per request) and once
  more when writes succeed again after space is freed. After a kill -9 and a restart, every
  acknowledged write is there and no refused one is; a refused measure cancel never took
  effect, even in the live picture.
"""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from support.cluster import Node, PrivatePostgres, fresh_database, wait_until
from support.disks import fill, read_only, small_disk
from support.process import free_port, holdfire

pytestmark = pytest.mark.integration

NFA_AT = (51.30, 35.20)
WEAPON = "120mm-mortar"


def node(root: Path, data: Path, *extra: str, tls: bool = False) -> Node:
    http_port, cot_port = free_port(), free_port()
    args = ["--data", str(data), "--http", f"127.0.0.1:{http_port}",
            "--cot-tcp", f"127.0.0.1:{cot_port}",
            "--cot-tls", f"127.0.0.1:{free_port()}" if tls else "off", *extra]  # fmt: skip
    return Node("faults", data, args, http_port, cot_port, root / "serve.log")


def started(n: Node) -> Node:
    n.start()
    n.wait_ready()
    n.token = (n.data / "admin.token").read_text().strip()
    return n


def reports(*uids: str) -> list[dict[str, Any]]:
    at = datetime.now(UTC).isoformat()
    return [{"uid": uid, "lat": 51.25, "lon": 35.10, "observed_at": at} for uid in uids]


def nfa() -> dict[str, Any]:
    lat, lon = NFA_AT
    ring = [[lon - 0.01, lat - 0.01], [lon + 0.01, lat - 0.01], [lon + 0.01, lat + 0.01],
            [lon - 0.01, lat + 0.01], [lon - 0.01, lat - 0.01]]  # fmt: skip
    geometry = {"type": "Polygon", "coordinates": [ring]}
    return {"type": "Feature", "id": "nfa-1", "geometry": geometry, "properties": {"kind": "NFA"}}


def check_in_nfa() -> dict[str, Any]:
    return {"target": {"lat": NFA_AT[0], "lon": NFA_AT[1]}, "weapon": WEAPON}


def codes(clearance: dict[str, Any]) -> set[str]:
    return {reason["code"] for reason in clearance["reasons"]}


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def serve_fails(n: Node) -> list[str]:
    """Run `holdfire serve` expecting it to refuse to start; its stderr lines."""
    done = subprocess.run(
        [*holdfire(), "serve", *n.args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert not listening(n.http_port)
    return done.stderr.strip().splitlines()


def sa(uid: str) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f'<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="m-g" time="{now}" '
        f'start="{now}" stale="{now}"><point lat="51.2" lon="35.1" hae="0" ce="5" le="5"/>'
        "<detail/></event>"
    ).encode()


@pytest.mark.parametrize("before", ["empty", "in use"])
def test_serve_refuses_a_read_only_data_directory_in_one_line(tmp_path: Path, before: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    n = node(tmp_path, data, tls=before == "empty")  # its first start would write certificates
    if before == "in use":
        started(n)
        assert n.call("POST", "/reports", reports("U1")).status == 202
        n.stop()
    with read_only(data):
        lines = serve_fails(n)
    assert lines == [
        f"holdfire: data directory {data} is not writable (Read-only file system); holdfire "
        "keeps its database, check spool, admin token and certificates there"
    ]


def test_serve_refuses_a_database_file_it_could_only_read(tmp_path: Path) -> None:
    """The directory is writable, the database file is not: SQLite would open it read-only
    without a word and fail at the first write; the start proves it can write instead."""
    data = tmp_path / "data"
    n = node(tmp_path, data)
    started(n)
    n.stop()
    with read_only(data / "holdfire.db"):
        lines = serve_fails(n)
        # Reading it is still possible (an investigator's read-only copy): only serving is not.
        audit = subprocess.run([*holdfire(), "audit", "verify", "--data", str(data)],
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert audit.returncode == 0, audit.stderr
        assert audit.stdout.startswith("audit chain intact")
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"holdfire: store open failed: {data / 'holdfire.db'} is read-only")


def test_a_disk_that_fills_up_refuses_writes_loses_nothing_and_recovers(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", 16) as disk:
        n = started(node(tmp_path, disk / "data"))
        try:
            n.api("PUT", "/units/U-1", {"callsign": "ONE", "language": "ru"})
            sent = n.api("POST", "/messages", {"to": "U-1", "code": "WAIT_FOR_US"})["id"]
            acked_uids = [f"A{i}" for i in range(5)]
            assert n.call("POST", "/reports", reports(*acked_uids)).status == 202
            acked_checks = [n.api("POST", "/checks", check_in_nfa())["id"]]
            assert n.call("POST", "/measures", nfa()).status == 201
            hold = n.api("POST", "/checks", check_in_nfa())
            acked_checks.append(hold["id"])
            assert "NO_FIRE_AREA" in codes(hold)

            filler = fill(disk)
            refused_uids = [f"R{i}" for i in range(30)]
            answers = [n.call("POST", "/reports", reports(uid)) for uid in refused_uids]
            answers += [n.call("POST", "/checks", check_in_nfa()) for _ in range(5)]
            answers.append(n.call("POST", "/messages", {"to": "U-1", "code": "WAIT_FOR_US"}))
            answers.append(n.call("DELETE", "/measures/nfa-1"))
            for reply in answers:
                assert reply.status == 503, (reply.status, reply.body)
                assert reply.body["retryable"] is True
                assert {k.lower(): v for k, v in reply.headers.items()}["retry-after"] == "1"
            with socket.create_connection(("127.0.0.1", n.cot_port)) as tak:
                for i in range(40):
                    tak.sendall(sa(f"COT-{i}"))
                time.sleep(1.5)  # ingest batches are applied (and refused) meanwhile
            assert n.alive()
            assert n.ready()  # reads and the picture go on
            assert {f["id"] for f in n.api("GET", "/measures")["features"]} == {"nfa-1"}

            filler.unlink()
            later = "A-after"
            accepted = lambda: n.call("POST", "/reports", reports(later)).status == 202  # noqa: E731
            wait_until("writes accepted again", accepted)
            acked_uids.append(later)
            again = n.api("POST", "/checks", check_in_nfa())
            acked_checks.append(again["id"])
            assert "NO_FIRE_AREA" in codes(again)  # the refused cancel never took effect
            n.kill()
            log = n.log.read_text()
            assert log.count("disk full in") == 1, log
            assert f"disk full in {disk / 'data'}" in log
            assert log.count("writes succeed again") == 1, log
            assert "not stored" not in log and "Traceback" not in log, log

            started(n)
            picture = n.tracks()
            assert set(acked_uids) <= set(picture)
            assert not set(refused_uids) & set(picture)  # a 503 recorded nothing
            for check_id in acked_checks:
                assert n.call("GET", f"/checks/{check_id}").status == 200
            assert n.api("GET", f"/messages?message={sent}")["items"]
            assert {f["id"] for f in n.api("GET", "/measures")["features"]} == {"nfa-1"}
        finally:
            n.kill()


def test_the_check_spool_on_a_full_disk_refuses_checks_instead_of_losing_them(
    tmp_path: Path,
) -> None:
    pg = PrivatePostgres()
    pg.init()
    pg.start()
    try:
        with fresh_database(pg.url) as db, small_disk(tmp_path / "disk", 8) as disk:
            n = started(node(tmp_path, disk / "data", "--db", db))
            try:
                answered = [n.api("POST", "/checks", check_in_nfa())["id"]]
                pg.stop()
                answered.append(n.api("POST", "/checks", check_in_nfa())["id"])  # spooled
                filler = fill(disk)
                for _ in range(10):
                    reply = n.call("POST", "/checks", check_in_nfa())
                    assert reply.status == 503, (reply.status, reply.body)
                    assert reply.body["retryable"] is True
                filler.unlink()
                answered.append(n.api("POST", "/checks", check_in_nfa())["id"])  # spooled
                pg.start()
                stored = lambda: set(answered) <= _check_ids(db)  # noqa: E731
                wait_until("the spooled checks to reach the database", stored, 30)
                assert len(_check_ids(db)) == len(answered)  # and no refused one
                log = n.log.read_text()
                assert log.count(f"disk full in {disk / 'data'}") == 1, log
                assert "Traceback" not in log, log
            finally:
                n.kill()
    finally:
        pg.remove()


def _check_ids(db: str) -> set[str]:
    with psycopg.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM checks")}

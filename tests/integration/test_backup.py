"""`holdfire backup` under load and `holdfire restore`, on SQLite and on PostgreSQL: a backup
taken while reports and checks are being acknowledged over HTTP, restored into a fresh data
directory (and a new database), holds every write acknowledged before the backup started, and a
new server on it serves them; the audit chain passes through the manifest's last hash.
"""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from holdfire.cli import app
from support.cluster import Node, fresh_database
from support.process import free_port
from support.stores import Backend

pytestmark = pytest.mark.integration

WEAPON = "120mm-mortar"


def holdfire(*args: str | Path) -> Result:
    """The command line in this process (a server is a process of its own)."""
    unset: dict[str, str | None] = {"HOLDFIRE_DATA": None, "HOLDFIRE_DB": None}
    return CliRunner().invoke(app, [str(a) for a in args], env=unset)


@dataclass
class Load:
    """Clients writing over HTTP until stopped; when each write was acknowledged."""

    node: Node
    reports: list[tuple[str, float]] = field(default_factory=list)  # uid, acknowledged at
    checks: list[tuple[str, float]] = field(default_factory=list)  # check id, acknowledged at
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, who: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.node.http_port, timeout=10)
        headers = {"Authorization": f"Bearer {self.node.token}", "Content-Type": "application/json"}
        n = 0
        while not self.stop.is_set():
            n += 1
            uid = f"load-{who}-{n}"
            body = {"uid": uid, "lat": 50.0 + n * 1e-4, "lon": 30.0 + who * 1e-3, "ce_m": 5}
            if self._post(conn, headers, "/reports", body, 202):
                self.reports.append((uid, time.monotonic()))
            if n % 5 == 0:
                check = {"target": {"lat": 50.3, "lon": 30.3}, "weapon": WEAPON}
                reply = self._post(conn, headers, "/checks", check, 200)
                if reply:
                    self.checks.append((reply["id"], time.monotonic()))
        conn.close()

    def _post(
        self, conn: http.client.HTTPConnection, headers: dict[str, str], path: str, body: Any,
        status: int,
    ) -> Any:  # fmt: skip
        conn.request("POST", f"/api/v1{path}", json.dumps(body), headers)
        response = conn.getresponse()
        raw = response.read()
        if response.status != status:
            self.failures.append(f"{path} {response.status} {raw[:200]!r}")
            return None
        return json.loads(raw)

    def acknowledged_before(self, at: float) -> tuple[set[str], set[str]]:
        return (
            {uid for uid, t in list(self.reports) if t < at},
            {cid for cid, t in list(self.checks) if t < at},
        )


def start_node(root: Path, name: str, db: str | None) -> Node:
    http_port, tls_port = free_port(), free_port()
    data = root / name
    # The load's clients write as fast as they are answered, from one address: no rate limit.
    args = ["--data", str(data), "--http", f"127.0.0.1:{http_port}", "--cot-tcp", "off",
            "--cot-tls", f"127.0.0.1:{tls_port}", "--http-requests-per-s", "0",
            *(["--db", db] if db else [])]  # fmt: skip
    node = Node(name, data, args, http_port, 0, root / f"{name}.log")
    node.start()
    node.wait_ready()
    node.token = (data / "admin.token").read_text().strip()
    return node


def where(data: Path, db: str | None) -> list[str]:
    return ["--data", str(data), *(["--db", db] if db else [])]


@dataclass
class Taken:
    """One backup taken under load, and what was acknowledged around it."""

    root: Path
    db: str | None
    backup: Path
    manifest: dict[str, Any]
    reports: set[str]  # acknowledged before the backup started
    checks: set[str]
    during: int  # writes acknowledged while the backup ran
    final_seq: int  # the source store's last event once the load stopped
    ca: bytes


def take_under_load(root: Path, db: str | None) -> Taken:
    node = start_node(root, "source", db)
    load = Load(node)
    workers = [threading.Thread(target=load.run, args=(i,)) for i in range(3)]
    try:
        for worker in workers:
            worker.start()
        while len(load.reports) < 150:
            assert not load.failures, load.failures
            time.sleep(0.05)
        backup = root / "backup"
        started = time.monotonic()
        result = holdfire("backup", backup, *where(node.data, db))
        ended = time.monotonic()
        assert result.exit_code == 0, result.output + repr(result.exception)
        time.sleep(0.3)  # and the writes go on after it
    finally:
        load.stop.set()
        for worker in workers:
            worker.join(15)
        node.stop()
    assert not load.failures, load.failures
    reports, checks = load.acknowledged_before(started)
    during = sum(1 for _, t in load.reports + load.checks if started <= t < ended)
    final = holdfire("audit", "verify", *where(node.data, db))
    assert final.exit_code == 0, final.output + repr(final.exception)
    manifest = json.loads((backup / "manifest.json").read_text())
    assert f"seq {manifest['last_seq']}" in result.stdout
    return Taken(
        root, db, backup, manifest, reports, checks, during,
        final_seq=_last_seq(node.data, db), ca=(node.data / "certs" / "ca.pem").read_bytes(),
    )  # fmt: skip


def _last_seq(data: Path, db: str | None) -> int:
    [(seq,)] = Backend("x", data, db).rows("SELECT MAX(seq) FROM events")
    return int(seq)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def taken(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Taken]:
    root = tmp_path_factory.mktemp(f"backup-{request.param}")
    if request.param == "sqlite":
        yield take_under_load(root, None)
        return
    with fresh_database() as db:
        yield take_under_load(root, db)


@pytest.fixture(scope="module")
def target_db(taken: Taken) -> Iterator[str | None]:
    if taken.db is None:
        yield None
        return
    with fresh_database() as db:
        yield db


def test_the_backup_was_taken_under_load_and_says_what_it_holds(taken: Taken) -> None:
    m = taken.manifest
    assert taken.during > 0, "no write was acknowledged while the backup ran"
    assert 0 < m["last_seq"] < taken.final_seq  # writes went on before and after the snapshot
    assert m["audit_records"] > 0 and len(m["audit_last_hash"]) == 64
    assert m["store"] == ("sqlite" if taken.db is None else "postgresql")
    listed = set(m["files"])
    assert {"data/certs/ca.key", "data/certs/server.key", "data/admin.token"} <= listed
    assert ("data/holdfire.db" in listed) == (taken.db is None)
    assert ("postgres.dump" in listed) == (taken.db is not None)
    assert not any(name.endswith(("-wal", "-shm", ".lock")) for name in listed)
    assert (taken.backup.stat().st_mode & 0o077) == 0  # keys inside: owner only
    info = holdfire("backup-info", taken.backup)
    assert info.exit_code == 0, info.output + repr(info.exception)
    assert f"events up to seq {m['last_seq']}" in info.stdout


def test_a_restored_node_holds_every_write_acknowledged_before_the_backup(
    taken: Taken, target_db: str | None
) -> None:
    restored = taken.root / "restored"
    result = holdfire("restore", taken.backup, *where(restored, target_db))
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "the store matches the manifest; audit chain intact" in result.stdout
    assert (restored / "certs" / "ca.pem").read_bytes() == taken.ca
    node = start_node(taken.root, "restored", target_db)  # the restored admin token works
    try:
        tracks = {f["id"] for f in node.api("GET", "/tracks")["features"]}
        assert taken.reports and taken.reports <= tracks
        assert taken.checks
        for check_id in taken.checks:
            assert node.call("GET", f"/checks/{check_id}").status == 200
        # A running server's data directory is never restored over, even forced.
        again = holdfire("restore", taken.backup, *where(restored, target_db), "--force")
        assert again.exit_code == 1
        assert "in use by another holdfire process" in again.stderr
    finally:
        node.stop()
    assert _last_seq(restored, target_db) == taken.manifest["last_seq"]
    expect = taken.manifest["audit_last_hash"]
    verify = holdfire("audit", "verify", *where(restored, target_db), "--expect", expect)
    assert verify.exit_code == 0, verify.output


def test_restore_refuses_a_directory_or_database_with_data_unless_forced(
    taken: Taken, target_db: str | None, tmp_path: Path
) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("kept")
    db = target_db
    if db is not None:  # the database the previous test restored into holds the tables
        refused = holdfire("restore", taken.backup, *where(tmp_path / "empty", db))
        assert refused.exit_code == 1
        assert "already holds holdfire tables" in refused.stderr
    refused = holdfire("restore", taken.backup, *where(busy, db))
    assert refused.exit_code == 1
    assert "is not empty (notes.txt)" in refused.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["holdfire.lock", "notes.txt"]
    forced = holdfire("restore", taken.backup, *where(busy, db), "--force")
    assert forced.exit_code == 0, forced.output + repr(forced.exception)
    [aside] = tmp_path.glob("busy.before-restore-*")
    assert (aside / "notes.txt").read_text() == "kept"
    assert f"moved to {aside}" in forced.stdout
    assert ("tables were replaced" in forced.stdout) == (db is not None)
    assert _last_seq(busy, db) == taken.manifest["last_seq"]


def test_a_damaged_backup_is_refused_before_anything_is_written(
    taken: Taken, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(taken.backup, copy)
    (copy / "data" / "certs" / "ca.pem").write_bytes(b"not the CA")
    into = tmp_path / "into"
    result = holdfire("restore", copy, *where(into, taken.db))
    assert result.exit_code == 1
    assert "data/certs/ca.pem in the backup is not the file it was" in result.stderr
    assert not into.exists()
    info = holdfire("backup-info", copy)
    assert info.exit_code == 1
    assert "data/certs/ca.pem in the backup is not the file it was" in info.stderr

"""What only the PostgreSQL store has: a server that may be away, connections that may be
lost, several processes on one database, migrations under a lock, and `serve --db`.

Every test works in a fresh schema of its own (see support.stores), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from holdfire.adapters.store import migrations
from holdfire.adapters.store.postgres import PostgresStore
from holdfire.domain.events import PositionReported
from holdfire.service.ports import StoreError, StoreUnavailable
from support.records import report
from support.stores import PG_URL, pg_schema

pytestmark = pytest.mark.integration


@pytest.fixture
def schema() -> Iterator[tuple[str, str]]:
    with pg_schema() as made:
        yield made


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _terminate(application_name: str) -> int:
    """Kill every server backend of the store under test (the admin's own excluded)."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (application_name,),
        ).fetchall()
    return len(rows)


async def test_an_unreachable_server_is_unavailable_naming_it_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    port = _free_port()  # nothing listens there
    store = PostgresStore(f"postgresql://holdfire:s3cret-pw@127.0.0.1:{port}/holdfire")
    with pytest.raises(StoreUnavailable) as info:
        await store.open()
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message
    assert "holdfire" in message and "refused" in message.lower()
    assert "s3cret-pw" not in message
    assert "s3cret-pw" not in repr(store)
    assert "s3cret-pw" not in caplog.text
    with pytest.raises(StoreUnavailable) as status:
        await store.schema_status()
    assert "s3cret-pw" not in str(status.value)


async def test_a_wrong_password_is_an_error_without_the_password(schema: tuple[str, str]) -> None:
    """The server trusts local users here, so a missing database stands in for a refusal."""
    store = PostgresStore("postgresql://postgres:s3cret-pw@127.0.0.1:5432/no_such_db_here")
    with pytest.raises(StoreError) as info:
        await store.open()
    assert "no_such_db_here" in str(info.value)
    assert "s3cret-pw" not in str(info.value)


async def test_every_connection_commits_synchronously(schema: tuple[str, str]) -> None:
    store = PostgresStore(schema[1])
    await store.open()
    try:
        assert store._pool is not None
        async with store._pool.connection() as conn:
            cur = await conn.execute("SHOW synchronous_commit")
            assert await cur.fetchone() == ("on",)
    finally:
        await store.close()


async def test_lost_connections_are_replaced_and_nothing_is_applied_twice(
    schema: tuple[str, str],
) -> None:
    name, url = schema
    store = PostgresStore(url)
    await store.open()
    try:
        accepted = [await store.append([PositionReported(report("U0"))])]
        await store.load()
        refusals: list[str] = []
        for round_ in range(3):
            assert _terminate(name) >= 1
            try:  # the failing call may retry on a fresh connection, or say it could not
                accepted.append(await store.append([PositionReported(report(f"U{round_}"))]))
            except StoreUnavailable as error:
                refusals.append(str(error))
            # the next call works
            accepted.append(await store.append([PositionReported(report(f"V{round_}"))]))
            _terminate(name)
            assert (await store.load()).last_seq == accepted[-1]
        assert all("127.0.0.1:5432" in refusal for refusal in refusals)
        logged = [seq for seq, _ in await store.events()]
        assert logged == sorted(set(logged))  # no append recorded twice
        assert set(accepted) <= set(logged)
        assert len(logged) == len(accepted)  # and none recorded that was not acknowledged
    finally:
        await store.close()


async def test_two_stores_on_one_database_append_concurrently(schema: tuple[str, str]) -> None:
    """Two nodes share one database: distinct sequence numbers, each returned to the right
    caller, and each sees everything (nothing about the log is cached per process)."""
    url = schema[1]
    a, b = PostgresStore(url), PostgresStore(url)
    await asyncio.gather(a.open(), b.open())  # migrating together, under the lock
    try:

        async def append(store: PostgresStore, who: str, n: int) -> tuple[int, str]:
            event = PositionReported(report(f"{who}{n:03d}", reporter=f"{who}-{n}"))
            return await store.append([event]), f"{who}-{n}"

        results = await asyncio.gather(
            *(append(store, who, n) for n in range(100) for store, who in ((a, "a"), (b, "b")))
        )
        seqs = [seq for seq, _ in results]
        assert sorted(seqs) == list(range(1, 201))
        logged = dict(await a.events(limit=1000))
        assert dict(await b.events(limit=1000)) == logged
        for seq, reporter in results:  # each caller got the seq of its own event
            event = logged[seq]
            assert isinstance(event, PositionReported) and event.report.reporter == reporter
        assert await a.append([]) == await b.append([]) == 200
        assert (await a.load()).last_seq == (await b.load()).last_seq == 200
        assert len((await b.load()).reports) == 200
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_an_upgrade_from_0001_adds_the_outbox_at_start(schema: tuple[str, str]) -> None:
    url = schema[1]
    [first] = [m for m in migrations.available("postgres") if m.version == 1]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(first.sql.encode())
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at text NOT NULL)"
        )
        conn.execute("INSERT INTO schema_migrations VALUES (1, 'schema', '2026-11-01T00:00:00Z')")
    store = PostgresStore(url)
    status = await store.schema_status()
    assert [a.version for a in status.applied] == [1]
    assert [(m.label, m.safe_at_start) for m in status.pending] == [
        ("0002_outbox", True),
        ("0003_audit_chain", True),
    ]
    await store.open()
    try:
        assert await store.append([PositionReported(report())], outbox="node-a") == 1
        assert [queued.seq for queued in await store.outbox("node-a")] == [1]
    finally:
        await store.close()
    assert [a.version for a in (await store.schema_status()).applied] == [1, 2, 3]


async def test_a_schema_with_foreign_tables_is_refused(schema: tuple[str, str]) -> None:
    with psycopg.connect(schema[1], autocommit=True) as conn:
        conn.execute("CREATE TABLE events (x int)")
    with pytest.raises(StoreError, match="not a holdfire database"):
        await PostgresStore(schema[1]).open()


async def test_a_refused_record_names_the_database(schema: tuple[str, str]) -> None:
    store = PostgresStore(schema[1])
    await store.open()
    try:
        with psycopg.connect(schema[1], autocommit=True) as conn:
            conn.execute(
                "ALTER TABLE positions ADD CONSTRAINT lat_north CHECK (body NOT LIKE '%U9%')"
            )
        with pytest.raises(StoreError) as info:
            await store.append([PositionReported(report("U9"))])
        assert not isinstance(info.value, StoreUnavailable)
        assert "constraint" in str(info.value) and "127.0.0.1:5432" in str(info.value)
        assert await store.append([PositionReported(report("U1"))]) >= 1
    finally:
        await store.close()


class Outage:
    """A loopback TCP relay in front of the test server that can cut every connection and
    refuse new ones, as a server that went down would, and come back on the same port."""

    def __init__(self) -> None:
        parts = conninfo_to_dict(PG_URL)
        self._upstream = (str(parts.get("host") or "127.0.0.1"), int(parts.get("port") or 5432))
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: list[asyncio.StreamWriter] = []

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._open:
            writer.transport.abort()
        self._open.clear()
        self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._open += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_the_store_recovers_by_itself_when_the_server_is_back(
    schema: tuple[str, str],
) -> None:
    outage = Outage()
    await outage.up()
    url = make_conninfo(schema[1], host="127.0.0.1", port=str(outage.port))
    store = PostgresStore(url, timeout_s=1.0)
    await store.open()
    try:
        assert await store.append([PositionReported(report("U1"))]) == 1
        await outage.down()
        with pytest.raises(StoreUnavailable) as info:
            await store.append([PositionReported(report("U2"))])
        assert f"127.0.0.1:{outage.port}" in str(info.value)
        # Known to be down, the next calls fail at once instead of waiting out the pool.
        for _ in range(3):
            with pytest.raises(StoreUnavailable, match="has not answered"):
                await asyncio.wait_for(store.load(), 0.2)
        await outage.up()
        deadline = asyncio.get_running_loop().time() + 20
        while True:  # the pool reconnects in the background, with a backoff
            try:
                seq = await store.append([PositionReported(report("U3"))])
                break
            except StoreUnavailable:
                assert asyncio.get_running_loop().time() < deadline, "never reconnected"
                await asyncio.sleep(0.2)
        assert seq == 2  # the append refused during the outage was not recorded
        logged = [e.report.uid for _, e in await store.events() if isinstance(e, PositionReported)]
        assert logged == ["U1", "U3"]
    finally:
        await store.close()
        if outage._server is not None:
            await outage.down()


# -- through the command line -------------------------------------------------------------------


def _holdfire(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "holdfire.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_holdfire_migrate_and_its_status(schema: tuple[str, str], tmp_path: Path) -> None:
    url = schema[1]
    before = _holdfire("migrate", "--db", url, "--status")
    assert before.returncode == 0, before.stderr
    lines = before.stdout.splitlines()
    assert lines[0] == "store: PostgreSQL database 'postgres' at 127.0.0.1:5432 (user postgres)"
    assert lines[1].startswith("pending  0001_schema  (an empty database gets every")
    assert lines[2].startswith("pending  0002_outbox")
    assert lines[3].startswith("pending  0003_audit_chain")
    done = _holdfire("migrate", "--db", url)
    assert done.returncode == 0, done.stderr
    assert "applied  0001_schema" in done.stdout and "applied  0002_outbox" in done.stdout
    assert "applied  0003_audit_chain" in done.stdout
    after = _holdfire("migrate", "--db", url, "--status")
    assert after.returncode == 0, after.stderr
    applied = [line.split()[:2] for line in after.stdout.splitlines()[1:4]]
    assert applied == [
        ["applied", "0001_schema"],
        ["applied", "0002_outbox"],
        ["applied", "0003_audit_chain"],
    ]
    assert after.stdout.splitlines()[-1] == "up to date"


def test_a_db_that_is_not_postgresql_is_a_usage_error(tmp_path: Path) -> None:
    result = _holdfire("serve", "--data", str(tmp_path), "--db", "mysql://u:pw@h/db")
    assert result.returncode == 2
    assert "postgresql://" in result.stderr and "pw" not in result.stderr


def test_serve_db_keeps_the_picture_in_postgresql(schema: tuple[str, str], tmp_path: Path) -> None:
    """serve --db: a report in, a check is HOLD; after a restart the check is stored and a
    new check is still HOLD. The data directory keeps only the token and tables."""
    url, data = schema[1], tmp_path / "data"
    port = _free_port()
    args = ["serve", "--data", str(data), "--db", url, "--http", f"127.0.0.1:{port}"]
    args += ["--cot-tcp", "off", "--cot-tls", "off"]
    base = f"http://127.0.0.1:{port}/api/v1"
    target = {"target": {"lat": 51.4, "lon": 35.6}, "weapon": "155mm-howitzer"}

    def run(first: bool) -> dict[str, object]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "holdfire.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert proc.stdout is not None
            seen = []
            for line in proc.stdout:
                seen.append(line)
                if "web map" in line:
                    break
            assert any("store: PostgreSQL database" in line for line in seen), "".join(seen)
            token = (data / "admin.token").read_text().strip()
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=10) as c:
                if first:
                    unit = {"callsign": "ALPHA", "mobility": "static"}
                    assert c.put("/units/alpha", json=unit).status_code == 200
                    fix = {"uid": "alpha", "lat": 51.4003, "lon": 35.6, "ce_m": 5}
                    assert c.post("/reports", json=fix).status_code == 202
                r = c.post("/checks", json=target)
                assert r.status_code == 200, r.text
                checks = c.get("/checks").json()["items"]
            return {"verdict": r.json()["verdict"], "id": r.json()["id"], "checks": checks}
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
            assert proc.returncode == 0, out

    first = run(True)
    assert first["verdict"] == "HOLD"
    second = run(False)
    assert second["verdict"] == "HOLD"
    assert isinstance(second["checks"], list)
    assert {c["id"] for c in second["checks"]} >= {first["id"], second["id"]}
    assert not (data / "holdfire.db").exists()
    with psycopg.connect(url) as conn:
        kinds = [row[0] for row in conn.execute("SELECT DISTINCT type FROM events")]
    assert {"unit", "report", "check", "token"} <= set(kinds), json.dumps(kinds)


def test_check_against_an_empty_database_is_a_usage_error(
    schema: tuple[str, str], tmp_path: Path
) -> None:
    """An empty picture would answer for want of data: refuse, as for an empty data directory."""
    args = ["check", "51.35, 35.10", "--weapon", "fpv-drone", "--data", str(tmp_path)]
    result = _holdfire(*args, "--db", schema[1])
    assert result.returncode == 2, result.stderr
    assert "holds no holdfire data yet" in result.stderr

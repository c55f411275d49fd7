"""SQLiteStore, what only SQLite has: pragmas, file errors (missing, read-only, full, locked,
not a database), a directory standing for DATA_DIR/holdfire.db, and adopting a database of the
first release. What every store must do is in tests/integration/test_store_contract.py."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from holdfire.adapters.store import migrations
from holdfire.adapters.store.sqlite import DB_FILENAME, SQLiteStore
from holdfire.domain.events import PositionReported
from holdfire.service.ports import StoreError
from support.records import report


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / DB_FILENAME


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(db_path)
    await s.open()
    yield s
    await s.close()


async def test_settings_wal_full_foreign_keys(store: SQLiteStore, db_path: Path) -> None:
    conn = store._write_conn
    assert conn is not None
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # The event loop writes on this connection and must never wait for another process's
    # lock: only the writer thread does, setting the timeout for its own writes.
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    assert store._read_conn is not None
    assert store._read_conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    with closing(sqlite3.connect(db_path)) as other:
        migrated = other.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert migrated.fetchall() == [(1,), (2,), (3,)]
        # what a holdfire of the first release reads, and refuses as newer than itself
        assert other.execute("SELECT version FROM schema_version").fetchall() == [(3,)]


async def test_a_new_database_another_connection_holds_locked_is_waited_for(db_path: Path) -> None:
    # Two processes opening the same new file at once: putting it in WAL mode takes a lock the
    # busy handler does not wait for, and the second open used to fail at once.
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # what the other open holds while it migrates
    s = SQLiteStore(db_path, busy_timeout_ms=5000)
    opening = asyncio.create_task(s.open())
    await asyncio.sleep(0.3)
    assert not opening.done()  # still waiting for the lock, not failed
    holder.execute("ROLLBACK")
    holder.close()
    await asyncio.wait_for(opening, 5)
    try:
        assert s._write_conn is not None
        assert s._write_conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await s.close()


# -- errors translated into StoreError --------------------------------------------------------


async def test_parent_is_a_file_gives_store_error(tmp_path: Path) -> None:
    """Read-only simulation 1: root ignores chmod, so use a path whose parent is a FILE."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    s = SQLiteStore(blocker / DB_FILENAME)
    with pytest.raises(StoreError) as info:
        await s.open()
    message = str(info.value)
    assert "is not a directory" in message
    assert str(blocker) in message


async def test_missing_directory_gives_store_error(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "missing" / DB_FILENAME)
    with pytest.raises(StoreError, match="does not exist"):
        await s.open()


async def test_read_only_mode_append_gives_store_error(db_path: Path) -> None:
    """Read-only simulation 2: open an existing database with the sqlite3 URI mode=ro."""
    writable = SQLiteStore(db_path)
    await writable.open()
    await writable.append([PositionReported(report())])
    await writable.close()

    ro = SQLiteStore(db_path, read_only=True)
    await ro.open()
    try:
        assert len((await ro.load()).reports) == 1
        with pytest.raises(StoreError) as info:
            await ro.append([PositionReported(report("U2"))])
        assert "read-only" in str(info.value)
        assert str(db_path) in str(info.value)
        assert len((await ro.load()).reports) == 1
    finally:
        await ro.close()


async def test_read_only_mode_missing_file(db_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        await SQLiteStore(db_path, read_only=True).open()


async def test_disk_full_gives_store_error(store: SQLiteStore) -> None:
    """Simulate a full disk by capping the database size (SQLITE_FULL)."""
    conn = store._write_conn
    assert conn is not None
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    big = [PositionReported(report(f"U{i:04d}")) for i in range(500)]
    with pytest.raises(StoreError, match="full"):
        await store.append(big)
    assert (await store.load()).last_seq == 0  # nothing half-written


async def test_not_a_database(db_path: Path) -> None:
    db_path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a holdfire database"):
        await SQLiteStore(db_path).open()


async def test_locked_database_gives_store_error(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    s = SQLiteStore(path, busy_timeout_ms=50)
    await s.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked"):
            await s.append([PositionReported(report())])
        blocker.execute("ROLLBACK")
        assert await s.append([PositionReported(report())]) == 1
    finally:
        blocker.close()
        await s.close()


async def test_a_write_waits_for_another_connections_lock_off_the_event_loop(
    tmp_path: Path,
) -> None:
    """The event loop writes its batches itself but never waits for a lock: while another
    connection holds the write lock, the writer thread waits for it and the loop goes on."""
    path = tmp_path / DB_FILENAME
    s = SQLiteStore(path, busy_timeout_ms=5000)
    await s.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    try:
        blocker.execute("BEGIN IMMEDIATE")
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, blocker.execute, "ROLLBACK")
        ticker = asyncio.create_task(tick())
        started = loop.time()
        assert await s.append([PositionReported(report())]) == 1
        waited = loop.time() - started
        ticker.cancel()
        assert waited >= 0.25  # it waited for the lock, and was written once it was free
        assert ticks >= 10  # the loop ran on meanwhile
        assert await s.append([PositionReported(report("U2"))]) == 2  # the loop writes again
    finally:
        blocker.close()
        await s.close()


async def test_a_directory_means_the_file_inside_it(db_path: Path) -> None:
    first = SQLiteStore(db_path)
    await first.open()
    await first.append([PositionReported(report())])
    await first.close()
    second = SQLiteStore(db_path.parent)
    assert second.path == db_path
    await second.open()
    try:
        assert len((await second.load()).reports) == 1
    finally:
        await second.close()


async def test_a_first_release_database_is_adopted_and_upgraded(db_path: Path) -> None:
    """A database holdfire wrote before versioned migrations: migration 0001's schema and
    ``schema_version`` 1. It counts as at migration 1; the outbox (0002) and the audit chain (0003)
    are added at start."""
    [first] = [m for m in migrations.available("sqlite") if m.version == 1]
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        conn.executescript(first.sql)
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        conn.execute(
            "INSERT INTO events (type, at, body) VALUES ('report', '2026-11-22T07:00:00Z', '{}')"
        )
    store = SQLiteStore(db_path)
    status = await store.schema_status()
    assert [a.version for a in status.applied] == [1]
    assert [m.label for m in status.pending] == ["0002_outbox", "0003_audit_chain"]
    await store.open()
    try:
        assert await store.append([PositionReported(report())], outbox="node-a") == 2
        assert [queued.seq for queued in await store.outbox("node-a")] == [2]
    finally:
        await store.close()
    with closing(sqlite3.connect(db_path)) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        assert rows.fetchall() == [(1, "adopted"), (2, "outbox"), (3, "audit_chain")]


async def test_a_database_with_foreign_tables_is_refused(db_path: Path) -> None:
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute("CREATE TABLE something (x)")
    with pytest.raises(StoreError, match="not a holdfire database"):
        await SQLiteStore(db_path).open()

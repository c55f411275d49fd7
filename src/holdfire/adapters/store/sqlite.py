"""SQLite store: the append-only event log plus current state, in one WAL-mode database file.

Durability. The database runs in WAL mode with ``synchronous=FULL``, so every COMMIT fsyncs the
WAL; :meth:`SQLiteStore.append` returns only after the COMMIT holding its events returned, so an
acknowledged event survives ``kill -9`` of the process (and power loss, as far as the disk keeps
its promises).

Group commit. ``append`` encodes its events to JSON on the caller's side (so a bad event fails
only its own caller) and joins the event loop's next batch. Once per turn of the loop, if the
write connection is free, the loop writes the whole batch in ONE transaction it leaves open
(``BEGIN IMMEDIATE``, the event rows and their current-state changes) and hands it to the
writer thread, which COMMITs it (one fsync) and only then resolves each request's future with
the sequence number of that request's last event. Requests that arrive while a commit is in
progress wait and form the next batch, so under load the fsync is shared by every waiting
caller and the event loop never blocks on it. The loop never waits for a lock either: its
connection has no busy timeout, and a batch it cannot begin (another process holds the write
lock) or write goes to the writer thread, which writes it from BEGIN to COMMIT, waiting as
long as ``busy_timeout_ms`` allows. If a batch of several requests fails, each request is
retried in a transaction of its own, so one bad request (say, a duplicate check id) fails
alone. A store used from another event loop than the one it was opened on hands every write to
the writer thread. With ``outbox=NODE`` each event's seq is queued in the same transaction;
``unqueue`` is a write like any other.

Reads run on a second thread with a read-only-by-use connection (WAL lets it read while the
writer writes); every query (the shared :mod:`holdfire.adapters.store.reads`) runs inside one
read transaction, so ``load`` is a consistent snapshot. Token lookups, one indexed row each,
run on the caller's thread.

Errors from sqlite3 are translated into :class:`~holdfire.service.ports.StoreError` here, with a
message that says what failed (full disk, read-only file or directory, missing directory, lock
held by another process, not a database) and which file; they are never swallowed. A full disk
or a read-only file system is :class:`~holdfire.service.ports.StoreNotWritable`: the server
goes on (reads, the live picture) and refuses each write until it clears, logging it once
when it begins and once when it ends (:mod:`holdfire.adapters.store.outage`). With
``must_write`` (the service's store) opening proves the file can be written (one page rewritten,
unchanged), so a server never starts on a database it could only read; without it, a file it
may not write opens for reading, as an investigator's read-only copy should.

Layout (``migrations/sqlite``): ``events`` (append-only; triggers refuse UPDATE and DELETE),
``units``, ``positions`` (latest report per uid and reporter key; an older fix never replaces a
newer one), ``measures`` (cancelling sets ``status`` to ``cancelled``), ``checks`` (append-only
audit, indexed for the filters of ``list_checks``), ``alerts`` with their acks and clears,
``check_records``, ``pairings``, ``messages``, ``deliveries``, ``mailbox``, ``tokens`` (one
active token per name), ``outbox`` (seqs queued for a cluster node to publish),
``audit_chain`` (the hash link of each audit record, written in its append transaction; see
:mod:`holdfire.adapters.store.audit`) and ``schema_migrations``. ``schema_version`` holds
the latest version applied, which a holdfire of the first release reads (and so refuses a
newer database). Times used for ordering are stored
as integer microseconds since the Unix epoch (``*_us``) next to their RFC 3339 text. Bodies are
the JSON of :mod:`holdfire.codecs.json`, encoded by :mod:`holdfire.adapters.store.encoding`.
Opening applies migrations by the start-up rule of :mod:`holdfire.adapters.store.migrations`
(a ``read_only`` store applies none).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TypeVar

from holdfire.adapters.store import migrations
from holdfire.adapters.store.audit import AUDITED, CHAIN_TAIL, INSERT_LINK, Chain, Record
from holdfire.adapters.store.encoding import (
    INSERT_EVENT,
    QUEUE_OUTBOX,
    STATEMENTS,
    UNQUEUE_OUTBOX,
    Op,
    Row,
    encode,
    settle,
)
from holdfire.adapters.store.migrations import Applied, Migration, SchemaStatus
from holdfire.adapters.store.outage import Outage, disk_full
from holdfire.adapters.store.reads import Query, ReadingStore, Reads, Rows
from holdfire.codecs.json import (
    format_time,
)
from holdfire.domain.access import ApiToken
from holdfire.domain.events import Event
from holdfire.service.ports import StoreError, StoreNotWritable

__all__ = ["DB_FILENAME", "SQLiteStore", "prove_writable"]

log = logging.getLogger("holdfire.store")

DB_FILENAME: Final = "holdfire.db"

_T = TypeVar("_T")

_SQL: Final[dict[Op, str]] = {
    **STATEMENTS,
    Op.CANCEL_MEASURE: (
        "UPDATE measures SET status = 'cancelled', "
        "body = json_set(body, '$.properties.status', 'cancelled') WHERE id = ?"
    ),
    Op.REVOKE_TOKEN: (
        "UPDATE tokens SET revoked = 1, body = json_set(body, '$.revoked_at', ?) "
        "WHERE id = ? AND revoked = 0"
    ),
}
_MIGRATIONS: Final = "schema_migrations"


@dataclass(slots=True)
class _Request:
    """One caller's append (or unqueue), waiting for the writer thread."""

    rows: list[Row]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[int] = field(repr=False)
    outbox: str | None = None
    unqueue: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _Commit:
    """A batch the event loop wrote in a transaction it left open: the writer thread COMMITs."""

    batch: list[_Request]
    seqs: list[int]  # the loop holds the connection's lock for it; the writer thread releases it


@dataclass(frozen=True, slots=True)
class _Write:
    """A batch the writer thread writes from BEGIN to COMMIT."""

    batch: list[_Request]
    locked: bool = False  # True: handed over by the loop, with the connection's lock


_STOP: Final = object()


class SQLiteStore(ReadingStore):
    """The Store port on one SQLite database file (see the module docstring).

    ``path`` is the database file (conventionally ``DATA_DIR/holdfire.db``); an existing
    directory is taken to mean the file :data:`DB_FILENAME` inside it. The directory must exist:
    creating the data directory is the composition root's decision. ``read_only`` opens the file
    with ``mode=ro`` (inspection tools; every append then fails with StoreError); ``must_write``
    makes opening fail (StoreNotWritable) where the file can be read but not written.
    """

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        must_write: bool = False,
        busy_timeout_ms: int = 5000,
        max_batch: int = 1024,
    ) -> None:
        path = Path(path)
        self.path = path / DB_FILENAME if path.is_dir() else path
        self.read_only = read_only
        self.must_write = must_write and not read_only
        self._busy_timeout_ms = busy_timeout_ms
        self._max_batch = max(1, max_batch)
        self._queue: queue.SimpleQueue[_Commit | _Write | object] = queue.SimpleQueue()
        # The write connection is used by the event loop the store was opened on (statements)
        # and by the writer thread (COMMIT, and whole writes): by one at a time, holding this.
        self._conn_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[_Request] = []  # the loop's next batch
        self._flush_due = False
        self._writer: threading.Thread | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        # Token lookups run on the caller's thread: one indexed row, read under WAL without
        # waiting for any writer, costs less than handing it to the reader thread and back.
        self._token_conn: sqlite3.Connection | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._reads = Reads(str(self.path), "rowid")
        self._last_seq = 0
        self._open = False
        self._outage = Outage(log, f"store {self.path}")  # used by the writer thread only

    @property
    def where(self) -> str:
        return str(self.path)

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        if self._open:
            return
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._open_sync)
        try:
            self._token_conn = self._connect()
            self._token_conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as error:
            raise self._translate(error, "open") from error
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="holdfire-sqlite-read")
        self._writer = threading.Thread(
            target=self._writer_main, name="holdfire-sqlite-write", daemon=True
        )
        self._writer.start()
        self._open = True

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False  # no new appends; the ones already taken are still written
        loop = asyncio.get_running_loop()
        while self._conn_lock.locked() or (self._waiting and loop is self._loop):
            await asyncio.sleep(0.002)
        self._queue.put(_STOP)
        writer, reader = self._writer, self._reader
        if writer is not None:
            await asyncio.to_thread(writer.join)
        if reader is not None:
            read_conn = self._read_conn
            if read_conn is not None:
                await asyncio.get_running_loop().run_in_executor(reader, read_conn.close)
            reader.shutdown(wait=True)
        if self._token_conn is not None:
            self._token_conn.close()
        self._writer = self._reader = None
        self._write_conn = self._read_conn = self._token_conn = None

    def _connect(self, *, read_only: bool = False) -> sqlite3.Connection:
        ro = read_only or self.read_only
        uri = self.path.absolute().as_uri() + ("?mode=ro" if ro else "?mode=rwc")
        conn = sqlite3.connect(
            uri,
            uri=True,
            isolation_level=None,  # we issue BEGIN / COMMIT ourselves
            check_same_thread=False,  # created here, then used by exactly one thread
            timeout=self._busy_timeout_ms / 1000,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_sync(self) -> None:
        write_conn: sqlite3.Connection | None = None
        read_conn: sqlite3.Connection | None = None
        try:
            write_conn = self._connect()
            if not self.read_only:
                mode = _journal_wal(write_conn, self._busy_timeout_ms / 1000)
                if str(mode).lower() != "wal":
                    raise StoreError(
                        f"cannot put {self.path} in WAL mode (got {mode!r}); "
                        "is it on a file system without shared memory support?"
                    )
                write_conn.execute("PRAGMA synchronous = FULL")
            self._migrate(write_conn, at_start=True)
            if self.must_write:
                prove_writable(write_conn)
            row = write_conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
            self._last_seq = int(row[0])
            # From here on, only the writer thread may wait for another process's lock.
            write_conn.execute("PRAGMA busy_timeout = 0")
            read_conn = self._connect()
            read_conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as error:
            for conn in (write_conn, read_conn):
                if conn is not None:
                    conn.close()
            raise self._translate(error, "open") from error
        except BaseException:
            for conn in (write_conn, read_conn):
                if conn is not None:
                    conn.close()
            raise
        self._write_conn, self._read_conn = write_conn, read_conn

    # -- schema ---------------------------------------------------------------------------

    def _applied(self, conn: sqlite3.Connection) -> tuple[tuple[Applied, ...], bool]:
        """The migrations recorded in the file, and whether it is empty (no tables at all).

        A database of the first release has only ``schema_version`` (at 1): it is at
        migration 1, and is recorded as such when it is next migrated."""
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if _MIGRATIONS in tables:
            rows = conn.execute(
                f"SELECT version, name, applied_at FROM {_MIGRATIONS} ORDER BY version"
            ).fetchall()
            return tuple(Applied(int(v), str(n), str(t)) for v, n, t in rows), False
        if "schema_version" in tables:
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            if row[0] is None:
                raise StoreError(
                    f"{self.path} has no schema version; it is not a holdfire database"
                )
            return tuple(Applied(v, "adopted", "") for v in range(1, int(row[0]) + 1)), False
        if tables:
            raise StoreError(
                f"{self.path} is not a holdfire database (it has tables but no schema version)"
            )
        return (), True

    def _migrate(self, conn: sqlite3.Connection, *, at_start: bool) -> tuple[Migration, ...]:
        """Apply the pending migrations the rule allows (see holdfire.adapters.store.migrations),
        all in one transaction; a read-only store applies none."""
        shipped = migrations.available("sqlite")
        if self.read_only:
            applied, fresh = self._applied(conn)
            migrations.pending(str(self.path), [a.version for a in applied], shipped,
                               at_start=False, fresh=fresh)  # fmt: skip
            return ()
        with write_transaction(conn):
            applied, fresh = self._applied(conn)
            versions = [a.version for a in applied]
            todo = migrations.pending(
                str(self.path), versions, shipped, at_start=at_start, fresh=fresh
            )
            if todo:
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {_MIGRATIONS} (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                now = format_time(datetime.now(UTC))
                conn.executemany(
                    f"INSERT OR IGNORE INTO {_MIGRATIONS} VALUES (?, ?, ?)",
                    [(a.version, a.name, a.applied_at) for a in applied],
                )
                for migration in todo:
                    # Not executescript: it would COMMIT first and run outside this transaction.
                    for statement in _split_sql(migration.sql):
                        conn.execute(statement)
                    conn.execute(
                        f"INSERT INTO {_MIGRATIONS} VALUES (?, ?, ?)",
                        (migration.version, migration.name, now),
                    )
                # What a holdfire of the first release reads: it refuses a newer database.
                latest = max(versions + [m.version for m in todo])
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (latest,))
        return todo

    async def schema_status(self) -> SchemaStatus:
        """Applied and pending migrations, read without changing the file."""

        def work() -> SchemaStatus:
            if not self.path.exists():
                return SchemaStatus(str(self.path), (), migrations.available("sqlite"))
            try:
                with contextlib.closing(self._connect(read_only=True)) as conn:
                    applied, fresh = self._applied(conn)
            except sqlite3.Error as error:
                raise self._translate(error, "read") from error
            shipped = migrations.available("sqlite")
            versions = [a.version for a in applied]
            todo = migrations.pending(str(self.path), versions, shipped, at_start=False,
                                      fresh=fresh)  # fmt: skip
            return SchemaStatus(str(self.path), applied, todo)

        return await asyncio.to_thread(work)

    async def migrate(self) -> tuple[Migration, ...]:
        """Apply every pending migration (``holdfire migrate``); returns those applied."""

        def work() -> tuple[Migration, ...]:
            try:
                with contextlib.closing(self._connect()) as conn:
                    return self._migrate(conn, at_start=False)
            except sqlite3.Error as error:
                raise self._translate(error, "migrate") from error

        return await asyncio.to_thread(work)

    # -- writing ----------------------------------------------------------------------------

    async def append(self, events: Sequence[Event], *, outbox: str | None = None) -> int:
        rows = [encode(event) for event in events]
        return await self._submit(rows, outbox=outbox)

    async def unqueue(self, seqs: Sequence[int]) -> None:
        await self._submit([], unqueue=tuple(int(s) for s in seqs))

    async def _submit(
        self, rows: list[Row], *, outbox: str | None = None, unqueue: tuple[int, ...] = ()
    ) -> int:
        if not self._open:
            raise StoreError(f"the store {self.path} is not open")
        loop = asyncio.get_running_loop()
        request = _Request(rows, loop, loop.create_future(), outbox, unqueue)
        if loop is self._loop:
            self._waiting.append(request)
            if not self._flush_due:
                self._flush_due = True
                loop.call_soon(self._flush)
        else:  # a store opened on another event loop: the writer thread does it all
            self._queue.put(_Write([request]))
        return await request.future

    def _flush(self) -> None:
        """On the event loop: write the waiting requests in one open transaction and hand it to
        the writer thread to COMMIT; requests that come meanwhile form the next batch.

        The statements cost the loop a few microseconds each; the COMMIT (the fsync) is the one
        thing that may take long. Doing the statements here and not on the writer thread
        spares the two threads handing the interpreter lock to and fro after each statement,
        which cost more than the statements. The loop never waits: it takes the connection
        only if the writer thread does not hold it, and opens its transaction only if no other
        process holds the database's write lock (busy_timeout is 0 on the write connection);
        otherwise the writer thread, which may wait, writes the batch."""
        self._flush_due = False
        if not self._waiting or not self._conn_lock.acquire(blocking=False):
            return  # the writer thread holds the connection; it flushes again once done
        batch = self._waiting[: self._max_batch]
        del self._waiting[: self._max_batch]
        try:
            seqs = self._write(batch, commit=False)
        except Exception:  # rolled back: the writer thread writes it, isolating a bad request
            self._queue.put(_Write(batch, locked=True))
        else:
            self._queue.put(_Commit(batch, seqs))

    def _writer_main(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            assert isinstance(item, (_Commit, _Write))
            if isinstance(item, _Write) and not item.locked:
                self._conn_lock.acquire()
            try:
                if isinstance(item, _Commit):
                    self._finish(item)
                else:
                    self._commit_waiting(item.batch)
            finally:
                self._conn_lock.release()
            loop = self._loop
            if self._waiting and loop is not None:
                # The loop's next batch waited for the connection.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._flush)
        conn = self._write_conn
        if conn is not None:
            conn.close()

    def _finish(self, staged: _Commit) -> None:
        conn = self._write_conn
        assert conn is not None
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            _rollback(conn)
            # Nothing of the batch was written: write it again, isolating a bad request.
            self._commit_waiting(staged.batch)
            return
        self._last_seq = staged.seqs[-1]
        self._outage.wrote()
        _deliver(list(zip(staged.batch, staged.seqs, strict=True)))

    def _commit_waiting(self, batch: list[_Request]) -> None:
        """`_commit` on the writer thread with the busy timeout: it may wait for another
        process's write lock, as the event loop may not."""
        conn = self._write_conn
        assert conn is not None
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        try:
            self._commit(batch)
        finally:
            conn.execute("PRAGMA busy_timeout = 0")

    def _commit(self, batch: list[_Request]) -> None:
        try:
            seqs = self._write(batch)
        except Exception as error:
            if len(batch) > 1:
                for request in batch:  # isolate the request that failed; the others may pass
                    self._commit([request])
                return
            _deliver([(batch[0], error)])
            if isinstance(error, StoreNotWritable):
                self._outage.refused_write(error)
            return
        self._last_seq = seqs[-1]
        self._outage.wrote()
        _deliver(list(zip(batch, seqs, strict=True)))

    def _write(self, batch: list[_Request], *, commit: bool = True) -> list[int]:
        """Write every request in one transaction; return each one's last sequence number.
        Without `commit` the transaction is left open for the writer thread to COMMIT."""
        conn = self._write_conn
        if conn is None:
            raise StoreError(f"the store {self.path} is closed")
        try:
            with write_transaction(conn, commit=commit):
                last = self._last_seq
                seqs: list[int] = []
                chain: Chain | None = None  # the chain's tail, read once an audit record comes
                for request in batch:
                    for row in request.rows:
                        cursor = conn.execute(INSERT_EVENT, (row.type, row.at, row.body))
                        last = int(cursor.lastrowid or 0)
                        if row.type in AUDITED:
                            if chain is None:
                                chain = Chain(conn.execute(CHAIN_TAIL).fetchone())
                            record = Record(last, row.type, row.at, row.body)
                            conn.execute(INSERT_LINK, chain.add(record))
                        if request.outbox is not None:
                            conn.execute(QUEUE_OUTBOX, (last, request.outbox))
                        for op, params in row.state:
                            conn.execute(_SQL[op], params)
                    if request.unqueue:
                        conn.executemany(UNQUEUE_OUTBOX, [(seq,) for seq in request.unqueue])
                    seqs.append(last)
        except sqlite3.Error as error:
            raise self._translate(error, "append") from error
        return seqs

    # -- reading ----------------------------------------------------------------------------

    def _run(self, conn: sqlite3.Connection, query: Query[_T]) -> _T:
        """Run a query's statements in one read transaction (one snapshot of every table).
        A single statement is a transaction of its own."""
        if len(query.statements) == 1:
            sql, params = query.statements[0]
            try:
                rows = conn.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise self._translate(error, "read") from error
            return query.finish([rows])
        try:
            conn.execute("BEGIN")
            try:
                results: list[Rows] = [
                    conn.execute(sql, params).fetchall() for sql, params in query.statements
                ]
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as error:
            _rollback(conn)
            raise self._translate(error, "read") from error
        return query.finish(results)

    async def _read(self, query: Query[_T]) -> _T:
        reader, conn = self._reader, self._read_conn
        if not self._open or reader is None or conn is None:
            raise StoreError(f"the store {self.path} is not open")
        return await asyncio.get_running_loop().run_in_executor(reader, self._run, conn, query)

    async def find_token(self, secret_hash: str) -> ApiToken | None:
        conn = self._token_conn
        if not self._open or conn is None:
            raise StoreError(f"the store {self.path} is not open")
        return self._run(conn, self._reads.find_token(secret_hash))

    # -- errors -----------------------------------------------------------------------------

    def _translate(self, error: sqlite3.Error, action: str) -> StoreError:
        """Turn a sqlite3 error into a StoreError a person can act on."""
        name = getattr(error, "sqlite_errorname", "") or type(error).__name__
        where = str(self.path)
        detail = f"({name}: {error})"
        if name.startswith("SQLITE_FULL") or (
            name.startswith("SQLITE_IOERR") and disk_full(self.path.parent)
        ):
            return StoreNotWritable(
                f"store {action} failed: disk full in {self.path.parent} "
                f"({self.path.name} cannot grow); free space and retry {detail}"
            )
        if name.startswith("SQLITE_READONLY"):
            return StoreNotWritable(
                f"store {action} failed: {where} is read-only (file, directory or mount); "
                f"holdfire needs to write the database file and its -wal and -shm files next "
                f"to it {detail}"
            )
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            hint = (
                f"{where} is locked by another connection; is another holdfire process using "
                "the same data directory?"
            )
        elif name.startswith("SQLITE_CANTOPEN"):
            hint = self._cannot_open_hint()
        elif name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
            hint = f"{where} is not a holdfire database or is corrupt"
        elif name.startswith("SQLITE_IOERR"):
            hint = f"an I/O error occurred on {where} (disk failing, removed or full?)"
        elif name.startswith("SQLITE_CONSTRAINT"):
            hint = f"a record was refused by a constraint of {where}"
        else:
            hint = f"a database error occurred on {where}"
        return StoreError(f"store {action} failed: {hint} {detail}")

    def _cannot_open_hint(self) -> str:
        parent = self.path.parent
        if not parent.exists():
            return f"cannot open {self.path}: the directory {parent} does not exist"
        if not parent.is_dir():
            return f"cannot open {self.path}: {parent} is not a directory"
        if self.read_only and not self.path.exists():
            return f"cannot open {self.path} read-only: the file does not exist"
        if not os.access(parent, os.W_OK | os.X_OK):
            if os.statvfs(parent).f_flag & os.ST_RDONLY:
                return f"cannot open {self.path}: {parent} is on a read-only file system"
            return f"cannot open {self.path}: the directory {parent} is not writable"
        if self.path.exists() and not os.access(self.path, os.R_OK):
            return f"cannot open {self.path}: the file is not readable"
        return f"cannot open {self.path}"


def _deliver(outcomes: list[tuple[_Request, int | BaseException]]) -> None:
    """Hand each request its outcome, waking each caller's event loop once."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int | BaseException]]]
    by_loop = {}
    for request, outcome in outcomes:
        by_loop.setdefault(request.loop, []).append((request.future, outcome))
    for loop, settled in by_loop.items():
        # RuntimeError: the caller's event loop is closed, so nobody is waiting.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(settled: list[tuple[asyncio.Future[int], int | BaseException]]) -> None:
    for future, outcome in settled:
        settle(future, outcome)


def prove_writable(conn: sqlite3.Connection) -> None:
    """Rewrite the database header, unchanged: raises sqlite3.Error (SQLITE_READONLY,
    SQLITE_FULL) where the file can be read but not written. SQLite opens a file it may not
    write read-only without a word, and only the first write would tell."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    with write_transaction(conn):
        conn.execute(f"PRAGMA user_version = {version}")


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection, *, commit: bool = True) -> Iterator[None]:
    """BEGIN IMMEDIATE, and COMMIT at the end of the block (without `commit`, the transaction is
    left open for a COMMIT later); on any failure a ROLLBACK, and the original error is the one
    raised."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        if commit:
            conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    """End a failed transaction, if one is open; its error, not the rollback's, is reported."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _split_sql(script: str) -> list[str]:
    """Split the schema script into statements (``END;`` closes a trigger body)."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        if not line.strip():
            continue
        current.append(line)
        text = "\n".join(current).strip()
        if sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    return statements


def _journal_wal(conn: sqlite3.Connection, timeout_s: float) -> str:
    """`PRAGMA journal_mode = WAL`, waiting as long as the busy timeout would: switching a new
    file takes a lock the busy handler does not wait for, so a second process opening the same
    new database at that moment got "database is locked" at once."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)

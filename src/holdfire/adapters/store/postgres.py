"""PostgreSQL store: the same event log and current state as the SQLite store, in one database
that several holdfire processes (cluster nodes) may share.

Durability. Every connection runs with ``synchronous_commit = on``, set explicitly, and
:meth:`PostgresStore.append` returns only after the COMMIT holding its events returned: an
acknowledged event is in the server's WAL on disk and survives ``kill -9`` of holdfire (and of
the server).

Group commit. Appends are encoded on the caller's side, queued, and written by one writer task
per process: it takes every request already waiting (up to ``max_batch``) and writes them in ONE
transaction, pipelined (one round trip for the event rows, one for the state changes and the
COMMIT). A batch that fails for a reason of its own (a constraint) is retried request by request
so that one bad request fails alone.

Concurrency. Sequence numbers come from the identity column ``events.seq``. Each append
transaction first takes ``LOCK TABLE events IN EXCLUSIVE MODE`` (readers are not blocked), so
appends from every process on the database are serialised and sequence numbers become visible
in commit order: a reader that has seen seq N will never later see a smaller one appear, which
is what catching up with ``events(after_seq)`` relies on; it is also why each node can link
its audit records to the chain's last one, read inside that lock
(:mod:`holdfire.adapters.store.audit`). Nothing about the log is cached in the
process: ``append([])`` and ``load`` read the last sequence number from the database.

Layout. The tables, indexes and triggers of the SQLite store (see ``migrations/postgres``), in
the first schema of the connection's ``search_path`` (choose another with
``?options=-csearch_path%3DNAME`` in the URL). Bodies are ``text`` holding the codec's JSON
exactly as written; ``ord`` identity columns give the insertion order SQLite's ``rowid`` gives.
Append-only tables (events, checks, check records, the audit chain) refuse UPDATE, DELETE
and TRUNCATE by trigger. Migrations run under an advisory lock, so nodes starting together do
not race.

Errors are translated at this edge (:mod:`holdfire.adapters.store.pg_errors`): a server that
cannot be reached or a lost connection is ``StoreUnavailable``, anything else ``StoreError``;
messages name the server and database, never the password. A connection found dead is
replaced and the call retried once when that is safe: always for reads, and for an append only
if the connection was lost before its COMMIT was sent (so an append is never applied twice).
Losing the connection during COMMIT itself leaves the outcome unknown; that append fails with
StoreUnavailable saying so. Once a call found the server gone, every call fails at once with
StoreUnavailable (a fires cell's check is answered, and its record spooled, without waiting out
the pool's timeout) while one task tries a connection every half second; when one succeeds the
pool drops its broken connections and calls go through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from holdfire.adapters.store import migrations
from holdfire.adapters.store.audit import AUDITED, CHAIN_TAIL, INSERT_LINK, Chain, Record
from holdfire.adapters.store.encoding import (
    INSERT_EVENT,
    QUEUE_OUTBOX,
    STATEMENTS,
    Op,
    Row,
    encode,
    settle,
)
from holdfire.adapters.store.migrations import Applied, Migration, SchemaStatus
from holdfire.adapters.store.pg_errors import PgTarget
from holdfire.adapters.store.reads import Query, ReadingStore, Reads, Rows
from holdfire.codecs.json import format_time
from holdfire.domain.events import Event
from holdfire.service.ports import (
    StoreError,
    StoreUnavailable,
)

__all__ = ["PostgresStore"]

_T = TypeVar("_T")
Conn = AsyncConnection[Any]


def _pg(sql: str) -> str:
    """The shared statements' ``?`` placeholders in psycopg's form."""
    return sql.replace("?", "%s")


_SQL: Final[dict[Op, str]] = {
    **{op: _pg(sql) for op, sql in STATEMENTS.items()},
    Op.CANCEL_MEASURE: (
        "UPDATE measures SET status = 'cancelled', body = "
        "jsonb_set(body::jsonb, '{properties,status}', '\"cancelled\"')::text WHERE id = %s"
    ),
    Op.REVOKE_TOKEN: (
        "UPDATE tokens SET revoked = 1, body = "
        "jsonb_set(body::jsonb, '{revoked_at}', to_jsonb(%s::text))::text "
        "WHERE id = %s AND revoked = 0"
    ),
}
_INSERT_EVENT: Final = _pg(INSERT_EVENT) + " RETURNING seq"
_QUEUE_OUTBOX: Final = _pg(QUEUE_OUTBOX)
_INSERT_LINK: Final = _pg(INSERT_LINK)
_MIGRATIONS: Final = "schema_migrations"
_PROBE_EVERY_S: Final = 0.5  # how often a server that went away is tried again


@dataclass(slots=True)
class _Request:
    """One caller's append, waiting for the writer task."""

    rows: list[Row]
    outbox: str | None
    future: asyncio.Future[int] = field(repr=False)


class PostgresStore(ReadingStore):
    """The Store port on a PostgreSQL database (see the module docstring).

    ``url`` is a libpq URL or conninfo (``postgresql://user:password@host:5432/dbname``).
    ``timeout_s`` bounds connecting and waiting for a pooled connection; ``pool_size`` is the
    most connections this process holds.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        timeout_s: float = 5.0,
        max_batch: int = 1024,
    ) -> None:
        self._url = url
        self.target = PgTarget(url)
        self.where = self.target.description
        self._pool_size = max(2, pool_size)
        self._timeout_s = timeout_s
        self._max_batch = max(1, max_batch)
        self._reads = Reads(self.where, "ord")
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._queue: asyncio.Queue[_Request | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        # While the server cannot be reached every call fails at once (rather than each
        # waiting out the pool's timeout) and one task probes until it answers again.
        self._down_since: float | None = None
        self._probe: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({self.where})"

    # -- lifecycle --------------------------------------------------------------------------

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"autocommit": True}
        if "application_name" not in self._url:
            kwargs["application_name"] = "holdfire"
        if "connect_timeout" not in self._url:
            kwargs["connect_timeout"] = max(1, round(self._timeout_s))
        return kwargs

    @contextlib.asynccontextmanager
    async def _direct(self, action: str) -> Any:
        """One connection outside the pool (opening, migrating, inspecting)."""
        try:
            conn = await AsyncConnection.connect(self._url, **self._connect_kwargs())
        except psycopg.Error as error:
            raise self.target.translate(error, action) from None
        try:
            yield conn
        except psycopg.Error as error:
            raise self.target.translate(error, action) from None
        finally:
            await conn.close()

    @staticmethod
    async def _configure(conn: Conn) -> None:
        await conn.execute("SET synchronous_commit = on")

    async def open(self) -> None:
        if self._pool is not None:
            return
        async with self._direct("open") as conn:
            await self._migrate(conn, at_start=True)
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self._url,
            min_size=1,
            max_size=self._pool_size,
            open=False,
            timeout=self._timeout_s,
            kwargs=self._connect_kwargs(),
            configure=self._configure,
            name="holdfire-store",
        )
        await pool.open(wait=False)
        self._pool = pool
        self._queue = asyncio.Queue()
        self._writer = asyncio.create_task(self._writer_main(), name="holdfire-pg-write")

    async def close(self) -> None:
        pool, writer = self._pool, self._writer
        if pool is None:
            return
        self._pool = None  # no new appends; the ones already queued are still written
        self._queue.put_nowait(None)
        if writer is not None:
            await writer
        self._writer = None
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
        await pool.close()

    # -- schema -----------------------------------------------------------------------------

    async def _applied(self, conn: Conn) -> tuple[tuple[Applied, ...], bool]:
        cur = await conn.execute(
            f"SELECT to_regclass('{_MIGRATIONS}') IS NOT NULL, to_regclass('events') IS NOT NULL"
        )
        found = await cur.fetchone()
        assert found is not None
        has_migrations, has_events = found
        if has_migrations:
            cur = await conn.execute(
                f"SELECT version, name, applied_at FROM {_MIGRATIONS} ORDER BY version"
            )
            rows = await cur.fetchall()
            return tuple(Applied(int(v), str(n), str(t)) for v, n, t in rows), False
        if has_events:
            raise StoreError(
                f"the {self.where} has an events table but no {_MIGRATIONS}: it is not a "
                "holdfire database (choose another database or schema)"
            )
        return (), True

    async def _migrate(self, conn: Conn, *, at_start: bool) -> tuple[Migration, ...]:
        """Apply what the start-up rule allows (or, from ``holdfire migrate``, everything
        pending) in one transaction, under an advisory lock for this schema."""
        shipped = migrations.available("postgres")
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('holdfire.migrate.' || current_schema()))"
            )
            applied, fresh = await self._applied(conn)
            todo = migrations.pending(
                self.where, [a.version for a in applied], shipped, at_start=at_start, fresh=fresh
            )
            if todo:
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {_MIGRATIONS} (version integer PRIMARY KEY, "
                    "name text NOT NULL, applied_at text NOT NULL)"
                )
                now = format_time(datetime.now(UTC))
                for migration in todo:
                    await conn.execute(migration.sql.encode())  # several statements, no params
                    await conn.execute(
                        f"INSERT INTO {_MIGRATIONS} VALUES (%s, %s, %s)",
                        (migration.version, migration.name, now),
                    )
        return todo

    async def schema_status(self) -> SchemaStatus:
        """Applied and pending migrations, read without changing anything."""
        async with self._direct("read") as conn:
            applied, fresh = await self._applied(conn)
        shipped = migrations.available("postgres")
        versions = [a.version for a in applied]
        todo = migrations.pending(self.where, versions, shipped, at_start=False, fresh=fresh)
        return SchemaStatus(self.where, applied, todo)

    async def migrate(self) -> tuple[Migration, ...]:
        """Apply every pending migration (``holdfire migrate``); returns those applied."""
        async with self._direct("migrate") as conn:
            return await self._migrate(conn, at_start=False)

    # -- transactions -----------------------------------------------------------------------

    async def _transact(self, action: str, work: Callable[[Conn], Awaitable[_T]]) -> _T:
        """Run ``work`` in one transaction on a pooled connection.

        A connection found lost is replaced and the work retried once, unless it was lost
        while committing a write (then nobody knows whether it was recorded)."""
        for attempt in (1, 2):
            pool = self._pool
            if pool is None:
                raise StoreError(f"the store ({self.where}) is not open")
            if self._down_since is not None:
                down_s = time.monotonic() - self._down_since
                raise StoreUnavailable(
                    f"store {action} failed: the {self.where} has not answered for "
                    f"{down_s:.0f} s; holdfire keeps trying and carries on once it answers"
                )
            committing = False
            try:
                async with pool.connection() as conn, conn.transaction():
                    result = await work(conn)
                    committing = action != "read"
                return result
            except (psycopg.Error, PoolTimeout) as error:
                translated = self.target.translate(error, action)
                timed_out = isinstance(error, PoolTimeout)
                text = self.target.clean(" ".join(str(error).split()))
            if not isinstance(translated, StoreUnavailable):
                raise translated
            if committing:
                self._went_down()
                raise StoreUnavailable(
                    f"store {action} failed: the connection to the {self.where} was lost "
                    f"during COMMIT, so this {action} may or may not have been recorded ({text})"
                )
            if attempt == 2 or timed_out:
                self._went_down()
                raise translated
            with contextlib.suppress(psycopg.Error, PoolTimeout):
                await pool.check()  # drop every connection the server has closed
        raise AssertionError("unreachable")

    def _went_down(self) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._probe = asyncio.create_task(self._probe_until_up(), name="holdfire-pg-probe")

    async def _probe_until_up(self) -> None:
        while True:
            await asyncio.sleep(_PROBE_EVERY_S)
            try:
                conn = await AsyncConnection.connect(self._url, **self._connect_kwargs())
                await conn.close()
            except psycopg.Error:
                continue
            pool = self._pool
            if pool is not None:
                with contextlib.suppress(psycopg.Error, PoolTimeout):
                    await pool.check()  # drop the connections the outage broke
            self._down_since = None
            self._probe = None
            return

    # -- writing ----------------------------------------------------------------------------

    async def append(self, events: Sequence[Event], *, outbox: str | None = None) -> int:
        if self._pool is None:
            raise StoreError(f"the store ({self.where}) is not open")
        rows = [encode(event) for event in events]
        request = _Request(rows, outbox, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(request)
        return await request.future

    async def unqueue(self, seqs: Sequence[int]) -> None:
        async def work(conn: Conn) -> None:
            await conn.execute(
                "DELETE FROM outbox WHERE seq = ANY(%s)", ([int(seq) for seq in seqs],)
            )

        await self._transact("unqueue", work)

    async def _writer_main(self) -> None:
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._commit(batch)

    async def _commit(self, batch: list[_Request]) -> None:
        try:
            seqs = await self._transact("append", lambda conn: self._write(conn, batch))
        except StoreError as error:
            if len(batch) > 1 and type(error) is StoreError:  # one request's own fault
                for request in batch:
                    await self._commit([request])
                return
            for request in batch:
                settle(request.future, error)
            return
        except Exception as error:  # a bug: every caller hears of it, the writer goes on
            for request in batch:
                settle(request.future, error)
            return
        for request, seq in zip(batch, seqs, strict=True):
            settle(request.future, seq)

    async def _write(self, conn: Conn, batch: list[_Request]) -> list[int]:
        """Write every request; return each one's last sequence number."""
        async with conn.pipeline(), conn.cursor() as cur:
            await cur.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            await cur.execute("SELECT COALESCE(MAX(seq), 0) FROM events")
            found = await cur.fetchone()
            last = int(found[0]) if found else 0
            values = [(row.type, row.at, row.body) for r in batch for row in r.rows]
            new: list[int] = []
            if values:
                await cur.executemany(_INSERT_EVENT, values, returning=True)
                async for result in cur.results():
                    seq = await result.fetchone()
                    assert seq is not None
                    new.append(int(seq[0]))
            seqs: list[int] = []
            queued: list[tuple[int, str]] = []
            links: list[tuple[int, int, str, str]] = []
            chain: Chain | None = None
            if any(row.type in AUDITED for r in batch for row in r.rows):
                # Under the table lock: no other node appends to the chain until COMMIT.
                await cur.execute(CHAIN_TAIL)
                chain = Chain(await cur.fetchone())
            given = iter(new)
            for request in batch:
                for row in request.rows:
                    last = next(given)
                    if chain is not None and row.type in AUDITED:
                        links.append(chain.add(Record(last, row.type, row.at, row.body)))
                    if request.outbox is not None:
                        queued.append((last, request.outbox))
                    for op, params in row.state:
                        await cur.execute(_SQL[op], params)
                seqs.append(last)
            if queued:
                await cur.executemany(_QUEUE_OUTBOX, queued)
            if links:
                await cur.executemany(_INSERT_LINK, links)
        return seqs

    # -- reading ----------------------------------------------------------------------------

    async def _read(self, query: Query[_T]) -> _T:
        async def work(conn: Conn) -> list[Rows]:
            async with conn.cursor() as cur:
                if len(query.statements) > 1:  # one snapshot for every table
                    await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                results: list[Rows] = []
                for sql, params in query.statements:
                    await cur.execute(_pg(sql), params)
                    results.append(await cur.fetchall())
                return results

        return query.finish(await self._transact("read", work))

"""The check spool: where the records of checks answered while the store was unreachable wait.

A check is a question a fires cell is waiting on; the answer does not wait for a database server
that is down. Its record (the CheckEvaluated event) goes instead into a small SQLite file in the
data directory (``spool.db``, WAL, ``synchronous=FULL``: durable before the answer leaves), and a
background task writes every spooled record to the store once it answers again, then deletes it
from the spool. A record the store already holds (the task was killed between the two) is not
written twice: checks have unique ids.

Only check records are spooled. Every other write while the store is down is refused with a
retryable error (HTTP 503), so no client is told a write was taken that is not durable.

The spool lives in the data directory, so a server starts only where it can write it
(:meth:`CheckSpoolFile.prove_writable`). If that disk fills up or turns read-only later, a
check that would be spooled is refused (503) instead of answered without its record; that
fault is logged once (:mod:`holdfire.adapters.store.outage`), as is a flush that keeps failing
for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any, Final

from holdfire.adapters.store.encoding import encode
from holdfire.adapters.store.outage import Outage, disk_full
from holdfire.adapters.store.sqlite import prove_writable
from holdfire.codecs.json import CodecError, event_from_dict
from holdfire.domain.events import CheckEvaluated, Event
from holdfire.service.ports import Store, StoreError, StoreNotWritable, StoreUnavailable

log = logging.getLogger("holdfire.spool")

SPOOL_FILENAME: Final = "spool.db"
_SCHEMA: Final = "CREATE TABLE IF NOT EXISTS spool (id TEXT PRIMARY KEY, body TEXT NOT NULL)"


class CheckSpoolFile:
    """The CheckSpool port on a local SQLite file, flushed into `store` (see the module)."""

    def __init__(
        self, directory: Path, store: Store, *, outbox: str | None = None, every_s: float = 1.0
    ) -> None:
        self.path = Path(directory) / SPOOL_FILENAME
        self._store = store
        self._outbox = outbox
        self._every_s = every_s
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        # Whether the file may hold records: true at start (a run before may have left some)
        # and after each keep, false once a flush emptied it, so an idle server does no I/O.
        self._waiting = True
        self._outage = Outage(log, f"check spool {self.path}")
        self._flush_failed = ""  # the last flush error logged, so each is logged once

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(_SCHEMA)
        return conn

    def _run(self, sql: str, params: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            conn = self._connect()
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        name = getattr(exc, "sqlite_errorname", "")
        if name.startswith("SQLITE_FULL") or (
            name.startswith("SQLITE_IOERR") and disk_full(self.path.parent)
        ):
            return StoreNotWritable(f"disk full in {self.path.parent}: the check spool cannot grow")
        if name.startswith("SQLITE_READONLY") or not os.access(self.path.parent, os.W_OK):
            return StoreNotWritable(
                f"the check spool {self.path} is read-only (file, directory or mount)"
            )
        return StoreError(f"the check spool {self.path} failed: {exc}")

    def prove_writable(self) -> None:
        """Open (creating) the spool and rewrite its header: raises StoreError where it cannot
        be written, so the server does not start there."""
        try:
            with contextlib.closing(self._connect()) as conn:
                prove_writable(conn)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    async def keep(self, event: Event) -> None:
        if not isinstance(event, CheckEvaluated):
            raise StoreError("only check records are spooled")
        body = encode(event).body  # the text the store will keep
        async with self._lock:
            try:
                await asyncio.to_thread(
                    self._run,
                    "INSERT OR REPLACE INTO spool (id, body) VALUES (?, ?)",
                    (event.clearance.id, body),
                )
            except StoreNotWritable as exc:
                self._outage.refused_write(exc)
                raise
            self._outage.wrote()
            self._waiting = True
        log.warning("check %s answered while the store is down: spooled", event.clearance.id)

    async def pending(self) -> int:
        rows = await asyncio.to_thread(self._run, "SELECT COUNT(*) FROM spool")
        return int(rows[0][0])

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="holdfire-spool")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            if self._waiting:
                await self._flush_once()
            await asyncio.sleep(self._every_s)

    async def _flush_once(self) -> None:
        """One flush from the loop; a failure is logged once per cause, not every second."""
        try:
            await self.flush()
        except StoreUnavailable:
            pass  # still down; the records wait
        except StoreNotWritable as exc:
            self._outage.refused_write(exc, counted=False)
        except StoreError as exc:
            if str(exc) != self._flush_failed:
                log.error("spooled checks not written yet (retried every %gs): %s",
                          self._every_s, exc)  # fmt: skip
                self._flush_failed = str(exc)
        else:
            self._flush_failed = ""
            self._outage.wrote()

    async def flush(self) -> int:
        """Write every spooled record to the store; returns how many went in."""
        async with self._lock:
            rows = await asyncio.to_thread(self._run, "SELECT id, body FROM spool ORDER BY rowid")
            done = 0
            for check_id, body in rows:
                try:
                    event = event_from_dict(json.loads(body))
                except (CodecError, ValueError) as exc:
                    raise StoreError(f"{self.path}: spooled check {check_id} unreadable") from exc
                if await self._store.get_check(check_id) is None:
                    await self._store.append([event], outbox=self._outbox)
                await asyncio.to_thread(self._run, "DELETE FROM spool WHERE id = ?", (check_id,))
                done += 1
            self._waiting = False
            if done:
                log.info("%d spooled check record(s) written to the store", done)
            return done

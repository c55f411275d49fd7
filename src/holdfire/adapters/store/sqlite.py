"""SQLite store: the append-only event log plus current state, in one WAL-mode database file.

Durability. The database runs in WAL mode with ``synchronous=FULL``, so every COMMIT fsyncs the
WAL; :meth:`SQLiteStore.append` returns only after the COMMIT holding its events returned, so an
acknowledged event survives ``kill -9`` of the process (and power loss, as far as the disk keeps
its promises).

Group commit. All writes happen on one dedicated writer thread that owns the write connection.
``append`` encodes its events to JSON on the caller's side (so a bad event fails only its own
caller), puts a request on a queue and awaits a future. The writer thread blocks on the queue,
then drains every request already waiting (up to ``max_batch``) and writes them all in ONE
transaction: ``BEGIN IMMEDIATE``, the event rows and their current-state changes, ``COMMIT`` (one
fsync). Only then does it resolve each request's future with the sequence number of that
request's last event. Requests that arrive while a commit (its fsync) is in progress wait in the
queue and form the next batch, so under load the fsync cost is shared by every waiting caller and
the event loop never blocks. If a batch of several requests fails, each request is retried in a
transaction of its own, so one bad request (say, a duplicate check id) fails alone.

Reads run on a second thread with a read-only-by-use connection (WAL lets it read while the
writer writes); ``load`` reads inside one read transaction, so it is a consistent snapshot.

Errors from sqlite3 are translated into :class:`~holdfire.service.ports.StoreError` here, with a
message that says what failed (full disk, read-only file or directory, missing directory, lock
held by another process, not a database) and which file; they are never swallowed.

Layout: ``events`` (append-only; triggers refuse UPDATE and DELETE), ``units``, ``positions``
(latest report per uid and reporter key; an older fix never replaces a newer one), ``measures``
(cancelling sets ``status`` to ``cancelled``), ``checks`` (append-only audit, indexed for the
filters of ``list_checks``), ``alerts`` and ``schema_version``. Times used for ordering are
stored as integer microseconds since the Unix epoch (``*_us``) next to their RFC 3339 text.
Bodies are the full-fidelity dicts of :mod:`holdfire.codecs.json`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

from holdfire.codecs.json import (
    CodecError,
    alert_from_dict,
    alert_to_dict,
    clearance_from_dict,
    clearance_to_dict,
    decision_from_dict,
    decision_to_dict,
    delivery_from_dict,
    delivery_to_dict,
    event_from_dict,
    event_to_dict,
    event_type,
    fired_from_dict,
    fired_to_dict,
    format_time,
    measure_from_feature,
    measure_to_feature,
    message_from_dict,
    message_to_dict,
    pairing_from_dict,
    pairing_to_dict,
    parse_time,
    report_from_dict,
    report_to_dict,
    token_from_dict,
    token_to_dict,
    unit_from_dict,
    unit_to_dict,
)
from holdfire.domain.access import ApiToken
from holdfire.domain.checks import Clearance, Verdict
from holdfire.domain.errors import DomainError
from holdfire.domain.events import (
    AlertAcked,
    AlertCleared,
    AlertRaised,
    CheckEvaluated,
    CheckFired,
    DecisionRecorded,
    Event,
    MarkerRemoved,
    MeasureCancelled,
    MeasureDefined,
    MessageKept,
    MessagesDelivered,
    MessageSent,
    PairingClosed,
    PairingCreated,
    PositionReported,
    TokenIssued,
    TokenRevoked,
    UnitRegistered,
)
from holdfire.domain.messages import Delivery, Message
from holdfire.domain.numbers import require_instant
from holdfire.service.ports import (
    RECENT_SEQS,
    AlertRecord,
    CheckRecords,
    StoredState,
    StoreError,
)

__all__ = ["DB_FILENAME", "SCHEMA_VERSION", "SQLiteStore"]

DB_FILENAME: Final = "holdfire.db"
SCHEMA_VERSION: Final = 1

_T = TypeVar("_T")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS events (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    at   TEXT NOT NULL,
    body TEXT NOT NULL CHECK (json_valid(body))
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END;

CREATE TABLE IF NOT EXISTS units (
    uid  TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS positions (
    uid          TEXT NOT NULL,
    reporter_key TEXT NOT NULL,
    observed_at  TEXT NOT NULL,
    observed_us  INTEGER NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (uid, reporter_key)
);
CREATE INDEX IF NOT EXISTS positions_observed ON positions (observed_us);

CREATE TABLE IF NOT EXISTS measures (
    id     TEXT PRIMARY KEY,
    kind   TEXT NOT NULL,
    status TEXT NOT NULL,
    body   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS checks (
    id           TEXT PRIMARY KEY,
    evaluated_at TEXT NOT NULL,
    evaluated_us INTEGER NOT NULL,
    verdict      TEXT NOT NULL,
    requester    TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checks_time ON checks (evaluated_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS checks_verdict ON checks (verdict, evaluated_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS checks_requester ON checks (requester, evaluated_us DESC, id DESC);
CREATE TRIGGER IF NOT EXISTS checks_no_update BEFORE UPDATE ON checks
BEGIN SELECT RAISE(ABORT, 'checks are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER IF NOT EXISTS checks_no_delete BEFORE DELETE ON checks
BEGIN SELECT RAISE(ABORT, 'checks are append-only: DELETE is not allowed'); END;

CREATE TABLE IF NOT EXISTS alerts (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_created ON alerts (created_at);

CREATE TABLE IF NOT EXISTS mailbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient  TEXT NOT NULL,
    expires_us INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mailbox_recipient ON mailbox (recipient);

CREATE TABLE IF NOT EXISTS alert_acks (
    alert_id TEXT PRIMARY KEY,
    at       TEXT NOT NULL,
    by       TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS check_records (
    id       TEXT PRIMARY KEY,
    check_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS check_records_check ON check_records (check_id);
CREATE TRIGGER IF NOT EXISTS check_records_no_update BEFORE UPDATE ON check_records
BEGIN SELECT RAISE(ABORT, 'check records are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER IF NOT EXISTS check_records_no_delete BEFORE DELETE ON check_records
BEGIN SELECT RAISE(ABORT, 'check records are append-only: DELETE is not allowed'); END;

CREATE TABLE IF NOT EXISTS pairings (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    revoked     INTEGER NOT NULL DEFAULT 0,
    body        TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_active_name ON tokens (name) WHERE revoked = 0;

CREATE TABLE IF NOT EXISTS alert_clears (
    alert_id TEXT PRIMARY KEY,
    at       TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS messages (
    id   TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS deliveries (
    id         TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    code       TEXT NOT NULL,
    pending    INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_recipient ON deliveries (recipient);
CREATE INDEX IF NOT EXISTS deliveries_message ON deliveries (message_id);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (pending) WHERE pending = 1;

CREATE TABLE IF NOT EXISTS outbox (
    seq  INTEGER PRIMARY KEY,
    node TEXT NOT NULL
);
"""

_INSERT_EVENT: Final = "INSERT INTO events (type, at, body) VALUES (?, ?, ?)"
_UPSERT_UNIT: Final = (
    "INSERT INTO units (uid, body) VALUES (?, ?) "
    "ON CONFLICT (uid) DO UPDATE SET body = excluded.body"
)
# An older fix never replaces a newer one; an equally old one (a re-send) does.
_UPSERT_POSITION: Final = (
    "INSERT INTO positions (uid, reporter_key, observed_at, observed_us, body) "
    "VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (uid, reporter_key) DO UPDATE SET "
    "observed_at = excluded.observed_at, observed_us = excluded.observed_us, body = excluded.body "
    "WHERE excluded.observed_us >= positions.observed_us"
)
_UPSERT_MEASURE: Final = (
    "INSERT INTO measures (id, kind, status, body) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET "
    "kind = excluded.kind, status = excluded.status, body = excluded.body"
)
_CANCEL_MEASURE: Final = (
    "UPDATE measures SET status = 'cancelled', "
    "body = json_set(body, '$.properties.status', 'cancelled') WHERE id = ?"
)
_DELETE_POSITIONS: Final = "DELETE FROM positions WHERE uid = ?"
_KEEP_MESSAGE: Final = "INSERT INTO mailbox (recipient, expires_us, body) VALUES (?, ?, ?)"
_DELIVERED: Final = "DELETE FROM mailbox WHERE recipient = ?"
_INSERT_CHECK: Final = (
    "INSERT INTO checks (id, evaluated_at, evaluated_us, verdict, requester, body) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT_ALERT: Final = (
    "INSERT INTO alerts (id, kind, created_at, body) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET "
    "kind = excluded.kind, created_at = excluded.created_at, body = excluded.body"
)


_ACK_ALERT: Final = "INSERT OR IGNORE INTO alert_acks (alert_id, at, by) VALUES (?, ?, ?)"
_INSERT_CHECK_RECORD: Final = (
    "INSERT INTO check_records (id, check_id, kind, body) VALUES (?, ?, ?, ?)"
)
_UPSERT_PAIRING: Final = (
    "INSERT INTO pairings (id, body) VALUES (?, ?) "
    "ON CONFLICT (id) DO UPDATE SET body = excluded.body"
)
_INSERT_TOKEN: Final = "INSERT INTO tokens (id, name, secret_hash, body) VALUES (?, ?, ?, ?)"
_REVOKE_TOKEN: Final = (
    "UPDATE tokens SET revoked = 1, body = json_set(body, '$.revoked_at', ?) "
    "WHERE id = ? AND revoked = 0"
)


_CLEAR_ALERT: Final = "INSERT OR IGNORE INTO alert_clears (alert_id, at) VALUES (?, ?)"
_CLOSE_PAIRING: Final = "DELETE FROM pairings WHERE id = ?"
_INSERT_MESSAGE: Final = "INSERT INTO messages (id, code, body) VALUES (?, ?, ?)"
_UPSERT_DELIVERY: Final = (
    "INSERT INTO deliveries (id, message_id, recipient, code, pending, body) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
    "pending = excluded.pending, body = excluded.body"
)


def _delivery_row(d: Delivery) -> tuple[str, tuple[Any, ...]]:
    body = _dumps(delivery_to_dict(d))
    return _UPSERT_DELIVERY, (d.id, d.message_id, d.recipient, d.code, int(d.pending), body)


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _ONE_US


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class _Row:
    """One event, encoded: the log row plus the statements that apply it to current state."""

    type: str
    at: str
    body: str
    state: tuple[tuple[str, tuple[Any, ...]], ...]


def _encode(event: Event) -> _Row:
    """Encode one event on the caller's side (CodecError reaches only that caller)."""
    tag = event_type(event)
    if isinstance(event, CheckEvaluated):
        return _encode_check(tag, event)
    body = _dumps(event_to_dict(event))
    sql: str
    params: tuple[Any, ...]
    if isinstance(event, UnitRegistered):
        at = format_time(event.at)
        sql, params = _UPSERT_UNIT, (event.unit.uid, _dumps(unit_to_dict(event.unit)))
    elif isinstance(event, PositionReported):
        r = event.report
        at = format_time(r.received_at)
        sql = _UPSERT_POSITION
        params = (
            r.uid,
            r.reporter_key,
            format_time(r.observed_at),
            _micros(r.observed_at),
            _dumps(report_to_dict(r)),
        )
    elif isinstance(event, MeasureDefined):
        m = event.measure
        at = format_time(event.at)
        sql = _UPSERT_MEASURE
        params = (m.id, m.kind.value, m.status.value, _dumps(measure_to_feature(m)))
    elif isinstance(event, MeasureCancelled):
        at = format_time(event.at)
        sql, params = _CANCEL_MEASURE, (event.measure_id,)
    elif isinstance(event, MarkerRemoved):
        at = format_time(event.at)
        sql, params = _DELETE_POSITIONS, (event.uid,)
    elif isinstance(event, MessageKept):
        at = format_time(event.at)
        sql = _KEEP_MESSAGE
        params = (event.recipient, _micros(event.expires_at), _dumps(event_to_dict(event)))
    elif isinstance(event, MessagesDelivered):
        at = format_time(event.at)
        sql, params = _DELIVERED, (event.recipient,)
    elif isinstance(event, AlertRaised):
        a = event.alert
        at = format_time(a.created_at)
        sql = _UPSERT_ALERT
        params = (event.alert_id, a.kind.value, at, _dumps(alert_to_dict(event.alert_id, a)))
    elif isinstance(event, AlertAcked):
        at = format_time(event.at)
        sql, params = _ACK_ALERT, (event.alert_id, at, event.by)
    elif isinstance(event, DecisionRecorded):
        d = event.decision
        at = format_time(d.recorded_at)
        sql = _INSERT_CHECK_RECORD
        params = (d.id, d.check_id, "decision", _dumps(decision_to_dict(d)))
    elif isinstance(event, CheckFired):
        n = event.notice
        at = format_time(n.recorded_at)
        sql = _INSERT_CHECK_RECORD
        params = (n.id, n.check_id, "fired", _dumps(fired_to_dict(n)))
    elif isinstance(event, PairingCreated):
        p = event.pairing
        at = format_time(p.created_at)
        sql, params = _UPSERT_PAIRING, (p.id, _dumps(pairing_to_dict(p)))
    elif isinstance(event, TokenIssued):
        t = event.token
        at = format_time(t.created_at)
        sql, params = _INSERT_TOKEN, (t.id, t.name, t.secret_hash, _dumps(token_to_dict(t)))
    elif isinstance(event, TokenRevoked):
        at = format_time(event.at)
        sql, params = _REVOKE_TOKEN, (at, event.token_id)
    elif isinstance(event, AlertCleared):
        at = format_time(event.at)
        sql, params = _CLEAR_ALERT, (event.alert_id, at)
    elif isinstance(event, PairingClosed):
        at = format_time(event.at)
        sql, params = _CLOSE_PAIRING, (event.pairing_id,)
    elif isinstance(event, MessageSent):
        message = event.message
        at = format_time(message.created_at)
        state = [(_INSERT_MESSAGE, (message.id, message.code, _dumps(message_to_dict(message))))]
        state += [_delivery_row(d) for d in event.deliveries]
        return _Row(type=tag, at=at, body=body, state=tuple(state))
    else:
        at = format_time(max((d.sent_at for d in event.deliveries), default=_EPOCH))
        return _Row(tag, at, body, tuple(_delivery_row(d) for d in event.deliveries))
    return _Row(type=tag, at=at, body=body, state=((sql, params),))


@dataclass(slots=True)
class _Request:
    """One caller's append, waiting for the writer thread."""

    rows: list[_Row]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[int] = field(repr=False)
    outbox: str | None = None


_STOP: Final = object()


def _settle(future: asyncio.Future[int], outcome: int | BaseException) -> None:
    if future.done():  # the caller gave up (cancelled); the write stands regardless
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _require_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise DomainError("limit", f"must be a whole number >= 1, got {limit!r}")


# Alerts the coordinator picks up again at a start (open ones; every lookalike arrival).
_KEPT_ALERTS: Final = "'STALE', 'LOST', 'SEPARATION', 'LOOKALIKE_ARRIVAL'"
_SELECT_ALERTS: Final = (
    "SELECT a.rowid, a.id, a.body, k.at, k.by, c.at FROM alerts a "
    "LEFT JOIN alert_acks k ON k.alert_id = a.id "
    "LEFT JOIN alert_clears c ON c.alert_id = a.id"
)


def _encode_check(tag: str, event: CheckEvaluated) -> _Row:
    """A check, the biggest record there is, encoded once: the log row's body is the event
    shape of `event_to_dict` written around the same JSON text the checks row keeps."""
    c = event.clearance
    clearance = _dumps(clearance_to_dict(c))
    body = f'{{"type":{_dumps(tag)},"clearance":{clearance}}}'
    at = format_time(c.evaluated_at)
    params = (c.id, at, _micros(c.evaluated_at), c.verdict.value, c.request.requester, clearance)
    return _Row(type=tag, at=at, body=body, state=((_INSERT_CHECK, params),))


def _encode_cursor(evaluated_us: int, check_id: str) -> str:
    raw = _dumps([evaluated_us, check_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        value = None
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], str)
    ):
        return value[0], value[1]
    raise DomainError("cursor", "is not a cursor this server issued (use the `next` value as is)")


class SQLiteStore:
    """The Store port on one SQLite database file (see the module docstring).

    ``path`` is the database file (conventionally ``DATA_DIR/holdfire.db``); an existing
    directory is taken to mean the file :data:`DB_FILENAME` inside it. The directory must exist:
    creating the data directory is the composition root's decision. ``read_only`` opens the file
    with ``mode=ro`` (inspection tools; every append then fails with StoreError).
    """

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        busy_timeout_ms: int = 5000,
        max_batch: int = 1024,
    ) -> None:
        path = Path(path)
        self.path = path / DB_FILENAME if path.is_dir() else path
        self.read_only = read_only
        self._busy_timeout_ms = busy_timeout_ms
        self._max_batch = max(1, max_batch)
        self._queue: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        # Token lookups run on the caller's thread: one indexed row, read under WAL without
        # waiting for any writer, costs less than handing it to the reader thread and back.
        self._token_conn: sqlite3.Connection | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._last_seq = 0
        self._open = False

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        if self._open:
            return
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
        self._open = False  # no new appends; the ones already queued are still written
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

    def _connect(self) -> sqlite3.Connection:
        uri = self.path.absolute().as_uri() + ("?mode=ro" if self.read_only else "?mode=rwc")
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
                mode = write_conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(
                        f"cannot put {self.path} in WAL mode (got {mode!r}); "
                        "is it on a file system without shared memory support?"
                    )
                write_conn.execute("PRAGMA synchronous = FULL")
                self._create_schema(write_conn)
            self._check_schema(write_conn)
            row = write_conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
            self._last_seq = int(row[0])
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

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Not executescript: it would COMMIT first and run outside this transaction.
            for statement in _split_sql(_SCHEMA):
                conn.execute(statement)
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
            if not versions:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        try:
            rows = conn.execute("SELECT MAX(version) FROM schema_version").fetchall()
        except sqlite3.OperationalError as error:
            raise StoreError(
                f"{self.path} is not a holdfire database (no schema_version table): {error}"
            ) from error
        version = rows[0][0] if rows else None
        if version is None:
            raise StoreError(f"{self.path} has no schema version; it is not a holdfire database")
        if int(version) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this holdfire supports "
                f"({SCHEMA_VERSION}); upgrade holdfire"
            )

    # -- writing ----------------------------------------------------------------------------

    async def append(self, events: Sequence[Event], *, outbox: str | None = None) -> int:
        if not self._open:
            raise StoreError(f"the store {self.path} is not open")
        rows = [_encode(event) for event in events]
        loop = asyncio.get_running_loop()
        request = _Request(rows=rows, loop=loop, future=loop.create_future(), outbox=outbox)
        self._queue.put(request)
        return await request.future

    def _writer_main(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            assert isinstance(first, _Request)
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                assert isinstance(item, _Request)
                batch.append(item)
            self._commit(batch)
        conn = self._write_conn
        if conn is not None:
            conn.close()

    def _commit(self, batch: list[_Request]) -> None:
        try:
            seqs = self._write([(request.rows, request.outbox) for request in batch])
        except Exception as error:
            if len(batch) > 1:
                for request in batch:  # isolate the request that failed; the others may pass
                    self._commit([request])
                return
            self._deliver(batch[0], error)
            return
        for request, seq in zip(batch, seqs, strict=True):
            self._deliver(request, seq)

    @staticmethod
    def _deliver(request: _Request, outcome: int | BaseException) -> None:
        # RuntimeError: the caller's event loop is closed, so nobody is waiting.
        with contextlib.suppress(RuntimeError):
            request.loop.call_soon_threadsafe(_settle, request.future, outcome)

    def _write(self, groups: list[tuple[list[_Row], str | None]]) -> list[int]:
        """Write every group in one transaction; return each group's last sequence number."""
        conn = self._write_conn
        if conn is None:
            raise StoreError(f"the store {self.path} is closed")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                last = self._last_seq
                seqs: list[int] = []
                for rows, outbox in groups:
                    for row in rows:
                        cursor = conn.execute(_INSERT_EVENT, (row.type, row.at, row.body))
                        last = int(cursor.lastrowid or 0)
                        for sql, params in row.state:
                            conn.execute(sql, params)
                        if outbox is not None:
                            conn.execute(
                                "INSERT INTO outbox (seq, node) VALUES (?, ?)", (last, outbox)
                            )
                    seqs.append(last)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    # The original error is the one to report.
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise self._translate(error, "append") from error
        self._last_seq = last
        return seqs

    # -- reading ----------------------------------------------------------------------------

    async def _read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        reader, conn = self._reader, self._read_conn
        if not self._open or reader is None or conn is None:
            raise StoreError(f"the store {self.path} is not open")

        def run() -> _T:
            try:
                return work(conn)
            except sqlite3.Error as error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise self._translate(error, "read") from error

        return await asyncio.get_running_loop().run_in_executor(reader, run)

    def _decode(self, what: str, key: object, body: str, decode: Callable[[Any], _T]) -> _T:
        try:
            return decode(json.loads(body))
        except (CodecError, ValueError) as error:
            raise StoreError(
                f"{self.path}: stored {what} {key!r} cannot be read ({error}); "
                "the database was changed outside holdfire or is corrupt"
            ) from error

    async def load(self) -> StoredState:
        def work(conn: sqlite3.Connection) -> StoredState:
            conn.execute("BEGIN")  # one snapshot for every table
            try:
                units = tuple(
                    self._decode("unit", uid, body, unit_from_dict)
                    for uid, body in conn.execute("SELECT uid, body FROM units ORDER BY uid")
                )
                reports = tuple(
                    self._decode("position", f"{uid} {key}", body, report_from_dict)
                    for uid, key, body in conn.execute(
                        "SELECT uid, reporter_key, body FROM positions "
                        "ORDER BY observed_us, uid, reporter_key"
                    )
                )
                measures = tuple(
                    self._decode("measure", mid, body, measure_from_feature)
                    for mid, body in conn.execute(
                        "SELECT id, body FROM measures WHERE status != 'cancelled' ORDER BY id"
                    )
                )
                mailbox = tuple(
                    self._decode("message", seq, body, _kept_message)
                    for seq, body in conn.execute("SELECT seq, body FROM mailbox ORDER BY seq")
                )
                pairings = tuple(
                    self._decode("pairing", pid, body, pairing_from_dict)
                    for pid, body in conn.execute("SELECT id, body FROM pairings ORDER BY rowid")
                )
                deliveries = tuple(
                    self._decode("delivery", did, body, delivery_from_dict)
                    for did, body in conn.execute(
                        "SELECT id, body FROM deliveries "
                        "WHERE pending = 1 OR code = 'WITHDRAWING_IN' ORDER BY rowid"
                    )
                )
                wanted = sorted({d.message_id for d in deliveries})
                messages = tuple(
                    self._decode("message", mid, body, message_from_dict)
                    for mid, body in conn.execute(
                        "SELECT id, body FROM messages WHERE id IN "
                        "(SELECT value FROM json_each(?)) ORDER BY rowid",
                        (_dumps(wanted),),
                    )
                )
                alerts = tuple(
                    self._alert_record(row[1:])
                    for row in conn.execute(
                        f"{_SELECT_ALERTS} WHERE a.kind IN ({_KEPT_ALERTS}) AND "
                        "(c.alert_id IS NULL OR a.kind = 'LOOKALIKE_ARRIVAL') ORDER BY a.rowid"
                    )
                )
                last_seq = int(
                    conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
                )
                recent = frozenset(
                    int(seq)
                    for (seq,) in conn.execute(
                        "SELECT seq FROM events WHERE seq > ?", (last_seq - RECENT_SEQS,)
                    )
                )
            finally:
                conn.execute("COMMIT")
            return StoredState(
                units,
                reports,
                measures,
                last_seq,
                mailbox,
                pairings,
                messages,
                deliveries,
                alerts,
                recent,
            )

        return await self._read(work)

    async def get_check(self, check_id: str) -> Clearance | None:
        def work(conn: sqlite3.Connection) -> Clearance | None:
            row = conn.execute("SELECT body FROM checks WHERE id = ?", (check_id,)).fetchone()
            if row is None:
                return None
            return self._decode("check", check_id, row[0], clearance_from_dict)

        return await self._read(work)

    async def list_checks(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        verdict: Verdict | None = None,
        requester: str | None = None,
    ) -> tuple[list[Clearance], str | None]:
        """Newest first; ``since`` inclusive, ``until`` exclusive; ``next`` is None at the end."""
        _require_limit(limit)
        require_instant("since", since, optional=True)
        require_instant("until", until, optional=True)
        clauses: list[str] = []
        params: list[Any] = []
        if since is not None:
            clauses.append("evaluated_us >= ?")
            params.append(_micros(since))
        if until is not None:
            clauses.append("evaluated_us < ?")
            params.append(_micros(until))
        if verdict is not None:
            clauses.append("verdict = ?")
            params.append(Verdict(verdict).value)
        if requester is not None:
            clauses.append("requester = ?")
            params.append(requester)
        if cursor is not None:
            after_us, after_id = _decode_cursor(cursor)
            clauses.append("(evaluated_us < ? OR (evaluated_us = ? AND id < ?))")
            params.extend((after_us, after_us, after_id))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT evaluated_us, id, body FROM checks {where} "
            "ORDER BY evaluated_us DESC, id DESC LIMIT ?"
        )
        params.append(limit + 1)

        def work(conn: sqlite3.Connection) -> tuple[list[Clearance], str | None]:
            rows = conn.execute(sql, params).fetchall()
            page = rows[:limit]
            items = [self._decode("check", cid, body, clearance_from_dict) for _, cid, body in page]
            next_cursor = None
            if len(rows) > limit:
                last_us, last_id, _ = page[-1]
                next_cursor = _encode_cursor(int(last_us), str(last_id))
            return items, next_cursor

        return await self._read(work)

    async def check_records(self, check_id: str) -> CheckRecords:
        def work(conn: sqlite3.Connection) -> CheckRecords:
            rows = conn.execute(
                "SELECT id, kind, body FROM check_records WHERE check_id = ? ORDER BY rowid",
                (check_id,),
            ).fetchall()
            decisions = tuple(
                self._decode("decision", rid, body, decision_from_dict)
                for rid, kind, body in rows
                if kind == "decision"
            )
            fired = tuple(
                self._decode("fired notice", rid, body, fired_from_dict)
                for rid, kind, body in rows
                if kind == "fired"
            )
            return CheckRecords(decisions, fired)

        return await self._read(work)

    def _alert_record(self, row: tuple[Any, ...]) -> AlertRecord:
        alert_id, body, acked_at, acked_by, cleared_at = row
        _, alert = self._decode("alert", alert_id, body, alert_from_dict)
        acked = None if acked_at is None else parse_time(str(acked_at))
        cleared = None if cleared_at is None else parse_time(str(cleared_at))
        return AlertRecord(str(alert_id), alert, acked, acked_by, cleared)

    async def get_alert(self, alert_id: str) -> AlertRecord | None:
        def work(conn: sqlite3.Connection) -> AlertRecord | None:
            row = conn.execute(_SELECT_ALERTS + " WHERE a.id = ?", (alert_id,)).fetchone()
            return None if row is None else self._alert_record(row[1:])

        return await self._read(work)

    async def list_alerts(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        kind: str | None = None,
        unacked: bool = False,
        open_only: bool = False,
    ) -> tuple[list[AlertRecord], str | None]:
        """Newest first; ``unacked`` keeps only those nobody has acknowledged, ``open_only``
        those not cleared."""
        _require_limit(limit)
        clauses: list[str] = []
        params: list[Any] = []
        if open_only:
            clauses.append("c.alert_id IS NULL")
        if kind is not None:
            clauses.append("a.kind = ?")
            params.append(kind)
        if unacked:
            clauses.append("k.alert_id IS NULL")
        if cursor is not None:
            after_rowid, _ = _decode_cursor(cursor)
            clauses.append("a.rowid < ?")
            params.append(after_rowid)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"{_SELECT_ALERTS}{where} ORDER BY a.rowid DESC LIMIT ?"
        params.append(limit + 1)

        def work(conn: sqlite3.Connection) -> tuple[list[AlertRecord], str | None]:
            rows = conn.execute(sql, params).fetchall()
            page = rows[:limit]
            items = [self._alert_record(row[1:]) for row in page]
            next_cursor = None
            if len(rows) > limit:
                next_cursor = _encode_cursor(int(page[-1][0]), str(page[-1][1]))
            return items, next_cursor

        return await self._read(work)

    async def list_deliveries(
        self,
        *,
        recipient: str | None = None,
        message_id: str | None = None,
        pending: bool = False,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[Delivery], str | None]:
        """Deliveries newest first (by when they were first sent)."""
        _require_limit(limit)
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("recipient", recipient), ("message_id", message_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if pending:
            clauses.append("pending = 1")
        if cursor is not None:
            clauses.append("rowid < ?")
            params.append(_decode_cursor(cursor)[0])
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT rowid, id, body FROM deliveries{where} ORDER BY rowid DESC LIMIT ?"
        params.append(limit + 1)

        def work(conn: sqlite3.Connection) -> tuple[list[Delivery], str | None]:
            rows = conn.execute(sql, params).fetchall()
            page = rows[:limit]
            items = [
                self._decode("delivery", did, body, delivery_from_dict) for _, did, body in page
            ]
            more = len(rows) > limit
            return items, _encode_cursor(int(page[-1][0]), str(page[-1][1])) if more else None

        return await self._read(work)

    async def get_message(self, message_id: str) -> Message | None:
        def work(conn: sqlite3.Connection) -> Message | None:
            row = conn.execute("SELECT body FROM messages WHERE id = ?", (message_id,)).fetchone()
            return (
                None
                if row is None
                else self._decode("message", message_id, row[0], message_from_dict)
            )

        return await self._read(work)

    async def find_token(self, secret_hash: str) -> ApiToken | None:
        conn = self._token_conn
        if not self._open or conn is None:
            raise StoreError(f"the store {self.path} is not open")
        try:
            row = conn.execute(
                "SELECT id, body FROM tokens WHERE secret_hash = ? AND revoked = 0", (secret_hash,)
            ).fetchone()
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error
        return None if row is None else self._decode("token", row[0], row[1], token_from_dict)

    async def list_tokens(self) -> list[ApiToken]:
        def work(conn: sqlite3.Connection) -> list[ApiToken]:
            return [
                self._decode("token", tid, body, token_from_dict)
                for tid, body in conn.execute("SELECT id, body FROM tokens ORDER BY rowid")
            ]

        return await self._read(work)

    async def events(self, after_seq: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        _require_limit(limit)

        def work(conn: sqlite3.Connection) -> list[tuple[int, Event]]:
            rows = conn.execute(
                "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (int(after_seq), limit),
            ).fetchall()
            return [
                (int(seq), self._decode("event", seq, body, event_from_dict)) for seq, body in rows
            ]

        return await self._read(work)

    async def outbox(self, node: str, limit: int = 1000) -> list[tuple[int, Event]]:
        _require_limit(limit)

        def work(conn: sqlite3.Connection) -> list[tuple[int, Event]]:
            rows = conn.execute(
                "SELECT e.seq, e.body FROM outbox o JOIN events e ON e.seq = o.seq "
                "WHERE o.node = ? ORDER BY o.seq LIMIT ?",
                (node, limit),
            ).fetchall()
            return [
                (int(seq), self._decode("event", seq, body, event_from_dict)) for seq, body in rows
            ]

        return await self._read(work)

    async def unqueue(self, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        await asyncio.to_thread(self._unqueue_sync, [int(s) for s in seqs])

    def _unqueue_sync(self, seqs: list[int]) -> None:
        conn = self._connect()
        try:
            conn.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))", (_dumps(seqs),)
            )
        finally:
            conn.close()

    # -- errors -----------------------------------------------------------------------------

    def _translate(self, error: sqlite3.Error, action: str) -> StoreError:
        """Turn a sqlite3 error into a StoreError a person can act on."""
        name = getattr(error, "sqlite_errorname", "") or type(error).__name__
        where = str(self.path)
        detail = f"({name}: {error})"
        if name.startswith("SQLITE_FULL"):
            hint = f"the disk holding {where} is full; free space and retry"
        elif name.startswith("SQLITE_READONLY"):
            hint = (
                f"{where} is read-only (file, directory or mount); holdfire needs to write "
                "the database file and its -wal and -shm files next to it"
            )
        elif name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
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
            return f"cannot open {self.path}: the directory {parent} is not writable"
        if self.path.exists() and not os.access(self.path, os.R_OK):
            return f"cannot open {self.path}: the file is not readable"
        return f"cannot open {self.path}"


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


def _kept_message(data: Any) -> MessageKept:
    event = event_from_dict(data)
    if not isinstance(event, MessageKept):
        raise CodecError("type", "a mailbox row must hold a message_kept record")
    return event

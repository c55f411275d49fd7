"""The read side both stores share: every query the Store port answers, as SQL in the dialect
SQLite and PostgreSQL both accept (``?`` placeholders), and the decoding of its rows.

A :class:`Query` is one or more statements run in ONE transaction (a snapshot) and a function
that turns their rows into the answer. A store only runs them: :class:`Reads` is told the
store's name for messages and its insertion-order column (``rowid`` in SQLite, ``ord`` in
PostgreSQL). A stored body that cannot be decoded raises StoreError naming it; it is never
skipped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from holdfire.adapters.store.audit import AUDITED, AuditTrail, Link, Record
from holdfire.adapters.store.encoding import (
    KEPT_ALERTS,
    decode_body,
    decode_cursor,
    encode_cursor,
    kept_message,
    micros,
    require_limit,
)
from holdfire.codecs.json import (
    alert_from_dict,
    clearance_from_dict,
    decision_from_dict,
    delivery_from_dict,
    event_from_dict,
    fired_from_dict,
    measure_from_feature,
    message_from_dict,
    pairing_from_dict,
    parse_time,
    report_from_dict,
    token_from_dict,
    unit_from_dict,
)
from holdfire.domain.access import ApiToken
from holdfire.domain.checks import Clearance, Verdict
from holdfire.domain.events import Event
from holdfire.domain.messages import Delivery, Message
from holdfire.domain.numbers import require_instant
from holdfire.service.ports import RECENT_SEQS, AlertRecord, CheckRecords, Queued, StoredState

_T = TypeVar("_T")
_A = TypeVar("_A")

Rows = Sequence[Sequence[Any]]
Statement = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Query(Generic[_T]):
    """Statements to run in one transaction, and what their rows mean."""

    statements: tuple[Statement, ...]
    finish: Callable[[list[Rows]], _T]


def _one(sql: str, params: tuple[Any, ...], finish: Callable[[Rows], _T]) -> Query[_T]:
    return Query(((sql, params),), lambda results: finish(results[0]))


TOKENS_KEPT = 1024  # decoded tokens remembered by id and body


class Reads:
    """The queries of one store (``where`` names it in errors; ``order`` is its
    insertion-order column)."""

    def __init__(self, where: str, order: str) -> None:
        self.where = where
        self._order = order
        # Every request looks its token up: a body read before is not decoded again.
        self._tokens: dict[tuple[str, str], ApiToken] = {}
        self._alerts = (
            f"SELECT a.{order}, a.id, a.body, k.at, k.by, c.at FROM alerts a "
            "LEFT JOIN alert_acks k ON k.alert_id = a.id "
            "LEFT JOIN alert_clears c ON c.alert_id = a.id"
        )

    def _decode(self, what: str, key: object, body: str, decode: Callable[[Any], _A]) -> _A:
        return decode_body(self.where, what, key, body, decode)

    def _all(self, what: str, rows: Rows, decode: Callable[[Any], _A]) -> tuple[_A, ...]:
        """Rows of (key, body)."""
        return tuple(self._decode(what, key, body, decode) for key, body in rows)

    # -- the snapshot a start rebuilds the picture from ------------------------------------

    def load(self) -> Query[StoredState]:
        o = self._order
        statements: tuple[Statement, ...] = (
            ("SELECT uid, body FROM units ORDER BY uid", ()),
            (
                "SELECT uid || ' ' || reporter_key, body FROM positions "
                "ORDER BY observed_us, uid, reporter_key",
                (),
            ),
            ("SELECT id, body FROM measures WHERE status != 'cancelled' ORDER BY id", ()),
            ("SELECT seq, body FROM mailbox ORDER BY seq", ()),
            (f"SELECT id, body FROM pairings ORDER BY {o}", ()),
            (
                "SELECT id, body FROM messages WHERE id IN (SELECT message_id FROM deliveries "
                f"WHERE pending = 1 OR code = 'WITHDRAWING_IN') ORDER BY {o}",
                (),
            ),
            (
                "SELECT id, body FROM deliveries "
                f"WHERE pending = 1 OR code = 'WITHDRAWING_IN' ORDER BY {o}",
                (),
            ),
            (
                f"{self._alerts} WHERE a.kind IN ({KEPT_ALERTS}) AND "
                f"(c.alert_id IS NULL OR a.kind = 'LOOKALIKE_ARRIVAL') ORDER BY a.{o}",
                (),
            ),
            ("SELECT COALESCE(MAX(seq), 0) FROM events", ()),
            (
                "SELECT seq, seq FROM events WHERE seq > "
                "(SELECT COALESCE(MAX(seq), 0) FROM events) - ?",
                (RECENT_SEQS,),
            ),
        )

        def finish(results: list[Rows]) -> StoredState:
            (units, reports, measures, mailbox, pairings, messages, deliveries, alerts, last,
             recent) = results  # fmt: skip
            return StoredState(
                units=self._all("unit", units, unit_from_dict),
                reports=self._all("position", reports, report_from_dict),
                measures=self._all("measure", measures, measure_from_feature),
                last_seq=int(last[0][0]),
                mailbox=self._all("message", mailbox, kept_message),
                pairings=self._all("pairing", pairings, pairing_from_dict),
                messages=self._all("message", messages, message_from_dict),
                deliveries=self._all("delivery", deliveries, delivery_from_dict),
                alerts=tuple(self._alert_record(row) for row in alerts),
                recent_seqs=frozenset(int(row[0]) for row in recent),
            )

        return Query(statements, finish)

    # -- the event log ----------------------------------------------------------------------

    def _events(self, rows: Rows) -> list[tuple[int, Event]]:
        return [(int(seq), self._decode("event", seq, body, event_from_dict)) for seq, body in rows]

    def events(self, after_seq: int, limit: int) -> Query[list[tuple[int, Event]]]:
        require_limit(limit)
        sql = "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
        return _one(sql, (int(after_seq), limit), self._events)

    def outbox(self, node: str, limit: int) -> Query[list[Queued]]:
        require_limit(limit)
        sql = (
            "SELECT o.seq, e.type, e.body FROM outbox o JOIN events e ON e.seq = o.seq "
            "WHERE o.node = ? ORDER BY o.seq LIMIT ?"
        )

        def finish(rows: Rows) -> list[Queued]:
            return [Queued(int(seq), str(kind), str(body)) for seq, kind, body in rows]

        return _one(sql, (node, limit), finish)

    # -- checks -----------------------------------------------------------------------------

    def outbox_size(self, node: str) -> Query[int]:
        sql = "SELECT count(*) FROM outbox WHERE node = ?"
        return _one(sql, (node,), lambda rows: int(rows[0][0]))

    def get_check(self, check_id: str) -> Query[Clearance | None]:
        def finish(rows: Rows) -> Clearance | None:
            if not rows:
                return None
            return self._decode("check", check_id, rows[0][0], clearance_from_dict)

        return _one("SELECT body FROM checks WHERE id = ?", (check_id,), finish)

    def list_checks(
        self,
        *,
        limit: int,
        cursor: str | None,
        since: datetime | None,
        until: datetime | None,
        verdict: Verdict | None,
        requester: str | None,
    ) -> Query[tuple[list[Clearance], str | None]]:
        """Newest first; ``since`` inclusive, ``until`` exclusive; ``next`` is None at the end."""
        require_limit(limit)
        require_instant("since", since, optional=True)
        require_instant("until", until, optional=True)
        clauses: list[str] = []
        params: list[Any] = []
        if since is not None:
            clauses.append("evaluated_us >= ?")
            params.append(micros(since))
        if until is not None:
            clauses.append("evaluated_us < ?")
            params.append(micros(until))
        if verdict is not None:
            clauses.append("verdict = ?")
            params.append(Verdict(verdict).value)
        if requester is not None:
            clauses.append("requester = ?")
            params.append(requester)
        if cursor is not None:
            after_us, after_id = decode_cursor(cursor)
            clauses.append("(evaluated_us < ? OR (evaluated_us = ? AND id < ?))")
            params.extend((after_us, after_us, after_id))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT evaluated_us, id, body FROM checks {where} "
            "ORDER BY evaluated_us DESC, id DESC LIMIT ?"
        )
        params.append(limit + 1)
        return _one(sql, tuple(params), lambda rows: self._page("check", rows, limit,
                                                                clearance_from_dict))  # fmt: skip

    def _page(
        self, what: str, rows: Rows, limit: int, decode: Callable[[Any], _A]
    ) -> tuple[list[_A], str | None]:
        """Rows of (order, key, body), one more than a page when there is a next one."""
        page = rows[:limit]
        items = [self._decode(what, key, body, decode) for _, key, body in page]
        more = len(rows) > limit
        return items, encode_cursor(int(page[-1][0]), str(page[-1][1])) if more else None

    def check_records(self, check_id: str) -> Query[CheckRecords]:
        def finish(rows: Rows) -> CheckRecords:
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

        sql = f"SELECT id, kind, body FROM check_records WHERE check_id = ? ORDER BY {self._order}"
        return _one(sql, (check_id,), finish)

    # -- alerts -----------------------------------------------------------------------------

    def _alert_record(self, row: Sequence[Any]) -> AlertRecord:
        _, alert_id, body, acked_at, acked_by, cleared_at = row
        _, alert = self._decode("alert", alert_id, body, alert_from_dict)
        acked = None if acked_at is None else parse_time(str(acked_at))
        cleared = None if cleared_at is None else parse_time(str(cleared_at))
        return AlertRecord(str(alert_id), alert, acked, acked_by, cleared)

    def get_alert(self, alert_id: str) -> Query[AlertRecord | None]:
        return _one(
            f"{self._alerts} WHERE a.id = ?",
            (alert_id,),
            lambda rows: self._alert_record(rows[0]) if rows else None,
        )

    def list_alerts(
        self, *, limit: int, cursor: str | None, kind: str | None, unacked: bool, open_only: bool
    ) -> Query[tuple[list[AlertRecord], str | None]]:
        """Newest first; ``unacked`` keeps only those nobody has acknowledged, ``open_only``
        those not cleared."""
        require_limit(limit)
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
            clauses.append(f"a.{self._order} < ?")
            params.append(decode_cursor(cursor)[0])
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"{self._alerts}{where} ORDER BY a.{self._order} DESC LIMIT ?"
        params.append(limit + 1)

        def finish(rows: Rows) -> tuple[list[AlertRecord], str | None]:
            page = rows[:limit]
            more = len(rows) > limit
            cursor = encode_cursor(int(page[-1][0]), str(page[-1][1])) if more else None
            return [self._alert_record(row) for row in page], cursor

        return _one(sql, tuple(params), finish)

    # -- messages ---------------------------------------------------------------------------

    def list_deliveries(
        self,
        *,
        recipient: str | None,
        message_id: str | None,
        pending: bool,
        limit: int,
        cursor: str | None,
    ) -> Query[tuple[list[Delivery], str | None]]:
        """Deliveries newest first (by when they were first sent)."""
        require_limit(limit)
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("recipient", recipient), ("message_id", message_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if pending:
            clauses.append("pending = 1")
        if cursor is not None:
            clauses.append(f"{self._order} < ?")
            params.append(decode_cursor(cursor)[0])
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        o = self._order
        sql = f"SELECT {o}, id, body FROM deliveries{where} ORDER BY {o} DESC LIMIT ?"
        params.append(limit + 1)
        return _one(sql, tuple(params), lambda rows: self._page("delivery", rows, limit,
                                                                delivery_from_dict))  # fmt: skip

    def get_message(self, message_id: str) -> Query[Message | None]:
        return _one(
            "SELECT id, body FROM messages WHERE id = ?",
            (message_id,),
            lambda rows: self._all("message", rows, message_from_dict)[0] if rows else None,
        )

    # -- tokens -----------------------------------------------------------------------------

    def find_token(self, secret_hash: str) -> Query[ApiToken | None]:
        return _one(
            "SELECT id, body FROM tokens WHERE secret_hash = ? AND revoked = 0",
            (secret_hash,),
            lambda rows: self._token(rows[0][0], rows[0][1]) if rows else None,
        )

    def _token(self, token_id: str, body: str) -> ApiToken:
        token = self._tokens.get((token_id, body))
        if token is None:
            if len(self._tokens) >= TOKENS_KEPT:
                self._tokens.clear()
            token = self._decode("token", token_id, body, token_from_dict)
            self._tokens[(token_id, body)] = token
        return token

    def list_tokens(self) -> Query[list[ApiToken]]:
        sql = f"SELECT id, body FROM tokens ORDER BY {self._order}"
        return _one(sql, (), lambda rows: list(self._all("token", rows, token_from_dict)))

    # -- the audit chain --------------------------------------------------------------------

    def audit_trail(self) -> Query[AuditTrail]:
        tags = ", ".join(f"'{tag}'" for tag in sorted(AUDITED))
        statements: tuple[Statement, ...] = (
            (
                "SELECT c.pos, c.seq, c.prev, c.hash, e.type, e.at, e.body FROM audit_chain c "
                "LEFT JOIN events e ON e.seq = c.seq ORDER BY c.pos",
                (),
            ),
            (
                f"SELECT seq, type, at, body FROM events WHERE type IN ({tags}) "
                "AND seq NOT IN (SELECT seq FROM audit_chain) ORDER BY seq",
                (),
            ),
        )

        def finish(results: list[Rows]) -> AuditTrail:
            chained, unchained = results
            links = tuple(Link(int(p), int(s), str(v), str(h)) for p, s, v, h, *_ in chained)
            records = {
                int(seq): Record(int(seq), str(t), str(at), str(body))
                for _, seq, _, _, t, at, body in chained
                if body is not None
            }
            for seq, t, at, body in unchained:
                records[int(seq)] = Record(int(seq), str(t), str(at), str(body))
            return AuditTrail(links, records, tuple(int(row[0]) for row in unchained))

        return Query(statements, finish)


class ReadingStore(ABC):
    """The read half of the Store port, answered by running :class:`Reads` queries; a store
    supplies ``_reads`` and how it runs one query (``_read``)."""

    _reads: Reads

    @abstractmethod
    async def _read(self, query: Query[_T]) -> _T:
        """Run the query's statements in one transaction and finish its rows."""

    async def load(self) -> StoredState:
        return await self._read(self._reads.load())

    async def get_check(self, check_id: str) -> Clearance | None:
        return await self._read(self._reads.get_check(check_id))

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
        query = self._reads.list_checks(
            limit=limit,
            cursor=cursor,
            since=since,
            until=until,
            verdict=verdict,
            requester=requester,
        )
        return await self._read(query)

    async def check_records(self, check_id: str) -> CheckRecords:
        return await self._read(self._reads.check_records(check_id))

    async def get_alert(self, alert_id: str) -> AlertRecord | None:
        return await self._read(self._reads.get_alert(alert_id))

    async def list_alerts(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        kind: str | None = None,
        unacked: bool = False,
        open_only: bool = False,
    ) -> tuple[list[AlertRecord], str | None]:
        query = self._reads.list_alerts(
            limit=limit, cursor=cursor, kind=kind, unacked=unacked, open_only=open_only
        )
        return await self._read(query)

    async def list_deliveries(
        self,
        *,
        recipient: str | None = None,
        message_id: str | None = None,
        pending: bool = False,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[Delivery], str | None]:
        query = self._reads.list_deliveries(
            recipient=recipient, message_id=message_id, pending=pending, limit=limit, cursor=cursor
        )
        return await self._read(query)

    async def get_message(self, message_id: str) -> Message | None:
        return await self._read(self._reads.get_message(message_id))

    async def find_token(self, secret_hash: str) -> ApiToken | None:
        return await self._read(self._reads.find_token(secret_hash))

    async def list_tokens(self) -> list[ApiToken]:
        return await self._read(self._reads.list_tokens())

    async def outbox(self, node: str, limit: int = 1000) -> list[Queued]:
        return await self._read(self._reads.outbox(node, limit))

    async def outbox_size(self, node: str) -> int:
        return await self._read(self._reads.outbox_size(node))

    async def events(self, after_seq: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        return await self._read(self._reads.events(after_seq, limit))

    async def audit_trail(self) -> AuditTrail:
        """The audit chain and the log's audit records, in one snapshot."""
        return await self._read(self._reads.audit_trail())

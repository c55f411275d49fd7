"""What both stores share: events encoded into log rows and current-state operations, the
statements those operations run, cursors, and decoding of stored bodies.

An event becomes one :class:`Row`: its type tag, time and JSON body (the exact text of the
:mod:`holdfire.codecs.json` codec, kept as is in the log), plus the current-state operations it
implies, each an :class:`Op` with its parameters. :data:`STATEMENTS` holds the SQL of each
operation in the dialect both SQLite and PostgreSQL accept (``?`` placeholders; the PostgreSQL
store turns them into ``%s``); a backend overrides only the few that differ (JSON editing).
Encoding happens on the caller's side, so a bad event fails only its own caller.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

from holdfire.codecs.json import (
    CodecError,
    alert_to_dict,
    clearance_json,
    decision_to_dict,
    delivery_to_dict,
    event_from_dict,
    event_to_dict,
    event_type,
    fired_to_dict,
    format_time,
    measure_to_feature,
    message_to_dict,
    pairing_to_dict,
    report_to_dict,
    to_json,
    token_to_dict,
    unit_to_dict,
)
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
    recorded_at,
)
from holdfire.domain.messages import Delivery
from holdfire.service.ports import StoreError

_T = TypeVar("_T")
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)


class Op(enum.Enum):
    """A current-state change an event implies."""

    UPSERT_UNIT = enum.auto()
    UPSERT_POSITION = enum.auto()
    UPSERT_MEASURE = enum.auto()
    CANCEL_MEASURE = enum.auto()
    DELETE_POSITIONS = enum.auto()
    KEEP_MESSAGE = enum.auto()
    DELIVERED = enum.auto()
    INSERT_CHECK = enum.auto()
    UPSERT_ALERT = enum.auto()
    ACK_ALERT = enum.auto()
    INSERT_CHECK_RECORD = enum.auto()
    UPSERT_PAIRING = enum.auto()
    INSERT_TOKEN = enum.auto()
    REVOKE_TOKEN = enum.auto()
    CLEAR_ALERT = enum.auto()
    CLOSE_PAIRING = enum.auto()
    INSERT_MESSAGE = enum.auto()
    UPSERT_DELIVERY = enum.auto()


INSERT_EVENT: Final = "INSERT INTO events (type, at, body) VALUES (?, ?, ?)"
QUEUE_OUTBOX: Final = "INSERT INTO outbox (seq, node) VALUES (?, ?)"
UNQUEUE_OUTBOX: Final = "DELETE FROM outbox WHERE seq = ?"

# Statements both backends run as written. CANCEL_MEASURE and REVOKE_TOKEN edit a JSON body and
# are each backend's own.
STATEMENTS: Final[dict[Op, str]] = {
    Op.UPSERT_UNIT: (
        "INSERT INTO units (uid, body) VALUES (?, ?) "
        "ON CONFLICT (uid) DO UPDATE SET body = excluded.body"
    ),
    # An older fix never replaces a newer one; an equally old one (a re-send) does.
    Op.UPSERT_POSITION: (
        "INSERT INTO positions (uid, reporter_key, observed_at, observed_us, body) "
        "VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (uid, reporter_key) DO UPDATE SET observed_at = excluded.observed_at, "
        "observed_us = excluded.observed_us, body = excluded.body "
        "WHERE excluded.observed_us >= positions.observed_us"
    ),
    Op.UPSERT_MEASURE: (
        "INSERT INTO measures (id, kind, status, body) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET "
        "kind = excluded.kind, status = excluded.status, body = excluded.body"
    ),
    Op.DELETE_POSITIONS: "DELETE FROM positions WHERE uid = ?",
    Op.KEEP_MESSAGE: "INSERT INTO mailbox (recipient, expires_us, body) VALUES (?, ?, ?)",
    Op.DELIVERED: "DELETE FROM mailbox WHERE recipient = ?",
    Op.INSERT_CHECK: (
        "INSERT INTO checks (id, evaluated_at, evaluated_us, verdict, requester, body) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    ),
    Op.UPSERT_ALERT: (
        "INSERT INTO alerts (id, kind, created_at, body) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET "
        "kind = excluded.kind, created_at = excluded.created_at, body = excluded.body"
    ),
    Op.ACK_ALERT: (
        "INSERT INTO alert_acks (alert_id, at, by) VALUES (?, ?, ?) "
        "ON CONFLICT (alert_id) DO NOTHING"
    ),
    Op.INSERT_CHECK_RECORD: (
        "INSERT INTO check_records (id, check_id, kind, body) VALUES (?, ?, ?, ?)"
    ),
    Op.UPSERT_PAIRING: (
        "INSERT INTO pairings (id, body) VALUES (?, ?) "
        "ON CONFLICT (id) DO UPDATE SET body = excluded.body"
    ),
    Op.INSERT_TOKEN: "INSERT INTO tokens (id, name, secret_hash, body) VALUES (?, ?, ?, ?)",
    Op.CLEAR_ALERT: (
        "INSERT INTO alert_clears (alert_id, at) VALUES (?, ?) ON CONFLICT (alert_id) DO NOTHING"
    ),
    Op.CLOSE_PAIRING: "DELETE FROM pairings WHERE id = ?",
    Op.INSERT_MESSAGE: "INSERT INTO messages (id, code, body) VALUES (?, ?, ?)",
    Op.UPSERT_DELIVERY: (
        "INSERT INTO deliveries (id, message_id, recipient, code, pending, body) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "pending = excluded.pending, body = excluded.body"
    ),
}

# Alerts the coordinator picks up again at a start (open ones; every lookalike arrival).
KEPT_ALERTS: Final = "'STALE', 'LOST', 'SEPARATION', 'LOOKALIKE_ARRIVAL'"


dumps: Final = to_json  # the one JSON text form of every stored body, as of every answer


def micros(value: datetime) -> int:
    """Microseconds since the Unix epoch: the stored form of times used for ordering."""
    return (value - EPOCH) // _ONE_US


@dataclass(frozen=True, slots=True)
class Row:
    """One event, encoded: the log row plus the operations that apply it to current state."""

    type: str
    at: str
    body: str
    state: tuple[tuple[Op, tuple[Any, ...]], ...]


def _delivery(d: Delivery) -> tuple[Op, tuple[Any, ...]]:
    body = dumps(delivery_to_dict(d))
    return Op.UPSERT_DELIVERY, (d.id, d.message_id, d.recipient, d.code, int(d.pending), body)


def encode(event: Event) -> Row:
    """Encode one event (CodecError reaches only the caller whose event it is)."""
    tag = event_type(event)
    if isinstance(event, CheckEvaluated):
        return _encode_check(tag, event)
    body = dumps(event_to_dict(event))
    at = format_time(recorded_at(event))
    op: Op
    params: tuple[Any, ...]
    if isinstance(event, UnitRegistered):
        op, params = Op.UPSERT_UNIT, (event.unit.uid, dumps(unit_to_dict(event.unit)))
    elif isinstance(event, PositionReported):
        r = event.report
        op = Op.UPSERT_POSITION
        params = (
            r.uid,
            r.reporter_key,
            format_time(r.observed_at),
            micros(r.observed_at),
            dumps(report_to_dict(r)),
        )
    elif isinstance(event, MeasureDefined):
        m = event.measure
        op = Op.UPSERT_MEASURE
        params = (m.id, m.kind.value, m.status.value, dumps(measure_to_feature(m)))
    elif isinstance(event, MeasureCancelled):
        op, params = Op.CANCEL_MEASURE, (event.measure_id,)
    elif isinstance(event, MarkerRemoved):
        op, params = Op.DELETE_POSITIONS, (event.uid,)
    elif isinstance(event, MessageKept):
        op = Op.KEEP_MESSAGE
        params = (event.recipient, micros(event.expires_at), dumps(event_to_dict(event)))
    elif isinstance(event, MessagesDelivered):
        op, params = Op.DELIVERED, (event.recipient,)
    elif isinstance(event, AlertRaised):
        a = event.alert
        op = Op.UPSERT_ALERT
        params = (event.alert_id, a.kind.value, at, dumps(alert_to_dict(event.alert_id, a)))
    elif isinstance(event, AlertAcked):
        op, params = Op.ACK_ALERT, (event.alert_id, at, event.by)
    elif isinstance(event, DecisionRecorded):
        d = event.decision
        op = Op.INSERT_CHECK_RECORD
        params = (d.id, d.check_id, "decision", dumps(decision_to_dict(d)))
    elif isinstance(event, CheckFired):
        n = event.notice
        op = Op.INSERT_CHECK_RECORD
        params = (n.id, n.check_id, "fired", dumps(fired_to_dict(n)))
    elif isinstance(event, PairingCreated):
        p = event.pairing
        op, params = Op.UPSERT_PAIRING, (p.id, dumps(pairing_to_dict(p)))
    elif isinstance(event, TokenIssued):
        t = event.token
        op, params = Op.INSERT_TOKEN, (t.id, t.name, t.secret_hash, dumps(token_to_dict(t)))
    elif isinstance(event, TokenRevoked):
        op, params = Op.REVOKE_TOKEN, (at, event.token_id)
    elif isinstance(event, AlertCleared):
        op, params = Op.CLEAR_ALERT, (event.alert_id, at)
    elif isinstance(event, PairingClosed):
        op, params = Op.CLOSE_PAIRING, (event.pairing_id,)
    elif isinstance(event, MessageSent):
        message = event.message
        state = [(Op.INSERT_MESSAGE, (message.id, message.code, dumps(message_to_dict(message))))]
        state += [_delivery(d) for d in event.deliveries]
        return Row(type=tag, at=at, body=body, state=tuple(state))
    else:
        return Row(tag, at, body, tuple(_delivery(d) for d in event.deliveries))
    return Row(type=tag, at=at, body=body, state=((op, params),))


def _encode_check(tag: str, event: CheckEvaluated) -> Row:
    """A check, the biggest record there is, encoded once: the log row's body is the event
    shape of `event_to_dict` written around the same JSON text the checks row keeps."""
    c = event.clearance
    clearance = clearance_json(c)
    body = f'{{"type":{dumps(tag)},"clearance":{clearance}}}'
    at = format_time(recorded_at(event))
    params = (c.id, at, micros(c.evaluated_at), c.verdict.value, c.request.requester, clearance)
    return Row(type=tag, at=at, body=body, state=((Op.INSERT_CHECK, params),))


def require_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise DomainError("limit", f"must be a whole number >= 1, got {limit!r}")


def encode_cursor(order: int, key: str) -> str:
    raw = dumps([order, key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
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


def decode_body(where: str, what: str, key: object, body: str, decode: Callable[[Any], _T]) -> _T:
    """Decode a stored body; one that cannot be read is reported, never skipped."""
    try:
        return decode(json.loads(body))
    except (CodecError, ValueError) as error:
        raise StoreError(
            f"{where}: stored {what} {key!r} cannot be read ({error}); "
            "the database was changed outside holdfire or is corrupt"
        ) from error


def kept_message(data: Any) -> MessageKept:
    event = event_from_dict(data)
    if not isinstance(event, MessageKept):
        raise CodecError("type", "a mailbox row must hold a message_kept record")
    return event


def settle(future: asyncio.Future[int], outcome: int | BaseException) -> None:
    """Hand a group-committed append's outcome to its caller, unless the caller gave up
    (cancelled): the write stands regardless."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)

"""Ports: the Protocols the service needs from the outside world (store, clock), free of I/O.

Adapters implement them (``holdfire.adapters.store.sqlite.SQLiteStore``, a PostgreSQL store,
a system or fake clock); the service and the tests only see these types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from holdfire.domain.access import ApiToken
from holdfire.domain.alerts import Alert
from holdfire.domain.checks import Clearance, Verdict
from holdfire.domain.decisions import Decision, FiredNotice
from holdfire.domain.events import Event, MessageKept
from holdfire.domain.measures import Measure
from holdfire.domain.messages import Delivery, Message
from holdfire.domain.pairings import Pairing
from holdfire.domain.reports import PositionReport
from holdfire.domain.units import Unit


class StoreError(RuntimeError):
    """The store cannot do what was asked (disk full, read-only, locked, corrupt, closed).

    Raised by every store adapter in place of its driver's errors; the message says what failed
    and, where known, what to do about it. A write that raised this was not acknowledged.
    """


class StoreNotWritable(StoreError):
    """The store's storage refuses every write just now: its disk is full, or its file system
    or file is read-only.

    Nothing of the failed call was recorded; the same call succeeds once space is freed (or
    the file system is writable again). The store logs the condition once when it begins and
    once when it ends, so callers need not log each write it refuses.
    """


class StoreUnavailable(StoreError):
    """The store cannot be reached just now (database server down, connection lost).

    Retrying later may succeed; nothing of the failed call was recorded. Callers that must not
    lose a record (the audit of a check already answered) keep it and write it when the store
    is back.
    """


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert as kept, with whether (and by whom) it was acknowledged."""

    id: str
    alert: Alert
    acked_at: datetime | None = None
    acked_by: str | None = None
    cleared_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Queued:
    """An event waiting in a node's outbox, as the store keeps it: its sequence number, its
    type tag and its JSON text (the shape of ``holdfire.codecs.json.event_to_dict``), which is
    what goes on the wire as it is (decoding a check record only to encode it again would cost
    more than the rest of publishing it)."""

    seq: int
    type: str
    body: str


@dataclass(frozen=True, slots=True)
class StoredState:
    """The current state a store rebuilds the picture from at start-up."""

    units: tuple[Unit, ...]
    reports: tuple[PositionReport, ...]  # latest per (uid, reporter_key), sorted by observed_at
    measures: tuple[Measure, ...]  # every measure not cancelled
    last_seq: int  # sequence number of the last event in the log (0 when empty)
    mailbox: tuple[MessageKept, ...] = ()  # messages still kept for offline recipients
    pairings: tuple[Pairing, ...] = ()  # open ones
    messages: tuple[Message, ...] = ()  # those the deliveries below belong to
    deliveries: tuple[Delivery, ...] = ()  # awaiting acknowledgement, and every WITHDRAWING_IN
    alerts: tuple[AlertRecord, ...] = ()  # open STALE/LOST/SEPARATION, every LOOKALIKE_ARRIVAL
    # Sequence numbers of the newest events this snapshot holds (at least the last
    # RECENT_SEQS): a cluster node skips them when it replays the stream from before it.
    recent_seqs: frozenset[int] = frozenset()


RECENT_SEQS = 10_000


@dataclass(frozen=True, slots=True)
class CheckRecords:
    """What was recorded about a check after it was answered."""

    decisions: tuple[Decision, ...] = ()
    fired: tuple[FiredNotice, ...] = ()


class Store(Protocol):
    """Durable, append-only event log plus the current state derived from it."""

    async def open(self) -> None:
        """Open (creating if needed) the store; raises StoreError if that is impossible."""
        ...

    async def close(self) -> None:
        """Finish pending writes and release the store."""
        ...

    async def append(self, events: Sequence[Event], *, outbox: str | None = None) -> int:
        """Record events (and their effect on the current state) atomically.

        Returns the sequence number of the last of them, and returns only once they are durable
        on disk: an acknowledged event survives kill -9 of the process.

        With ``outbox`` (a cluster node's name), each event is also queued, in the same
        transaction, for that node to publish to the other nodes (see :meth:`outbox`).
        """
        ...

    async def outbox(self, node: str, limit: int = 1000) -> list[Queued]:
        """Events queued by ``append(..., outbox=node)`` and not yet removed by :meth:`unqueue`,
        oldest first."""
        ...

    async def outbox_size(self, node: str) -> int:
        """How many events wait in ``node``'s outbox."""
        ...

    async def unqueue(self, seqs: Sequence[int]) -> None:
        """Drop events from the outbox once they are published (unknown seqs are ignored)."""
        ...

    async def load(self) -> StoredState:
        """The current state: units, latest reports, measures not cancelled, last sequence."""
        ...

    async def get_check(self, check_id: str) -> Clearance | None:
        """One stored check, or None."""
        ...

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
        """Stored checks, newest first, filtered; with an opaque cursor for the next page.

        ``since`` is inclusive and ``until`` exclusive (``since <= evaluated_at < until``).
        A cursor this store did not issue raises DomainError (field ``cursor``).
        """
        ...

    async def events(self, after_seq: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        """Events with a sequence number greater than ``after_seq``, oldest first."""
        ...

    async def check_records(self, check_id: str) -> CheckRecords:
        """Decisions and fired notices recorded for a check, oldest first."""
        ...

    async def get_alert(self, alert_id: str) -> AlertRecord | None: ...

    async def list_alerts(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        kind: str | None = None,
        unacked: bool = False,
        open_only: bool = False,
    ) -> tuple[list[AlertRecord], str | None]:
        """Alerts newest first, with an opaque cursor for the next page."""
        ...

    async def list_deliveries(
        self,
        *,
        recipient: str | None = None,
        message_id: str | None = None,
        pending: bool = False,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[Delivery], str | None]:
        """Deliveries newest first, filtered, with an opaque cursor for the next page."""
        ...

    async def get_message(self, message_id: str) -> Message | None: ...

    async def find_token(self, secret_hash: str) -> ApiToken | None:
        """The active (not revoked) token with this secret hash, or None."""
        ...

    async def list_tokens(self) -> list[ApiToken]:
        """Every token ever issued, revoked ones included, oldest first."""
        ...


class ClusterLink(Protocol):
    """What the service needs of the cluster it is a node of (absent on a single node)."""

    @property
    def node(self) -> str:
        """This node's name: its outbox, and the origin of the events it publishes."""
        ...

    def cut_off_since(self) -> datetime | None:
        """Since when this node has been out of step with its cluster; None while in step."""
        ...

    def coordinates(self) -> bool:
        """Does this node run the coordination (re-sends, escalations, stale units)? One does."""
        ...

    def recorded(self) -> None:
        """Events were just queued in the outbox: publish them soon."""
        ...


class CheckSpool(Protocol):
    """Where a check's record waits, durably, while the store is unreachable."""

    async def keep(self, event: Event) -> None:
        """Keep one record durably (raises StoreError if even that is impossible)."""
        ...


class ServiceMetrics(Protocol):
    """Where the service counts what it took (the Prometheus metrics of a running server)."""

    def reports_taken(self, channels: Mapping[str, int]) -> None:
        """Reports the picture took, by channel (`PositionReport.source`)."""
        ...

    def check_answered(self, verdict: Verdict, evaluate_s: float) -> None:
        """A check was answered (and recorded or spooled); the engine took `evaluate_s`."""
        ...


class Clock(Protocol):
    """Where the time comes from (a system clock in production, a fake one in tests/sim)."""

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        ...

"""The tamper-evident audit chain both stores keep: how a link is computed and how a chain is
walked to prove it intact or to name its first broken record.

Audit records are the log events of the kinds in :data:`AUDITED`: checks, fired notices,
decisions, and measure changes (definitions and cancellations, check fires included: a check
fire is a measure of kind CHECKFIRE). Each one gets a row in ``audit_chain`` written in the same
transaction as the event itself: its position ``pos`` (1, 2, 3…), the event's ``seq``, ``prev``
(the hash of the record before) and ``hash``::

    hash = SHA-256( prev (32 bytes) || UTF-8 of the JSON array [pos, seq, type, at, body] )

where ``body`` is the event's stored JSON text exactly as kept in the log, and the array is
written compactly (``separators=(",", ":")``, ``ensure_ascii=False``). Hashes are stored as
lowercase hex. The first record's ``prev`` is :data:`GENESIS`, the SHA-256 of the ASCII text
``holdfire audit chain v1``. A database that already held audit records when it was migrated
(migration 0003) keeps them unchained: the chain starts at the first audit record appended
afterwards, from the genesis, and verification counts the older ones as predating the chain.

What the chain proves. Changing a record's body, deleting a record or its link, or moving
records about breaks the chain at that record, and :func:`verify` names it. Someone who can
write the database can also recompute every hash after the point they changed; that is caught
by comparing the last hash with one kept elsewhere (printed by ``holdfire audit verify``,
recorded in every signed export bundle).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "AUDITED",
    "GENESIS",
    "AuditTrail",
    "Break",
    "Chain",
    "ChainCheck",
    "Link",
    "Record",
    "link_hash",
    "record_id",
    "verify",
]

# The log's type tags of audit records (see holdfire.codecs.json.event_type).
AUDITED: Final = frozenset({"check", "fired", "decision", "measure", "measure_cancelled"})
GENESIS: Final = hashlib.sha256(b"holdfire audit chain v1").hexdigest()

INSERT_LINK: Final = "INSERT INTO audit_chain (pos, seq, prev, hash) VALUES (?, ?, ?, ?)"
_UNLINKED: Final = (
    "this audit record has no link in the chain (its link was deleted, or it was written by a "
    "holdfire without the audit chain)"
)
CHAIN_TAIL: Final = "SELECT pos, hash FROM audit_chain ORDER BY pos DESC LIMIT 1"


@dataclass(frozen=True, slots=True)
class Record:
    """An audit record as the log keeps it."""

    seq: int
    type: str
    at: str
    body: str


@dataclass(frozen=True, slots=True)
class Link:
    """A record's place in the chain."""

    pos: int
    seq: int
    prev: str
    hash: str


@dataclass(frozen=True, slots=True)
class Break:
    """The first record at which the chain does not hold, and why."""

    pos: int
    seq: int
    record_id: str
    problem: str  # "body changed", "link broken", "record missing", "reordered"
    detail: str

    def __str__(self) -> str:
        return (
            f"audit chain broken at record {self.record_id} (seq {self.seq}, position "
            f"{self.pos}): {self.problem}: {self.detail}"
        )


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The outcome of walking a chain."""

    records: int  # links walked up to the break, or all of them
    last_hash: str  # the hash of the last record that holds (GENESIS if none)
    predating: int  # audit records older than the chain (before migration 0003)
    broken: Break | None

    @property
    def intact(self) -> bool:
        return self.broken is None

    def __str__(self) -> str:
        if self.broken is not None:
            return str(self.broken)
        older = f"; {self.predating} older audit records predate it" if self.predating else ""
        return f"audit chain intact ({self.records} records, last hash {self.last_hash}){older}"


@dataclass(frozen=True, slots=True)
class AuditTrail:
    """What a store holds of the audit: its links, the log's audit records by seq (those the
    links name and the unchained ones), and the seqs of the unchained ones."""

    links: tuple[Link, ...]
    records: Mapping[int, Record]
    unchained: tuple[int, ...]

    def check(self) -> ChainCheck:
        return verify(self.links, self.records, unchained=self.unchained)


def link_hash(prev: str, pos: int, record: Record) -> str:
    """The hash of one record at position ``pos`` after the hash ``prev`` (module docstring)."""
    canonical = json.dumps(
        [pos, record.seq, record.type, record.at, record.body],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(bytes.fromhex(prev) + canonical.encode("utf-8")).hexdigest()


class Chain:
    """The tail of the chain inside one append transaction: each record added gets the next
    link. ``tail`` is the last link's (pos, hash) as read in that transaction, None for an
    empty chain."""

    def __init__(self, tail: Sequence[Any] | None) -> None:
        self.pos, self.hash = (int(tail[0]), str(tail[1])) if tail else (0, GENESIS)

    def add(self, record: Record) -> tuple[int, int, str, str]:
        """The next link's row for ``record``: (pos, seq, prev, hash)."""
        prev = self.hash
        self.pos += 1
        self.hash = link_hash(prev, self.pos, record)
        return self.pos, record.seq, prev, self.hash


def record_id(record: Record | None) -> str:
    """The id of the check, notice, decision or measure a record is about ("?" if unreadable)."""
    if record is None:
        return "?"
    try:
        body = json.loads(record.body)
        if record.type == "measure_cancelled":
            found = body["measure_id"]
        elif record.type == "measure":
            found = body["measure"]["properties"]["id"]
        else:
            key = {"check": "clearance", "fired": "notice", "decision": "decision"}[record.type]
            found = body[key]["id"]
    except (ValueError, KeyError, TypeError):
        return "?"
    return str(found)


def _is_link(prev: str, pos: int, record: Record, digest: str) -> bool:
    try:
        return link_hash(prev, pos, record) == digest
    except ValueError:  # a prev that is not hex: the link was written over
        return False


def verify(
    links: Sequence[Link],
    records: Mapping[int, Record],
    *,
    unchained: Sequence[int] = (),
    start: tuple[int, str] = (0, GENESIS),
) -> ChainCheck:
    """Walk ``links`` (by position) against the log's ``records`` (by seq).

    ``unchained`` are the seqs of audit records in the log that no link names; those older than
    the chain's first link predate it, any other is a record whose link is missing. ``start``
    is the (position, hash) the first link follows: genesis for a whole database, the anchor a
    bundle states for an excerpt. Returns at the first record that does not hold."""
    links = sorted(links, key=lambda item: item.pos)
    first_seq = links[0].seq if links else None
    predating = sum(1 for seq in unchained if first_seq is None or seq < first_seq)
    orphans = sorted(seq for seq in unchained if first_seq is not None and seq > first_seq)
    by_hash = {item.hash: item for item in links}
    expected, prev = start[0] + 1, start[1]
    walked = 0

    def broken(at: Link | int, problem: str, detail: str) -> ChainCheck:
        if isinstance(at, Link):
            pos, seq = at.pos, at.seq
        else:
            pos, seq = expected, at
        found = Break(pos, seq, record_id(records.get(seq)), problem, detail)
        return ChainCheck(walked, prev, predating, found)

    for item in links:
        if orphans and orphans[0] < item.seq:
            return broken(
                orphans[0],
                "record missing",
                _UNLINKED,
            )
        if item.pos != expected:
            gap = f"{expected}" if item.pos == expected + 1 else f"{expected}-{item.pos - 1}"
            return broken(item, "record missing", f"chain position {gap} before it is absent")
        record = records.get(item.seq)
        if record is None:
            return broken(item, "record missing", f"the log has no audit record seq {item.seq}")
        if item.prev != prev:
            other = by_hash.get(item.prev)
            if other is not None:
                return broken(
                    item,
                    "reordered",
                    f"it links to position {other.pos} (seq {other.seq}), not to the record "
                    "before it",
                )
            detail = "its previous hash is not the hash of the record before"
            return broken(item, "link broken", detail)
        if not _is_link(item.prev, item.pos, record, item.hash):
            for other in links:  # is it another record's content, moved here?
                moved = Record(other.seq, record.type, record.at, record.body)
                if other is not item and _is_link(other.prev, other.pos, moved, other.hash):
                    return broken(
                        item,
                        "reordered",
                        f"it holds the record chained at position {other.pos} (seq {other.seq})",
                    )
            return broken(item, "body changed", "the record differs from what was chained")
        prev, expected, walked = item.hash, expected + 1, walked + 1
    if orphans:
        return broken(
            orphans[0],
            "record missing",
            _UNLINKED,
        )
    return ChainCheck(walked, prev, predating, None)

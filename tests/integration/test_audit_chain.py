"""The audit chain on both stores: every audit record is linked as it is appended, and a
database changed behind holdfire's back (append-only triggers dropped, rows updated, deleted,
swapped) is caught at exactly the first record that no longer holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from holdfire.adapters.store.audit import AUDITED, GENESIS, Record, link_hash, record_id
from holdfire.adapters.store.factory import ManagedStore
from holdfire.domain.events import PositionReported
from support.records import audit_events, report
from support.stores import BACKENDS, Backend, backend

pytestmark = pytest.mark.integration


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as made:
        yield made


@pytest.fixture
async def store(db: Backend) -> AsyncIterator[ManagedStore]:
    opened = db.store()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def drop_append_only(db: Backend) -> None:
    """What someone with write access to the database file or server can do."""
    if db.db is None:
        for name in ("events_no_update", "events_no_delete", "audit_chain_no_update",
                     "audit_chain_no_delete"):  # fmt: skip
            db.execute(f"DROP TRIGGER {name}")
        return
    db.execute("DROP TRIGGER events_append_only ON events")
    db.execute("DROP TRIGGER audit_chain_append_only ON audit_chain")
    db.execute("ALTER TABLE audit_chain DROP CONSTRAINT audit_chain_seq_fkey")


def link_at(db: Backend, pos: int) -> tuple[int, str]:
    """(seq, record id) of the record at a chain position."""
    [(seq,)] = db.rows(f"SELECT seq FROM audit_chain WHERE pos = {pos}")
    [(kind, at, body)] = db.rows(f"SELECT type, at, body FROM events WHERE seq = {seq}")
    return int(seq), record_id(Record(int(seq), kind, at, body))


async def test_each_audit_record_is_linked_to_the_one_before(
    db: Backend, store: ManagedStore
) -> None:
    await store.append(audit_events(5))
    await store.append([PositionReported(report("U2"))])  # not an audit record
    await store.append(audit_events(5, "k"))
    rows = db.rows(
        "SELECT c.pos, c.seq, c.prev, c.hash, e.type, e.at, e.body FROM audit_chain c "
        "JOIN events e ON e.seq = c.seq ORDER BY c.pos"
    )
    assert [r[0] for r in rows] == list(range(1, 11))
    assert {r[4] for r in rows} == AUDITED
    audited = db.rows(f"SELECT COUNT(*) FROM events WHERE type IN {tuple(AUDITED)}")
    assert audited == [(10,)]
    prev = GENESIS
    for pos, seq, stored_prev, digest, kind, at, body in rows:
        assert stored_prev == prev
        assert digest == link_hash(prev, pos, Record(seq, kind, at, body))
        prev = digest
    check = (await store.audit_trail()).check()
    assert check.intact and check.records == 10 and check.last_hash == prev
    assert check.predating == 0


async def test_concurrent_appends_make_one_unbroken_chain(store: ManagedStore) -> None:
    # Many callers at once: the group commit puts several in one transaction.
    await asyncio.gather(*(store.append(audit_events(3, f"g{i}-")) for i in range(40)))
    check = (await store.audit_trail()).check()
    assert check.intact, str(check)
    assert check.records == 120


async def test_two_stores_on_one_database_make_one_unbroken_chain(db: Backend) -> None:
    """Two holdfire processes on one database (cluster nodes on PostgreSQL)."""
    a, b = db.store(), db.store()
    await asyncio.gather(a.open(), b.open())
    try:
        await asyncio.gather(
            *(
                s.append(audit_events(2, f"{n}{i}-"))
                for i in range(30)
                for n, s in (("a", a), ("b", b))
            )
        )
        check = (await a.audit_trail()).check()
    finally:
        await asyncio.gather(a.close(), b.close())
    assert check.intact, str(check)
    assert check.records == 120


async def test_a_changed_body_is_found_at_that_record(db: Backend, store: ManagedStore) -> None:
    await store.append(audit_events(10))
    drop_append_only(db)
    seq, rid = link_at(db, 3)  # decisions at positions 3 and 8
    later = link_at(db, 8)[0]
    for target in (later, seq):  # two changes: the earlier one is named
        db.execute(
            f"UPDATE events SET body = replace(body, 'Maj Smith', 'Capt X') WHERE seq = {target}"
        )
    check = (await store.audit_trail()).check()
    assert check.broken is not None
    assert (check.broken.pos, check.broken.seq, check.broken.record_id) == (3, seq, rid)
    assert check.broken.problem == "body changed"
    assert check.records == 2
    assert f"record {rid} (seq {seq}, position 3): body changed" in str(check)


async def test_a_deleted_record_is_found_at_the_gap(db: Backend, store: ManagedStore) -> None:
    await store.append(audit_events(10))
    drop_append_only(db)
    gone, _ = link_at(db, 5)
    after, rid = link_at(db, 6)
    db.execute("DELETE FROM audit_chain WHERE pos = 5")
    db.execute(f"DELETE FROM events WHERE seq = {gone}")
    check = (await store.audit_trail()).check()
    assert check.broken is not None
    assert (check.broken.pos, check.broken.seq, check.broken.record_id) == (6, after, rid)
    assert check.broken.problem == "record missing"
    assert "position 5 before it is absent" in check.broken.detail


async def test_a_record_deleted_from_the_log_only_is_missing(
    db: Backend, store: ManagedStore
) -> None:
    await store.append(audit_events(6))
    drop_append_only(db)
    gone, _ = link_at(db, 2)
    db.execute(f"DELETE FROM events WHERE seq = {gone}")
    check = (await store.audit_trail()).check()
    assert check.broken is not None
    assert (check.broken.pos, check.broken.seq, check.broken.problem) == (2, gone, "record missing")


async def test_a_deleted_link_leaves_its_record_unlinked(db: Backend, store: ManagedStore) -> None:
    await store.append(audit_events(6))
    drop_append_only(db)
    seq, rid = link_at(db, 3)
    db.execute("DELETE FROM audit_chain WHERE pos = 3")
    check = (await store.audit_trail()).check()
    assert check.broken is not None
    assert (check.broken.seq, check.broken.record_id, check.broken.problem) == (
        seq,
        rid,
        "record missing",
    )
    assert "no link in the chain" in check.broken.detail


async def test_swapped_records_are_found_reordered(db: Backend, store: ManagedStore) -> None:
    await store.append(audit_events(8))
    drop_append_only(db)
    a, rid_a = link_at(db, 3)
    b, _ = link_at(db, 6)
    # Swap the two rows' contents, as a reorder of the log would.
    [(ta, aa, ba)] = db.rows(f"SELECT type, at, body FROM events WHERE seq = {a}")
    [(tb, ab, bb)] = db.rows(f"SELECT type, at, body FROM events WHERE seq = {b}")
    for seq, (t, at, body) in ((a, (tb, ab, bb)), (b, (ta, aa, ba))):
        quoted = body.replace("'", "''")
        db.execute(
            f"UPDATE events SET type = '{t}', at = '{at}', body = '{quoted}' WHERE seq = {seq}"
        )
    check = (await store.audit_trail()).check()
    assert check.broken is not None
    assert (check.broken.pos, check.broken.seq, check.broken.problem) == (3, a, "reordered")
    assert "position 6" in check.broken.detail
    assert check.broken.record_id != rid_a  # it now holds the other record


async def test_a_rewritten_link_is_found_at_the_next_record(
    db: Backend, store: ManagedStore
) -> None:
    await store.append(audit_events(6))
    drop_append_only(db)
    db.execute("UPDATE audit_chain SET prev = '" + "0" * 64 + "' WHERE pos = 4")
    seq, _ = link_at(db, 4)
    check = (await store.audit_trail()).check()
    assert check.broken is not None
    assert (check.broken.pos, check.broken.seq, check.broken.problem) == (4, seq, "link broken")


async def test_records_from_before_the_chain_predate_it(db: Backend) -> None:
    """A database of migration 0002 with audit records: they stay as they are, the chain
    starts from the genesis at the next one, and verification counts the older ones."""
    first = db.store()
    await first.open()
    await first.append(audit_events(4, "old"))
    await first.close()
    # Back to the schema of migration 0002, as a database written before this release is.
    db.execute("DROP TABLE audit_chain")
    db.execute("DELETE FROM schema_migrations WHERE version = 3")
    if db.db is None:
        db.execute("UPDATE schema_version SET version = 2")
    second = db.store()
    await second.open()  # 0003 is applied at start: it is additive
    try:
        await second.append(audit_events(3, "new"))
        check = (await second.audit_trail()).check()
    finally:
        await second.close()
    assert check.intact, str(check)
    assert (check.records, check.predating) == (3, 4)
    [(prev,)] = db.rows("SELECT prev FROM audit_chain WHERE pos = 1")
    assert prev == GENESIS

"""SQLiteStore: event log, current state, audit queries, group commit and error translation."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from holdfire.adapters.store.encoding import dumps as _dumps
from holdfire.adapters.store.encoding import encode as _encode
from holdfire.adapters.store.sqlite import DB_FILENAME, SQLiteStore
from holdfire.codecs.json import event_to_dict
from holdfire.domain.alerts import Alert, AlertKind
from holdfire.domain.checks import CheckRequest, Clearance, Reason, ReasonCode, Target, Verdict
from holdfire.domain.errors import DomainError
from holdfire.domain.events import (
    AlertRaised,
    CheckEvaluated,
    Event,
    MeasureCancelled,
    MeasureDefined,
    PositionReported,
    UnitRegistered,
)
from holdfire.domain.measures import CircleGeometry, Measure, MeasureKind, MeasureStatus
from holdfire.domain.reports import PositionReport
from holdfire.domain.units import Unit
from holdfire.engine.clearance import evaluate
from holdfire.engine.picture import Picture
from holdfire.service.ports import Store, StoredState, StoreError
from support.builders import AIM, NOW, make_tables

T0 = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)


def report(
    uid: str = "U1",
    at: datetime = T0,
    *,
    lat: float = 50.0,
    source: str = "cot-tls",
    reporter: str | None = None,
) -> PositionReport:
    return PositionReport(
        uid=uid,
        lat=lat,
        lon=30.0,
        observed_at=at,
        received_at=at,
        source=source,
        reporter=reporter or uid,
        authenticated=True,
        ce_m=10.0,
    )


def measure(mid: str = "m1", kind: MeasureKind = MeasureKind.NFA) -> Measure:
    return Measure(
        id=mid,
        kind=kind,
        geometry=CircleGeometry(lat=50.0, lon=30.0, radius_m=250.0),
        name=f"measure {mid}",
        effective_from=T0,
    )


def clearance(
    cid: str = "c1",
    at: datetime = T0,
    verdict: Verdict = Verdict.NO_KNOWN_CONFLICT,
    requester: str = "fires-1",
) -> Clearance:
    reasons: tuple[Reason, ...] = ()
    if verdict is not Verdict.NO_KNOWN_CONFLICT:
        reasons = (
            Reason(
                code=ReasonCode.FRIENDLY_IN_DANGER_AREA,
                verdict=verdict,
                detail="U1 is close",
                subject="U1",
                distance_m=120.5,
                threshold_m=300.0,
            ),
        )
    return Clearance(
        id=cid,
        verdict=verdict,
        reasons=reasons,
        target=Target(lat=50.0, lon=30.0, mgrs="36UUA0000000000"),
        weapon="81mm-mortar",
        impact_time=at,
        evaluated_at=at,
        valid_until=at + timedelta(seconds=60),
        picture_version=3,
        request=CheckRequest(lat=50.0, lon=30.0, weapon="81mm-mortar", requester=requester),
    )


def alert(aid: str = "a1") -> AlertRaised:
    return AlertRaised(
        alert_id=aid,
        alert=Alert(kind=AlertKind.STALE, subjects=("U1",), detail="U1 is stale", created_at=T0),
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / DB_FILENAME


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(db_path)
    await s.open()
    yield s
    await s.close()


def test_sqlite_store_satisfies_the_port(db_path: Path) -> None:
    port: Store = SQLiteStore(db_path)
    assert port is not None


async def test_empty_store(store: SQLiteStore) -> None:
    assert await store.load() == StoredState(units=(), reports=(), measures=(), last_seq=0)
    assert await store.events() == []
    assert await store.list_checks() == ([], None)
    assert await store.get_check("nope") is None


async def test_settings_wal_full_foreign_keys(store: SQLiteStore, db_path: Path) -> None:
    conn = store._write_conn
    assert conn is not None
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    with closing(sqlite3.connect(db_path)) as other:
        migrated = other.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert migrated.fetchall() == [(1,), (2,)]
        # what a holdfire of the first release reads, and refuses as newer than itself
        assert other.execute("SELECT version FROM schema_version").fetchall() == [(2,)]


async def test_append_and_load_each_event_type(store: SQLiteStore) -> None:
    unit = Unit(uid="U1", callsign="Viper")
    all_events: list[Event] = [
        UnitRegistered(unit=unit, at=T0, by="planner"),
        PositionReported(report()),
        MeasureDefined(measure=measure("m1"), at=T0, by="planner"),
        MeasureDefined(measure=measure("m2", MeasureKind.RFA), at=T0, by="planner"),
        MeasureCancelled(measure_id="m2", at=T0, by="planner"),
        CheckEvaluated(clearance("c1", verdict=Verdict.HOLD)),
        alert("a1"),
    ]
    last = await store.append(all_events)
    assert last == len(all_events)

    state = await store.load()
    assert state.units == (unit,)
    assert state.reports == (report(),)
    assert state.measures == (measure("m1"),)
    assert state.last_seq == last

    logged = await store.events()
    assert [seq for seq, _ in logged] == list(range(1, len(all_events) + 1))
    assert [event for _, event in logged] == all_events
    assert await store.get_check("c1") == clearance("c1", verdict=Verdict.HOLD)

    assert _rows(store, "SELECT id, kind FROM alerts") == [("a1", "STALE")]
    assert _rows(store, "SELECT id, status FROM measures ORDER BY id") == [
        ("m1", "active"),
        ("m2", "cancelled"),
    ]
    assert _rows(store, "SELECT type FROM events ORDER BY seq") == [
        ("unit",),
        ("report",),
        ("measure",),
        ("measure",),
        ("measure_cancelled",),
        ("check",),
        ("alert",),
    ]


async def test_unit_registration_replaces(store: SQLiteStore) -> None:
    await store.append([UnitRegistered(unit=Unit(uid="U1", callsign="A"), at=T0, by="p")])
    await store.append([UnitRegistered(unit=Unit(uid="U1", callsign="B"), at=T0, by="p")])
    assert (await store.load()).units == (Unit(uid="U1", callsign="B"),)


async def test_older_report_never_replaces_newer(store: SQLiteStore) -> None:
    newer = report(at=T0 + timedelta(seconds=10), lat=50.1)
    older = report(at=T0, lat=50.2)
    await store.append([PositionReported(newer)])
    await store.append([PositionReported(older)])
    assert (await store.load()).reports == (newer,)

    # a re-send with the same time replaces (the latest arrival wins a tie)
    same_time = report(at=T0 + timedelta(seconds=10), lat=50.3)
    await store.append([PositionReported(same_time)])
    assert (await store.load()).reports == (same_time,)

    # both fixes are still in the log
    assert len(await store.events()) == 3


async def test_older_report_in_same_batch_does_not_replace(store: SQLiteStore) -> None:
    newer = report(at=T0 + timedelta(milliseconds=500))
    older = report(at=T0)  # fractional vs whole second: ordering must not be textual
    await store.append([PositionReported(newer), PositionReported(older)])
    assert (await store.load()).reports == (newer,)


async def test_reports_latest_per_uid_and_reporter_sorted(store: SQLiteStore) -> None:
    own = report("U1", T0 + timedelta(seconds=5))
    other = report("U1", T0 + timedelta(seconds=1), source="cot-tcp", reporter="U7")
    u2 = report("U2", T0 + timedelta(seconds=3))
    await store.append([PositionReported(own), PositionReported(other), PositionReported(u2)])
    assert (await store.load()).reports == (other, u2, own)


async def test_cancelled_measures_not_loaded_and_redefinition(store: SQLiteStore) -> None:
    await store.append([MeasureDefined(measure=measure("m1"), at=T0, by="p")])
    await store.append([MeasureCancelled(measure_id="m1", at=T0, by="p")])
    assert (await store.load()).measures == ()
    # cancelling an unknown measure is recorded and changes nothing
    await store.append([MeasureCancelled(measure_id="ghost", at=T0, by="p")])
    # the stored body says cancelled too
    body = _rows(store, "SELECT json_extract(body, '$.properties.status') FROM measures")
    assert body == [("cancelled",)]
    # a new definition with the same id is in force again
    await store.append([MeasureDefined(measure=measure("m1"), at=T0, by="p")])
    assert (await store.load()).measures == (measure("m1"),)
    # a measure defined as cancelled is not loaded either
    planned_cancel = Measure(
        id="m9",
        kind=MeasureKind.NFA,
        geometry=CircleGeometry(lat=1.0, lon=1.0, radius_m=1.0),
        status=MeasureStatus.CANCELLED,
    )
    await store.append([MeasureDefined(measure=planned_cancel, at=T0, by="p")])
    assert [m.id for m in (await store.load()).measures] == ["m1"]


async def test_list_checks_newest_first_with_paging(store: SQLiteStore) -> None:
    checks = [clearance(f"c{i:02d}", T0 + timedelta(seconds=i)) for i in range(25)]
    # two checks at the same instant: ordering must stay total across pages
    checks.append(clearance("c99", T0 + timedelta(seconds=10)))
    await store.append([CheckEvaluated(c) for c in checks])

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page, cursor = await store.list_checks(limit=7, cursor=cursor)
        pages += 1
        seen.extend(c.id for c in page)
        if cursor is None:
            break
    assert pages == 4
    expected = sorted(checks, key=lambda c: (c.evaluated_at, c.id), reverse=True)
    assert seen == [c.id for c in expected]

    page, cursor = await store.list_checks(limit=26)
    assert len(page) == 26
    assert cursor is None


async def test_list_checks_filters(store: SQLiteStore) -> None:
    await store.append(
        [
            CheckEvaluated(clearance("a", T0, Verdict.HOLD, "alice")),
            CheckEvaluated(clearance("b", T0 + timedelta(minutes=1), Verdict.COORDINATE, "bob")),
            CheckEvaluated(clearance("c", T0 + timedelta(minutes=2), Verdict.HOLD, "bob")),
            CheckEvaluated(clearance("d", T0 + timedelta(minutes=3), Verdict.NO_KNOWN_CONFLICT)),
        ]
    )

    async def ids(**kwargs: Any) -> list[str]:
        page, _ = await store.list_checks(**kwargs)
        return [c.id for c in page]

    assert await ids() == ["d", "c", "b", "a"]
    assert await ids(verdict=Verdict.HOLD) == ["c", "a"]
    assert await ids(requester="bob") == ["c", "b"]
    assert await ids(requester="bob", verdict=Verdict.HOLD) == ["c"]
    assert await ids(since=T0 + timedelta(minutes=1)) == ["d", "c", "b"]  # inclusive
    assert await ids(until=T0 + timedelta(minutes=2)) == ["b", "a"]  # exclusive
    assert await ids(since=T0 + timedelta(seconds=30), until=T0 + timedelta(minutes=3)) == [
        "c",
        "b",
    ]
    # filters combine with paging
    page, cursor = await store.list_checks(limit=1, verdict=Verdict.HOLD)
    assert [c.id for c in page] == ["c"]
    page, cursor = await store.list_checks(limit=1, verdict=Verdict.HOLD, cursor=cursor)
    assert [c.id for c in page] == ["a"]
    assert cursor is None


async def test_list_checks_bad_arguments(store: SQLiteStore) -> None:
    with pytest.raises(DomainError) as info:
        await store.list_checks(cursor="not-a-cursor")
    assert info.value.field == "cursor"
    with pytest.raises(DomainError) as info:
        await store.list_checks(limit=0)
    assert info.value.field == "limit"
    with pytest.raises(DomainError) as info:
        await store.list_checks(since=datetime(2026, 1, 1))
    assert info.value.field == "since"


async def test_events_paging(store: SQLiteStore) -> None:
    await store.append([PositionReported(report(f"U{i}")) for i in range(10)])
    first = await store.events(limit=4)
    assert [s for s, _ in first] == [1, 2, 3, 4]
    rest = await store.events(after_seq=4)
    assert [s for s, _ in rest] == list(range(5, 11))
    assert await store.events(after_seq=10) == []


async def test_events_and_checks_are_append_only(store: SQLiteStore, db_path: Path) -> None:
    await store.append([PositionReported(report()), CheckEvaluated(clearance("c1"))])
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE events SET type = 'x'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM events")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE checks SET verdict = 'HOLD'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM checks")
    assert len(await store.events()) == 2


async def test_reopen_keeps_everything(db_path: Path) -> None:
    first = SQLiteStore(db_path)
    await first.open()
    batch: list[Event] = [
        UnitRegistered(unit=Unit(uid="U1", callsign="A"), at=T0, by="p"),
        PositionReported(report()),
        MeasureDefined(measure=measure(), at=T0, by="p"),
        CheckEvaluated(clearance()),
        alert(),
    ]
    last = await first.append(batch)
    state = await first.load()
    await first.close()
    await first.close()  # idempotent

    second = SQLiteStore(db_path.parent)  # a directory means DATA_DIR/holdfire.db
    await second.open()
    try:
        assert await second.load() == state
        assert [e for _, e in await second.events()] == batch
        assert await second.get_check("c1") == clearance()
        assert await second.append([PositionReported(report("U2"))]) == last + 1
    finally:
        await second.close()


async def test_concurrent_appends_group_commit(store: SQLiteStore) -> None:
    batch_sizes: list[int] = []
    original = store._write

    def spy(groups: Any) -> list[int]:
        batch_sizes.append(len(groups))
        return original(groups)

    store._write = spy  # type: ignore[method-assign]
    seqs = await asyncio.gather(
        *(store.append([PositionReported(report(f"U{i:03d}"))]) for i in range(200))
    )
    assert sorted(seqs) == list(range(1, 201))
    assert len(set(seqs)) == 200
    # callers appended in order, so their sequence numbers increase in the same order
    assert list(seqs) == sorted(seqs)
    assert sum(batch_sizes) == 200
    assert len(batch_sizes) < 200, "appends arriving during a commit should share a transaction"
    state = await store.load()
    assert len(state.reports) == 200
    assert state.last_seq == 200
    logged = await store.events(limit=1000)
    assert [s for s, _ in logged] == list(range(1, 201))


async def test_multi_event_append_returns_last_seq(store: SQLiteStore) -> None:
    assert await store.append([PositionReported(report("A"))]) == 1
    assert await store.append([PositionReported(report(u)) for u in "BCD"]) == 4
    assert await store.append([]) == 4


async def test_failing_append_fails_alone(store: SQLiteStore) -> None:
    await store.append([CheckEvaluated(clearance("dup"))])
    results = await asyncio.gather(
        store.append([PositionReported(report("U1"))]),
        store.append([PositionReported(report("U2")), CheckEvaluated(clearance("dup"))]),
        store.append([PositionReported(report("U3"))]),
        return_exceptions=True,
    )
    assert isinstance(results[1], StoreError)
    assert "constraint" in str(results[1])
    assert [r for r in results if not isinstance(r, BaseException)] == [2, 3]
    # the failed append left nothing behind: U2 was written with the duplicate or not at all
    uids = {r.uid for r in (await store.load()).reports}
    assert uids == {"U1", "U3"}
    assert len(await store.events()) == 3


async def test_cancelled_caller_does_not_break_the_writer(store: SQLiteStore) -> None:
    task = asyncio.ensure_future(store.append([PositionReported(report("U1"))]))
    await asyncio.sleep(0)
    task.cancel()
    assert await store.append([PositionReported(report("U2"))]) >= 1
    assert {r.uid for r in (await store.load()).reports} <= {"U1", "U2"}


async def test_append_after_close_raises(db_path: Path) -> None:
    s = SQLiteStore(db_path)
    with pytest.raises(StoreError, match="not open"):
        await s.append([PositionReported(report())])
    await s.open()
    await s.close()
    with pytest.raises(StoreError, match="not open"):
        await s.append([PositionReported(report())])
    with pytest.raises(StoreError, match="not open"):
        await s.load()


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


async def test_newer_schema_is_refused(db_path: Path) -> None:
    s = SQLiteStore(db_path)
    await s.open()
    await s.close()
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="schema version 99"):
        await SQLiteStore(db_path).open()


async def test_corrupt_row_is_reported_not_skipped(store: SQLiteStore, db_path: Path) -> None:
    await store.append([UnitRegistered(unit=Unit(uid="U1", callsign="A"), at=T0, by="p")])
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        conn.execute("UPDATE units SET body = '{\"uid\": 5}'")
    with pytest.raises(StoreError, match="unit 'U1' cannot be read"):
        await store.load()


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


def _rows(store: SQLiteStore, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(store.path)) as conn:
        return conn.execute(sql).fetchall()


async def test_the_mailbox_is_kept_until_delivered(tmp_path: Path) -> None:
    from holdfire.domain.events import MessageKept, MessagesDelivered

    at = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
    store = SQLiteStore(tmp_path / "holdfire.db")
    await store.open()
    await store.append(
        [
            MessageKept("uid-a", "<event one/>", at + timedelta(hours=1), at),
            MessageKept("uid-b", "<event two/>", at + timedelta(hours=1), at),
            MessageKept("uid-a", "<event three/>", at + timedelta(hours=2), at),
        ]
    )
    await store.append([MessagesDelivered("uid-b", at)])
    await store.close()
    again = SQLiteStore(tmp_path / "holdfire.db")
    await again.open()
    state = await again.load()
    assert [(m.recipient, m.body) for m in state.mailbox] == [
        ("uid-a", "<event one/>"),
        ("uid-a", "<event three/>"),
    ]
    assert state.mailbox[1].expires_at == at + timedelta(hours=2)
    await again.close()


def test_a_check_row_is_the_event_shape_byte_for_byte() -> None:
    """The log row of a check is written around the checks row's JSON text, not re-encoded:
    it must still be exactly what event_to_dict gives."""
    clearance = evaluate(
        Picture(make_tables()), CheckRequest(lat=AIM[0], lon=AIM[1], weapon="test-gun"),
        now=NOW, check_id="c-1",
    )  # fmt: skip
    event = CheckEvaluated(clearance)
    row = _encode(event)
    assert row.body == _dumps(event_to_dict(event))
    assert json.loads(row.body)["clearance"] == json.loads(row.state[0][1][-1])

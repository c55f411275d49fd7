"""The Store contract: every backend (SQLite, PostgreSQL) behaves the same.

Each test runs once per backend on a fresh database (PostgreSQL: a schema of its own, dropped
afterwards). What only one backend has (SQLite's pragmas and file errors, PostgreSQL's server
and connections) is tested in that backend's own file.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from holdfire.adapters.store import migrations
from holdfire.adapters.store.factory import ManagedStore
from holdfire.adapters.store.migrations import Migration, MigrationRequired, SchemaTooNew
from holdfire.codecs.json import event_from_dict
from holdfire.domain.access import ApiToken, Role
from holdfire.domain.alerts import Alert, AlertKind
from holdfire.domain.checks import Verdict
from holdfire.domain.decisions import Decision, DecisionKind, FiredNotice
from holdfire.domain.errors import DomainError
from holdfire.domain.events import (
    AlertAcked,
    AlertCleared,
    AlertRaised,
    CheckEvaluated,
    CheckFired,
    DecisionRecorded,
    DeliveriesUpdated,
    Event,
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
from holdfire.domain.measures import CircleGeometry, Measure, MeasureKind, MeasureStatus
from holdfire.domain.messages import Delivery, Message
from holdfire.domain.pairings import Pairing
from holdfire.domain.units import Unit
from holdfire.service.ports import Store, StoredState, StoreError
from support.records import T0, alert, clearance, measure, report
from support.stores import BACKENDS, Backend, backend

pytestmark = pytest.mark.integration


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as b:
        yield b


@pytest.fixture
async def store(db: Backend) -> AsyncIterator[ManagedStore]:
    s = db.store()
    await s.open()
    yield s
    await s.close()


def test_the_store_satisfies_the_port(db: Backend) -> None:
    port: Store = db.store()
    assert port is not None


async def test_empty_store(store: ManagedStore) -> None:
    assert await store.load() == StoredState(units=(), reports=(), measures=(), last_seq=0)
    assert await store.events() == []
    assert await store.list_checks() == ([], None)
    assert await store.get_check("nope") is None
    assert await store.outbox("node-a") == []


async def test_append_and_load_each_event_type(store: ManagedStore, db: Backend) -> None:
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

    assert db.rows("SELECT id, kind FROM alerts") == [("a1", "STALE")]
    assert db.rows("SELECT id, status FROM measures ORDER BY id") == [
        ("m1", "active"),
        ("m2", "cancelled"),
    ]
    assert db.rows("SELECT type FROM events ORDER BY seq") == [
        ("unit",),
        ("report",),
        ("measure",),
        ("measure",),
        ("measure_cancelled",),
        ("check",),
        ("alert",),
    ]


async def test_the_log_keeps_the_codec_text(store: ManagedStore, db: Backend) -> None:
    check = CheckEvaluated(clearance("c1", verdict=Verdict.HOLD))
    await store.append([check])
    [(event_body,)] = db.rows("SELECT body FROM events")
    [(check_body,)] = db.rows("SELECT body FROM checks")
    assert event_body == f'{{"type":"check","clearance":{check_body}}}'


async def test_unit_registration_replaces(store: ManagedStore) -> None:
    await store.append([UnitRegistered(unit=Unit(uid="U1", callsign="A"), at=T0, by="p")])
    await store.append([UnitRegistered(unit=Unit(uid="U1", callsign="B"), at=T0, by="p")])
    assert (await store.load()).units == (Unit(uid="U1", callsign="B"),)


async def test_older_report_never_replaces_newer(store: ManagedStore) -> None:
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


async def test_older_report_in_same_batch_does_not_replace(store: ManagedStore) -> None:
    newer = report(at=T0 + timedelta(milliseconds=500))
    older = report(at=T0)  # fractional vs whole second: ordering must not be textual
    await store.append([PositionReported(newer), PositionReported(older)])
    assert (await store.load()).reports == (newer,)


async def test_reports_latest_per_uid_and_reporter_sorted(store: ManagedStore) -> None:
    own = report("U1", T0 + timedelta(seconds=5))
    other = report("U1", T0 + timedelta(seconds=1), source="cot-tcp", reporter="U7")
    u2 = report("U2", T0 + timedelta(seconds=3))
    await store.append([PositionReported(own), PositionReported(other), PositionReported(u2)])
    assert (await store.load()).reports == (other, u2, own)


async def test_cancelled_measures_not_loaded_and_redefinition(
    store: ManagedStore, db: Backend
) -> None:
    await store.append([MeasureDefined(measure=measure("m1"), at=T0, by="p")])
    await store.append([MeasureCancelled(measure_id="m1", at=T0, by="p")])
    assert (await store.load()).measures == ()
    # cancelling an unknown measure is recorded and changes nothing
    await store.append([MeasureCancelled(measure_id="ghost", at=T0, by="p")])
    # the stored body says cancelled too
    [(body,)] = db.rows("SELECT body FROM measures")
    assert json.loads(body)["properties"]["status"] == "cancelled"
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


async def test_list_checks_newest_first_with_paging(store: ManagedStore) -> None:
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


async def test_list_checks_filters(store: ManagedStore) -> None:
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


async def test_list_checks_bad_arguments(store: ManagedStore) -> None:
    with pytest.raises(DomainError) as info:
        await store.list_checks(cursor="not-a-cursor")
    assert info.value.field == "cursor"
    with pytest.raises(DomainError) as info:
        await store.list_checks(limit=0)
    assert info.value.field == "limit"
    with pytest.raises(DomainError) as info:
        await store.list_checks(since=datetime(2026, 1, 1))
    assert info.value.field == "since"


async def test_events_paging(store: ManagedStore) -> None:
    await store.append([PositionReported(report(f"U{i}")) for i in range(10)])
    first = await store.events(limit=4)
    assert [s for s, _ in first] == [1, 2, 3, 4]
    rest = await store.events(after_seq=4)
    assert [s for s, _ in rest] == list(range(5, 11))
    assert await store.events(after_seq=10) == []


async def test_events_and_checks_are_append_only(store: ManagedStore, db: Backend) -> None:
    await store.append([PositionReported(report()), CheckEvaluated(clearance("c1"))])
    for sql in (
        "UPDATE events SET type = 'x'",
        "DELETE FROM events",
        "UPDATE checks SET verdict = 'HOLD'",
        "DELETE FROM checks",
    ):
        with pytest.raises(Exception, match="append-only"):
            db.execute(sql)
    assert len(await store.events()) == 2


async def test_reopen_keeps_everything(db: Backend) -> None:
    first = db.store()
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

    second = db.store()
    await second.open()
    try:
        assert await second.load() == state
        assert [e for _, e in await second.events()] == batch
        assert await second.get_check("c1") == clearance()
        assert await second.append([PositionReported(report("U2"))]) == last + 1
    finally:
        await second.close()


async def test_concurrent_appends_group_commit(store: ManagedStore) -> None:
    batch_sizes: list[int] = []
    original = store._write  # type: ignore[attr-defined]

    def spy(*args: Any) -> Any:
        batch_sizes.append(len(args[-1]))  # the batch of requests is the last argument
        return original(*args)

    store._write = spy  # type: ignore[attr-defined]
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


async def test_multi_event_append_returns_last_seq(store: ManagedStore) -> None:
    assert await store.append([PositionReported(report("A"))]) == 1
    assert await store.append([PositionReported(report(u)) for u in "BCD"]) == 4
    assert await store.append([]) == 4


async def test_failing_append_fails_alone(store: ManagedStore) -> None:
    await store.append([CheckEvaluated(clearance("dup"))])
    results = await asyncio.gather(
        store.append([PositionReported(report("U1"))]),
        store.append([PositionReported(report("U2")), CheckEvaluated(clearance("dup"))]),
        store.append([PositionReported(report("U3"))]),
        return_exceptions=True,
    )
    assert isinstance(results[1], StoreError)
    assert "constraint" in str(results[1])
    accepted = [r for r in results if not isinstance(r, BaseException)]
    assert len(accepted) == 2 and accepted == sorted(accepted)
    # the failed append left nothing behind: U2 was written with the duplicate or not at all
    uids = {r.uid for r in (await store.load()).reports}
    assert uids == {"U1", "U3"}
    assert [seq for seq, _ in await store.events()][-2:] == accepted


async def test_cancelled_caller_does_not_break_the_writer(store: ManagedStore) -> None:
    task = asyncio.ensure_future(store.append([PositionReported(report("U1"))]))
    await asyncio.sleep(0)
    task.cancel()
    assert await store.append([PositionReported(report("U2"))]) >= 1
    assert {r.uid for r in (await store.load()).reports} <= {"U1", "U2"}


async def test_append_after_close_raises(db: Backend) -> None:
    s = db.store()
    with pytest.raises(StoreError, match="not open"):
        await s.append([PositionReported(report())])
    await s.open()
    await s.close()
    with pytest.raises(StoreError, match="not open"):
        await s.append([PositionReported(report())])
    with pytest.raises(StoreError, match="not open"):
        await s.load()


async def test_corrupt_row_is_reported_not_skipped(store: ManagedStore, db: Backend) -> None:
    await store.append([UnitRegistered(unit=Unit(uid="U1", callsign="A"), at=T0, by="p")])
    db.execute("UPDATE units SET body = '{\"uid\": 5}'")
    with pytest.raises(StoreError, match="unit 'U1' cannot be read"):
        await store.load()


async def test_the_mailbox_is_kept_until_delivered(db: Backend) -> None:
    store = db.store()
    await store.open()
    await store.append(
        [
            MessageKept("uid-a", "<event one/>", T0 + timedelta(hours=1), T0),
            MessageKept("uid-b", "<event two/>", T0 + timedelta(hours=1), T0),
            MessageKept("uid-a", "<event three/>", T0 + timedelta(hours=2), T0),
        ]
    )
    await store.append([MessagesDelivered("uid-b", T0)])
    await store.close()
    again = db.store()
    await again.open()
    state = await again.load()
    assert [(m.recipient, m.body) for m in state.mailbox] == [
        ("uid-a", "<event one/>"),
        ("uid-a", "<event three/>"),
    ]
    assert state.mailbox[1].expires_at == T0 + timedelta(hours=2)
    await again.close()


# -- alerts, check records, pairings, messages, tokens ----------------------------------------


async def test_alerts_acks_and_clears(store: ManagedStore) -> None:
    lookalike = AlertRaised(
        "a3",
        Alert(AlertKind.LOOKALIKE_ARRIVAL, ("U3",), "a lookalike arrived", T0),
    )
    await store.append([alert("a1"), alert("a2"), lookalike])
    await store.append([AlertAcked("a1", T0 + timedelta(seconds=5), "planner-1")])
    await store.append([AlertAcked("a1", T0 + timedelta(seconds=9), "someone-else")])  # kept first
    await store.append([AlertCleared("a2", T0 + timedelta(seconds=7)), AlertCleared("a3", T0)])

    one = await store.get_alert("a1")
    assert one is not None
    assert (one.acked_at, one.acked_by, one.cleared_at) == (
        T0 + timedelta(seconds=5),
        "planner-1",
        None,
    )
    assert await store.get_alert("nope") is None
    page, cursor = await store.list_alerts(limit=2)
    assert [r.id for r in page] == ["a3", "a2"]
    page, cursor = await store.list_alerts(limit=2, cursor=cursor)
    assert [r.id for r in page] == ["a1"] and cursor is None
    assert [r.id for r in (await store.list_alerts(unacked=True))[0]] == ["a3", "a2"]
    assert [r.id for r in (await store.list_alerts(open_only=True))[0]] == ["a1"]
    assert [r.id for r in (await store.list_alerts(kind="LOOKALIKE_ARRIVAL"))[0]] == ["a3"]
    # a start picks up the open STALE alert and every lookalike arrival, cleared or not
    assert [r.id for r in (await store.load()).alerts] == ["a1", "a3"]


async def test_check_records_oldest_first(store: ManagedStore) -> None:
    await store.append([CheckEvaluated(clearance("c1"))])
    decision = Decision(
        "d1", "c1", DecisionKind.DANGER_CLOSE_ACCEPTED, "Maj Smith", "VIPER-6", "JS",
        T0 + timedelta(hours=1), T0, "fires-1",
    )  # fmt: skip
    fired = FiredNotice("f1", "c1", T0 + timedelta(minutes=1), T0 + timedelta(minutes=1), "f-1")
    await store.append([DecisionRecorded(decision), CheckFired(fired)])
    records = await store.check_records("c1")
    assert records.decisions == (decision,)
    assert records.fired == (fired,)
    assert (await store.check_records("other")).decisions == ()


async def test_pairings_open_until_closed(store: ManagedStore) -> None:
    p1 = Pairing("p1", "veh-1", ("sqd-1", "sqd-2"), T0, "planner")
    p2 = Pairing("p2", "veh-2", ("sqd-3",), T0, "planner", max_separation_m=300.0)
    await store.append([PairingCreated(p1), PairingCreated(p2)])
    await store.append([PairingClosed("p1", T0, "MOUNTED from sqd-1")])
    assert (await store.load()).pairings == (p2,)


async def test_messages_and_deliveries(store: ManagedStore) -> None:
    message = Message("m1", "WITHDRAWING_IN", {"minutes": 5}, "group:a", "planner", T0)
    to_a = Delivery("d1", "m1", "WITHDRAWING_IN", "U1", "en", "text", "text", T0)
    to_b = Delivery("d2", "m1", "WITHDRAWING_IN", "U2", "ru", "текст", "text", T0)
    other = Message("m2", "CHECK_IN", {}, "U1", "planner", T0, ack_required=False)
    done = Delivery("d3", "m2", "CHECK_IN", "U1", "en", "t", "t", T0, ack_required=False)
    await store.append([MessageSent(message, (to_a, to_b)), MessageSent(other, (done,))])
    acked = replace(to_a, acked_at=T0 + timedelta(minutes=1), acked_by="U1")
    await store.append([DeliveriesUpdated((acked, replace(done, ack_required=False)))])

    assert await store.get_message("m1") == message
    assert await store.get_message("nope") is None
    page, cursor = await store.list_deliveries(limit=2)
    assert [d.id for d in page] == ["d3", "d2"]
    page, cursor = await store.list_deliveries(limit=2, cursor=cursor)
    assert page == [acked] and cursor is None
    assert [d.id for d in (await store.list_deliveries(recipient="U1"))[0]] == ["d3", "d1"]
    assert [d.id for d in (await store.list_deliveries(message_id="m1"))[0]] == ["d2", "d1"]
    pending = [d.id for d in (await store.list_deliveries(pending=True))[0]]
    assert pending == ["d2"]
    state = await store.load()  # pending ones and every WITHDRAWING_IN, with their messages
    assert [d.id for d in state.deliveries] == ["d1", "d2"]
    assert state.messages == (message,)


def _token(tid: str, name: str, secret_hash: str) -> ApiToken:
    return ApiToken(tid, name, Role.FIRES, secret_hash, T0, ("U1",), "admin")


async def test_tokens_with_a_unique_active_name(store: ManagedStore) -> None:
    first = _token("t1", "fires-1", "h1")
    await store.append([TokenIssued(first)])
    assert await store.find_token("h1") == first
    with pytest.raises(StoreError, match="constraint"):
        await store.append([TokenIssued(_token("t2", "fires-1", "h2"))])
    await store.append([TokenRevoked("t1", T0 + timedelta(minutes=1), "admin")])
    assert await store.find_token("h1") is None
    second = _token("t3", "fires-1", "h3")  # the name is free again once revoked
    await store.append([TokenIssued(second)])
    tokens = await store.list_tokens()
    assert [t.id for t in tokens] == ["t1", "t3"]
    assert tokens[0].revoked_at == T0 + timedelta(minutes=1)
    assert tokens[1] == second


# -- the outbox -------------------------------------------------------------------------------


async def test_the_outbox_queues_in_the_same_transaction(store: ManagedStore) -> None:
    await store.append([PositionReported(report("U0"))])  # not for any node
    first = PositionReported(report("U1"))
    second = UnitRegistered(Unit(uid="U2", callsign="B"), T0, "p")
    assert await store.append([first, second], outbox="node-a") == 3
    await store.append([PositionReported(report("U3"))], outbox="node-b")

    async def queued(node: str, limit: int = 1000) -> list[tuple[int, str, Any]]:
        """(seq, type, event) of what waits for `node`: the body is the event's JSON text."""
        return [
            (q.seq, q.type, event_from_dict(json.loads(q.body)))
            for q in await store.outbox(node, limit)
        ]

    assert await queued("node-a") == [(2, "report", first), (3, "unit", second)]
    assert await queued("node-a", limit=1) == [(2, "report", first)]
    assert [q.seq for q in await store.outbox("node-b")] == [4]
    await store.unqueue([2, 99])  # unknown seqs are ignored
    assert await queued("node-a") == [(3, "unit", second)]
    await store.unqueue([])
    await store.unqueue([3, 4])
    assert await store.outbox("node-a") == await store.outbox("node-b") == []
    assert len(await store.events()) == 4  # the log keeps everything


async def test_a_failed_append_queues_nothing(store: ManagedStore) -> None:
    await store.append([CheckEvaluated(clearance("dup"))])
    with pytest.raises(StoreError):
        await store.append(
            [PositionReported(report()), CheckEvaluated(clearance("dup"))], outbox="node-a"
        )
    assert await store.outbox("node-a") == []


async def test_the_outbox_survives_a_restart(db: Backend) -> None:
    store = db.store()
    await store.open()
    await store.append([PositionReported(report())], outbox="node-a")
    await store.close()
    again = db.store()
    await again.open()
    try:
        (queued,) = await again.outbox("node-a")
        assert (queued.seq, queued.type) == (1, "report")
        assert event_from_dict(json.loads(queued.body)) == PositionReported(report())
    finally:
        await again.close()


# -- migrations -------------------------------------------------------------------------------


async def test_a_fresh_database_gets_every_migration(db: Backend) -> None:
    store = db.store()
    before = await store.schema_status()
    assert before.applied == ()
    assert [m.version for m in before.pending] == [1, 2, 3]
    await store.open()
    await store.close()
    after = await store.schema_status()
    assert [(a.version, a.name) for a in after.applied] == [
        (1, "schema"),
        (2, "outbox"),
        (3, "audit_chain"),
    ]
    assert after.pending == ()
    assert await store.migrate() == ()  # nothing left to do


async def test_a_database_newer_than_the_code_is_refused(db: Backend) -> None:
    store = db.store()
    await store.open()
    await store.close()
    db.execute("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01T00:00:00Z')")
    with pytest.raises(SchemaTooNew, match="schema version 99, newer than this holdfire"):
        await db.store().open()
    with pytest.raises(SchemaTooNew):
        await db.store().migrate()


async def test_a_migration_not_safe_at_start_needs_holdfire_migrate(
    db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = db.store()
    await store.open()
    await store.append([PositionReported(report())])
    await store.close()
    shipped = migrations.available

    def with_a_rewrite(backend: migrations.Backend) -> tuple[Migration, ...]:
        rewrite = Migration(4, "rewrite", "CREATE INDEX events_type ON events (type);", False)
        return (*shipped(backend), rewrite)

    monkeypatch.setattr(migrations, "available", with_a_rewrite)
    with pytest.raises(MigrationRequired, match=r"0004_rewrite.*holdfire migrate"):
        await db.store().open()
    status = await db.store().schema_status()
    assert [m.label for m in status.pending] == ["0004_rewrite"]
    assert [m.label for m in await db.store().migrate()] == ["0004_rewrite"]
    again = db.store()
    await again.open()
    try:
        assert len((await again.load()).reports) == 1
    finally:
        await again.close()

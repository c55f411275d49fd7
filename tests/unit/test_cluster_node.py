"""A node's side of the cluster, without servers: what the nodes send each other, the cut-off
reason, events of other nodes applied once, listeners that want only local events, the outbox,
and the check spool while the store is unreachable."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from holdfire.adapters.bus.nats import MAX_CHUNK_EVENTS, _chunks
from holdfire.adapters.catalog import load_catalog
from holdfire.adapters.store.encoding import encode
from holdfire.adapters.store.spool import CheckSpoolFile
from holdfire.adapters.store.sqlite import SQLiteStore
from holdfire.codecs.cluster import (
    NodeStatus,
    cot_envelope,
    events_envelope,
    node_status_to_bytes,
    read_cot_envelope,
    read_events_envelope,
    read_node_status,
)
from holdfire.codecs.json import CodecError
from holdfire.domain.checks import ReasonCode, Verdict
from holdfire.domain.events import (
    CheckEvaluated,
    Event,
    MeasureCancelled,
    MeasureDefined,
    PositionReported,
    UnitRegistered,
)
from holdfire.domain.measures import CircleGeometry, Measure, MeasureKind
from holdfire.domain.reports import PositionReport
from holdfire.domain.units import Affiliation, Unit
from holdfire.engine.clearance import evaluate
from holdfire.service.bus import EventHub
from holdfire.service.handlers import Service
from holdfire.service.ports import Queued, StoreUnavailable
from support.builders import AIM, make_tables, picture, request

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        return self.t


class Link:
    """A ClusterLink as the service sees it."""

    def __init__(self, node: str = "a") -> None:
        self._node = node
        self.since: datetime | None = None
        self.leads = True
        self.kicks = 0

    @property
    def node(self) -> str:
        return self._node

    def cut_off_since(self) -> datetime | None:
        return self.since

    def coordinates(self) -> bool:
        return self.leads

    def recorded(self) -> None:
        self.kicks += 1


def report(uid: str, t: datetime = T0, lat: float = AIM[0], lon: float = AIM[1]) -> PositionReport:
    return PositionReport(
        uid=uid, lat=lat, lon=lon, observed_at=t, received_at=t, source="test", reporter=uid,
        authenticated=True, ce_m=10.0,
    )  # fmt: skip


@pytest.fixture
async def service(tmp_path: Path) -> Service:
    svc = Service(
        SQLiteStore(tmp_path), make_tables(), Clock(), lambda: uuid.uuid4().hex, load_catalog(None)
    )
    await svc.start()
    return svc


# --- what the nodes send each other ---------------------------------------------------------


def test_an_events_envelope_round_trips_with_their_sequences_and_origin() -> None:
    first, second = PositionReported(report("u1")), PositionReported(report("u2"))
    wire = events_envelope("node-a", [(42, encode(first).body), (44, encode(second).body)])
    assert read_events_envelope(wire) == ("node-a", [(42, first), (44, second)])


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"not json", "envelope"),
        (b"[]", "envelope"),
        (b'{"node": "a", "events": []}', "events"),
        (b'{"node": "a", "events": [{"seq": -1, "event": {}}]}', "seq"),
        (b'{"node": "", "events": [{"seq": 1, "event": {}}]}', "node"),
        (b'{"node": "a", "events": [{"seq": 1, "event": 3}]}', "events[0]"),
        (b'{"node": "a", "events": [{"seq": 1, "event": {"type": "nonsense"}}]}', "type"),
    ],
)
def test_a_bad_event_envelope_names_what_is_wrong(data: bytes, field: str) -> None:
    with pytest.raises(CodecError) as caught:
        read_events_envelope(data)
    assert caught.value.field == field


def test_a_cot_envelope_keeps_the_xml_and_the_groups() -> None:
    xml = '<event uid="ANDROID-1" type="a-f-G-U-C"><detail remarks="Привет"/></event>'.encode()
    node, back, groups = read_cot_envelope(cot_envelope("b", xml, {"Cyan", "__ANON__"}))
    assert (node, back, groups) == ("b", xml, frozenset({"Cyan", "__ANON__"}))
    with pytest.raises(CodecError, match="groups"):
        read_cot_envelope(b'{"node": "b", "groups": [1], "xml": "<event/>"}')


def test_a_node_status_round_trips_and_refuses_an_unknown_state() -> None:
    status = NodeStatus("c", "cut-off", 3, 17, T0, "http://127.0.0.1:8080", T0)
    assert read_node_status(node_status_to_bytes(status)) == status
    bad = node_status_to_bytes(status).replace(b"cut-off", b"sleepy")
    with pytest.raises(CodecError, match="state"):
        read_node_status(bad)


# --- the cut-off reason -----------------------------------------------------------------------


def test_a_node_cut_off_answers_with_cluster_degraded_saying_for_how_long() -> None:
    pic = picture()
    clear = evaluate(pic, request(), now=T0, check_id="c1")
    assert clear.verdict is Verdict.NO_KNOWN_CONFLICT
    cut = evaluate(pic, request(), now=T0, check_id="c2", cut_off_since=T0 - timedelta(seconds=95))
    assert cut.verdict is Verdict.COORDINATE
    (reason,) = cut.reasons
    assert reason.code is ReasonCode.CLUSTER_DEGRADED
    assert "95 s" in reason.detail


def test_cut_off_never_loosens_a_hold() -> None:
    pic = picture()
    pic.register_unit(Unit("f1", "F1", affiliation=Affiliation.FRIEND))
    pic.apply_report(report("f1"))
    cut = evaluate(pic, request(), now=T0, check_id="c", cut_off_since=T0)
    assert cut.verdict is Verdict.HOLD
    assert ReasonCode.CLUSTER_DEGRADED in {r.code for r in cut.reasons}


# --- the service as a node --------------------------------------------------------------------


async def test_events_of_other_nodes_reach_the_picture_and_only_remote_listeners(
    service: Service,
) -> None:
    local: list[Sequence[Event]] = []
    remote: list[Sequence[Event]] = []
    both: list[Sequence[Event]] = []
    service.hub.subscribe(local.append, remote=False)
    service.hub.subscribe(remote.append, local=False)
    service.hub.subscribe(both.append)
    nfa = Measure("m1", MeasureKind.NFA, CircleGeometry(AIM[0], AIM[1], 500.0))
    events: list[Event] = [
        UnitRegistered(Unit("f1", "F1", affiliation=Affiliation.FRIEND), T0, "b"),
        PositionReported(report("f1")),
        MeasureDefined(nfa, T0, "b"),
    ]
    service.apply_remote(events)
    assert service.picture.track("f1") is not None
    assert [m.id for m in service.picture.measures()] == ["m1"]
    held = await service.check(request())
    assert {r.code for r in held.reasons} >= {
        ReasonCode.FRIENDLY_IN_DANGER_AREA,
        ReasonCode.NO_FIRE_AREA,
    }
    service.apply_remote([MeasureCancelled("m1", T0, "b")])
    assert list(service.picture.measures()) == []
    assert local and all(isinstance(e, CheckEvaluated) for batch in local for e in batch)
    assert [list(b) for b in remote] == [events, [MeasureCancelled("m1", T0, "b")]]
    assert len(both) == len(local) + len(remote)
    # Nothing another node did was written here again: its node wrote it.
    assert [type(e) for _, e in await service.store.events()] == [CheckEvaluated]


async def test_a_node_queues_what_it_takes_in_its_outbox_and_asks_for_it_to_be_published(
    service: Service,
) -> None:
    link = Link("a")
    service.cluster = link
    await service.register_unit(Unit("f1", "F1"), by="t")
    await service.report(report("f1"))
    queued = await service.store.outbox("a")
    assert [q.type for q in queued] == ["unit", "report"]
    # What goes on the wire is the stored text, wrapped as it is.
    wire = events_envelope("a", [(q.seq, q.body) for q in queued])
    node, events = read_events_envelope(wire)
    assert (node, events[1]) == ("a", (queued[1].seq, PositionReported(report("f1"))))
    assert await service.store.outbox("b") == []
    assert link.kicks == 2
    await service.store.unqueue([q.seq for q in queued])
    assert await service.store.outbox("a") == []


async def test_only_the_coordinating_node_ticks(service: Service) -> None:
    link = Link()
    service.cluster = link
    link.leads = False
    calls: list[datetime] = []
    original = service.coordinator.tick

    def tick(now: datetime):  # type: ignore[no-untyped-def]
        calls.append(now)
        return original(now)

    service.coordinator.tick = tick  # type: ignore[method-assign]
    await service.tick()
    assert calls == []
    link.leads = True
    await service.tick()
    assert calls == [T0]


class DownStore(SQLiteStore):
    """The store, with its server gone: writes and reads fail as unreachable."""

    down = True

    async def append(self, events: Sequence[Event], *, outbox: str | None = None) -> int:
        if self.down:
            raise StoreUnavailable("the database server at 127.0.0.1:5432 cannot be reached")
        return await super().append(events, outbox=outbox)

    async def get_check(self, check_id: str):  # type: ignore[no-untyped-def]
        if self.down:
            raise StoreUnavailable("the database server at 127.0.0.1:5432 cannot be reached")
        return await super().get_check(check_id)


async def test_a_check_answered_while_the_store_is_down_is_spooled_then_written(
    tmp_path: Path,
) -> None:
    store = DownStore(tmp_path)
    svc = Service(store, make_tables(), Clock(), lambda: uuid.uuid4().hex, load_catalog(None))
    await svc.start()
    spool = CheckSpoolFile(tmp_path, store, outbox="a")
    with pytest.raises(StoreUnavailable):  # without a spool, the caller learns of it
        await svc.check(request())
    svc.spool = spool
    answered = [await svc.check(request()) for _ in range(3)]
    assert await spool.pending() == 3
    with pytest.raises(StoreUnavailable):
        await spool.flush()  # still down: nothing lost, nothing written
    assert await spool.pending() == 3
    # Reopened (a restart while the store is down) the spool still holds them.
    spool = CheckSpoolFile(tmp_path, store, outbox="a")
    store.down = False
    await store.append([CheckEvaluated(answered[0])])  # one got in before a crash
    assert await spool.flush() == 3
    assert await spool.pending() == 0
    for clearance in answered:
        assert await store.get_check(clearance.id) == clearance
    kept = [e for _, e in await store.events() if isinstance(e, CheckEvaluated)]
    assert sorted(e.clearance.id for e in kept) == sorted(c.id for c in answered)
    assert len(await store.outbox("a")) == 2  # the two the spool wrote are for the others too
    await svc.close()


def test_a_node_decodes_other_nodes_check_records_only_for_a_listener_that_wants_them() -> None:
    hub = EventHub()
    assert not hub.wants_remote_audit
    stop_local = hub.subscribe(lambda _: None, remote=False)
    stop_desk = hub.subscribe(lambda _: None, local=False, audit=False)
    assert not hub.wants_remote_audit  # the CoT desk wants deliveries, not check records
    stop_stream = hub.subscribe(lambda _: None)
    assert hub.wants_remote_audit  # a stream client may be shown other nodes' checks
    stop_stream()
    assert not hub.wants_remote_audit
    stop_local()
    stop_desk()
    assert hub.listeners == 0


def test_events_go_many_to_a_message_with_check_records_apart() -> None:
    def q(seq: int, kind: str, size: int = 10) -> Queued:
        return Queued(seq, kind, "x" * size)

    batch = [q(1, "report"), q(2, "unit"), q(3, "check"), q(4, "check"), q(5, "report")]
    assert [[x.seq for x in c] for c in _chunks(batch)] == [[1, 2], [3, 4], [5]]
    many = [q(i, "report") for i in range(MAX_CHUNK_EVENTS + 1)]
    assert [len(c) for c in _chunks(many)] == [MAX_CHUNK_EVENTS, 1]
    big = [q(1, "report", 200_000), q(2, "report", 100_000), q(3, "report", 10)]
    assert [[x.seq for x in c] for c in _chunks(big)] == [[1], [2, 3]]

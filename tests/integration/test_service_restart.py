"""The service keeps the picture and the store in step: a restart rebuilds the same picture,
on SQLite and on PostgreSQL."""

import gc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from holdfire.adapters.catalog import load_catalog
from holdfire.domain.checks import CheckRequest, ReasonCode, Verdict
from holdfire.domain.measures import CircleGeometry, Measure, MeasureKind
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility
from holdfire.domain.units import Unit
from holdfire.service.handlers import GC_YOUNG_THRESHOLD, Service
from support.builders import AIM, make_tables, offset
from support.stores import BACKENDS, Backend, backend

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        return self.t


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as b:
        yield b


def service(db: Backend, clock: FakeClock) -> Service:
    return Service(db.store(), make_tables(), clock, lambda: uuid.uuid4().hex, load_catalog(None))


def fix(
    uid: str, at: tuple[float, float], t: datetime, reporter: str | None = None
) -> PositionReport:
    return PositionReport(
        uid=uid, lat=at[0], lon=at[1], observed_at=t, received_at=t, source="test",
        reporter=reporter or uid, authenticated=True, ce_m=10.0,
    )  # fmt: skip


def snapshot(svc: Service) -> tuple[object, ...]:
    pic = svc.picture
    return (
        sorted((u.uid, u) for u in pic.units()),
        sorted((t.uid, t) for t in pic.tracks()),
        sorted((m.id, m) for m in pic.measures()),
    )


async def test_restart_rebuilds_the_same_picture_and_keeps_checks(db: Backend) -> None:
    clock = FakeClock()
    first = service(db, clock)
    await first.start()
    await first.register_unit(Unit("a", "ALPHA", mobility=Mobility.STATIC), by="test")
    await first.report(fix("a", AIM, T0))
    # an older fix arriving later never replaces the newer one, before or after a restart
    await first.report(fix("a", offset(*AIM, 0.0, 5000.0), T0 - timedelta(minutes=1)))
    # a witness elsewhere: kept as an extra position, raises a SECURITY alert
    result = await first.report(fix("a", offset(*AIM, 90.0, 3000.0), T0, reporter="mallory"))
    assert result.accepted and result.alert_ids
    await first.report(fix("new", offset(*AIM, 180.0, 2000.0), T0))  # registers "new"
    nfa = Measure("nfa", MeasureKind.NFA, CircleGeometry(*offset(*AIM, 45.0, 8000.0), 500.0))
    await first.define_measure(nfa, by="test")
    await first.define_measure(Measure("gone", MeasureKind.NFA, CircleGeometry(*AIM, 1.0)), by="t")
    assert await first.cancel_measure("gone", by="test")
    held = await first.check(CheckRequest(lat=AIM[0], lon=AIM[1], weapon="test-gun"))
    before = snapshot(first)
    await first.close()

    second = service(db, clock)
    await second.start()
    assert snapshot(second) == before
    again = await second.check(CheckRequest(lat=AIM[0], lon=AIM[1], weapon="test-gun"))
    assert again.verdict is held.verdict is Verdict.HOLD
    assert [r.code for r in again.reasons] == [r.code for r in held.reasons]
    inside_nfa = await second.check(
        CheckRequest(lat=offset(*AIM, 45.0, 8000.0)[0], lon=offset(*AIM, 45.0, 8000.0)[1],
                     weapon="test-gun", target_type="m1a2")
    )  # fmt: skip
    assert ReasonCode.NO_FIRE_AREA in {r.code for r in inside_nfa.reasons}
    stored = await second.store.get_check(held.id)
    assert stored is not None and stored.verdict is Verdict.HOLD
    checks, _ = await second.store.list_checks()
    assert {c.id for c in checks} >= {held.id, again.id, inside_nfa.id}
    await second.close()


async def test_removed_and_expired_markers_stay_gone_after_a_restart(db: Backend) -> None:
    from dataclasses import replace

    clock = FakeClock()
    first = service(db, clock)
    await first.start()
    for uid in ("mk-deleted", "mk-expired", "mk-kept"):
        placed = replace(fix(uid, AIM, T0, reporter="lead"), marker=True, authenticated=False)
        await first.report(placed)
    assert await first.remove_marker("mk-deleted", by="lead", reason="deleted by its client")
    clock.t = T0 + timedelta(hours=2)  # mk-expired and mk-kept are long lost now
    await first.report(
        replace(fix("mk-kept", AIM, clock.t, reporter="lead"), marker=True, authenticated=False)
    )
    assert await first.expire_markers() == ["mk-expired"]
    await first.close()

    second = service(db, clock)
    await second.start()
    assert {t.uid for t in second.picture.tracks()} == {"mk-kept"}
    assert second.picture.unit("mk-kept") is None
    removed = [e for _, e in await second.store.events() if type(e).__name__ == "MarkerRemoved"]
    assert [(e.uid, e.reason) for e in removed] == [
        ("mk-deleted", "deleted by its client"),
        ("mk-expired", "expired"),
    ]
    await second.close()


async def test_a_started_service_keeps_the_collector_off_its_picture(db: Backend) -> None:
    """The picture loaded at the start is frozen out of the cyclic collector, and young
    collections are rare enough that the objects of checks in flight are not promoted."""
    gc.set_threshold(700, 10, 10)
    svc = service(db, FakeClock())
    await svc.start()
    try:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 20, 20)
    finally:
        await svc.close()

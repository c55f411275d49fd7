"""Replay on both stores: at every instant the fold gives the very picture the live service
held then, and a check's own picture ends at its record in the log, even against a report
stamped with the check's own time but taken after it."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from holdfire.adapters.catalog import load_catalog
from holdfire.codecs.json import clearance_to_dict
from holdfire.domain.checks import CheckRequest, ReasonCode, Verdict
from holdfire.domain.measures import CircleGeometry, Measure, MeasureKind
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility
from holdfire.domain.units import Unit, UnitStatus
from holdfire.engine.picture import Picture
from holdfire.service.handlers import Service
from holdfire.service.replay import check_picture, picture_at
from holdfire.sim.pace import FakeClock
from support.builders import AIM, make_tables, offset
from support.stores import BACKENDS, Backend, backend

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as b:
        yield b


def fix(uid: str, at: tuple[float, float], t: datetime) -> PositionReport:
    return PositionReport(
        uid=uid, lat=at[0], lon=at[1], observed_at=t, received_at=t, source="test",
        reporter=uid, authenticated=True, ce_m=10.0,
    )  # fmt: skip


def snapshot(picture: Picture) -> tuple[object, ...]:
    return (
        sorted((u.uid, u) for u in picture.units()),
        sorted((t.uid, t) for t in picture.tracks()),
        sorted((m.id, m) for m in picture.measures()),
    )


async def test_the_fold_gives_the_live_picture_of_every_instant(db: Backend) -> None:
    clock = FakeClock(T0)
    svc = Service(db.store(), make_tables(), clock, lambda: uuid.uuid4().hex, load_catalog(None))
    await svc.start()
    try:
        seen: list[tuple[datetime, tuple[object, ...]]] = []

        def step(seconds: float) -> None:
            seen.append((clock.t, snapshot(svc.picture)))
            clock.t = T0 + timedelta(seconds=seconds)

        await svc.register_unit(Unit("a", "ALPHA", mobility=Mobility.STATIC), by="test")
        await svc.report(fix("a", offset(*AIM, 90.0, 50.0), clock.t))
        step(10)
        nfa = Measure("nfa", MeasureKind.NFA, CircleGeometry(*offset(*AIM, 0.0, 200.0), 100.0))
        await svc.define_measure(nfa, by="test")
        await svc.report(fix("b", offset(*AIM, 180.0, 400.0), clock.t))  # registers "b"
        held = await svc.check(CheckRequest(lat=AIM[0], lon=AIM[1], weapon="test-gun"))
        # same instant, taken after the check: not what the check saw
        await svc.report(fix("a", offset(*AIM, 90.0, 9000.0), clock.t))
        step(20)
        await svc.cancel_measure("nfa", by="test")
        await svc.register_unit(Unit("b", "BRAVO", status=UnitStatus.ABSENT), by="test")
        # an older fix arriving now is refused by the picture and never logged
        await svc.report(fix("a", AIM, T0))
        step(30)
        for instant, live in seen:
            folded = await picture_at(svc.store, svc.picture.tables, instant)
            assert snapshot(folded.picture) == live, instant

        assert held.verdict is Verdict.HOLD
        assert {ReasonCode.FRIENDLY_IN_DANGER_AREA, ReasonCode.NO_FIRE_AREA} <= {
            r.code for r in held.reasons
        }
        saw = await check_picture(svc.store, svc.picture.tables, held.id)
        assert clearance_to_dict(saw.replayed)["reasons"] == clearance_to_dict(held)["reasons"]
        assert saw.weighed is not None
        assert [p.report.uid for p in saw.weighed.positions] == ["a", "b"]
        assert [m.id for m in saw.weighed.measures] == ["nfa"]
        # by time alone, the report stamped at the check's instant would have counted
        by_time = await picture_at(svc.store, svc.picture.tables, held.evaluated_at)
        track = by_time.picture.track("a")
        assert track is not None and track.latest.lon == offset(*AIM, 90.0, 9000.0)[1]
    finally:
        await svc.close()

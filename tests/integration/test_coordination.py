"""Coordination through the service, on a fake clock: pairing watch, acknowledgements,
staleness, check fire, lookalike arrival and fired notices, with the real catalog and store.

The seed incident: BTR-82s (crews read Russian) dismount a North Korean squad (Korean) and drive
off; holdfire must tell the squad in Korean and the crews in Russian within one report cycle,
and stay quiet when the crews said they were withdrawing and the squad acknowledged.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyproj import Geod

from holdfire.adapters.catalog import load_catalog
from holdfire.adapters.store.sqlite import SQLiteStore
from holdfire.adapters.tables import load_tables
from holdfire.domain.alerts import AlertKind
from holdfire.domain.checks import CheckRequest, PidBasis, ReasonCode, Verdict
from holdfire.domain.identity import Affiliation
from holdfire.domain.messages import Delivery
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility
from holdfire.domain.units import Unit
from holdfire.geo import to_mgrs
from holdfire.service.handlers import Service

pytestmark = pytest.mark.integration

GEOD = Geod(ellps="WGS84")
T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
# About 4 km south of Kalinovka (Kursk region).
DISMOUNT = (51.2860, 35.1860)
CYCLE = timedelta(seconds=10)  # every unit reports this often


def offset(origin: tuple[float, float], bearing: float, metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[1], origin[0], bearing, metres)
    return lat, lon


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        return self.t


class World:
    def __init__(self, service: Service, clock: FakeClock) -> None:
        self.service = service
        self.clock = clock

    async def unit(self, uid: str, language: str, mobility: Mobility, **fields: object) -> None:
        unit = Unit(uid=uid, callsign=uid.upper(), language=language, mobility=mobility, **fields)  # type: ignore[arg-type]
        await self.service.register_unit(unit, by="test")

    async def at(self, uid: str, where: tuple[float, float]) -> None:
        t = self.clock.t
        report = PositionReport(
            uid=uid, lat=where[0], lon=where[1], observed_at=t, received_at=t, source="test",
            reporter=uid, authenticated=True, ce_m=10.0,
        )  # fmt: skip
        (result,) = await self.service.reports([report])
        assert result.accepted, result.detail

    async def advance(self, by: timedelta) -> None:
        self.clock.t += by
        await self.service.tick()

    async def deliveries(self, to: str) -> list[Delivery]:
        items, _ = await self.service.store.list_deliveries(recipient=to, limit=1000)
        return items

    async def alerts(self, kind: AlertKind) -> list[object]:
        items, _ = await self.service.store.list_alerts(kind=kind.value, limit=1000)
        return items


def service_maker(data: Path, clock: FakeClock) -> Callable[[], Service]:
    """Services on one data directory and clock (a restart is a second one), with ids in
    order, so a run reads the same every time."""
    counter = itertools.count(1)

    def make() -> Service:
        return Service(
            SQLiteStore(data / "holdfire.db"), load_tables(data), clock,
            lambda: f"{next(counter):032x}", load_catalog(data),
        )  # fmt: skip

    return make


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    clock = FakeClock()
    service = service_maker(tmp_path, clock)()
    await service.start()
    try:
        yield World(service, clock)
    finally:
        await service.close()


CREWS = ("btr-1", "btr-2", "btr-3")


async def section_and_squad(w: World) -> None:
    await w.unit("coy-hq", "ru", Mobility.WHEELED)
    await w.unit("kpa-plt", "ko", Mobility.DISMOUNTED, nation="PRK")
    for uid in CREWS:
        await w.unit(uid, "ru", Mobility.WHEELED, parent="coy-hq", nation="RUS")
    await w.unit("sqd-1", "ko", Mobility.DISMOUNTED, parent="kpa-plt", nation="PRK")
    for i, uid in enumerate(CREWS):
        await w.at(uid, offset(DISMOUNT, 90, 20 + 10 * i))
    await w.at("sqd-1", DISMOUNT)
    for uid in CREWS:
        await w.service.create_pairing(uid, ("sqd-1",), None, by="test")


STEPS = 12  # report cycles in the 2 minutes it takes to drive 800 m


async def drive_off(w: World, first: int = 1, last: int = STEPS) -> None:
    """The vehicles leave northwards, 800 m in 2 minutes; the squad stays and keeps reporting."""
    for step in range(first, last + 1):
        await w.advance(CYCLE)
        for i, uid in enumerate(CREWS):
            start = offset(DISMOUNT, 90, 20 + 10 * i)
            await w.at(uid, offset(start, 0, 800 * step / STEPS))
        await w.at("sqd-1", DISMOUNT)


async def test_driving_off_alerts_the_squad_in_korean_and_the_crews_in_russian(w: World) -> None:
    await section_and_squad(w)
    await drive_off(w, last=1)
    # Within one report cycle of moving off:
    squad = await w.deliveries("sqd-1")
    assert squad and {d.code for d in squad} == {"SEPARATION_WARNING"}
    assert all(d.language == "ko" and not d.fallback for d in squad)
    assert all(d.text != d.text_en for d in squad)  # Korean, with the English beside it
    for uid in CREWS:
        (crew,) = await w.deliveries(uid)
        assert crew.code == "WAIT_FOR_US" and crew.language == "ru" and crew.ack_required
    parents = {d.language for d in await w.deliveries("coy-hq") + await w.deliveries("kpa-plt")}
    assert parents == {"ru", "ko"}
    separations = await w.alerts(AlertKind.SEPARATION)
    assert len(separations) == 3
    # Beyond 400 m the watch escalates, once per pair.
    await drive_off(w, first=2)
    assert len(await w.alerts(AlertKind.SEPARATION)) == 6
    assert any("escalated" in a.alert.detail for a in await w.alerts(AlertKind.SEPARATION))  # type: ignore[attr-defined]


async def test_no_alert_after_a_withdrawal_the_squad_acknowledged(w: World) -> None:
    await section_and_squad(w)
    rally = to_mgrs(*offset(DISMOUNT, 0, 800), 4)
    for uid in CREWS:
        message, deliveries = await w.service.send_message(
            "WITHDRAWING_IN", {"minutes": 2, "rally_grid": rally}, "sqd-1",
            sender=f"crew {uid}", sender_uid=uid,
        )  # fmt: skip
        (delivery,) = deliveries
        assert delivery.language == "ko" and rally in delivery.text
        # The squad answers over its own channel with the catalog's ACK.
        await w.service.send_message(
            "ACK", {"ref": message.id[:8]}, uid, sender="squad", sender_uid="sqd-1"
        )
    assert not [d for d in await w.deliveries("sqd-1") if d.pending]
    await drive_off(w)
    assert await w.alerts(AlertKind.SEPARATION) == []
    assert [d.code for d in await w.deliveries("btr-1")] == ["ACK"]


async def test_an_unacknowledged_withdrawal_still_alerts(w: World) -> None:
    await section_and_squad(w)
    await w.service.send_message(
        "WITHDRAWING_IN", {"minutes": 2, "rally_grid": to_mgrs(*DISMOUNT, 4)}, "sqd-1",
        sender="crew", sender_uid="btr-1",
    )  # fmt: skip
    await drive_off(w, last=2)
    assert len(await w.alerts(AlertKind.SEPARATION)) == 3


async def test_mounted_closes_the_pairing(w: World) -> None:
    await section_and_squad(w)
    await w.service.send_message("MOUNTED", {"pax": 9}, "btr-1", sender="sqd", sender_uid="sqd-1")
    assert w.service.coordinator.pairings() == []
    await drive_off(w)
    assert await w.alerts(AlertKind.SEPARATION) == []


async def test_dismount_complete_pairs_the_vehicle_with_its_team(w: World) -> None:
    await w.unit("btr-9", "ru", Mobility.WHEELED)
    await w.unit("sqd-9", "ko", Mobility.DISMOUNTED)
    await w.at("btr-9", DISMOUNT)
    await w.at("sqd-9", DISMOUNT)
    grid = to_mgrs(*DISMOUNT, 5)
    _, (delivery,) = await w.service.send_message(
        "DISMOUNT_COMPLETE", {"grid": grid, "pax": 9}, "sqd-9", sender="crew", sender_uid="btr-9"
    )
    assert delivery.language == "ko" and grid in delivery.text and "9" in delivery.text
    (pairing,) = w.service.coordinator.pairings()
    assert pairing.vehicle == "btr-9" and pairing.dismounts == ("sqd-9",)
    await w.advance(CYCLE)
    await w.at("btr-9", offset(DISMOUNT, 0, 300))
    assert len(await w.alerts(AlertKind.SEPARATION)) == 1


async def test_an_unanswered_message_is_resent_then_escalated_to_the_parent(w: World) -> None:
    await w.unit("kpa-plt", "ko", Mobility.DISMOUNTED)
    await w.unit("sqd-1", "ko", Mobility.DISMOUNTED, parent="kpa-plt")
    message, (first,) = await w.service.send_message(
        "RALLY_POINT", {"grid": to_mgrs(*DISMOUNT, 4)}, "sqd-1", sender="coy-hq"
    )
    assert first.attempts == 1
    await w.advance(timedelta(seconds=30))
    assert (await w.deliveries("sqd-1"))[0].attempts == 1
    await w.advance(timedelta(seconds=31))
    assert (await w.deliveries("sqd-1"))[0].attempts == 2  # re-sent
    await w.advance(timedelta(seconds=61))
    assert (await w.deliveries("sqd-1"))[0].attempts == 3
    assert await w.alerts(AlertKind.ACK_OVERDUE) == []
    await w.advance(timedelta(seconds=61))
    (overdue,) = await w.alerts(AlertKind.ACK_OVERDUE)
    assert overdue.alert.recipients == ("kpa-plt",)  # type: ignore[attr-defined]
    (to_parent,) = await w.deliveries("kpa-plt")
    assert to_parent.code == "ACK_OVERDUE" and to_parent.language == "ko"
    await w.advance(timedelta(seconds=600))
    assert len(await w.alerts(AlertKind.ACK_OVERDUE)) == 1  # escalated once
    # A late acknowledgement still lands.
    (acked,) = await w.service.ack_message(message.id, by="sqd-1", recipient="sqd-1")
    assert acked.acked_at == w.clock.t


async def test_a_unit_going_stale_then_lost_alerts_its_parent_once_per_change(w: World) -> None:
    await w.unit("coy-hq", "ru", Mobility.WHEELED)
    await w.unit("inf-1", "uk", Mobility.DISMOUNTED, parent="coy-hq")
    await w.at("inf-1", DISMOUNT)
    dismounted = w.service.picture.tables.mobility_class(Mobility.DISMOUNTED)
    for _ in range(int(dismounted.stale_after_s // 10) + 1):
        await w.advance(CYCLE)
    (stale,) = await w.alerts(AlertKind.STALE)
    assert stale.alert.recipients == ("coy-hq",)  # type: ignore[attr-defined]
    (told,) = await w.deliveries("coy-hq")
    assert told.code == "LOST_CONTACT_WITH" and told.language == "ru" and "INF-1" in told.text
    for _ in range(5):
        await w.advance(CYCLE)
    assert len(await w.alerts(AlertKind.STALE)) == 1  # no storm
    w.clock.t = T0 + timedelta(seconds=dismounted.lost_after_s + 5)
    await w.service.tick()
    (lost,) = await w.alerts(AlertKind.LOST)
    assert lost.cleared_at is None  # type: ignore[attr-defined]
    await w.at("inf-1", DISMOUNT)
    (lost,) = await w.alerts(AlertKind.LOST)
    (stale,) = await w.alerts(AlertKind.STALE)
    assert lost.cleared_at == w.clock.t and stale.cleared_at is not None  # type: ignore[attr-defined]


def quiet_check(at: tuple[float, float]) -> CheckRequest:
    return CheckRequest(
        lat=at[0], lon=at[1], weapon="155mm-howitzer", target_type="t-72",
        pid=(PidBasis.OBSERVER,), pid_detail="OP-3 confirms", requester="test",
    )  # fmt: skip


async def test_check_fire_turns_a_quiet_check_into_hold_and_back_after_cancel(w: World) -> None:
    target = offset(DISMOUNT, 180, 20_000)
    await w.unit("bty-1", "ru", Mobility.TRACKED)
    await w.at("bty-1", offset(target, 0, 300))
    before = await w.service.check(quiet_check(offset(target, 90, 3000)))
    assert before.verdict is Verdict.NO_KNOWN_CONFLICT, before.reasons
    grid = to_mgrs(*offset(target, 90, 3000), 4)
    _, told = await w.service.send_message("CHECK_FIRE", {"grid": grid}, "bty-1", sender="fo-3")
    assert [d.language for d in told] == ["ru"]
    held = await w.service.check(quiet_check(offset(target, 90, 3000)))
    assert held.verdict is Verdict.HOLD
    assert ReasonCode.CHECK_FIRE in {r.code for r in held.reasons}
    with pytest.raises(ValueError, match="no active check fire"):
        await w.service.send_message("CANCEL_CHECK_FIRE", {"grid": grid}, "bty-1", sender="other")
    await w.service.send_message("CANCEL_CHECK_FIRE", {"grid": grid}, "bty-1", sender="fo-3")
    after = await w.service.check(quiet_check(offset(target, 90, 3000)))
    assert after.verdict is Verdict.NO_KNOWN_CONFLICT


async def test_a_check_fire_area_tells_every_unit_inside_it(w: World) -> None:
    from holdfire.domain.measures import CircleGeometry, Measure, MeasureKind

    await w.unit("inf-1", "uk", Mobility.DISMOUNTED)
    await w.unit("inf-2", "ko", Mobility.DISMOUNTED)
    await w.unit("inf-3", "en", Mobility.DISMOUNTED)
    await w.at("inf-1", DISMOUNT)
    await w.at("inf-2", offset(DISMOUNT, 45, 400))
    await w.at("inf-3", offset(DISMOUNT, 45, 5000))
    area = Measure(
        "cf-1", MeasureKind.CHECKFIRE, CircleGeometry(DISMOUNT[0], DISMOUNT[1], 1000),
        originator="fo-3",
    )  # fmt: skip
    await w.service.call_check_fire(area)
    assert [d.language for d in await w.deliveries("inf-1")] == ["uk"]
    assert [d.language for d in await w.deliveries("inf-2")] == ["ko"]
    assert await w.deliveries("inf-3") == []
    await w.service.cancel_check_fire("cf-1", by="fo-3", any_originator=False)
    assert [d.code for d in await w.deliveries("inf-2")] == ["CANCEL_CHECK_FIRE", "CHECK_FIRE"]


async def test_a_lookalike_arrival_tells_units_nearby_in_their_language(w: World) -> None:
    await w.unit("drone-crew", "ru", Mobility.DISMOUNTED, nation="RUS")
    await w.unit("far-away", "ru", Mobility.DISMOUNTED, nation="RUS")
    await w.at("drone-crew", offset(DISMOUNT, 0, 6000))
    await w.at("far-away", offset(DISMOUNT, 0, 60_000))
    tor = next(e.id for e in w.service.picture.tables.equipment.values() if e.family == "tor")
    await w.unit("prk-ad-1", "ko", Mobility.TRACKED, nation="PRK", equipment=(tor,))
    assert await w.alerts(AlertKind.LOOKALIKE_ARRIVAL) == []  # not located yet
    await w.at("prk-ad-1", DISMOUNT)
    (arrival,) = await w.alerts(AlertKind.LOOKALIKE_ARRIVAL)
    assert "tor" in arrival.alert.detail  # type: ignore[attr-defined]
    (told,) = await w.deliveries("drone-crew")
    assert told.code == "LOOKALIKE_ARRIVAL" and told.language == "ru" and "PRK-AD-1" in told.text
    assert await w.deliveries("far-away") == []
    await w.at("prk-ad-1", offset(DISMOUNT, 90, 100))
    assert len(await w.alerts(AlertKind.LOOKALIKE_ARRIVAL)) == 1  # announced once


async def test_fired_fires_warn_friendly_units_near_the_footprint(w: World) -> None:
    target = offset(DISMOUNT, 180, 20_000)
    await w.unit("inf-1", "uk", Mobility.DISMOUNTED)
    await w.unit("inf-2", "ko", Mobility.DISMOUNTED)
    await w.unit("foe", "en", Mobility.TRACKED, affiliation=Affiliation.HOSTILE)
    await w.at("inf-1", offset(target, 0, 700))
    await w.at("inf-2", offset(target, 0, 1000))
    await w.at("foe", offset(target, 0, 300))
    clearance = await w.service.check(quiet_check(target))
    await w.service.record_fired(clearance.id, fired_at=None, remarks="", by="fdc")
    (close,) = await w.deliveries("inf-1")
    assert close.code == "DANGER_CLOSE_WARNING" and close.language == "uk"
    (near,) = await w.deliveries("inf-2")
    assert near.code == "FRIENDLY_FIRES" and near.language == "ko"
    assert await w.deliveries("foe") == []


async def test_pending_acknowledgements_survive_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    make = service_maker(tmp_path, clock)

    first = make()
    await first.start()
    w = World(first, clock)
    await w.unit("sqd-1", "ko", Mobility.DISMOUNTED)
    message, _ = await first.send_message("WAIT_FOR_US", {}, "sqd-1", sender="coy")
    await first.close()
    again = make()
    await again.start()
    try:
        clock.t += timedelta(seconds=61)
        await again.tick()
        (delivery,) = (await again.store.list_deliveries(recipient="sqd-1"))[0]
        assert delivery.attempts == 2
        await again.ack_message(message.id[:8], by="sqd-1", recipient="sqd-1")
        assert not (await again.store.list_deliveries(pending=True))[0]
    finally:
        await again.close()


async def test_an_unauthenticated_ack_of_a_withdrawal_does_not_silence_the_watch(w: World) -> None:
    await section_and_squad(w)
    message, _ = await w.service.send_message(
        "WITHDRAWING_IN", {"minutes": 2, "rally_grid": to_mgrs(*DISMOUNT, 4)}, "sqd-1",
        sender="crew", sender_uid="btr-1",
    )  # fmt: skip
    (acked,) = await w.service.ack_message(
        message.id[:8], by="unauthenticated:sqd-1", recipient="sqd-1"
    )
    assert acked.acked_at is not None  # recorded as acknowledged ...
    await drive_off(w, last=2)
    assert len(await w.alerts(AlertKind.SEPARATION)) == 3  # ... but the pair is still watched


async def test_units_hear_of_a_family_arriving_once_an_hour_not_once_per_vehicle(w: World) -> None:
    await w.unit("drone-crew", "ru", Mobility.DISMOUNTED, nation="RUS")
    await w.at("drone-crew", offset(DISMOUNT, 0, 6000))
    tor = next(e.id for e in w.service.picture.tables.equipment.values() if e.family == "tor")
    for i in range(5):
        await w.unit(f"prk-ad-{i}", "ko", Mobility.TRACKED, nation="PRK", equipment=(tor,))
        await w.at(f"prk-ad-{i}", offset(DISMOUNT, 90, 100 * i))
    assert len(await w.alerts(AlertKind.LOOKALIKE_ARRIVAL)) == 5  # the fires cells see each
    assert len(await w.deliveries("drone-crew")) == 1
    w.clock.t += timedelta(hours=1, seconds=1)
    await w.unit("prk-ad-9", "ko", Mobility.TRACKED, nation="PRK", equipment=(tor,))
    await w.at("drone-crew", offset(DISMOUNT, 0, 6000))
    await w.at("prk-ad-9", DISMOUNT)
    assert len(await w.deliveries("drone-crew")) == 2


async def test_a_restart_does_not_alert_a_separated_pair_again(tmp_path: Path) -> None:
    clock = FakeClock()
    make = service_maker(tmp_path, clock)

    first = make()
    await first.start()
    w = World(first, clock)
    await section_and_squad(w)
    await drive_off(w, last=3)  # 200 m apart and parting: one alert per pair
    assert len(await w.alerts(AlertKind.SEPARATION)) == 3
    await first.close()
    again = make()
    await again.start()
    try:
        w = World(again, clock)
        await drive_off(w, first=4, last=5)  # still parting, still under 400 m
        assert len(await w.alerts(AlertKind.SEPARATION)) == 3  # nothing new for the same gap
        await drive_off(w, first=6, last=STEPS)  # beyond 400 m: escalated once per pair
        assert len(await w.alerts(AlertKind.SEPARATION)) == 6
    finally:
        await again.close()

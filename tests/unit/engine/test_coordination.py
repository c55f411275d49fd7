"""The coordinator on its own: pure, fed facts and the time, deterministic for a replay."""

from __future__ import annotations

import itertools
from datetime import timedelta

from holdfire.adapters.catalog import load_catalog
from holdfire.domain.alerts import AlertKind
from holdfire.domain.messages import Message
from holdfire.domain.pairings import Pairing
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility
from holdfire.domain.units import Unit
from holdfire.engine.coordination import CoordinationConfig, Coordinator, Outcome
from holdfire.engine.picture import Picture
from support.builders import AIM, NOW, make_tables, offset

CATALOG = load_catalog()


def world() -> tuple[Picture, Coordinator]:
    picture = Picture(make_tables())
    counter = itertools.count(1)
    coordinator = Coordinator(
        picture, CATALOG, lambda: f"id{next(counter):06d}", CoordinationConfig(ack_timeout_s=30)
    )
    for uid, language, mobility in (
        ("btr-1", "ru", Mobility.WHEELED),
        ("sqd-1", "ko", Mobility.DISMOUNTED),
    ):
        picture.register_unit(Unit(uid, uid.upper(), language=language, mobility=mobility))
    return picture, coordinator


def put(picture: Picture, uid: str, at: tuple[float, float], seconds: float) -> PositionReport:
    t = NOW + timedelta(seconds=seconds)
    report = PositionReport(uid, at[0], at[1], t, t, "test", uid, authenticated=True, ce_m=5.0)
    picture.apply_report(report)
    return report


def replay() -> list[Outcome]:
    """The same pairing scenario, step by step: parting, then closing up again."""
    picture, coordinator = world()
    put(picture, "btr-1", AIM, 0)
    put(picture, "sqd-1", AIM, 0)
    coordinator.watch(Pairing("p1", "btr-1", ("sqd-1",), NOW, "test"))
    outcomes = []
    for step, metres in enumerate((100, 250, 300, 120, 40), start=1):
        report = put(picture, "btr-1", offset(*AIM, 0, metres), 10 * step)
        outcomes.append(coordinator.reported(report, report.observed_at))
    return outcomes


def test_parting_raises_once_escalates_never_and_clears_on_closing_up() -> None:
    first, second, third, fourth, fifth = replay()
    assert [a.kind for _, a in first.alerts] == [AlertKind.SEPARATION]  # 10 m/s: leaving
    assert {d.recipient: d.language for d in first.deliveries} == {"sqd-1": "ko", "btr-1": "ru"}
    assert second.alerts == [] and third.alerts == []  # raised already, still under 400 m
    assert fourth.cleared == []  # closer, but still further than the threshold allows
    assert fifth.cleared == [first.alerts[0][0]]  # closed up: the alert clears


def test_a_replay_gives_the_same_outcomes() -> None:
    assert replay() == replay()


def test_acknowledgement_deadlines_run_on_the_time_given() -> None:
    _, coordinator = world()
    message = Message("msg00001", "WAIT_FOR_US", {}, "sqd-1", "test", NOW)
    (delivery,) = coordinator.send(message, NOW).deliveries
    assert coordinator.tick(NOW + timedelta(seconds=29)).updated == []
    (again,) = coordinator.tick(NOW + timedelta(seconds=31)).updated
    assert again.id == delivery.id and again.attempts == 2
    (acked,) = coordinator.ack("msg00001", NOW + timedelta(seconds=40), by="sqd-1").updated
    assert acked.acked_at == NOW + timedelta(seconds=40)
    assert coordinator.tick(NOW + timedelta(hours=1)).updated == []
    assert coordinator.pending() == []


def test_a_wave_of_due_resends_is_spread_over_ticks() -> None:
    picture, _ = world()
    counter = itertools.count(1)
    config = CoordinationConfig(ack_timeout_s=30, max_resends_per_tick=3)
    coordinator = Coordinator(picture, CATALOG, lambda: f"id{next(counter):06d}", config)
    for i in range(7):
        coordinator.send(Message(f"message{i:02d}", "WAIT_FOR_US", {}, "sqd-1", "test", NOW), NOW)
    later = NOW + timedelta(seconds=31)
    sizes = [len(coordinator.tick(later + timedelta(seconds=s)).updated) for s in range(4)]
    assert sizes == [3, 3, 1, 0]


def test_a_unit_reporting_steadily_keeps_one_state_check_queued() -> None:
    picture, coordinator = world()
    for i in range(360):  # an hour of reports every 10 s, time passing between them
        report = put(picture, "sqd-1", AIM, 10 * i)
        coordinator.reported(report, report.observed_at)
        assert coordinator.tick(report.observed_at + timedelta(seconds=5)).alerts == []
    # Superseded entries lapse as they come due: the queue does not grow with every report.
    assert len(coordinator._state_due) <= 10

"""The replay fold: events recorded by an instant make the picture, in log order; a check's own
picture ends at its record; and the same steps choose what a check weighed."""

from dataclasses import replace
from datetime import datetime, timedelta

from holdfire.domain.checks import ReasonCode, Verdict
from holdfire.domain.events import (
    CheckEvaluated,
    Event,
    MarkerRemoved,
    MeasureCancelled,
    MeasureDefined,
    PositionReported,
    UnitRegistered,
)
from holdfire.domain.identity import Affiliation
from holdfire.domain.measures import CircleGeometry, Measure, MeasureKind
from holdfire.domain.tracks import TrackState
from holdfire.domain.units import Unit, UnitStatus
from holdfire.engine.clearance import evaluate, weighed
from holdfire.engine.replay import Replay, measures_at
from support.builders import AIM, GUN, NOW, make_tables, offset, report, request


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def fold(events: list[Event], instant: datetime, check_id: str | None = None) -> Replay:
    folded = Replay(make_tables(), instant, check_id=check_id)
    folded.feed(enumerate(events, start=1))
    return folded


FRIEND = Unit("f1", "FRIEND-1", Affiliation.FRIEND)
NEAR = offset(*AIM, 90.0, 50.0)  # inside the gun's RED 10 %
FAR = offset(*AIM, 90.0, 5000.0)


def log() -> list[Event]:
    nfa = Measure("nfa", MeasureKind.NFA, CircleGeometry(*offset(*AIM, 0.0, 200.0), 100.0))
    return [
        UnitRegistered(FRIEND, at(0), "test"),
        PositionReported(report("f1", NEAR, observed=at(0), received=at(0))),
        MeasureDefined(nfa, at(10), "test"),
        PositionReported(report("f1", FAR, observed=at(60), received=at(60))),
        MeasureCancelled("nfa", at(70), "test"),
    ]


def test_a_report_recorded_after_the_instant_is_not_in_the_replay() -> None:
    folded = fold(log(), at(30))
    track = folded.picture.track("f1")
    assert track is not None and (track.latest.lat, track.latest.lon) == NEAR
    assert [m.measure.id for m in measures_at(folded.picture, at(30))] == ["nfa"]
    assert folded.applied == 3 and folded.first_at == at(0)
    later = fold(log(), at(75)).picture
    track = later.track("f1")
    assert track is not None and (track.latest.lat, track.latest.lon) == FAR
    assert measures_at(later, at(75)) == []


def test_the_time_that_counts_is_the_arrival_not_the_observation() -> None:
    # observed at 5 s but only received at 50 s: the server did not know it at 30 s
    late = PositionReported(report("f1", NEAR, observed=at(5), received=at(50)))
    folded = fold([UnitRegistered(FRIEND, at(0), "test"), late], at(30))
    assert folded.picture.track("f1") is None
    assert [u.uid for u in folded.picture.unlocated()] == ["f1"]
    assert fold([UnitRegistered(FRIEND, at(0), "test"), late], at(50)).picture.track("f1")


def test_the_instant_itself_counts_and_markers_and_absent_units_leave() -> None:
    marker = replace(report("m1", FAR, observed=at(0), received=at(0)), marker=True)
    events: list[Event] = [
        *log()[:2],
        PositionReported(marker),
        MarkerRemoved("m1", at(20), "client", "deleted"),
        UnitRegistered(replace(FRIEND, status=UnitStatus.ABSENT), at(40), "planner"),
    ]
    assert {t.uid for t in fold(events, at(19)).picture.tracks()} == {"f1", "m1"}
    assert {t.uid for t in fold(events, at(20)).picture.tracks()} == {"f1"}
    assert [t.uid for t in fold(events, at(40)).picture.tracks()] == []


def test_a_check_sees_the_log_up_to_its_own_record() -> None:
    events = log()[:3]
    clearance = evaluate(fold(events, at(20)).picture, request(), now=at(20), check_id="c1")
    assert clearance.verdict is Verdict.HOLD
    # a later report stamped before the check's time but logged after its record is not seen
    moved = PositionReported(report("f1", FAR, observed=at(19), received=at(19)))
    folded = fold([*events, CheckEvaluated(clearance), moved], at(20), check_id="c1")
    assert folded.done and folded.last_seq == 4  # the check's record; nothing after it
    again = evaluate(folded.picture, clearance.request, now=at(20), check_id="c1")
    assert (again.verdict, again.reasons) == (clearance.verdict, clearance.reasons)


def test_weighed_lists_what_the_check_weighed_and_nothing_farther() -> None:
    folded = fold(log()[:3], at(20))
    seen = weighed(folded.picture, request(), now=at(20))
    assert seen is not None
    assert [(p.report.uid, p.state) for p in seen.positions] == [("f1", TrackState.FRESH)]
    assert seen.positions[0].radius_m == 10.0 + 2.0 * 20  # ce + unknown mobility for 20 s
    assert abs(seen.positions[0].distance_m - 50.0) < 0.01
    assert [m.id for m in seen.measures] == ["nfa"]
    assert seen.at == at(20) and seen.reach_m == GUN.danger_close_m
    clearance = evaluate(folded.picture, request(), now=at(20), check_id="c1")
    codes = {r.code for r in clearance.reasons}
    assert {ReasonCode.FRIENDLY_IN_DANGER_AREA, ReasonCode.NO_FIRE_AREA} <= codes
    moved = fold(log(), at(65)).picture
    far = weighed(moved, request(), now=at(65))
    assert far is not None and far.positions == () and far.measures[0].id == "nfa"
    assert weighed(moved, request((91.0, 0.0)), now=at(65)) is None  # an invalid target


def test_a_measure_outside_its_window_is_listed_but_not_in_force() -> None:
    window = Measure(
        "rfa",
        MeasureKind.RFA,
        CircleGeometry(*AIM, 100.0),
        effective_from=at(100),
        effective_to=at(200),
    )
    folded = fold([MeasureDefined(window, at(0), "test")], at(50))
    assert [(m.measure.id, m.in_force) for m in measures_at(folded.picture, at(50))] == [
        ("rfa", False)
    ]
    assert measures_at(folded.picture, at(150))[0].in_force

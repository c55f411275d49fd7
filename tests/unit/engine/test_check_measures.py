"""Measure rules of the check: areas, sites, lines, boundaries, check fires, windows."""

from dataclasses import replace
from datetime import timedelta

import pytest

from holdfire.domain.checks import Clearance, ReasonCode, Verdict
from holdfire.domain.measures import (
    CircleGeometry,
    LineGeometry,
    Measure,
    MeasureKind,
    MeasureStatus,
    PolygonGeometry,
    Side,
)
from holdfire.domain.units import Unit
from holdfire.engine.clearance import evaluate
from holdfire.engine.picture import Picture
from support.builders import AIM, GUN, NOW, offset, picture, report, request

FOOTPRINT = GUN.red01_m  # RED 0.1 % + E, with E = 0 in these checks


def check(pic: Picture, **kwargs: object) -> Clearance:
    return evaluate(pic, request(**kwargs), now=NOW, check_id="c1")


def circle_at(gap: float, radius: float = 50.0, azimuth: float = 30.0) -> CircleGeometry:
    """A circle whose edge is `gap` metres from the aimpoint."""
    lat, lon = offset(*AIM, azimuth, gap + radius)
    return CircleGeometry(lat, lon, radius)


def wedge_at(gap: float, azimuth: float = 0.0) -> PolygonGeometry:
    """A polygon whose nearest point (a vertex) is `gap` metres from the aimpoint."""
    tip = offset(*AIM, azimuth, gap)
    left = offset(*tip, azimuth - 45.0, 5000.0)
    right = offset(*tip, azimuth + 45.0, 5000.0)
    return PolygonGeometry((tuple((p[1], p[0]) for p in (tip, right, left, tip)),))


def line_across(gap: float, azimuth: float = 0.0, length: float = 20_000.0) -> LineGeometry:
    """A straight line perpendicular to `azimuth`, `gap` metres from the aimpoint.

    Travelling along it (from its first to its last position) the aimpoint is on the right.
    """
    foot = offset(*AIM, azimuth, gap)
    a = offset(*foot, azimuth - 90.0, length / 2)
    b = offset(*foot, azimuth + 90.0, length / 2)
    return LineGeometry(((a[1], a[0]), (b[1], b[0])))


def with_measure(measure: Measure) -> Picture:
    pic = picture()
    pic.define_measure(measure)
    return pic


AREA_CASES = [
    (MeasureKind.NFA, ReasonCode.NO_FIRE_AREA, Verdict.HOLD),
    (MeasureKind.NSL, ReasonCode.PROTECTED_SITE, Verdict.HOLD),
    (MeasureKind.CHECKFIRE, ReasonCode.CHECK_FIRE, Verdict.HOLD),
    (MeasureKind.RFA, ReasonCode.RESTRICTED_FIRE_AREA, Verdict.COORDINATE),
    (MeasureKind.RTL, ReasonCode.RESTRICTED_TARGET, Verdict.COORDINATE),
    (MeasureKind.ACA, ReasonCode.AIRSPACE_COORDINATION_AREA, Verdict.COORDINATE),
]


@pytest.mark.parametrize(("kind", "code", "verdict"), AREA_CASES)
@pytest.mark.parametrize("shape", ["circle", "polygon"])
def test_area_measure_thresholds(
    kind: MeasureKind, code: ReasonCode, verdict: Verdict, shape: str
) -> None:
    for gap, touches in ((FOOTPRINT - 1.0, True), (FOOTPRINT + 1.0, False)):
        geometry = circle_at(gap) if shape == "circle" else wedge_at(gap)
        pic = with_measure(Measure("m1", kind, geometry, name="OBJ", establishing_hq="2 BDE"))
        result = check(pic)
        found = [r for r in result.reasons if r.code is code]
        if touches:
            assert result.verdict is verdict
            assert found[0].subject == "m1"
            assert found[0].distance_m == pytest.approx(gap, abs=1.0)
            if verdict is Verdict.COORDINATE:
                assert "coordinate with 2 BDE" in found[0].detail
        else:
            assert found == []
            assert result.verdict is Verdict.NO_KNOWN_CONFLICT


def test_protected_site_counts_its_radius() -> None:
    # NSL: HOLD within RED01 + E + site radius of the site's centre
    site_radius = 200.0
    for centre, held in (
        (FOOTPRINT + site_radius - 1.0, True),
        (FOOTPRINT + site_radius + 1, False),
    ):
        lat, lon = offset(*AIM, 120.0, centre)
        nsl = Measure(
            "h1", MeasureKind.NSL, CircleGeometry(lat, lon, site_radius), category="hospital"
        )
        assert (check(with_measure(nsl)).verdict is Verdict.HOLD) is held


def test_aimpoint_inside_an_nfa_holds() -> None:
    pic = with_measure(Measure("n1", MeasureKind.NFA, wedge_at(-2000.0)))
    result = check(pic)
    assert result.verdict is Verdict.HOLD
    assert result.reasons[0].distance_m == 0.0


def test_check_fire_covering_the_firing_unit_holds() -> None:
    pic = picture()
    far = offset(*AIM, 180.0, 8000.0)
    pic.register_unit(Unit("gun1", "GUNS"))
    pic.apply_report(report("gun1", far))
    pic.define_measure(Measure("cf1", MeasureKind.CHECKFIRE, CircleGeometry(*far, 500.0)))
    assert check(pic).verdict is Verdict.NO_KNOWN_CONFLICT
    held = check(pic, firing_unit="gun1")
    assert held.verdict is Verdict.HOLD
    assert "firing unit stands inside" in held.reasons[0].detail


def test_unit_scoped_check_fire() -> None:
    pic = picture()
    pic.register_unit(Unit("gun1", "GUNS", sector=None))
    pic.register_unit(Unit("gun2", "MORE GUNS"))
    pic.apply_report(report("gun1", offset(*AIM, 180.0, 8000.0)))
    pic.apply_report(report("gun2", offset(*AIM, 180.0, 9000.0)))
    pic.define_measure(Measure("cf1", MeasureKind.CHECKFIRE, None, unit="gun1"))
    assert check(pic, firing_unit="gun1").verdict is Verdict.HOLD
    assert check(pic, firing_unit="gun2").verdict is Verdict.NO_KNOWN_CONFLICT
    # with the firing unit unknown (absent or not registered) any unit check fire holds
    assert check(pic).verdict is Verdict.HOLD
    assert check(pic, firing_unit="nobody").verdict is Verdict.HOLD
    pic.cancel_measure("cf1")
    assert check(pic).verdict is Verdict.NO_KNOWN_CONFLICT


def test_restricted_fire_line_touched_by_the_footprint() -> None:
    for gap, expected in ((FOOTPRINT - 1.0, Verdict.COORDINATE), (FOOTPRINT + 1.0, None)):
        # friendly side = the aimpoint's side, so only touching can count
        rfl = Measure("l1", MeasureKind.RFL, line_across(gap), friendly_side=Side.RIGHT)
        result = check(with_measure(rfl))
        if expected:
            assert result.verdict is expected
            assert result.reasons[0].code is ReasonCode.RESTRICTED_FIRE_LINE
        else:
            assert result.verdict is Verdict.NO_KNOWN_CONFLICT


def test_line_far_side_by_firing_unit() -> None:
    pic = picture()
    pic.define_measure(Measure("l1", MeasureKind.RFL, line_across(3000.0), establishing_hq="1 BN"))
    pic.register_unit(Unit("gunN", "NORTH GUNS"))
    pic.register_unit(Unit("gunS", "SOUTH GUNS"))
    pic.apply_report(report("gunN", offset(*AIM, 0.0, 8000.0)))  # beyond the line
    pic.apply_report(report("gunS", offset(*AIM, 180.0, 8000.0)))  # same side as the target
    crossed = check(pic, firing_unit="gunN")
    assert crossed.verdict is Verdict.COORDINATE
    assert "cross" in crossed.reasons[0].detail and "1 BN" in crossed.reasons[0].detail
    assert check(pic, firing_unit="gunS").verdict is Verdict.NO_KNOWN_CONFLICT


def test_line_far_side_by_friendly_side_without_firing_unit() -> None:
    line = line_across(3000.0)  # aimpoint on the right of its direction
    for side, expected in (
        (Side.RIGHT, Verdict.NO_KNOWN_CONFLICT),
        (Side.LEFT, Verdict.COORDINATE),
        (None, Verdict.COORDINATE),  # neither known: counts as across
    ):
        pic = with_measure(Measure("b1", MeasureKind.BOUNDARY, line, friendly_side=side))
        assert check(pic).verdict is expected, side


def test_line_beyond_weapon_range_is_not_weighed() -> None:
    line = line_across(GUN.max_range_m + FOOTPRINT + 500.0)
    assert check(with_measure(Measure("b1", MeasureKind.BOUNDARY, line))).verdict is (
        Verdict.NO_KNOWN_CONFLICT
    )


def test_boundary_zone_own_zone_needs_no_consent() -> None:
    zone = wedge_at(-3000.0)  # the aimpoint lies 3 km inside the zone
    pic = with_measure(Measure("z1", MeasureKind.BOUNDARY, zone, establishing_hq="3 BN"))
    pic.register_unit(Unit("inside", "IN"))
    pic.register_unit(Unit("outside", "OUT"))
    pic.apply_report(report("inside", offset(*AIM, 180.0, 1000.0)))
    pic.apply_report(report("outside", offset(*AIM, 180.0, 8000.0)))
    assert check(pic, firing_unit="inside").verdict is Verdict.NO_KNOWN_CONFLICT
    outside = check(pic, firing_unit="outside")
    assert outside.verdict is Verdict.COORDINATE
    assert outside.reasons[0].code is ReasonCode.BOUNDARY
    assert check(pic).verdict is Verdict.COORDINATE


def test_permissive_measures_relax_nothing() -> None:
    pic = picture()
    pic.register_unit(Unit("u1", "ALPHA"))
    pic.apply_report(report("u1", AIM))
    for i, kind in enumerate((MeasureKind.FFA, MeasureKind.KILLBOX, MeasureKind.CFL)):
        pic.define_measure(Measure(f"p{i}", kind, wedge_at(-1000.0)))
    pic.define_measure(Measure("fscl", MeasureKind.FSCL, line_across(-500.0)))
    result = check(pic)
    assert result.verdict is Verdict.HOLD
    assert {r.code for r in result.reasons} == {ReasonCode.FRIENDLY_IN_DANGER_AREA}


def test_effective_window() -> None:
    nfa = Measure("n1", MeasureKind.NFA, wedge_at(-100.0))
    later = NOW + timedelta(hours=2)
    # starts after the impact window [now, now + flight 60 s + margin 60 s]
    assert check(with_measure(replace(nfa, effective_from=later))).verdict is (
        Verdict.NO_KNOWN_CONFLICT
    )
    starts_in_flight = NOW + timedelta(seconds=100)
    assert check(with_measure(replace(nfa, effective_from=starts_in_flight))).verdict is (
        Verdict.HOLD
    )
    ended = NOW - timedelta(seconds=1)
    assert check(with_measure(replace(nfa, effective_to=ended))).verdict is (
        Verdict.NO_KNOWN_CONFLICT
    )
    # an impact time later than now moves the window
    assert check(with_measure(replace(nfa, effective_from=later)), time=later).verdict is (
        Verdict.HOLD
    )
    # a restrictive measure whose window could not be read counts as in force
    assert (
        check(with_measure(replace(nfa, effective_from=later, window_invalid=True))).verdict
        is Verdict.HOLD
    )
    inverted = replace(nfa, effective_from=later, effective_to=NOW - timedelta(hours=1))
    assert check(with_measure(inverted)).verdict is Verdict.HOLD
    cancelled = replace(nfa, status=MeasureStatus.CANCELLED)
    assert check(with_measure(cancelled)).verdict is Verdict.NO_KNOWN_CONFLICT


def test_a_point_on_a_lines_extension_is_measured_to_its_end() -> None:
    # the aimpoint lies on the line's own extension, 2 km beyond its last vertex
    near_end = offset(*AIM, 180.0, 2000.0)
    far_end = offset(*AIM, 180.0, 12_000.0)
    line = LineGeometry(((far_end[1], far_end[0]), (near_end[1], near_end[0])))
    result = check(with_measure(Measure("l1", MeasureKind.RFL, line, friendly_side=Side.LEFT)))
    reasons = [r for r in result.reasons if r.code is ReasonCode.RESTRICTED_FIRE_LINE]
    assert all(r.distance_m is not None and r.distance_m > 1900.0 for r in reasons)
    assert not any("touches" in r.detail for r in reasons)

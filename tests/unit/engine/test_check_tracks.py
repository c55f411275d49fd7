"""Track rules of the check, each at just inside and just outside its threshold."""

from dataclasses import replace

import pytest

from holdfire.domain.checks import Clearance, ReasonCode, Verdict
from holdfire.domain.identity import Affiliation
from holdfire.domain.tables import Mobility
from holdfire.domain.units import Unit, UnitStatus
from holdfire.engine.clearance import evaluate
from support.builders import AIM, GUN, NOW, ago, offset, picture, report, request

CE = 10.0  # every report below: 95 % error 10 m, static class (no growth), observed NOW


def check(pic, **kwargs) -> Clearance:  # type: ignore[no-untyped-def]
    return evaluate(pic, request(**kwargs), now=NOW, check_id="c1")


def codes(clearance: Clearance) -> set[ReasonCode]:
    return {r.code for r in clearance.reasons}


@pytest.mark.parametrize(
    ("affiliation", "distance", "code", "verdict"),
    [
        # friend: HOLD inside RED10 + E + r = 100 + 0 + 10
        (Affiliation.FRIEND, 109.0, ReasonCode.FRIENDLY_IN_DANGER_AREA, Verdict.HOLD),
        (Affiliation.ASSUMED_FRIEND, 109.0, ReasonCode.FRIENDLY_IN_DANGER_AREA, Verdict.HOLD),
        (Affiliation.FRIEND, 111.0, ReasonCode.DANGER_CLOSE, Verdict.DANGER_CLOSE),
        # danger close inside max(RED01, danger close) + E + r = 600 + 10
        (Affiliation.FRIEND, 609.0, ReasonCode.DANGER_CLOSE, Verdict.DANGER_CLOSE),
        (Affiliation.FRIEND, 611.0, None, Verdict.NO_KNOWN_CONFLICT),
        # neutral: HOLD inside RED01 + E + r = 310, never danger close
        (Affiliation.NEUTRAL, 309.0, ReasonCode.NEUTRAL_IN_DANGER_AREA, Verdict.HOLD),
        (Affiliation.NEUTRAL, 311.0, None, Verdict.NO_KNOWN_CONFLICT),
        # unknown / pending: COORDINATE inside RED01 + E + r
        (Affiliation.UNKNOWN, 309.0, ReasonCode.UNIDENTIFIED_IN_DANGER_AREA, Verdict.COORDINATE),
        (Affiliation.PENDING, 309.0, ReasonCode.UNIDENTIFIED_IN_DANGER_AREA, Verdict.COORDINATE),
        (Affiliation.UNKNOWN, 311.0, None, Verdict.NO_KNOWN_CONFLICT),
        # suspect and hostile are not protected
        (Affiliation.SUSPECT, 5.0, None, Verdict.NO_KNOWN_CONFLICT),
        (Affiliation.HOSTILE, 5.0, None, Verdict.NO_KNOWN_CONFLICT),
    ],
)
def test_fresh_track_thresholds(
    affiliation: Affiliation, distance: float, code: ReasonCode | None, verdict: Verdict
) -> None:
    pic = picture()
    pic.register_unit(Unit("u1", "ALPHA", affiliation=affiliation))
    pic.apply_report(report("u1", offset(*AIM, 37.0, distance), ce=CE))
    result = check(pic)
    assert result.verdict is verdict
    track_codes = codes(result) - {ReasonCode.LOOKALIKE}
    assert track_codes == ({code} if code else set())
    if code:
        reason = next(r for r in result.reasons if r.code is code)
        assert reason.subject == "u1"
        assert reason.distance_m == pytest.approx(distance, abs=0.01)
        assert "ALPHA" in reason.detail


def test_target_error_widens_every_threshold() -> None:
    pic = picture()
    pic.register_unit(Unit("u1", "ALPHA"))
    pic.apply_report(report("u1", offset(*AIM, 90.0, 159.0), ce=CE))
    # E = TLE 50: HOLD inside 100 + 50 + 10 = 160
    assert check(pic, tle_m=50.0).verdict is Verdict.HOLD
    assert check(pic, tle_m=48.0).verdict is Verdict.DANGER_CLOSE
    # a coarse target grid cell adds its half-diagonal the same way
    assert check(pic, cell_m=50.0).verdict is Verdict.HOLD


def test_stale_friend_holds_inside_red01_and_radius_grows() -> None:
    pic = picture()
    pic.register_unit(Unit("u1", "ALPHA"))
    # wheeled test class: 1 m/s, stale after 60 s; 100 s old -> r = 10 + 100 = 110
    pic.apply_report(
        report(
            "u1", offset(*AIM, 200.0, 409.0), ce=CE, observed=ago(100), mobility=Mobility.WHEELED
        )
    )
    pic.register_unit(Unit("u1", "ALPHA", mobility=Mobility.WHEELED))
    result = check(pic)
    assert result.verdict is Verdict.HOLD
    stale = next(r for r in result.reasons if r.code is ReasonCode.STALE_FRIENDLY)
    assert stale.threshold_m == pytest.approx(300 + 110)
    pic.apply_report(
        report(
            "u2", offset(*AIM, 200.0, 411.0), ce=CE, observed=ago(100), mobility=Mobility.WHEELED
        )
    )
    pic.register_unit(Unit("u2", "BRAVO", mobility=Mobility.WHEELED))
    reasons = {r.subject: r.code for r in check(pic).reasons}
    assert reasons["u2"] is ReasonCode.DANGER_CLOSE  # outside RED01 + r, inside danger close


def test_stale_neutral_holds_as_stale_friendly() -> None:
    pic = picture()
    pic.register_unit(Unit("n1", "CONVOY", affiliation=Affiliation.NEUTRAL))
    pic.apply_report(report("n1", offset(*AIM, 0.0, 300.0), ce=CE, observed=ago(3600)))
    assert codes(check(pic)) >= {ReasonCode.STALE_FRIENDLY}


def test_cot_stale_time_marks_a_track_stale_early_but_never_removes_it() -> None:
    pic = picture()
    pic.register_unit(Unit("u1", "ALPHA"))
    fix = replace(report("u1", offset(*AIM, 0.0, 250.0), ce=CE), stale_at=ago(1))
    pic.apply_report(fix)
    result = check(pic)
    assert [r.code for r in result.reasons if r.subject == "u1"] == [ReasonCode.STALE_FRIENDLY]


def test_lost_track_far_away_still_blocks_when_its_radius_reached_the_aimpoint() -> None:
    pic = picture()
    pic.register_unit(Unit("u1", "ALPHA"))
    pic.register_unit(Unit("u1", "ALPHA", mobility=Mobility.WHEELED))
    # 1 m/s for 6 hours: r = 10 + 21,600 m; the unit reported 20 km away
    pic.apply_report(
        report("u1", offset(*AIM, 90.0, 20_000.0), observed=ago(6 * 3600), mobility=None)
    )
    result = check(pic)
    assert result.verdict is Verdict.HOLD
    assert ReasonCode.STALE_FRIENDLY in codes(result)


def test_unlocated_friend_with_sector_holds_when_footprint_reaches_it() -> None:
    footprint = GUN.red01_m  # E = 0
    for gap, expected in ((footprint - 1.0, Verdict.HOLD), (footprint + 1.0, None)):
        tip = offset(*AIM, 0.0, gap)
        left = offset(*tip, 315.0, 5000.0)
        right = offset(*tip, 45.0, 5000.0)
        ring = tuple((p[1], p[0]) for p in (tip, right, left, tip))
        pic = picture()
        pic.register_unit(Unit("s1", "SIERRA", sector=(ring,)))
        result = check(pic)
        unlocated = [r for r in result.reasons if r.code is ReasonCode.UNLOCATED_FRIENDLY]
        if expected is None:
            assert unlocated == []
            assert result.verdict is Verdict.NO_KNOWN_CONFLICT
        else:
            assert result.verdict is Verdict.HOLD
            assert unlocated[0].distance_m == pytest.approx(gap, abs=1.0)


def test_unlocated_friend_without_sector_is_a_note() -> None:
    pic = picture()
    pic.register_unit(Unit("s1", "SIERRA"))
    result = check(pic)
    assert result.verdict is Verdict.NO_KNOWN_CONFLICT
    (note,) = [r for r in result.reasons if r.code is ReasonCode.UNLOCATED_FRIENDLY]
    assert note.note and note.verdict is Verdict.NO_KNOWN_CONFLICT and note.subject == "s1"


def test_absent_and_retired_units_leave_the_picture() -> None:
    pic = picture()
    pic.register_unit(Unit("u1", "ALPHA"))
    pic.apply_report(report("u1", AIM))
    assert check(pic).verdict is Verdict.HOLD
    pic.register_unit(Unit("u1", "ALPHA", status=UnitStatus.ABSENT))
    assert check(pic).verdict is Verdict.NO_KNOWN_CONFLICT
    assert list(pic.tracks()) == []
    pic.register_unit(Unit("u1", "ALPHA", status=UnitStatus.ACTIVE))
    assert check(pic).verdict is Verdict.HOLD


def test_firing_units_own_track_is_never_excluded() -> None:
    pic = picture()
    pic.register_unit(Unit("gun1", "GUNS"))
    pic.apply_report(report("gun1", offset(*AIM, 10.0, 50.0)))
    assert check(pic, firing_unit="gun1").verdict is Verdict.HOLD


def test_unknown_ce_uses_the_class_default() -> None:
    pic = picture()
    pic.register_unit(Unit("u1", "ALPHA"))
    # default ce 100 in the test tables: HOLD inside 100 + 100
    pic.apply_report(report("u1", offset(*AIM, 0.0, 199.0), ce=None))
    assert check(pic).verdict is Verdict.HOLD


def test_extra_position_adds_protection() -> None:
    pic = picture()
    pic.register_unit(Unit("u1", "ALPHA"))
    pic.apply_report(report("u1", offset(*AIM, 0.0, 5000.0)))
    pic.apply_report(
        report(
            "u1", offset(*AIM, 0.0, 20.0), reporter="lead", authenticated=False, source="cot-tcp"
        )
    )
    result = check(pic)
    assert result.verdict is Verdict.HOLD
    (reason,) = [r for r in result.reasons if r.subject == "u1"]
    assert "unauthenticated by cot-tcp:lead" in reason.detail

"""LOOKALIKE: a vehicle's type never proves whose it is."""

from holdfire.domain.checks import PidBasis, ReasonCode, Verdict
from holdfire.domain.identity import Affiliation
from holdfire.domain.units import Unit
from holdfire.engine.clearance import evaluate
from holdfire.engine.picture import Picture
from support.builders import AIM, NOW, offset, picture, report, request


def lookalike(pic: Picture, **kwargs: object):  # type: ignore[no-untyped-def]
    result = evaluate(pic, request(**kwargs), now=NOW, check_id="c")
    found = [r for r in result.reasons if r.code is ReasonCode.LOOKALIKE]
    return result.verdict, found


def test_family_fielded_by_a_friendly_unit_names_the_nearest() -> None:
    pic = picture()
    pic.register_unit(Unit("ad-far", "FAR", nation="PRK", equipment=("prk-tor-lookalike",)))
    pic.register_unit(Unit("ad-near", "NEAR", nation="PRK", equipment=("prk-tor-lookalike",)))
    pic.apply_report(report("ad-far", offset(*AIM, 0.0, 9000.0)))
    pic.apply_report(report("ad-near", offset(*AIM, 0.0, 5000.0)))
    verdict, (reason,) = lookalike(pic, target_type="tor-m2")
    assert verdict is Verdict.COORDINATE
    assert reason.subject == "ad-near"
    assert abs((reason.distance_m or 0) - 5000.0) < 0.5
    assert "family tor" in reason.detail and "NEAR" in reason.detail


def test_a_family_name_works_as_target_type() -> None:
    pic = picture()
    pic.register_unit(Unit("b1", "GUNS", equipment=("2s1",)))
    verdict, (reason,) = lookalike(pic, target_type="2s1")
    assert verdict is Verdict.COORDINATE and reason.subject == "b1"
    assert reason.distance_m is None  # the unit never reported


def test_hostile_units_fielding_the_family_do_not_count() -> None:
    pic = picture()
    pic.register_unit(Unit("h1", "THEM", affiliation=Affiliation.HOSTILE, equipment=("tor-m2",)))
    verdict, found = lookalike(pic, target_type="tor-m2")
    assert verdict is Verdict.NO_KNOWN_CONFLICT and found == []


def test_fielded_by_a_friendly_nation_without_a_registered_unit() -> None:
    pic = picture()
    pic.register_unit(Unit("x", "X", nation="UKR"))
    pic.apply_report(report("x", offset(*AIM, 90.0, 20_000.0)))
    verdict, (reason,) = lookalike(pic, target_type="2s1")
    assert verdict is Verdict.COORDINATE
    assert "UKR" in reason.detail


def test_type_not_stated_or_not_registered_needs_coordination() -> None:
    pic = picture()
    for target_type, words in ((None, "no target type"), ("zil-131", "not in the equipment")):
        verdict, (reason,) = lookalike(pic, target_type=target_type)
        assert verdict is Verdict.COORDINATE
        assert words in reason.detail


def test_identity_confirmed_beyond_appearance_keeps_a_note() -> None:
    pic = picture()
    pic.register_unit(Unit("ad", "AD", nation="PRK", equipment=("prk-tor-lookalike",)))
    for pid in (PidBasis.OBSERVER, PidBasis.HOSTILE_ACT, PidBasis.SIGINT):
        verdict, (reason,) = lookalike(
            pic, target_type="tor", pid=(pid,), pid_detail="OP-2 confirms"
        )
        assert verdict is Verdict.NO_KNOWN_CONFLICT
        assert reason.note and reason.verdict is Verdict.NO_KNOWN_CONFLICT
        assert "OP-2 confirms" in reason.detail


def test_appearance_or_a_missing_detail_is_not_enough() -> None:
    pic = picture()
    pic.register_unit(Unit("ad", "AD", nation="PRK", equipment=("prk-tor-lookalike",)))
    cases = [
        ((PidBasis.APPEARANCE,), "thermal camera"),
        ((PidBasis.COOPERATIVE_ID,), "no IFF reply"),
        ((PidBasis.OBSERVER,), None),
        ((PidBasis.OBSERVER,), "   "),
    ]
    for pid, detail in cases:
        verdict, (reason,) = lookalike(pic, target_type="tor", pid=pid, pid_detail=detail)
        assert verdict is Verdict.COORDINATE and not reason.note

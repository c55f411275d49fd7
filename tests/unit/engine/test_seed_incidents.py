"""The two Kursk incidents of January 2025 as plain engine checks, with the shipped tables.

(1) A drone destroyed a friendly North Korean air-defence system of Tor appearance; (2) a friendly
missile destroyed a friendly 2S1. holdfire must have held both.
"""

from datetime import UTC, datetime

import pytest

from holdfire.adapters.tables import load_tables
from holdfire.domain.checks import CheckRequest, PidBasis, ReasonCode, Verdict
from holdfire.domain.identity import Affiliation
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility
from holdfire.domain.units import Unit
from holdfire.engine.clearance import evaluate
from holdfire.engine.picture import Picture
from support.builders import offset

NOW = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
AD_SITE = (51.3500, 35.1000)  # 36U, Kursk region


@pytest.fixture
def picture() -> Picture:
    pic = Picture(load_tables())
    pic.register_unit(
        Unit(
            "prk-ad-1",
            "CHOLLIMA-AD",
            affiliation=Affiliation.FRIEND,
            nation="PRK",
            language="ko",
            mobility=Mobility.TOWED,
            equipment=("prk-tor-lookalike",),
        )
    )
    pic.register_unit(
        Unit("btry-2s1", "GVOZDIKA-1", nation="RUS", language="ru", mobility=Mobility.TRACKED,
             equipment=("2s1",))
    )  # fmt: skip
    pic.apply_report(_fix("prk-ad-1", AD_SITE))
    pic.apply_report(_fix("btry-2s1", (51.3000, 35.2500)))
    return pic


def _fix(uid: str, at: tuple[float, float]) -> PositionReport:
    return PositionReport(
        uid=uid, lat=at[0], lon=at[1], observed_at=NOW, received_at=NOW, source="cot-tls",
        reporter=uid, authenticated=True, ce_m=10.0,
    )  # fmt: skip


def _check(pic: Picture, at: tuple[float, float], weapon: str, **kw: object):  # type: ignore[no-untyped-def]
    request = CheckRequest(lat=at[0], lon=at[1], weapon=weapon, **kw)  # type: ignore[arg-type]
    return evaluate(pic, request, now=NOW, check_id="seed")


def test_drone_aimpoint_40_m_from_the_north_korean_air_defence_holds(picture: Picture) -> None:
    result = _check(picture, offset(*AD_SITE, 75.0, 40.0), "fpv-drone", target_type="tor")
    assert result.verdict is Verdict.HOLD
    first = result.reasons[0]
    assert first.code is ReasonCode.FRIENDLY_IN_DANGER_AREA and first.subject == "prk-ad-1"


def test_same_system_5_km_away_needs_coordination_as_a_lookalike(picture: Picture) -> None:
    aim = offset(*AD_SITE, 200.0, 5000.0)
    result = _check(picture, aim, "fpv-drone", target_type="tor")
    assert result.verdict is Verdict.COORDINATE
    (reason,) = result.reasons
    assert reason.code is ReasonCode.LOOKALIKE and reason.subject == "prk-ad-1"
    assert reason.distance_m == pytest.approx(5000.0, abs=1.0)
    assert "CHOLLIMA-AD" in reason.detail


def test_observer_confirmation_keeps_the_lookalike_as_a_note(picture: Picture) -> None:
    aim = offset(*AD_SITE, 200.0, 5000.0)
    result = _check(
        picture,
        aim,
        "fpv-drone",
        target_type="tor",
        pid=(PidBasis.OBSERVER,),
        pid_detail="FO team 3 confirms enemy crew at the vehicle",
    )
    assert result.verdict is Verdict.NO_KNOWN_CONFLICT
    (reason,) = result.reasons
    assert reason.code is ReasonCode.LOOKALIKE and reason.note


def test_guided_missile_on_the_2s1_battery_holds(picture: Picture) -> None:
    result = _check(picture, (51.3000, 35.2500), "guided-missile-small", target_type="2s1")
    assert result.verdict is Verdict.HOLD
    assert result.reasons[0].subject == "btry-2s1"
    assert {r.code for r in result.reasons} == {
        ReasonCode.FRIENDLY_IN_DANGER_AREA,
        ReasonCode.LOOKALIKE,
    }

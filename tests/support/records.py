"""Small records for store tests: reports, measures, checks and alerts at a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from holdfire.domain.alerts import Alert, AlertKind
from holdfire.domain.checks import CheckRequest, Clearance, Reason, ReasonCode, Target, Verdict
from holdfire.domain.events import AlertRaised
from holdfire.domain.measures import CircleGeometry, Measure, MeasureKind
from holdfire.domain.reports import PositionReport

T0 = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)


def report(
    uid: str = "U1",
    at: datetime = T0,
    *,
    lat: float = 50.0,
    source: str = "cot-tls",
    reporter: str | None = None,
) -> PositionReport:
    return PositionReport(
        uid=uid,
        lat=lat,
        lon=30.0,
        observed_at=at,
        received_at=at,
        source=source,
        reporter=reporter or uid,
        authenticated=True,
        ce_m=10.0,
    )


def measure(mid: str = "m1", kind: MeasureKind = MeasureKind.NFA) -> Measure:
    return Measure(
        id=mid,
        kind=kind,
        geometry=CircleGeometry(lat=50.0, lon=30.0, radius_m=250.0),
        name=f"measure {mid}",
        effective_from=T0,
    )


def clearance(
    cid: str = "c1",
    at: datetime = T0,
    verdict: Verdict = Verdict.NO_KNOWN_CONFLICT,
    requester: str = "fires-1",
) -> Clearance:
    reasons: tuple[Reason, ...] = ()
    if verdict is not Verdict.NO_KNOWN_CONFLICT:
        reasons = (
            Reason(
                code=ReasonCode.FRIENDLY_IN_DANGER_AREA,
                verdict=verdict,
                detail="U1 is close",
                subject="U1",
                distance_m=120.5,
                threshold_m=300.0,
            ),
        )
    return Clearance(
        id=cid,
        verdict=verdict,
        reasons=reasons,
        target=Target(lat=50.0, lon=30.0, mgrs="36UUA0000000000"),
        weapon="81mm-mortar",
        impact_time=at,
        evaluated_at=at,
        valid_until=at + timedelta(seconds=60),
        picture_version=3,
        request=CheckRequest(lat=50.0, lon=30.0, weapon="81mm-mortar", requester=requester),
    )


def alert(aid: str = "a1") -> AlertRaised:
    return AlertRaised(
        alert_id=aid,
        alert=Alert(kind=AlertKind.STALE, subjects=("U1",), detail="U1 is stale", created_at=T0),
    )

"""Small records for store tests: reports, measures, checks, alerts and audit records at a
fixed time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from holdfire.domain.alerts import Alert, AlertKind
from holdfire.domain.checks import CheckRequest, Clearance, Reason, ReasonCode, Target, Verdict
from holdfire.domain.decisions import Decision, DecisionKind, FiredNotice
from holdfire.domain.events import (
    AlertRaised,
    CheckEvaluated,
    CheckFired,
    DecisionRecorded,
    Event,
    MeasureCancelled,
    MeasureDefined,
    PositionReported,
)
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


def audit_events(n: int, prefix: str = "c") -> list[Event]:
    """``n`` audit records of every kind in turn, with a position report between them."""
    events: list[Event] = []
    for i in range(n):
        key = f"{prefix}{i}"
        at = T0 + timedelta(minutes=i)
        match i % 5:
            case 0:
                events.append(CheckEvaluated(clearance(key, at)))
            case 1:
                notice = FiredNotice(key, "c0", at, at, "fires-1")
                events.append(CheckFired(notice))
            case 2:
                events.append(DecisionRecorded(decision(key)))
            case 3:
                events.append(MeasureDefined(measure(key, MeasureKind.CHECKFIRE), at, "planner"))
            case _:
                events.append(MeasureCancelled(f"{prefix}3", at, "planner"))
        events.append(PositionReported(report("U1", at)))
    return events


def decision(key: str) -> Decision:
    return Decision(
        key, "c0", DecisionKind.DANGER_CLOSE_ACCEPTED, "Maj Smith", "VIPER-6", "JS",
        T0 + timedelta(hours=1), T0, "fires-1",
    )  # fmt: skip

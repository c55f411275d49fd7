"""The check: what is asked (CheckRequest), why (Reason) and the answer (Clearance)."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from holdfire.domain.errors import DomainError


class Verdict(StrEnum):
    """Strictest first. The product never says "safe"."""

    HOLD = "HOLD"
    DANGER_CLOSE = "DANGER_CLOSE"
    COORDINATE = "COORDINATE"
    NO_KNOWN_CONFLICT = "NO_KNOWN_CONFLICT"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @staticmethod
    def strictest(verdicts: "list[Verdict]") -> "Verdict":
        return max(verdicts, key=lambda v: v.severity, default=Verdict.NO_KNOWN_CONFLICT)


_SEVERITY = {
    Verdict.HOLD: 3,
    Verdict.DANGER_CLOSE: 2,
    Verdict.COORDINATE: 1,
    Verdict.NO_KNOWN_CONFLICT: 0,
}


class ReasonCode(StrEnum):
    FRIENDLY_IN_DANGER_AREA = "FRIENDLY_IN_DANGER_AREA"
    NEUTRAL_IN_DANGER_AREA = "NEUTRAL_IN_DANGER_AREA"
    STALE_FRIENDLY = "STALE_FRIENDLY"
    UNLOCATED_FRIENDLY = "UNLOCATED_FRIENDLY"
    DANGER_CLOSE = "DANGER_CLOSE"
    UNIDENTIFIED_IN_DANGER_AREA = "UNIDENTIFIED_IN_DANGER_AREA"
    NO_FIRE_AREA = "NO_FIRE_AREA"
    PROTECTED_SITE = "PROTECTED_SITE"
    CHECK_FIRE = "CHECK_FIRE"
    UNKNOWN_WEAPON = "UNKNOWN_WEAPON"
    INVALID_INPUT = "INVALID_INPUT"
    RESTRICTED_FIRE_AREA = "RESTRICTED_FIRE_AREA"
    RESTRICTED_FIRE_LINE = "RESTRICTED_FIRE_LINE"
    RESTRICTED_TARGET = "RESTRICTED_TARGET"
    AIRSPACE_COORDINATION_AREA = "AIRSPACE_COORDINATION_AREA"
    BOUNDARY = "BOUNDARY"
    LOOKALIKE = "LOOKALIKE"
    CLUSTER_DEGRADED = "CLUSTER_DEGRADED"


class PidBasis(StrEnum):
    """How the target was positively identified."""

    APPEARANCE = "appearance"
    OBSERVER = "observer"
    HOSTILE_ACT = "hostile-act"
    SIGINT = "sigint"
    COOPERATIVE_ID = "cooperative-id"
    OTHER = "other"


# PID bases that establish identity by something other than how the vehicle looks.
PID_BEYOND_APPEARANCE = frozenset({PidBasis.OBSERVER, PidBasis.HOSTILE_ACT, PidBasis.SIGINT})


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """A check as the engine sees it: target already in WGS 84, numbers as received.

    Numbers are validated at the edge; the engine re-validates and answers HOLD with
    INVALID_INPUT if a bad one slipped through, so it never trusts the edge.
    """

    lat: float
    lon: float
    weapon: str
    time: datetime | None = None  # impact time; None = now
    tle_m: float = 0.0  # target location error
    cell_m: float = 0.0  # half-diagonal of the grid cell the target was given as
    datum: str = "WGS84"
    datum_error_m: float = 0.0
    target_type: str | None = None
    pid: tuple[PidBasis, ...] = ()
    pid_detail: str | None = None
    firing_unit: str | None = None
    requester: str = "anonymous"


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    verdict: Verdict
    detail: str  # one line a person reads
    subject: str | None = None  # uid of the unit or id of the measure concerned
    distance_m: float | None = None
    threshold_m: float | None = None
    note: bool = False  # kept for information; verdict is then NO_KNOWN_CONFLICT

    def __post_init__(self) -> None:
        if self.note and self.verdict is not Verdict.NO_KNOWN_CONFLICT:
            raise DomainError("reason.note", "a note carries the verdict NO_KNOWN_CONFLICT")

    def sort_key(self) -> tuple[int, float, str, str]:
        distance = self.distance_m if self.distance_m is not None else float("inf")
        return (-self.verdict.severity, distance, self.code.value, self.subject or "")


@dataclass(frozen=True, slots=True)
class Target:
    lat: float
    lon: float
    mgrs: str


@dataclass(frozen=True, slots=True)
class Clearance:
    id: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    target: Target
    weapon: str
    impact_time: datetime
    evaluated_at: datetime
    valid_until: datetime
    picture_version: int
    request: CheckRequest

"""What people did about a check: human decisions attached to it, and notices that it was fired.

Decisions are recorded, never inferred (design.md §4): each names who decided, on whose
authority, with initials, and until when it holds. It never changes the check's verdict.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from holdfire.domain.checks import ReasonCode
from holdfire.domain.errors import DomainError
from holdfire.domain.numbers import require_instant


class DecisionKind(StrEnum):
    DANGER_CLOSE_ACCEPTED = "danger-close-accepted"
    NFA_EXCEPTION = "nfa-exception"
    RFA_WAIVER = "rfa-waiver"
    RTL_APPROVAL = "rtl-approval"

    @property
    def answers(self) -> ReasonCode:
        """The reason a decision of this kind speaks to; a check without it cannot take one."""
        return _ANSWERS[self]


_ANSWERS = {
    DecisionKind.DANGER_CLOSE_ACCEPTED: ReasonCode.DANGER_CLOSE,
    DecisionKind.NFA_EXCEPTION: ReasonCode.NO_FIRE_AREA,
    DecisionKind.RFA_WAIVER: ReasonCode.RESTRICTED_FIRE_AREA,
    DecisionKind.RTL_APPROVAL: ReasonCode.RESTRICTED_TARGET,
}


def _required(field: str, value: str) -> None:
    if not value.strip():
        raise DomainError(field, "is required (a non-empty string)")


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    check_id: str
    kind: DecisionKind
    by: str  # the person who decided
    authority: str  # on whose authority (e.g. the ground commander's callsign)
    initials: str
    expires: datetime
    recorded_at: datetime
    recorded_by: str  # the token that entered it

    def __post_init__(self) -> None:
        for name in ("by", "authority", "initials"):
            _required(name, getattr(self, name))
        require_instant("expires", self.expires)
        require_instant("recorded_at", self.recorded_at)
        if self.expires <= self.recorded_at:
            raise DomainError("expires", "must be later than now (a decision is time-bounded)")


@dataclass(frozen=True, slots=True)
class FiredNotice:
    """The mission of a check was fired (or is being fired)."""

    id: str
    check_id: str
    fired_at: datetime
    recorded_at: datetime
    recorded_by: str
    remarks: str = ""

    def __post_init__(self) -> None:
        require_instant("fired_at", self.fired_at)
        require_instant("recorded_at", self.recorded_at)

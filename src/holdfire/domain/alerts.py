"""Alerts: something a person must look at (a spoofed position, a lost unit, ...)."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AlertKind(StrEnum):
    SECURITY = "SECURITY"
    SEPARATION = "SEPARATION"
    STALE = "STALE"
    LOST = "LOST"
    ACK_OVERDUE = "ACK_OVERDUE"
    CHECK_FIRE = "CHECK_FIRE"
    LOOKALIKE_ARRIVAL = "LOOKALIKE_ARRIVAL"
    HOLD_FIRED = "HOLD_FIRED"


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind
    subjects: tuple[str, ...]
    detail: str
    created_at: datetime
    recipients: tuple[str, ...] = ()

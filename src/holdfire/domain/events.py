"""Events: what happened, as recorded in the append-only log and replayed to rebuild state."""

from dataclasses import dataclass
from datetime import UTC, datetime

from holdfire.domain.access import ApiToken
from holdfire.domain.alerts import Alert
from holdfire.domain.checks import Clearance
from holdfire.domain.decisions import Decision, FiredNotice
from holdfire.domain.measures import Measure
from holdfire.domain.messages import Delivery, Message
from holdfire.domain.pairings import Pairing
from holdfire.domain.reports import PositionReport
from holdfire.domain.units import Unit


@dataclass(frozen=True, slots=True)
class UnitRegistered:
    """A unit was registered or its registry entry replaced."""

    unit: Unit
    at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class PositionReported:
    report: PositionReport


@dataclass(frozen=True, slots=True)
class MeasureDefined:
    measure: Measure
    at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class MeasureCancelled:
    measure_id: str
    at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class MarkerRemoved:
    """A marker (not a registered unit) left the picture: deleted by a client, or expired."""

    uid: str
    at: datetime
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class MessageKept:
    """A message for a recipient who is not connected, kept until it reconnects or expires.

    `body` is the message as its channel carries it (CoT XML for TAK clients).
    """

    recipient: str
    body: str
    expires_at: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class MessagesDelivered:
    """Everything kept for a recipient went out to it."""

    recipient: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CheckEvaluated:
    clearance: Clearance


@dataclass(frozen=True, slots=True)
class AlertRaised:
    alert_id: str
    alert: Alert


@dataclass(frozen=True, slots=True)
class AlertAcked:
    """Someone saw an alert and took it on (an acknowledgement, not a resolution)."""

    alert_id: str
    at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class DecisionRecorded:
    decision: Decision


@dataclass(frozen=True, slots=True)
class CheckFired:
    notice: FiredNotice


@dataclass(frozen=True, slots=True)
class PairingCreated:
    pairing: Pairing


@dataclass(frozen=True, slots=True)
class TokenIssued:
    token: ApiToken


@dataclass(frozen=True, slots=True)
class TokenRevoked:
    token_id: str
    at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class AlertCleared:
    """What an alert was about is over (a unit reported again, a pair closed up)."""

    alert_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PairingClosed:
    pairing_id: str
    at: datetime
    reason: str  # e.g. "MOUNTED from sqd-1"


@dataclass(frozen=True, slots=True)
class MessageSent:
    """A message and its first deliveries, one per recipient."""

    message: Message
    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True, slots=True)
class DeliveriesUpdated:
    """Deliveries acknowledged, re-sent or escalated (each as it now stands)."""

    deliveries: tuple[Delivery, ...]


Event = (
    UnitRegistered
    | PositionReported
    | MeasureDefined
    | MeasureCancelled
    | MarkerRemoved
    | MessageKept
    | MessagesDelivered
    | CheckEvaluated
    | AlertRaised
    | AlertAcked
    | DecisionRecorded
    | CheckFired
    | PairingCreated
    | TokenIssued
    | TokenRevoked
    | AlertCleared
    | PairingClosed
    | MessageSent
    | DeliveriesUpdated
)


def recorded_at(event: Event) -> datetime:
    """The time an event is logged under: when the server learned of it (a report's arrival,
    a check's evaluation, a change's making), never a report's own observation time.

    The log's ``at`` column holds it, and a replay to an instant takes the events recorded up
    to it: what the server knew then, which a late-arriving older fix was not part of.
    """
    if isinstance(event, PositionReported):
        return event.report.received_at
    if isinstance(event, CheckEvaluated):
        return event.clearance.evaluated_at
    if isinstance(event, AlertRaised):
        return event.alert.created_at
    if isinstance(event, DecisionRecorded):
        return event.decision.recorded_at
    if isinstance(event, CheckFired):
        return event.notice.recorded_at
    if isinstance(event, PairingCreated):
        return event.pairing.created_at
    if isinstance(event, TokenIssued):
        return event.token.created_at
    if isinstance(event, MessageSent):
        return event.message.created_at
    if isinstance(event, DeliveriesUpdated):
        return max((d.sent_at for d in event.deliveries), default=EPOCH)
    return event.at


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

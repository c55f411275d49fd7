"""From what the coordinator decided to the events the store records and the hub publishes,
and back: which deliveries a channel (TAK, MQTT) has to carry."""

from collections.abc import Iterator, Sequence
from datetime import datetime

from holdfire.domain.events import (
    AlertCleared,
    AlertRaised,
    DeliveriesUpdated,
    Event,
    MessageSent,
    PairingClosed,
    PairingCreated,
)
from holdfire.domain.messages import Delivery, Message
from holdfire.engine.coordination import Outcome


def outcome_events(outcome: Outcome, now: datetime, sent: Sequence[Message] = ()) -> list[Event]:
    """Alerts first (a prompt's cause is recorded before the prompt), then the messages `sent`
    and holdfire's own, each with its deliveries, then the updates."""
    events: list[Event] = [AlertRaised(alert_id, alert) for alert_id, alert in outcome.alerts]
    events += [PairingCreated(pairing) for pairing in outcome.pairings]
    by_message: dict[str, list[Delivery]] = {}
    for delivery in outcome.deliveries:
        by_message.setdefault(delivery.message_id, []).append(delivery)
    for message in (*sent, *outcome.messages):
        events.append(MessageSent(message, tuple(by_message.pop(message.id, ()))))
    if outcome.updated:
        events.append(DeliveriesUpdated(tuple(outcome.updated)))
    events += [AlertCleared(alert_id, now) for alert_id in dict.fromkeys(outcome.cleared)]
    events += [PairingClosed(pid, now, "mounted") for pid in outcome.closed_pairings]
    return events


def to_carry(events: Sequence[Event]) -> Iterator[Delivery]:
    """The deliveries among `events` that go out to their recipients: every first delivery and
    every re-send. An acknowledgement sets `acked_at` and an escalation `escalated_at`; the only
    update that leaves a delivery pending and unescalated is the coordinator sending it again
    (`attempts` up by one), so that is what a re-send looks like."""
    for event in events:
        if isinstance(event, MessageSent):
            yield from event.deliveries
        elif isinstance(event, DeliveriesUpdated):
            for delivery in event.deliveries:
                if delivery.pending and delivery.escalated_at is None and delivery.attempts > 1:
                    yield delivery

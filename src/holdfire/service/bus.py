"""The in-process event hub: every event the service made durable, handed to whoever listens.

Listeners (the WebSocket stream, the CoT and MQTT renderers) are plain callables invoked on the
event loop right after the store acknowledged the events. They must not block: each one queues
what it needs and returns. A listener that raises is logged and kept; it never stops the write
that produced the event, nor the other listeners.

In a cluster, events another node took arrive here too, marked remote. A listener chooses
whether it wants local events, remote ones or both: the stream shows everything, while what
goes out to a shared broker (MQTT) or into a durable mailbox is done by the node that took the
event, once.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from holdfire.domain.events import Event

log = logging.getLogger("holdfire.bus")

Listener = Callable[[Sequence[Event]], None]


@dataclass(frozen=True, slots=True)
class _Subscription:
    listener: Listener
    local: bool
    remote: bool
    audit: bool


class EventHub:
    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []

    def subscribe(
        self, listener: Listener, *, local: bool = True, remote: bool = True, audit: bool = True
    ) -> Callable[[], None]:
        """Start calling `listener` with local and/or remote events; returns the function that
        stops it. `audit` false: it has no use for other nodes' check records, decisions and
        fired notices (so a node with no such listener need not even decode them)."""
        subscription = _Subscription(listener, local, remote, audit)
        self._subscriptions.append(subscription)

        def unsubscribe() -> None:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

        return unsubscribe

    def publish(self, events: Sequence[Event], *, remote: bool = False) -> None:
        for subscription in tuple(self._subscriptions):
            if not (subscription.remote if remote else subscription.local):
                continue
            try:
                subscription.listener(events)
            except Exception:
                log.exception("an event listener failed; it stays subscribed")

    @property
    def listeners(self) -> int:
        return len(self._subscriptions)

    @property
    def wants_remote_audit(self) -> bool:
        """Does any listener want the check records (decisions, fired notices) other nodes
        took?"""
        return any(s.remote and s.audit for s in self._subscriptions)

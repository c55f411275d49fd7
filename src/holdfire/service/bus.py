"""The in-process event hub: every event the service made durable, handed to whoever listens.

Listeners (the WebSocket stream, later the CoT and MQTT renderers) are plain callables invoked
on the event loop right after the store acknowledged the events. They must not block: each one
queues what it needs and returns. A listener that raises is logged and kept; it never stops the
write that produced the event, nor the other listeners.
"""

import logging
from collections.abc import Callable, Sequence

from holdfire.domain.events import Event

log = logging.getLogger("holdfire.bus")

Listener = Callable[[Sequence[Event]], None]


class EventHub:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Start calling `listener`; returns the function that stops it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, events: Sequence[Event]) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(events)
            except Exception:
                log.exception("an event listener failed; it stays subscribed")

    @property
    def listeners(self) -> int:
        return len(self._listeners)

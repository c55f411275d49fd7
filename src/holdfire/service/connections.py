"""Who is connected: every live TAK (TCP, TLS), WebSocket and MQTT connection, by id.

Each connection adds itself when it is established and removes itself when it goes away, and
answers two questions: what it looks like now (`describe`, read on demand so counters are
current) and how to end it (`disconnect`). The registry itself holds nothing but those live
objects, so it costs nothing while nobody asks.

Ids are a protocol prefix and a number counted up per process (`tak-3`, `ws-12`, `mqtt-1`):
short enough to type after `holdfire clients --disconnect`, never reused while the server runs.
In a cluster each node lists its own connections.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TlsPeer:
    """The client certificate a TLS connection presented (verified by the handshake)."""

    name: str  # the certificate's CN
    uid: str | None  # the uid it binds, if any
    serial: int
    not_after: datetime


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """One live connection as an administrator sees it."""

    id: str
    protocol: str  # tak-tcp, tak-tls, websocket, mqtt
    address: str  # the peer's host:port (for MQTT: the broker's)
    since: datetime
    uid: str | None = None  # the uid it reports as (certificate, else its own SA)
    callsign: str | None = None
    identity: str | None = None  # who it authenticated as: certificate, token or broker user
    tls: TlsPeer | None = None
    messages_in: int = 0
    messages_out: int = 0
    queue: int = 0  # what waits to be sent to it (or, for MQTT, to enter the picture)


class LiveClient(Protocol):
    def describe(self, client_id: str) -> ClientInfo: ...

    def disconnect(self) -> None: ...


class Connections:
    """The registry of live connections."""

    def __init__(self) -> None:
        self._live: dict[str, LiveClient] = {}
        self._numbers = itertools.count(1)

    def add(self, prefix: str, client: LiveClient) -> str:
        """Register a connection that has just been established; returns its id."""
        client_id = f"{prefix}-{next(self._numbers)}"
        self._live[client_id] = client
        return client_id

    def remove(self, client_id: str | None) -> None:
        if client_id is not None:
            self._live.pop(client_id, None)

    def list(self) -> list[ClientInfo]:
        """Every live connection, the longest-connected first."""
        infos = [client.describe(client_id) for client_id, client in self._live.items()]
        return sorted(infos, key=lambda info: (info.since, info.id))

    def disconnect(self, client_id: str) -> bool:
        """End the connection `client_id`; False if there is none by that id."""
        client = self._live.get(client_id)
        if client is None:
            return False
        client.disconnect()
        return True

    def __len__(self) -> int:
        return len(self._live)

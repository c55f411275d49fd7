"""What every route needs, held on the app (no module-level state): the service, the limits, the
operator map tiles and the cluster link, if any."""

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fastapi import Request, WebSocket

from holdfire.adapters.bus.nats import NatsLink
from holdfire.adapters.certs import CertStore
from holdfire.adapters.metrics import Metrics
from holdfire.adapters.tiles import TileSource
from holdfire.api.guard import HttpGuard
from holdfire.codecs.geojson import TrackFeatures
from holdfire.domain.access import ApiToken
from holdfire.service.handlers import Service

MAX_BODY_BYTES = 1 << 20  # 1 MiB: a thousand reports or a detailed polygon fit easily
MAX_PAGE = 1000


class Pending(Protocol):
    """A stream client's queue, as the metrics see it."""

    def pending(self) -> int: ...


@dataclass(slots=True)
class ApiContext:
    service: Service
    max_body_bytes: int = MAX_BODY_BYTES
    stream_queue: int = 1000  # undelivered stream messages (besides coalesced tracks) per client
    counters: Counter[str] = field(default_factory=Counter)
    tiles: TileSource | None = None  # `holdfire serve --tiles`
    cluster: NatsLink | None = None  # `holdfire serve --nats`: this node's link to the others
    certs: CertStore | None = None  # the TLS listener's, for the devices' one-time packages
    # Tokens accepted lately (secret hash -> token, when): used only while the store is down.
    known_tokens: dict[str, tuple[ApiToken, datetime]] = field(default_factory=dict)
    track_features: TrackFeatures = field(default_factory=TrackFeatures)  # GET /tracks' cache
    metrics: Metrics | None = None  # GET /metrics; None: not served
    streams: set[Pending] = field(default_factory=set)  # the stream's clients, for the metrics
    guard: HttpGuard = field(default_factory=HttpGuard)  # per-address limits
    cot_counters: Counter[str] | None = None  # the CoT server's, for GET /admin/counters

    def __post_init__(self) -> None:
        self.guard.book.counters = self.counters  # refusals counted with the rest

    # Replays (each folds the whole log) run one at a time; the others wait their turn.
    replays: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))

    @property
    def ready(self) -> bool:
        """False while starting, catching up or closing: /health answers 503, checks too."""
        return self.service.ready


async def context(request: Request) -> ApiContext:
    """Async, so FastAPI calls it on the event loop instead of a worker thread."""
    ctx: ApiContext = request.app.state.holdfire
    return ctx


def ws_context(websocket: WebSocket) -> ApiContext:
    ctx: ApiContext = websocket.app.state.holdfire
    return ctx

"""WS /api/v1/stream: tracks, checks, alerts and measures pushed as they happen.

Authentication: `?token=` or, without it, a first message `{"token": "..."}` within 10 s. Any
role may listen. Filters: `?kinds=track,check` (default all) and `?bbox=west,south,east,north`
(tracks and checks outside it are not sent); a message `{"kinds": [...], "bbox": [...] | null}`
changes them. Each message is `{"kind", "data"}`: a track is its GeoJSON Feature as `GET
/tracks` gives it (a track that left the picture comes with `geometry: null` and
`properties.removed`), a check its Clearance, an alert its record (an acknowledgement sends
`{"id", "acked_at", "acked_by", "update": true}`), a measure its Feature (a cancelled one with
`geometry: null` and `properties.status: "cancelled"`), a message one delivery as `GET
/messages` lists it (sent, re-sent, acknowledged or escalated).

The token is checked again every half second while the stream is open: once it is revoked or
expires the server closes the socket with code 4401 and the reason `token revoked` or `token
expired` (the same code as a refused sign-in: get a valid token before reconnecting).

A slow client costs bounded memory and never stalls the server: track updates are coalesced to
the latest per uid (computed when sent), other messages queue up to a limit; past it the server
closes the socket with code 1013 (reconnect and re-read the picture).

Every open stream is in the list of live connections (`GET /clients`, as `ws-N`, with its
token's name); an administrator who disconnects it (`DELETE /clients/{id}`) closes it with code
4000 and the reason `disconnected by an administrator` (the token still works: revoke it to keep
the client out).
"""

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from holdfire.api.auth import token_for
from holdfire.api.context import ApiContext, ws_context
from holdfire.api.errors import ApiError
from holdfire.api.routes_coordination import alert_record_to_dict
from holdfire.api.routes_picture import in_bbox, parse_bbox
from holdfire.codecs.geojson import removed_feature, track_feature
from holdfire.codecs.json import (
    clearance_to_dict,
    delivery_to_dict,
    format_time,
    measure_to_feature,
)
from holdfire.domain.access import ApiToken
from holdfire.domain.events import (
    AlertAcked,
    AlertRaised,
    CheckEvaluated,
    DeliveriesUpdated,
    Event,
    MarkerRemoved,
    MeasureCancelled,
    MeasureDefined,
    MessageSent,
    PositionReported,
    UnitRegistered,
)
from holdfire.service.connections import ClientInfo
from holdfire.service.ports import AlertRecord, StoreUnavailable

router = APIRouter()

KINDS = frozenset({"track", "check", "alert", "message", "measure"})
AUTH_WAIT_S = 10.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400
CLOSE_TOO_SLOW = 1013
CLOSE_DISCONNECTED = 4000
TOKEN_RECHECK_S = 0.5

Box = tuple[float, float, float, float]


class Subscription:
    """One client's pending messages: coalesced tracks plus a bounded queue of the rest."""

    def __init__(self, ctx: ApiContext, kinds: frozenset[str], bbox: Box | None) -> None:
        self.ctx = ctx
        self.kinds = kinds
        self.bbox = bbox
        self.tracks: dict[str, None] = {}  # uids to send, in the order they changed
        self.queue: deque[dict[str, Any]] = deque()
        self.overflow = False
        self.disconnected = False  # by an administrator
        self.sent = 0
        self.received = 0
        self.wake = asyncio.Event()

    def pending(self) -> int:
        """Messages waiting to be sent (tracks coalesced per uid)."""
        return len(self.tracks) + len(self.queue)

    def on_events(self, events: Sequence[Event]) -> None:
        for event in events:
            self._take(event)
        if len(self.queue) > self.ctx.stream_queue:
            self.overflow = True
        if self.tracks or self.queue or self.overflow:
            self.wake.set()

    def _take(self, event: Event) -> None:
        if isinstance(event, PositionReported | MarkerRemoved | UnitRegistered):
            uid = (
                event.report.uid
                if isinstance(event, PositionReported)
                else (event.unit.uid if isinstance(event, UnitRegistered) else event.uid)
            )
            if "track" in self.kinds and (
                not isinstance(event, UnitRegistered) or self.ctx.service.picture.track(uid)
            ):
                self.tracks.pop(uid, None)
                self.tracks[uid] = None
        elif isinstance(event, CheckEvaluated):
            target = event.clearance.target
            if "check" in self.kinds and (
                self.bbox is None or in_bbox(self.bbox, target.lat, target.lon)
            ):
                self.queue.append({"kind": "check", "data": clearance_to_dict(event.clearance)})
        elif isinstance(event, AlertRaised):
            if "alert" in self.kinds:
                record = AlertRecord(event.alert_id, event.alert)
                self.queue.append({"kind": "alert", "data": alert_record_to_dict(record)})
        elif isinstance(event, AlertAcked):
            if "alert" in self.kinds:
                data = {
                    "id": event.alert_id,
                    "acked_at": format_time(event.at),
                    "acked_by": event.by,
                    "update": True,
                }
                self.queue.append({"kind": "alert", "data": data})
        elif isinstance(event, MeasureDefined | MeasureCancelled) and "measure" in self.kinds:
            self.queue.append({"kind": "measure", "data": _measure_data(event)})
        elif isinstance(event, MessageSent | DeliveriesUpdated) and "message" in self.kinds:
            for delivery in event.deliveries:
                self.queue.append({"kind": "message", "data": delivery_to_dict(delivery)})

    def take(self) -> list[dict[str, Any]]:
        out = list(self.queue)
        self.queue.clear()
        picture = self.ctx.service.picture
        now = self.ctx.service.clock.now()
        for uid in self.tracks:
            track = picture.track(uid)
            if track is None or not picture.weighed(uid):
                out.append({"kind": "track", "data": removed_feature(uid)})
                continue
            latest = track.latest
            if self.bbox is not None and not in_bbox(self.bbox, latest.lat, latest.lon):
                continue
            feature = track_feature(
                track, picture.unit(uid), picture.affiliation_of(uid), picture.mobility_of(uid), now
            )
            out.append({"kind": "track", "data": feature})
        self.tracks.clear()
        return out


class StreamClient:
    """An open stream in the list of live connections."""

    def __init__(
        self, subscription: Subscription, address: str, token: ApiToken, since: datetime
    ) -> None:
        self.subscription = subscription
        self.address = address
        self.token = token
        self.since = since

    def describe(self, client_id: str) -> ClientInfo:
        sub = self.subscription
        units = self.token.units
        return ClientInfo(
            id=client_id,
            protocol="websocket",
            address=self.address,
            since=self.since,
            uid=units[0] if len(units) == 1 else None,
            identity=f"token {self.token.name} ({self.token.role.value})",
            messages_in=sub.received,
            messages_out=sub.sent,
            queue=len(sub.queue) + len(sub.tracks),
        )

    def disconnect(self) -> None:
        self.subscription.disconnected = True
        self.subscription.wake.set()


def _measure_data(event: MeasureDefined | MeasureCancelled) -> dict[str, Any]:
    if isinstance(event, MeasureDefined):
        return measure_to_feature(event.measure)
    return {
        "type": "Feature",
        "id": event.measure_id,
        "geometry": None,
        "properties": {"id": event.measure_id, "status": "cancelled"},
    }


def _kinds(value: object) -> frozenset[str]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(k, str) for k in items):
        raise ApiError(422, "kinds: must be a list of kinds", field="kinds")
    kinds = frozenset(k.strip() for k in items if k.strip())
    unknown = kinds - KINDS
    if unknown:
        raise ApiError(
            422,
            f"kinds: unknown {', '.join(sorted(unknown))}; use {', '.join(sorted(KINDS))}",
            field="kinds",
        )
    return kinds or KINDS


def _box(value: object) -> Box | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise ApiError(422, "bbox: must be west,south,east,north", field="bbox")
    return parse_bbox(value)


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    ctx = ws_context(websocket)
    params = websocket.query_params
    secret = params.get("token")
    try:
        kinds = _kinds(params.get("kinds", ""))
        bbox = _box(params.get("bbox"))
    except ApiError as exc:
        await websocket.close(CLOSE_BAD_REQUEST, exc.message)
        return
    if secret is not None:
        token = await token_for(ctx, secret)
        if token is None:
            await websocket.close(CLOSE_UNAUTHORIZED, "unknown, revoked or expired token")
            return
        await websocket.accept()
    else:
        await websocket.accept()
        try:
            first = await asyncio.wait_for(websocket.receive_json(), AUTH_WAIT_S)
        except (TimeoutError, WebSocketDisconnect, ValueError, KeyError):
            first = None
        given = first.get("token") if isinstance(first, dict) else None
        token = await token_for(ctx, given) if isinstance(given, str) else None
        if not isinstance(given, str) or token is None:
            with contextlib.suppress(Exception):
                await websocket.close(CLOSE_UNAUTHORIZED, 'send {"token": ...} first')
            return
        secret = given
    subscription = Subscription(ctx, kinds, bbox)
    unsubscribe = ctx.service.hub.subscribe(subscription.on_events)
    ctx.counters["stream_clients"] += 1
    peer = websocket.client
    address = f"{peer.host}:{peer.port}" if peer is not None else "?"
    live = StreamClient(subscription, address, token, ctx.service.clock.now())
    client_id = ctx.service.connections.add("ws", live)
    ctx.streams.add(subscription)
    tasks = {
        asyncio.create_task(_send(websocket, subscription)),
        asyncio.create_task(_receive(websocket, subscription)),
        asyncio.create_task(_watch_token(websocket, ctx, secret, token)),
    }
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        unsubscribe()
        ctx.service.connections.remove(client_id)
        ctx.counters["stream_clients"] -= 1
        ctx.streams.discard(subscription)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _watch_token(websocket: WebSocket, ctx: ApiContext, secret: str, token: ApiToken) -> None:
    """Close the stream once its token is revoked or expires (within `TOKEN_RECHECK_S`).

    The token is looked up again every `TOKEN_RECHECK_S` (one indexed read; a revocation made
    by `holdfire token revoke` in another process reaches this one only through the store).
    While the store cannot be reached the stream goes on, as requests do (api.auth), but the
    expiry still holds.
    """
    clock = ctx.service.clock
    while True:
        await asyncio.sleep(TOKEN_RECHECK_S)
        if token.expired(clock.now()):
            reason = "token expired"
            break
        try:
            if await token_for(ctx, secret) is None:
                reason = "token expired" if token.expired(clock.now()) else "token revoked"
                break
        except StoreUnavailable:
            continue
    ctx.counters["stream_token_closed"] += 1
    with contextlib.suppress(Exception):
        await websocket.close(CLOSE_UNAUTHORIZED, reason)


async def _send(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        await subscription.wake.wait()
        subscription.wake.clear()
        if subscription.disconnected:
            await websocket.close(CLOSE_DISCONNECTED, "disconnected by an administrator")
            return
        if subscription.overflow:
            subscription.ctx.counters["stream_too_slow"] += 1
            await websocket.close(CLOSE_TOO_SLOW, "too slow: reconnect and re-read the picture")
            return
        for message in subscription.take():
            text = json.dumps(message, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
            await websocket.send_text(text)
            subscription.sent += 1


async def _receive(websocket: WebSocket, subscription: Subscription) -> None:
    """Filter changes from the client; returns when it goes away."""
    while True:
        try:
            message = await websocket.receive_json()
        except WebSocketDisconnect:
            return
        except ValueError:
            await websocket.send_json({"kind": "error", "data": {"error": "not JSON"}})
            continue
        subscription.received += 1
        if not isinstance(message, dict):
            continue
        try:
            if "kinds" in message:
                subscription.kinds = _kinds(message["kinds"])
            if "bbox" in message:
                subscription.bbox = _box(message["bbox"])
        except ApiError as exc:
            await websocket.send_json({"kind": "error", "data": {"error": exc.message}})

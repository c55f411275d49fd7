"""Who is connected (admin): every live TAK, WebSocket and MQTT connection, and cutting one off."""

from typing import Any

from fastapi import APIRouter, Response

from holdfire.api.auth import Ctx, MayManageClients
from holdfire.api.errors import ApiError
from holdfire.api.responses import json_response
from holdfire.api.routes_picture import ERRORS
from holdfire.api.schemas import ErrorOut
from holdfire.codecs.json import format_time
from holdfire.service.connections import ClientInfo

router = APIRouter()


def client_to_dict(info: ClientInfo) -> dict[str, Any]:
    tls = info.tls
    return {
        "id": info.id,
        "protocol": info.protocol,
        "address": info.address,
        "uid": info.uid,
        "callsign": info.callsign,
        "identity": info.identity,
        "tls": None
        if tls is None
        else {
            "name": tls.name,
            "uid": tls.uid,
            "serial": f"{tls.serial:x}",
            "not_after": format_time(tls.not_after),
        },
        "since": format_time(info.since),
        "messages_in": info.messages_in,
        "messages_out": info.messages_out,
        "queue": info.queue,
    }


@router.get(
    "/clients",
    summary="Every live TAK (TCP, TLS), WebSocket and MQTT connection of this server",
    responses=ERRORS,
)
async def list_clients(ctx: Ctx, _: MayManageClients) -> Response:
    """`protocol`: tak-tcp, tak-tls, websocket or mqtt (this server's own subscription to the
    broker). `uid`/`callsign`: what the client reports as (a TLS client's uid is the one its
    certificate binds; a stream's, the unit its token is bound to, if just one); `identity`:
    whom it authenticated as (certificate name, API token, broker user), null for plain TCP;
    `tls`: the client certificate (serial in hex); `messages_in`/`messages_out`: events
    received from and sent to it on this connection; `queue`: events waiting to be sent to it
    (for MQTT: reports waiting for the picture and deliveries for the broker). Oldest
    connection first."""
    items = [client_to_dict(info) for info in ctx.service.connections.list()]
    return json_response({"items": items, "next": None})


@router.delete(
    "/clients/{client_id}",
    status_code=204,
    summary="Disconnect one client at once",
    responses={404: {"model": ErrorOut}, **ERRORS},
)
async def disconnect_client(client_id: str, ctx: Ctx, token: MayManageClients) -> Response:
    """A TAK client's socket is closed at once (what was queued for it is kept for its uid, as
    for any disconnection), a stream is closed with code 4000, the MQTT subscription drops its
    broker connection and connects again after its backoff. Nothing stops a client from
    connecting again: revoke its certificate or token for that."""
    if not ctx.service.connections.disconnect(client_id):
        raise ApiError(404, f"no connected client {client_id!r}")
    ctx.counters["clients_disconnected"] += 1
    return Response(status_code=204)

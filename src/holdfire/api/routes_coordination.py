"""Pairings and alerts over HTTP."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from holdfire.api.auth import Caller, Ctx, MayAckAlerts, MayPair, refuse
from holdfire.api.body import page
from holdfire.api.context import MAX_PAGE
from holdfire.api.responses import json_response
from holdfire.api.routes_picture import ERRORS
from holdfire.api.schemas import ErrorOut, IdOut, PageOut, PairingIn
from holdfire.codecs.json import alert_to_dict, format_time, pairing_to_dict
from holdfire.domain.access import Role
from holdfire.domain.alerts import AlertKind
from holdfire.domain.errors import NotFound
from holdfire.service.ports import AlertRecord

router = APIRouter()


def alert_record_to_dict(record: AlertRecord) -> dict[str, object]:
    return {
        **alert_to_dict(record.id, record.alert),
        "acked_at": None if record.acked_at is None else format_time(record.acked_at),
        "acked_by": record.acked_by,
    }


@router.get(
    "/pairings", summary="Vehicle and dismount pairings", responses={200: {"model": PageOut}}
)
async def get_pairings(
    ctx: Ctx,
    _: Caller,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: str | None = None,
) -> Response:
    pairings, next_cursor = page(ctx.service.coordinator.pairings(), lambda p: p.id, limit, cursor)
    return json_response({"items": [pairing_to_dict(p) for p in pairings], "next": next_cursor})


@router.post(
    "/pairings",
    status_code=201,
    summary="Pair a vehicle with its dismounted team",
    responses={201: {"model": IdOut}, **ERRORS},
)
async def post_pairing(body: PairingIn, ctx: Ctx, token: MayPair) -> Response:
    pairing = await ctx.service.create_pairing(
        body.vehicle, tuple(body.dismounts), body.max_separation_m, by=token.name
    )
    return json_response({"id": pairing.id}, 201)


@router.get("/alerts", summary="Alerts, newest first", responses={200: {"model": PageOut}})
async def get_alerts(
    ctx: Ctx,
    _: Caller,
    kind: AlertKind | None = None,
    unacked: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: str | None = None,
) -> Response:
    items, next_cursor = await ctx.service.store.list_alerts(
        limit=limit, cursor=cursor, kind=None if kind is None else kind.value, unacked=unacked
    )
    return json_response({"items": [alert_record_to_dict(r) for r in items], "next": next_cursor})


@router.get("/alerts/{alert_id}", summary="One alert", responses={404: {"model": ErrorOut}})
async def get_alert(alert_id: str, ctx: Ctx, _: Caller) -> Response:
    record = await ctx.service.store.get_alert(alert_id)
    if record is None:
        raise NotFound("alert", alert_id)
    return json_response(alert_record_to_dict(record))


@router.post(
    "/alerts/{alert_id}/ack",
    summary="Acknowledge an alert (receipt; the first acknowledgement stands)",
    responses={404: {"model": ErrorOut}, **ERRORS},
)
async def ack_alert(alert_id: str, ctx: Ctx, token: MayAckAlerts) -> Response:
    """A reporter token may acknowledge only alerts addressed to, or about, its bound units."""
    if token.role is Role.REPORTER:
        record = await ctx.service.store.get_alert(alert_id)
        if record is None:
            raise NotFound("alert", alert_id)
        concerned = set(record.alert.recipients) | set(record.alert.subjects)
        if not concerned & set(token.units):
            raise await refuse(ctx, token, f"acknowledge alert {alert_id} for other units")
    record = await ctx.service.ack_alert(alert_id, by=token.name)
    return json_response(alert_record_to_dict(record))

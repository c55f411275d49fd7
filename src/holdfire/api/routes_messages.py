"""Tactical messages over HTTP: the catalog, sending, the deliveries, acknowledgements."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from holdfire.api.auth import Caller, Ctx, refuse
from holdfire.api.context import MAX_PAGE
from holdfire.api.errors import ApiError
from holdfire.api.responses import json_response
from holdfire.api.routes_picture import ERRORS
from holdfire.api.schemas import ErrorOut, MessageIn, PageOut
from holdfire.codecs.catalog_json import catalog_to_dict
from holdfire.codecs.json import delivery_to_dict
from holdfire.domain.access import Action, ApiToken, Role, may

router = APIRouter()

# Stop commands: anyone who sees an unsafe act may give them (the fires role included).
STOP_COMMANDS = frozenset(
    {"CHECK_FIRE", "CANCEL_CHECK_FIRE", "CEASE_FIRE", "CEASE_LOADING", "HOLD_FIRE"}
)


@router.get("/catalog", summary="The message catalog: ids, parameters, renderings per language")
async def get_catalog(ctx: Ctx, _: Caller) -> Response:
    return json_response(catalog_to_dict(ctx.service.catalog))


def _speaks_for(token: ApiToken, claimed: str | None) -> str | None:
    """The unit a message is sent as: the one named (it must be the token's), else the token's
    one bound unit."""
    if claimed is not None:
        if not token.bound_to(claimed):
            return None
        return claimed
    return token.units[0] if len(token.units) == 1 else None


@router.post(
    "/messages",
    status_code=201,
    summary="Send a catalog message to a unit, group:NAME or pairing:ID",
    responses={201: {"model": PageOut}, **ERRORS},
)
async def post_message(body: MessageIn, ctx: Ctx, token: Caller) -> Response:
    """Each recipient receives it in its own language (the English text beside it). A reporter
    sends as its bound unit; stop commands may come from any role but observer."""
    code = body.code.strip().upper()
    allowed = may(token.role, Action.MESSAGE) or (
        code in STOP_COMMANDS and may(token.role, Action.CHECK_FIRE)
    )
    if not allowed:
        raise await refuse(ctx, token, f"send {code}")
    sender_uid = _speaks_for(token, body.sender_uid)
    if body.sender_uid is not None and sender_uid is None:
        raise await refuse(ctx, token, f"send as {body.sender_uid}, not bound to it")
    if token.role is Role.REPORTER and sender_uid is None:
        raise ApiError(
            422, "sender_uid: name the bound unit this message is from", field="sender_uid"
        )
    message, deliveries = await ctx.service.send_message(
        code,
        body.params,
        body.to,
        sender=token.name,
        sender_uid=sender_uid,
        ack_required=body.ack_required,
        attachment=body.attachment,
        cancel_any=may(token.role, Action.CANCEL_ANY_CHECK_FIRE),
    )
    return json_response(
        {"id": message.id, "deliveries": [delivery_to_dict(d) for d in deliveries]}, 201
    )


@router.get(
    "/messages",
    summary="Deliveries, newest first (alerts' prompts included)",
    responses={200: {"model": PageOut}},
)
async def get_messages(
    ctx: Ctx,
    _: Caller,
    to: Annotated[str | None, Query(description="Recipient uid")] = None,
    message: Annotated[str | None, Query(description="Message id")] = None,
    pending: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: str | None = None,
) -> Response:
    items, next_cursor = await ctx.service.store.list_deliveries(
        recipient=to, message_id=message, pending=pending, limit=limit, cursor=cursor
    )
    return json_response({"items": [delivery_to_dict(d) for d in items], "next": next_cursor})


@router.post(
    "/messages/{key}/ack",
    summary="Acknowledge a message or a delivery (id, or its first 8 characters)",
    responses={404: {"model": ErrorOut}, **ERRORS},
)
async def ack_message(
    key: str,
    ctx: Ctx,
    token: Caller,
    recipient: Annotated[str | None, Query(alias="for", description="Only this recipient")] = None,
) -> Response:
    """A reporter acknowledges for its bound units; a planner or admin for any recipient (the
    acknowledgement names who gave it)."""
    if token.role is Role.REPORTER:
        targets: list[str | None] = [u for u in token.units if recipient in (None, u)]
        if not targets:
            raise await refuse(ctx, token, f"acknowledge for {recipient}")
    elif may(token.role, Action.ACK_FOR_OTHERS):
        targets = [recipient]
    else:
        raise await refuse(ctx, token, "acknowledge messages")
    acked: list[Any] = []
    for target in targets:
        try:
            acked += await ctx.service.ack_message(key, by=token.name, recipient=target)
        except LookupError:
            if len(targets) == 1:
                raise
    if not acked:
        raise ApiError(404, f"no unacknowledged delivery matches {key!r}")
    return json_response({"items": [delivery_to_dict(d) for d in acked], "next": None})

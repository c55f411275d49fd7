"""Health, the reference tables, and token administration."""

import dataclasses
from collections import Counter
from typing import Any

from fastapi import APIRouter, Response

from holdfire.adapters.auth import TokenError, create_token, revoke_token
from holdfire.api.auth import Caller, Ctx, MayAdminTokens
from holdfire.api.errors import ApiError
from holdfire.api.responses import error_response, json_response
from holdfire.api.routes_picture import ERRORS
from holdfire.api.schemas import ErrorOut, HealthOut, NewTokenOut, PageOut, TokenIn
from holdfire.codecs.json import format_time
from holdfire.domain.access import Action, ApiToken, may

router = APIRouter()


@router.get(
    "/health",
    summary="Readiness (no token needed)",
    responses={200: {"model": HealthOut}, 503: {"model": HealthOut}},
    openapi_extra={"security": []},
)
async def health(ctx: Ctx) -> Response:
    return json_response({"ready": ctx.ready}, 200 if ctx.ready else 503)


def _rows(rows: Any) -> list[dict[str, Any]]:
    return [dataclasses.asdict(row) for row in sorted(rows, key=lambda r: r.id)]


@router.get(
    "/weapons", summary="The weapon table, with provenance", responses={200: {"model": PageOut}}
)
async def weapons(ctx: Ctx, _: Caller) -> Response:
    return json_response(
        {"items": _rows(ctx.service.picture.tables.weapons.values()), "next": None}
    )


@router.get(
    "/equipment",
    summary="Equipment, its lookalike family and who fields it, with provenance",
    responses={200: {"model": PageOut}},
)
async def equipment(ctx: Ctx, _: Caller) -> Response:
    return json_response(
        {"items": _rows(ctx.service.picture.tables.equipment.values()), "next": None}
    )


@router.get("/me", summary="The caller's token: name, role, bound units and what it may do")
async def me(_ctx: Ctx, token: Caller) -> Response:
    """What the web map asks after sign-in, to show only the tools the role may use."""
    allowed = [action.value for action in Action if may(token.role, action)]
    return json_response({**_token_out(token), "may": allowed})


def _token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "units": list(token.units),
        "created_at": format_time(token.created_at),
        "created_by": token.created_by,
        "revoked_at": None if token.revoked_at is None else format_time(token.revoked_at),
        "expires_at": None if token.expires_at is None else format_time(token.expires_at),
    }


@router.get(
    "/admin/counters",
    summary="The server's counters: refusals by reason (CoT and HTTP), drops, throttling",
    responses=ERRORS,
)
async def counters(ctx: Ctx, _: MayAdminTokens) -> Response:
    cot = ctx.cot_counters if ctx.cot_counters is not None else Counter[str]()
    return json_response(
        {"http": dict(sorted(ctx.counters.items())), "cot": dict(sorted(cot.items()))}
    )


@router.get("/tokens", summary="Every token issued (never the secrets)", responses=ERRORS)
async def list_tokens(ctx: Ctx, _: MayAdminTokens) -> Response:
    tokens = await ctx.service.store.list_tokens()
    return json_response({"items": [_token_out(t) for t in tokens], "next": None})


@router.post(
    "/tokens",
    status_code=201,
    summary="Issue a token; the secret is in this answer only",
    responses={201: {"model": NewTokenOut}, 409: {"model": ErrorOut}, **ERRORS},
)
async def post_token(body: TokenIn, ctx: Ctx, token: MayAdminTokens) -> Response:
    if body.expires_at is not None and body.expires_at <= ctx.service.clock.now():
        raise ApiError(422, "expires_at: must be in the future", field="expires_at")
    try:
        made = await create_token(
            ctx.service.store,
            body.name,
            body.role,
            units=tuple(body.units),
            by=token.name,
            now=ctx.service.clock.now(),
            expires_at=body.expires_at,
        )
    except TokenError as exc:
        return error_response(409, str(exc), field="name")
    return json_response({**_token_out(made.token), "token": made.secret}, 201)


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    summary="Revoke a token",
    responses={404: {"model": ErrorOut}, **ERRORS},
)
async def delete_token(token_id: str, ctx: Ctx, token: MayAdminTokens) -> Response:
    try:
        await revoke_token(ctx.service.store, token_id, by=token.name, now=ctx.service.clock.now())
    except TokenError as exc:
        raise ApiError(404, str(exc)) from None
    return Response(status_code=204)

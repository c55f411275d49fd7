"""Who is asking: the bearer token, looked up in the store on every request, and its rights.

Looking the token up each time (one indexed read) means a token created with `holdfire token
create` while the server runs works at once, and a revoked one stops at once. While the store
cannot be reached, a token this server accepted within the last `KNOWN_FOR` is still accepted
(so a fires cell's checks are answered while the database is down); one it never saw is not.

A reporter that tries what its role does not allow gets 403 and leaves a SECURITY alert: a
reporter token sits on a device in the field, and a device probing beyond its rights may be
lost or taken.
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from holdfire.adapters.auth import hash_secret
from holdfire.api.context import ApiContext, context
from holdfire.api.errors import ApiError, unauthorized
from holdfire.domain.access import Action, ApiToken, Role, may
from holdfire.service.ports import StoreUnavailable

Ctx = Annotated[ApiContext, Depends(context)]
KNOWN_FOR = timedelta(minutes=15)


def bearer_secret(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


async def token_for(ctx: ApiContext, secret: str | None) -> ApiToken | None:
    if not secret or len(secret) > 256:
        return None
    key = hash_secret(secret)
    now = ctx.service.clock.now()
    try:
        token = await ctx.service.store.find_token(key)
    except StoreUnavailable:
        known = ctx.known_tokens.get(key)
        if known is None or now - known[1] > KNOWN_FOR:
            raise
        if not known[0].usable(now):
            return None
        ctx.counters["auth_from_memory"] += 1
        return known[0]
    if token is None or not token.usable(now):
        ctx.known_tokens.pop(key, None)
        return None
    ctx.known_tokens[key] = (token, now)
    return token


async def authenticated(ctx: ApiContext, header: str | None) -> ApiToken:
    """The token of an `Authorization` header's value; 401 without a usable one."""
    secret = bearer_secret(header)
    if secret is None:
        raise unauthorized("missing bearer token (Authorization: Bearer <token>)")
    token = await token_for(ctx, secret)
    if token is None:
        ctx.counters["auth_rejected"] += 1
        raise unauthorized("unknown, revoked or expired token")
    return token


async def caller(request: Request, ctx: Ctx) -> ApiToken:
    return await authenticated(ctx, request.headers.get("authorization"))


Caller = Annotated[ApiToken, Depends(caller)]


async def refuse(
    ctx: ApiContext, token: ApiToken, what: str, subjects: tuple[str, ...] = ()
) -> ApiError:
    """The 403 for `token`; a reporter's refusal is also a security event."""
    ctx.counters["forbidden"] += 1
    if token.role is Role.REPORTER:
        await ctx.service.security_event(
            f"reporter token {token.name!r} was refused: {what}", subjects or token.units
        )
    return ApiError(403, f"role {token.role.value} may not {what}")


async def permitted(ctx: ApiContext, token: ApiToken, action: Action, what: str) -> ApiToken:
    """`token`, if its role is granted `action`; else the 403 (see `refuse`)."""
    if not may(token.role, action):
        raise await refuse(ctx, token, what)
    return token


def _requiring(action: Action, what: str) -> Callable[..., Awaitable[ApiToken]]:
    """A dependency that lets the request through only for roles granted `action`."""

    async def allowed(token: Caller, ctx: Ctx) -> ApiToken:
        return await permitted(ctx, token, action, what)

    return allowed


MayReport = Annotated[ApiToken, Depends(_requiring(Action.REPORT, "send reports"))]
MayCheck = Annotated[ApiToken, Depends(_requiring(Action.CHECK, "request checks"))]
MayRecordFired = Annotated[ApiToken, Depends(_requiring(Action.FIRED, "record fired missions"))]
MayDecide = Annotated[ApiToken, Depends(_requiring(Action.DECIDE, "record decisions"))]
MayCheckFire = Annotated[ApiToken, Depends(_requiring(Action.CHECK_FIRE, "call check fires"))]
MayEditUnits = Annotated[ApiToken, Depends(_requiring(Action.UNITS, "change units"))]
MayEditMeasures = Annotated[ApiToken, Depends(_requiring(Action.MEASURES, "change measures"))]
MayPair = Annotated[ApiToken, Depends(_requiring(Action.PAIRINGS, "create pairings"))]
MayAckAlerts = Annotated[ApiToken, Depends(_requiring(Action.ACK_ALERT, "acknowledge alerts"))]
MayAdminTokens = Annotated[ApiToken, Depends(_requiring(Action.TOKENS, "manage tokens"))]
MaySeeCluster = Annotated[ApiToken, Depends(_requiring(Action.CLUSTER, "see the cluster"))]
MayManageClients = Annotated[
    ApiToken, Depends(_requiring(Action.CLIENTS, "see or disconnect connected clients"))
]
MayReplay = Annotated[ApiToken, Depends(_requiring(Action.REPLAY, "replay the past"))]

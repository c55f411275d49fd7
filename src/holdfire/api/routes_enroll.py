"""A phone's one-time download of its data package (no token: the link's secret is the
credential; see `adapters.onboarding`)."""

import logging

from fastapi import APIRouter, Request, Response

from holdfire.adapters.onboarding import take_offer
from holdfire.api.auth import Ctx
from holdfire.api.errors import ApiError
from holdfire.api.schemas import ErrorOut

router = APIRouter()
log = logging.getLogger("holdfire.api")


@router.get(
    "/enroll/{secret}.zip",
    summary="A device's data package, once, from the link `holdfire certs client` printed",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The data package"},
        404: {"model": ErrorOut, "description": "Unknown, used or expired link"},
    },
    openapi_extra={"security": []},
)
async def enroll(secret: str, request: Request, ctx: Ctx) -> Response:
    """The link works once and for 15 minutes; whoever downloads it first has the package
    (it holds the device's key and its password), so a device whose download fails must be
    revoked and issued again."""
    found = take_offer(ctx.certs, secret, now=ctx.service.clock.now()) if ctx.certs else None
    if found is None:
        ctx.counters["enroll_refused"] += 1
        raise ApiError(404, "unknown, used or expired link: ask for a new one")
    name, package = found
    peer = request.client
    log.warning(
        "data package of %s downloaded by %s; its link no longer works",
        name,
        f"{peer.host}:{peer.port}" if peer else "?",
    )
    headers = {
        "Content-Disposition": f'attachment; filename="holdfire-{name}.zip"',
        "Cache-Control": "no-store",
    }
    return Response(package, 200, headers, media_type="application/zip")

"""The past over HTTP: the picture at an instant, and what a stored check saw.

Both are rebuilt from the event log on each request (:mod:`holdfire.service.replay`); neither
changes anything. Each walks the whole log, so one runs at a time and the others wait: however
many are asked at once, replays take no more of the event loop from checks than one does.
Observers, fires, planners and admins may ask; reporters may not (see ``Action.REPLAY``).
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from holdfire.api.auth import Ctx, MayReplay
from holdfire.api.errors import ApiError
from holdfire.api.responses import json_response
from holdfire.api.routes_picture import ERRORS
from holdfire.api.schemas import ErrorOut
from holdfire.codecs.json import CodecError, format_time, parse_time
from holdfire.codecs.replay import check_picture_to_dict, replay_to_dict
from holdfire.service.replay import check_picture, picture_at

router = APIRouter()


def _instant(text: str | None, now: datetime) -> datetime:
    if text is None:
        return now
    try:
        at = parse_time(text)
    except CodecError as exc:
        raise ApiError(422, f"at: {exc.message}", field="at") from None
    if at > now:
        raise ApiError(422, f"at: {text} is in the future (now {format_time(now)})", field="at")
    return at


@router.get(
    "/picture",
    summary="The picture as it stood at an instant, rebuilt from the event log",
    responses=ERRORS,
)
async def get_picture(
    ctx: Ctx,
    _: MayReplay,
    at: Annotated[
        str | None, Query(description="RFC 3339; default now. Events recorded by then count.")
    ] = None,
) -> Response:
    """Tracks (as `GET /tracks` Features, aged to `at`), measures not cancelled by then (each
    with `in_force` at `at`) and the unit registry; `since` is when the log begins."""
    service = ctx.service
    instant = _instant(at, service.clock.now())
    async with ctx.replays:
        folded = await picture_at(service.store, service.picture.tables, instant)
    return json_response(replay_to_dict(folded))


@router.get(
    "/checks/{check_id}/picture",
    summary="What a stored check saw: the positions, radii and measures it weighed",
    responses={404: {"model": ErrorOut}, **ERRORS},
)
async def get_check_picture(check_id: str, ctx: Ctx, _: MayReplay) -> Response:
    """Rebuilt from the log up to the check's own record; `replayed` is the stored request
    evaluated again on that picture at the check's time, and `reproduced` says whether it
    gives the stored verdict and every stored reason."""
    service = ctx.service
    async with ctx.replays:
        seen = await check_picture(service.store, service.picture.tables, check_id)
    return json_response(check_picture_to_dict(seen))

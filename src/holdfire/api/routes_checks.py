"""Checks over HTTP: ask one, page through the audit log, record decisions and what was fired."""

import inspect
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from holdfire.api.auth import Caller, Ctx, MayDecide, MayRecordFired, authenticated, permitted
from holdfire.api.body import documented_body
from holdfire.api.context import MAX_PAGE, ApiContext
from holdfire.api.errors import ApiError, error_answer, validation_answer
from holdfire.api.responses import error_doc, json_response, json_text_response
from holdfire.api.routes_picture import ERRORS
from holdfire.api.schemas import (
    CheckIn,
    ClearanceOut,
    DecisionIn,
    ErrorOut,
    FiredIn,
    IdOut,
    PageOut,
)
from holdfire.codecs.json import (
    CodecError,
    clearance_json,
    clearance_to_dict,
    decision_to_dict,
    fired_to_dict,
    parse_time,
)
from holdfire.domain.access import Action, ApiToken
from holdfire.domain.checks import CheckRequest, Verdict
from holdfire.domain.errors import NotFound
from holdfire.engine.clearance import MAX_PAST
from holdfire.geo import DATUM_ERROR_M, Datum, GeoError, parse_mgrs, sk42_to_wgs84

router = APIRouter()


def check_request(body: CheckIn, token: ApiToken, now: datetime) -> CheckRequest:
    """The engine's request from the wire shape; the firing unit defaults to the token's one
    bound unit, if it has exactly one."""
    if body.time is not None and body.time < now - MAX_PAST:
        raise ApiError(422, "time: is more than 5 minutes in the past", field="time")
    datum, datum_error, cell = Datum.WGS84, 0.0, 0.0
    if hasattr(body.target, "grid"):
        try:
            location = parse_mgrs(body.target.grid)
        except GeoError as exc:
            raise ApiError(422, f"target.grid: {exc}", field="target.grid") from None
        lat, lon, cell = location.lat, location.lon, location.cell_m
    else:
        lat, lon = body.target.lat, body.target.lon
        datum = Datum(body.datum)
        if datum is Datum.SK42:
            lat, lon = sk42_to_wgs84(lat, lon)
        datum_error = DATUM_ERROR_M[datum]
    firing_unit = body.firing_unit
    if firing_unit is None and len(token.units) == 1:
        firing_unit = token.units[0]
    return CheckRequest(
        lat=lat,
        lon=lon,
        weapon=body.weapon.strip().lower(),
        time=body.time,
        tle_m=body.tle_m,
        cell_m=cell,
        datum=datum.value,
        datum_error_m=datum_error,
        target_type=body.target_type,
        pid=tuple(body.pid),
        pid_detail=body.pid_detail,
        firing_unit=firing_unit,
        requester=token.name,
    )


CHECKS_PATH = "/api/v1/checks"


class CheckRoute:
    """POST /api/v1/checks, answered below the router (ASGI middleware, the innermost).

    The check is the request a fires cell and its tools send in volume, and the one whose
    latency counts. The router's matching, its dependency solving and its exception layers
    cost as much time as the HTTP parsing and more than the record's write, so this one
    route skips them: the same steps, called directly. Every middleware outside it (address
    limits, body limit, metrics) applies as to any route, and each error gets the answer the
    app's handlers give it. The OpenAPI document describes it as any route
    (`post_check_operation`)."""

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CHECKS_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            response = await self._answer(Request(scope, receive))
        except Exception as exc:
            answer = error_answer(exc)
            if answer is None:
                raise
            response = answer
        await response(scope, receive, send)

    async def _answer(self, http: Request) -> Response:
        ctx = self.ctx
        token = await authenticated(ctx, http.headers.get("authorization"))
        token = await permitted(ctx, token, Action.CHECK, "request checks")
        try:
            body = CheckIn.model_validate_json(await http.body())
        except ValidationError as exc:
            return validation_answer(list(exc.errors()))
        return await answer_check(ctx, body, token)


async def answer_check(ctx: ApiContext, body: CheckIn, token: ApiToken) -> Response:
    """An unknown weapon is a HOLD verdict (200), not an error. A node still catching up with
    its cluster refuses checks (503): its picture may lack what other nodes took."""
    if not ctx.ready:
        raise ApiError(
            503,
            "not ready: this node is still loading its picture or catching up with its "
            "cluster; try again shortly or ask another node",
            headers={"Retry-After": "1"},
        )
    request = check_request(body, token, ctx.service.clock.now())
    clearance = await ctx.service.check(request)
    ctx.counters[f"checks_{clearance.verdict.value}"] += 1
    return json_text_response(clearance_json(clearance))


def post_check_operation() -> dict[str, Any]:
    """POST /checks in the OpenAPI document, as the router would describe it."""
    operation = documented_body(CheckIn)
    answer = ClearanceOut.model_json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    )
    operation["x-components"].update({"ClearanceOut": answer, **answer.pop("$defs", {})})
    ok = {"schema": {"$ref": "#/components/schemas/ClearanceOut"}}
    return {
        "summary": "Is it safe to fire here? Evaluate and record a check",
        "description": inspect.getdoc(answer_check),
        "operationId": "post_check_api_v1_checks_post",
        **operation,
        "responses": {
            "200": {"description": "Successful Response", "content": {"application/json": ok}},
            "403": error_doc("Forbidden"),
            "422": error_doc("Bad input, naming the field"),
        },
    }


def _query_time(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except CodecError as exc:
        raise ApiError(422, f"{name}: {exc.message}", field=name) from None


@router.get(
    "/checks", summary="The audit log of checks, newest first", responses={200: {"model": PageOut}}
)
async def list_checks(
    ctx: Ctx,
    _: Caller,
    since: Annotated[str | None, Query(description="RFC 3339, inclusive")] = None,
    until: Annotated[str | None, Query(description="RFC 3339, exclusive")] = None,
    verdict: Verdict | None = None,
    requester: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: str | None = None,
) -> Response:
    """`since` and `until` are RFC 3339 times with a zone, like every time of the API (a bare
    number is not taken for a Unix time)."""
    items, next_cursor = await ctx.service.store.list_checks(
        limit=limit,
        cursor=cursor,
        since=_query_time("since", since),
        until=_query_time("until", until),
        verdict=verdict,
        requester=requester,
    )
    return json_response({"items": [clearance_to_dict(c) for c in items], "next": next_cursor})


@router.get(
    "/checks/{check_id}",
    summary="One check, with the decisions and fired notices recorded on it",
    responses={404: {"model": ErrorOut}},
)
async def get_check(check_id: str, ctx: Ctx, _: Caller) -> Response:
    clearance = await ctx.service.store.get_check(check_id)
    if clearance is None:
        raise NotFound("check", check_id)
    records = await ctx.service.store.check_records(check_id)
    return json_response(
        {
            **clearance_to_dict(clearance),
            "decisions": [decision_to_dict(d) for d in records.decisions],
            "fired": [fired_to_dict(n) for n in records.fired],
        }
    )


@router.post(
    "/checks/{check_id}/fired",
    status_code=201,
    summary="Record that a check's mission was fired",
    responses={201: {"model": IdOut}, 404: {"model": ErrorOut}, **ERRORS},
)
async def post_fired(
    check_id: str,
    body: FiredIn,
    ctx: Ctx,
    token: MayRecordFired,
) -> Response:
    """Firing on a HOLD (or on DANGER_CLOSE with no accepted danger close) alerts planners."""
    notice = await ctx.service.record_fired(
        check_id, fired_at=body.at, remarks=body.remarks, by=token.name
    )
    return json_response({"id": notice.id}, 201)


@router.post(
    "/checks/{check_id}/decisions",
    status_code=201,
    summary="Attach a named, time-bounded human decision to a check (the verdict stays)",
    responses={201: {"model": IdOut}, 404: {"model": ErrorOut}, **ERRORS},
)
async def post_decision(
    check_id: str,
    body: DecisionIn,
    ctx: Ctx,
    token: MayDecide,
) -> Response:
    decision = await ctx.service.record_decision(
        check_id,
        kind=body.kind,
        by=body.by,
        authority=body.authority,
        initials=body.initials,
        expires=body.expires,
        recorded_by=token.name,
    )
    return json_response({"id": decision.id}, 201)

"""The picture over HTTP: reports in, tracks out, the unit registry, measures and check fires."""

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from holdfire.api.auth import (
    Caller,
    Ctx,
    MayCheckFire,
    MayEditMeasures,
    MayEditUnits,
    MayReport,
    refuse,
)
from holdfire.api.body import documented_body, page, read_json
from holdfire.api.errors import ApiError
from holdfire.api.responses import (
    GeoJSONResponse,
    error_doc,
    geojson_response,
    json_response,
)
from holdfire.api.schemas import AcceptedOut, ErrorOut, FeatureIn, IdOut, PageOut, ReportIn, UnitIn
from holdfire.codecs.geojson import collection, collection_text
from holdfire.codecs.json import (
    CodecError,
    measure_from_feature,
    measure_to_feature,
    unit_from_dict,
    unit_to_dict,
)
from holdfire.codecs.reports import Channel, report_from_input
from holdfire.domain.access import Action, ApiToken, Role, may
from holdfire.domain.errors import NotFound
from holdfire.domain.measures import Measure, MeasureKind
from holdfire.domain.reports import PositionReport
from holdfire.domain.tracks import state_at

router = APIRouter()

MAX_BATCH = 1000
MAX_UNITS_PAGE = 10_000  # the map reads the whole registry at sign-in: one request, not five
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    422: {"model": ErrorOut},
}


def geojson_doc(kind: str) -> dict[str, Any]:
    """The documented 200 of a GeoJSON route: a Feature or a FeatureCollection."""
    body = {"type": "object", "required": ["type"], "properties": {"type": {"const": kind}}}
    return {"content": {GeoJSONResponse.media_type: {"schema": body}}}


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    try:
        west, south, east, north = (float(part) for part in text.split(","))
    except ValueError:
        raise ApiError(
            422, "bbox: must be west,south,east,north in degrees", field="bbox"
        ) from None
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise ApiError(422, "bbox: must be west,south,east,north in degrees", field="bbox")
    return west, south, east, north


def in_bbox(bbox: tuple[float, float, float, float], lat: float, lon: float) -> bool:
    west, south, east, north = bbox
    inside_lon = west <= lon <= east if west <= east else (lon >= west or lon <= east)
    return south <= lat <= north and inside_lon


# -- reports ----------------------------------------------------------------------------------


@router.post(
    "/reports",
    status_code=202,
    summary="Report positions (one object or a list)",
    responses={202: {"model": AcceptedOut}, **ERRORS},
    openapi_extra=documented_body(ReportIn, or_list=True),
)
async def post_reports(request: Request, ctx: Ctx, token: MayReport) -> Response:
    """A list is taken item by item: bad items are listed in `rejected`, the others land. A
    single invalid object is a 422. A reporter token's reports are the bound unit's own."""
    data = await read_json(request)
    single = not isinstance(data, list)
    items: list[Any] = [data] if single else data
    if len(items) > MAX_BATCH:
        raise ApiError(422, f"body: at most {MAX_BATCH} reports at once", field="body")
    channel = Channel(
        source="http", reporter=token.name, authenticated=True, bound_uids=frozenset(token.units)
    )
    now = ctx.service.clock.now()
    rejected: list[dict[str, Any]] = []
    ready: list[tuple[int, PositionReport]] = []
    for index, item in enumerate(items):
        try:
            report = report_from_input(item, channel, now)
        except CodecError as exc:
            if single:
                raise
            rejected.append({"index": index, "error": str(exc)})
            continue
        if token.role is Role.REPORTER and not token.bound_to(report.uid):
            refusal = await refuse(
                ctx, token, f"report for unit {report.uid!r}, not bound to it", (report.uid,)
            )
            if single:
                raise refusal
            rejected.append({"index": index, "error": f"uid: {refusal.message}"})
            continue
        ready.append((index, report))
    results = await ctx.service.reports([report for _, report in ready])
    accepted = 0
    for (index, _), result in zip(ready, results, strict=True):
        if result.accepted:
            accepted += 1
        else:
            rejected.append({"index": index, "error": f"not applied: {result.detail}"})
    ctx.counters["reports_accepted"] += accepted
    ctx.counters["reports_rejected"] += len(rejected)
    rejected.sort(key=lambda r: int(r["index"]))
    return json_response({"accepted": accepted, "rejected": rejected}, 202)


# -- tracks -----------------------------------------------------------------------------------


@router.get(
    "/tracks",
    summary="The live picture as a GeoJSON FeatureCollection",
    response_class=GeoJSONResponse,
    responses={200: geojson_doc("FeatureCollection")},
)
async def get_tracks(
    ctx: Ctx,
    _: Caller,
    bbox: Annotated[str | None, Query(description="west,south,east,north")] = None,
    state: Annotated[str | None, Query(pattern="^(fresh|stale|lost)$")] = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    cursor: str | None = None,
) -> Response:
    """Each track at its latest position with its current radius, state and age; paged only
    when `limit` is given (then `next` is a member of the collection)."""
    picture = ctx.service.picture
    now = ctx.service.clock.now()
    box = parse_bbox(bbox)
    every = list(picture.tracks())
    tracks = [
        t
        for t in every
        if (box is None or in_bbox(box, t.latest.lat, t.latest.lon))
        and (state is None or state_at(t.latest, picture.mobility_of(t.uid), now).value == state)
    ]
    chosen, next_cursor = page(tracks, lambda t: t.uid, limit or len(tracks) or 1, cursor)
    cache = ctx.track_features
    if len(cache) > len(every):
        cache.retain(t.uid for t in every)
    features = (
        cache.encoded(t, picture.unit(t.uid), picture.affiliation_of, picture.mobility_of, now)
        for t in chosen
    )
    body = collection_text(features, next=next_cursor, picture_version=picture.version)
    return GeoJSONResponse(body.encode("utf-8"), 200)


# -- units ------------------------------------------------------------------------------------


@router.get("/units", summary="The unit registry", responses={200: {"model": PageOut}})
async def get_units(
    ctx: Ctx,
    _: Caller,
    limit: Annotated[int, Query(ge=1, le=MAX_UNITS_PAGE)] = 100,
    cursor: str | None = None,
) -> Response:
    units, next_cursor = page(list(ctx.service.picture.units()), lambda u: u.uid, limit, cursor)
    return json_response({"items": [unit_to_dict(u) for u in units], "next": next_cursor})


@router.get("/units/{uid}", summary="One unit", responses={404: {"model": ErrorOut}})
async def get_unit(uid: str, ctx: Ctx, _: Caller) -> Response:
    unit = ctx.service.picture.unit(uid)
    if unit is None:
        raise NotFound("unit", uid)
    return json_response(unit_to_dict(unit))


@router.put(
    "/units/{uid}",
    summary="Register a unit or replace its entry (status absent/retired takes it off the map)",
    responses=ERRORS,
)
async def put_unit(uid: str, body: UnitIn, ctx: Ctx, token: MayEditUnits) -> Response:
    data = body.model_dump(mode="json")
    if data.get("uid") not in (None, uid):
        raise ApiError(422, "uid: must equal the uid in the path", field="uid")
    data["uid"] = uid
    unit = unit_from_dict(data)
    await ctx.service.register_unit(unit, by=token.name)
    return json_response(unit_to_dict(unit))


# -- measures and check fires -----------------------------------------------------------------


def _measures(ctx: Ctx, kind: MeasureKind | None) -> list[Measure]:
    return [m for m in ctx.service.picture.measures() if kind is None or m.kind is kind]


@router.get(
    "/measures",
    summary="Measures and protected sites as a GeoJSON FeatureCollection",
    response_class=GeoJSONResponse,
    responses={200: geojson_doc("FeatureCollection")},
)
async def get_measures(
    ctx: Ctx,
    _: Caller,
    kind: MeasureKind | None = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    cursor: str | None = None,
) -> Response:
    measures = _measures(ctx, kind)
    chosen, next_cursor = page(measures, lambda m: m.id, limit or len(measures) or 1, cursor)
    return geojson_response(collection((measure_to_feature(m) for m in chosen), next=next_cursor))


@router.get(
    "/measures/{measure_id}",
    summary="One measure as a GeoJSON Feature",
    response_class=GeoJSONResponse,
    responses={200: geojson_doc("Feature"), 404: error_doc("Not Found")},
)
async def get_measure(measure_id: str, ctx: Ctx, _: Caller) -> Response:
    measure = ctx.service.picture.measure(measure_id)
    if measure is None:
        raise NotFound("measure", measure_id)
    return geojson_response(measure_to_feature(measure))


async def _read_feature(request: Request) -> dict[str, Any]:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(422, "body: must be a GeoJSON Feature object", field="body")
    return data


def _new_measure(feature: dict[str, Any], ctx: Ctx, token: ApiToken) -> Measure:
    has_id = feature.get("id") is not None or (
        isinstance(feature.get("properties"), dict) and feature["properties"].get("id") is not None
    )
    measure = measure_from_feature(feature, measure_id=None if has_id else ctx.service.new_id())
    return replace(measure, originator=token.name) if measure.originator is None else measure


@router.post(
    "/measures",
    status_code=201,
    summary="Define a measure (a GeoJSON Feature; an existing id is replaced)",
    responses={201: {"model": IdOut}, **ERRORS},
    openapi_extra=documented_body(FeatureIn),
)
async def post_measure(request: Request, ctx: Ctx, token: MayEditMeasures) -> Response:
    measure = _new_measure(await _read_feature(request), ctx, token)
    if measure.kind is MeasureKind.CHECKFIRE:
        await ctx.service.call_check_fire(replace(measure, originator=token.name))
    else:
        await ctx.service.define_measure(measure, by=token.name)
    return json_response({"id": measure.id}, 201)


@router.delete(
    "/measures/{measure_id}",
    status_code=204,
    summary="Cancel a measure",
    responses={404: {"model": ErrorOut}, **ERRORS},
)
async def delete_measure(measure_id: str, ctx: Ctx, token: MayEditMeasures) -> Response:
    measure = ctx.service.picture.measure(measure_id)
    if measure is None:
        raise NotFound("measure", measure_id)
    if measure.kind is MeasureKind.CHECKFIRE:
        await ctx.service.cancel_check_fire(measure_id, by=token.name, any_originator=True)
    else:
        await ctx.service.cancel_measure(measure_id, by=token.name)
    return Response(status_code=204)


@router.post(
    "/checkfire",
    status_code=201,
    summary="Call a check fire: a Point with radius_m, a Polygon, or properties.unit",
    responses={201: {"model": IdOut}, **ERRORS},
    openapi_extra=documented_body(FeatureIn),
)
async def post_checkfire(request: Request, ctx: Ctx, token: MayCheckFire) -> Response:
    """Anyone who sees an unsafe act may call one; every check it covers is HOLD until its
    originator or a planner cancels it."""
    feature = await _read_feature(request)
    properties = feature.get("properties")
    properties = dict(properties) if isinstance(properties, dict) else {}
    kind = properties.setdefault("kind", MeasureKind.CHECKFIRE.value)
    if kind != MeasureKind.CHECKFIRE.value:
        raise ApiError(
            422, "properties.kind: a check fire has kind CHECKFIRE", field="properties.kind"
        )
    properties.pop("originator", None)  # the caller is the originator, whatever it says
    measure = _new_measure({**feature, "properties": properties}, ctx, token)
    await ctx.service.call_check_fire(measure)
    return json_response({"id": measure.id}, 201)


@router.delete(
    "/checkfire/{measure_id}",
    status_code=204,
    summary="Cancel a check fire (its originator, or a planner)",
    responses={404: {"model": ErrorOut}, **ERRORS},
)
async def delete_checkfire(
    measure_id: str,
    ctx: Ctx,
    token: MayCheckFire,
) -> Response:
    await ctx.service.cancel_check_fire(
        measure_id,
        by=token.name,
        any_originator=may(token.role, Action.CANCEL_ANY_CHECK_FIRE),
    )
    return Response(status_code=204)

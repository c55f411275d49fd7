"""JSON shapes (design.md §5) for domain objects: plain dicts in, plain dicts out, no I/O.

Every ``*_to_dict`` function returns only JSON types (str, int, float, bool, None, list, dict), so
``json.dumps(..., allow_nan=False)`` always succeeds; every ``*_from_dict`` function is its inverse
and raises :class:`CodecError` naming the offending field (dotted path, e.g. ``reasons[1].code``)
for anything it cannot read. Domain rule violations (:class:`DomainError`) are translated into
``CodecError`` with the same field.

Decisions written down here:

- Times are RFC 3339 in UTC with ``Z``. Whole seconds print without a fraction, millisecond
  precision prints three digits, anything finer prints six, so a round trip never loses time.
  Parsing accepts ``Z``, ``z``, numeric offsets and up to nanosecond fractions (truncated to
  microseconds); a time without a zone is refused.
- Non-finite optional numbers (NaN, ±inf) are written as ``null`` (unknown). The numbers of a
  stored ``CheckRequest`` are kept "as received"; a non-finite one is written as ``null`` and read
  back as NaN, which the engine still refuses (``INVALID_INPUT``).
- Distances in a Clearance are rounded to 0.1 m on output.
- A measure whose ``effective_from``/``effective_to`` cannot be read is *not* refused: the bad
  bound becomes ``None`` and ``window_invalid`` is set, so a restrictive measure counts as active
  (fail closed). Every other bad measure field raises ``CodecError``.
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from holdfire.domain.access import ApiToken, Role
from holdfire.domain.alerts import Alert, AlertKind
from holdfire.domain.checks import (
    CheckRequest,
    Clearance,
    PidBasis,
    Reason,
    ReasonCode,
    Target,
    Verdict,
)
from holdfire.domain.decisions import Decision, DecisionKind, FiredNotice
from holdfire.domain.errors import DomainError
from holdfire.domain.events import (
    AlertAcked,
    AlertCleared,
    AlertRaised,
    CheckEvaluated,
    CheckFired,
    DecisionRecorded,
    DeliveriesUpdated,
    Event,
    MarkerRemoved,
    MeasureCancelled,
    MeasureDefined,
    MessageKept,
    MessagesDelivered,
    MessageSent,
    PairingClosed,
    PairingCreated,
    PositionReported,
    TokenIssued,
    TokenRevoked,
    UnitRegistered,
)
from holdfire.domain.identity import Affiliation
from holdfire.domain.measures import (
    CircleGeometry,
    Geometry,
    LineGeometry,
    Measure,
    MeasureKind,
    MeasureStatus,
    PolygonGeometry,
    Side,
)
from holdfire.domain.messages import Delivery, Message, ParamValue
from holdfire.domain.pairings import Pairing
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility
from holdfire.domain.units import Rings, Unit, UnitStatus

__all__ = [
    "EVENT_TYPES",
    "CodecError",
    "alert_from_dict",
    "alert_to_dict",
    "clearance_from_dict",
    "clearance_json",
    "clearance_to_dict",
    "decision_from_dict",
    "decision_to_dict",
    "delivery_from_dict",
    "delivery_to_dict",
    "event_from_dict",
    "event_to_dict",
    "event_type",
    "fired_from_dict",
    "fired_to_dict",
    "format_time",
    "measure_from_feature",
    "measure_to_feature",
    "message_from_dict",
    "message_to_dict",
    "pairing_from_dict",
    "pairing_to_dict",
    "parse_time",
    "report_from_dict",
    "report_to_dict",
    "to_json",
    "token_from_dict",
    "token_to_dict",
    "unit_from_dict",
    "unit_to_dict",
]

JSONDict = dict[str, Any]

_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")


class CodecError(ValueError):
    """Input that cannot be read: ``field`` names where, ``message`` says what was wrong.

    ``str(error)`` is ``"<field>: <message>"``, the form the edges show to a person.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# ---------------------------------------------------------------------------------------------
# Times

# More than six fractional digits (nanoseconds from some TAK clients): keep the first six.
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z``; milliseconds (or microseconds) kept when present."""
    return _format_time(value, "time")


def parse_time(text: str) -> datetime:
    """Read an RFC 3339 time (``Z`` or an offset) as an aware UTC datetime."""
    return _parse_time(text, "time")


def _format_time(value: datetime, field: str) -> str:
    if not isinstance(value, datetime):
        raise CodecError(field, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise CodecError(field, "must carry a time zone (use UTC)")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    if utc.microsecond == 0:
        spec = "seconds"
    elif utc.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return utc.isoformat(timespec=spec) + "Z"


def _parse_time(text: object, field: str) -> datetime:
    if not isinstance(text, str):
        raise CodecError(field, f"must be an RFC 3339 time string, got {type_name(text)}")
    cleaned = _LONG_FRACTION.sub(r"\1", text.strip().upper())
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise CodecError(
            field, f"is not an RFC 3339 time (e.g. 2026-11-22T07:00:00Z): {text!r}"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise CodecError(field, f"must carry a time zone (e.g. 2026-11-22T07:00:00Z): {text!r}")
    return parsed.astimezone(UTC)


def _opt_time_out(value: datetime | None, field: str) -> str | None:
    return None if value is None else _format_time(value, field)


# ---------------------------------------------------------------------------------------------
# Reading helpers: each takes the mapping, the key and the path prefix used in error messages.

_MISSING: Any = object()


def type_name(value: object) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _obj(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CodecError(field, f"must be an object, got {type_name(value)}")
    return value


def _get(d: Mapping[str, Any], key: str, prefix: str, default: Any = _MISSING) -> Any:
    if key in d:
        return d[key]
    if default is _MISSING:
        raise CodecError(prefix + key, "is required")
    return default


def _str(d: Mapping[str, Any], key: str, prefix: str, default: Any = _MISSING) -> str:
    value = _get(d, key, prefix, default)
    if not isinstance(value, str):
        raise CodecError(prefix + key, f"must be a string, got {type_name(value)}")
    return value


def _opt_str(d: Mapping[str, Any], key: str, prefix: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CodecError(prefix + key, f"must be a string or null, got {type_name(value)}")
    return value


def _as_float(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CodecError(field, f"must be a number, got {type_name(value)}")
    try:
        result = float(value)
    except OverflowError:
        raise CodecError(field, "is too large to be a number") from None
    if not math.isfinite(result):
        raise CodecError(field, f"must be a finite number, got {value!r}")
    return result


def _float(d: Mapping[str, Any], key: str, prefix: str, default: Any = _MISSING) -> float:
    return _as_float(_get(d, key, prefix, default), prefix + key)


def _opt_float(d: Mapping[str, Any], key: str, prefix: str) -> float | None:
    value = d.get(key)
    return None if value is None else _as_float(value, prefix + key)


def _raw_float(d: Mapping[str, Any], key: str, prefix: str, default: Any = _MISSING) -> float:
    """A number kept as received: null stands for a non-finite value and reads back as NaN."""
    value = _get(d, key, prefix, default)
    return math.nan if value is None else _as_float(value, prefix + key)


def _int(d: Mapping[str, Any], key: str, prefix: str) -> int:
    value = _get(d, key, prefix)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CodecError(prefix + key, f"must be an integer, got {type_name(value)}")
    return value


def _bool(d: Mapping[str, Any], key: str, prefix: str, default: Any = _MISSING) -> bool:
    value = _get(d, key, prefix, default)
    if not isinstance(value, bool):
        raise CodecError(prefix + key, f"must be true or false, got {type_name(value)}")
    return value


def _time(d: Mapping[str, Any], key: str, prefix: str) -> datetime:
    return _parse_time(_get(d, key, prefix), prefix + key)


def _opt_time(d: Mapping[str, Any], key: str, prefix: str) -> datetime | None:
    value = d.get(key)
    return None if value is None else _parse_time(value, prefix + key)


def _enum(
    cls: type[_E], d: Mapping[str, Any], key: str, prefix: str, default: Any = _MISSING
) -> _E:
    return _enum_value(cls, _get(d, key, prefix, default), prefix + key)


def _enum_value(cls: type[_E], value: object, field: str) -> _E:
    if isinstance(value, cls):
        return value
    try:
        if not isinstance(value, str):
            raise TypeError
        return cls(value)
    except (ValueError, TypeError):
        allowed = ", ".join(m.value for m in cls)
        raise CodecError(field, f"must be one of {allowed}; got {value!r}") from None


def _opt_enum(cls: type[_E], d: Mapping[str, Any], key: str, prefix: str) -> _E | None:
    if d.get(key) is None:
        return None
    return _enum(cls, d, key, prefix)


def _str_tuple(d: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
    value = d.get(key)
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise CodecError(prefix + key, f"must be an array of strings, got {type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise CodecError(f"{prefix}{key}[{i}]", f"must be a string, got {type_name(item)}")
    return tuple(value)


def _build(prefix: str, make: Callable[[], _T]) -> _T:
    """Construct a domain object, translating its DomainError into a CodecError."""
    try:
        return make()
    except DomainError as error:
        raise CodecError(prefix + error.field, error.message) from error


def _num_out(value: float | None) -> float | None:
    """JSON has no NaN or infinity: a non-finite number is unknown (null)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _rounded(value: float | None) -> float | None:
    out = _num_out(value)
    return None if out is None else round(out, 1)


# ---------------------------------------------------------------------------------------------
# GeoJSON geometry pieces


def _position(value: object, field: str) -> tuple[float, float]:
    """A GeoJSON position [lon, lat] (an altitude, if any, is ignored)."""
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise CodecError(field, "must be a position [lon, lat]")
    return (_as_float(value[0], f"{field}[0]"), _as_float(value[1], f"{field}[1]"))


def _positions(value: object, field: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list | tuple):
        raise CodecError(field, f"must be an array of positions, got {type_name(value)}")
    return tuple(_position(p, f"{field}[{i}]") for i, p in enumerate(value))


def _rings_from(value: object, field: str) -> Rings:
    if not isinstance(value, list | tuple):
        raise CodecError(field, f"must be an array of linear rings, got {type_name(value)}")
    return tuple(_positions(ring, f"{field}[{i}]") for i, ring in enumerate(value))


def _rings_out(rings: Rings) -> list[list[list[float]]]:
    return [[[float(lon), float(lat)] for lon, lat in ring] for ring in rings]


def _polygon_from(value: object, field: str) -> Rings:
    geometry = _obj(value, field)
    kind = geometry.get("type")
    if kind != "Polygon":
        raise CodecError(f"{field}.type", f"must be 'Polygon', got {kind!r}")
    return _rings_from(_get(geometry, "coordinates", f"{field}."), f"{field}.coordinates")


def _polygon_out(rings: Rings) -> JSONDict:
    return {"type": "Polygon", "coordinates": _rings_out(rings)}


# ---------------------------------------------------------------------------------------------
# Unit


def unit_to_dict(unit: Unit) -> JSONDict:
    return {
        "uid": unit.uid,
        "callsign": unit.callsign,
        "affiliation": unit.affiliation.value,
        "nation": unit.nation,
        "language": unit.language,
        "mobility": unit.mobility.value,
        "equipment": list(unit.equipment),
        "parent": unit.parent,
        "group": unit.group,
        "sector": None if unit.sector is None else _polygon_out(unit.sector),
        "status": unit.status.value,
    }


def unit_from_dict(data: Mapping[str, Any], *, prefix: str = "") -> Unit:
    """Read the §5 Unit shape. Missing optional fields take the Unit defaults; the callsign
    defaults to the uid. Present but unreadable values are refused."""
    d = _obj(data, prefix.rstrip(".") or "unit")
    uid = _str(d, "uid", prefix)
    sector_value = d.get("sector")
    sector = None if sector_value is None else _polygon_from(sector_value, prefix + "sector")
    return _build(
        prefix,
        lambda: Unit(
            uid=uid,
            callsign=_str(d, "callsign", prefix, uid),
            affiliation=_enum(Affiliation, d, "affiliation", prefix, Affiliation.FRIEND),
            nation=_opt_str(d, "nation", prefix),
            language=_str(d, "language", prefix, "en"),
            mobility=_enum(Mobility, d, "mobility", prefix, Mobility.UNKNOWN),
            equipment=_str_tuple(d, "equipment", prefix),
            parent=_opt_str(d, "parent", prefix),
            group=_opt_str(d, "group", prefix),
            sector=sector,
            status=_enum(UnitStatus, d, "status", prefix, UnitStatus.ACTIVE),
        ),
    )


# ---------------------------------------------------------------------------------------------
# Position report (full-fidelity record form, not the public POST /reports input)


def report_to_dict(report: PositionReport) -> JSONDict:
    return {
        "uid": report.uid,
        "lat": float(report.lat),
        "lon": float(report.lon),
        "observed_at": _format_time(report.observed_at, "observed_at"),
        "received_at": _format_time(report.received_at, "received_at"),
        "source": report.source,
        "reporter": report.reporter,
        "authenticated": report.authenticated,
        "ce_m": _num_out(report.ce_m),
        "hae_m": _num_out(report.hae_m),
        "cell_m": float(report.cell_m),
        "datum": report.datum,
        "datum_error_m": float(report.datum_error_m),
        "affiliation": None if report.affiliation is None else report.affiliation.value,
        "mobility": None if report.mobility is None else report.mobility.value,
        "callsign": report.callsign,
        "course_deg": _num_out(report.course_deg),
        "speed_mps": _num_out(report.speed_mps),
        "stale_at": _opt_time_out(report.stale_at, "stale_at"),
        "time_assumed": report.time_assumed,
        "suspect_time": report.suspect_time,
        "marker": report.marker,
    }


def report_from_dict(data: Mapping[str, Any], *, prefix: str = "") -> PositionReport:
    d = _obj(data, prefix.rstrip(".") or "report")
    return _build(
        prefix,
        lambda: PositionReport(
            uid=_str(d, "uid", prefix),
            lat=_float(d, "lat", prefix),
            lon=_float(d, "lon", prefix),
            observed_at=_time(d, "observed_at", prefix),
            received_at=_time(d, "received_at", prefix),
            source=_str(d, "source", prefix),
            reporter=_str(d, "reporter", prefix),
            authenticated=_bool(d, "authenticated", prefix, False),
            ce_m=_opt_float(d, "ce_m", prefix),
            hae_m=_opt_float(d, "hae_m", prefix),
            cell_m=_float(d, "cell_m", prefix, 0.0),
            datum=_str(d, "datum", prefix, "WGS84"),
            datum_error_m=_float(d, "datum_error_m", prefix, 0.0),
            affiliation=_opt_enum(Affiliation, d, "affiliation", prefix),
            mobility=_opt_enum(Mobility, d, "mobility", prefix),
            callsign=_opt_str(d, "callsign", prefix),
            course_deg=_opt_float(d, "course_deg", prefix),
            speed_mps=_opt_float(d, "speed_mps", prefix),
            stale_at=_opt_time(d, "stale_at", prefix),
            time_assumed=_bool(d, "time_assumed", prefix, False),
            suspect_time=_bool(d, "suspect_time", prefix, False),
            marker=_bool(d, "marker", prefix, False),
        ),
    )


# ---------------------------------------------------------------------------------------------
# Measure (GeoJSON Feature)


def _geometry_out(geometry: Geometry | None) -> JSONDict | None:
    if geometry is None:
        return None
    if isinstance(geometry, CircleGeometry):
        return {"type": "Point", "coordinates": [float(geometry.lon), float(geometry.lat)]}
    if isinstance(geometry, LineGeometry):
        return {
            "type": "LineString",
            "coordinates": [[float(lon), float(lat)] for lon, lat in geometry.coords],
        }
    return _polygon_out(geometry.rings)


def measure_to_feature(measure: Measure) -> JSONDict:
    properties: JSONDict = {
        "id": measure.id,
        "kind": measure.kind.value,
        "name": measure.name,
        "establishing_hq": measure.establishing_hq,
        "effective_from": _opt_time_out(measure.effective_from, "properties.effective_from"),
        "effective_to": _opt_time_out(measure.effective_to, "properties.effective_to"),
        "status": measure.status.value,
        "category": measure.category,
        "friendly_side": None if measure.friendly_side is None else measure.friendly_side.value,
        "unit": measure.unit,
        "originator": measure.originator,
        "window_invalid": measure.window_invalid,
    }
    if isinstance(measure.geometry, CircleGeometry):
        properties["radius_m"] = float(measure.geometry.radius_m)
    return {
        "type": "Feature",
        "id": measure.id,
        "geometry": _geometry_out(measure.geometry),
        "properties": properties,
    }


def _geometry_from(value: object, properties: Mapping[str, Any]) -> Geometry | None:
    if value is None:
        return None
    geometry = _obj(value, "geometry")
    kind = geometry.get("type")
    coordinates = _get(geometry, "coordinates", "geometry.")
    if kind == "Point":
        lon, lat = _position(coordinates, "geometry.coordinates")
        if properties.get("radius_m") is None:
            raise CodecError("properties.radius_m", "is required for a Point geometry")
        radius = _float(properties, "radius_m", "properties.")
        if radius < 0:
            raise CodecError("properties.radius_m", f"must be >= 0, got {radius!r}")
        return _build("geometry.", lambda: CircleGeometry(lat=lat, lon=lon, radius_m=radius))
    if kind == "LineString":
        coords = _positions(coordinates, "geometry.coordinates")
        return _build("", lambda: LineGeometry(coords))
    if kind == "Polygon":
        rings = _rings_from(coordinates, "geometry.coordinates")
        return _build("", lambda: PolygonGeometry(rings))
    raise CodecError("geometry.type", f"must be Point, LineString or Polygon, got {kind!r}")


def _window_bound(properties: Mapping[str, Any], key: str) -> tuple[datetime | None, bool]:
    """(time, unreadable): an unreadable bound is dropped and flagged, never refused."""
    value = properties.get(key)
    if value is None:
        return None, False
    try:
        return _parse_time(value, f"properties.{key}"), False
    except CodecError:
        return None, True


def measure_from_feature(data: Mapping[str, Any], *, measure_id: str | None = None) -> Measure:
    """Read a measure from a GeoJSON Feature.

    The id comes from ``measure_id``, else ``properties.id``, else the feature's ``id``.
    """
    feature = _obj(data, "feature")
    kind_tag = feature.get("type", "Feature")
    if kind_tag != "Feature":
        raise CodecError("type", f"must be 'Feature', got {kind_tag!r}")
    raw_properties = feature.get("properties")
    properties = {} if raw_properties is None else _obj(raw_properties, "properties")
    p = "properties."

    mid: object = measure_id
    if mid is None:
        mid = properties.get("id")
    if mid is None:
        mid = feature.get("id")
    if mid is None:
        raise CodecError("id", "is required")
    if isinstance(mid, bool) or not isinstance(mid, str | int):
        raise CodecError("id", f"must be a string, got {type_name(mid)}")

    effective_from, from_bad = _window_bound(properties, "effective_from")
    effective_to, to_bad = _window_bound(properties, "effective_to")
    window_invalid = _bool(properties, "window_invalid", p, False) or from_bad or to_bad
    geometry = _geometry_from(feature.get("geometry"), properties)
    name = properties.get("name")
    if name is not None and not isinstance(name, str):
        raise CodecError(p + "name", f"must be a string, got {type_name(name)}")

    return _build(
        "",
        lambda: Measure(
            id=str(mid),
            kind=_enum(MeasureKind, properties, "kind", p),
            geometry=geometry,
            name=name or "",
            establishing_hq=_opt_str(properties, "establishing_hq", p),
            effective_from=effective_from,
            effective_to=effective_to,
            window_invalid=window_invalid,
            status=_enum(MeasureStatus, properties, "status", p, MeasureStatus.ACTIVE),
            category=_opt_str(properties, "category", p),
            friendly_side=_opt_enum(Side, properties, "friendly_side", p),
            unit=_opt_str(properties, "unit", p),
            originator=_opt_str(properties, "originator", p),
        ),
    )


# ---------------------------------------------------------------------------------------------
# Check request, reasons and the Clearance


def _request_to_dict(request: CheckRequest) -> JSONDict:
    return {
        "lat": _num_out(request.lat),
        "lon": _num_out(request.lon),
        "weapon": request.weapon,
        "time": _opt_time_out(request.time, "request.time"),
        "tle_m": _num_out(request.tle_m),
        "cell_m": _num_out(request.cell_m),
        "datum": request.datum,
        "datum_error_m": _num_out(request.datum_error_m),
        "target_type": request.target_type,
        "pid": [basis.value for basis in request.pid],
        "pid_detail": request.pid_detail,
        "firing_unit": request.firing_unit,
        "requester": request.requester,
    }


def _request_from_dict(data: object, prefix: str) -> CheckRequest:
    d = _obj(data, prefix.rstrip("."))
    pid_values = _get(d, "pid", prefix, [])
    if not isinstance(pid_values, list | tuple):
        raise CodecError(prefix + "pid", f"must be an array, got {type_name(pid_values)}")
    pid = tuple(_enum_value(PidBasis, v, f"{prefix}pid[{i}]") for i, v in enumerate(pid_values))
    return _build(
        prefix,
        lambda: CheckRequest(
            lat=_raw_float(d, "lat", prefix),
            lon=_raw_float(d, "lon", prefix),
            weapon=_str(d, "weapon", prefix),
            time=_opt_time(d, "time", prefix),
            tle_m=_raw_float(d, "tle_m", prefix, 0.0),
            cell_m=_raw_float(d, "cell_m", prefix, 0.0),
            datum=_str(d, "datum", prefix, "WGS84"),
            datum_error_m=_raw_float(d, "datum_error_m", prefix, 0.0),
            target_type=_opt_str(d, "target_type", prefix),
            pid=pid,
            pid_detail=_opt_str(d, "pid_detail", prefix),
            firing_unit=_opt_str(d, "firing_unit", prefix),
            requester=_str(d, "requester", prefix, "anonymous"),
        ),
    )


def _reason_to_dict(reason: Reason) -> JSONDict:
    return {
        "code": reason.code.value,
        "verdict": reason.verdict.value,
        "note": reason.note,
        "subject": reason.subject,
        "distance_m": _rounded(reason.distance_m),
        "threshold_m": _rounded(reason.threshold_m),
        "detail": reason.detail,
    }


def _reason_from_dict(data: object, prefix: str) -> Reason:
    d = _obj(data, prefix.rstrip("."))
    return _build(
        prefix,
        lambda: Reason(
            code=_enum(ReasonCode, d, "code", prefix),
            verdict=_enum(Verdict, d, "verdict", prefix),
            detail=_str(d, "detail", prefix, ""),
            subject=_opt_str(d, "subject", prefix),
            distance_m=_opt_float(d, "distance_m", prefix),
            threshold_m=_opt_float(d, "threshold_m", prefix),
            note=_bool(d, "note", prefix, False),
        ),
    )


def to_json(data: Any) -> str:
    """The one JSON text form of the API's answers and the store's bodies: compact, UTF-8
    as is, and never a non-finite number."""
    return json.dumps(data, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


# The text of the last clearances encoded, by check id: a check's record and its answer are the
# same text, and it is the biggest there is (20-40 reasons), so it is encoded once.
_CLEARANCE_TEXTS: OrderedDict[str, tuple[Clearance, str]] = OrderedDict()
_CLEARANCE_TEXTS_KEPT = 256


def clearance_json(clearance: Clearance) -> str:
    """`to_json(clearance_to_dict(clearance))`, encoded once for the same object."""
    hit = _CLEARANCE_TEXTS.get(clearance.id)
    if hit is not None and hit[0] is clearance:
        return hit[1]
    text = to_json(clearance_to_dict(clearance))
    _CLEARANCE_TEXTS[clearance.id] = (clearance, text)
    if len(_CLEARANCE_TEXTS) > _CLEARANCE_TEXTS_KEPT:
        _CLEARANCE_TEXTS.popitem(last=False)
    return text


def clearance_to_dict(clearance: Clearance) -> JSONDict:
    return {
        "id": clearance.id,
        "verdict": clearance.verdict.value,
        "reasons": [_reason_to_dict(r) for r in clearance.reasons],
        "target": {
            "lat": _num_out(clearance.target.lat),
            "lon": _num_out(clearance.target.lon),
            "mgrs": clearance.target.mgrs,
        },
        "weapon": clearance.weapon,
        "impact_time": _format_time(clearance.impact_time, "impact_time"),
        "evaluated_at": _format_time(clearance.evaluated_at, "evaluated_at"),
        "valid_until": _format_time(clearance.valid_until, "valid_until"),
        "picture_version": clearance.picture_version,
        "request": _request_to_dict(clearance.request),
    }


def clearance_from_dict(data: Mapping[str, Any], *, prefix: str = "") -> Clearance:
    d = _obj(data, prefix.rstrip(".") or "clearance")
    reasons_value = _get(d, "reasons", prefix)
    if not isinstance(reasons_value, list | tuple):
        raise CodecError(prefix + "reasons", f"must be an array, got {type_name(reasons_value)}")
    reasons = tuple(
        _reason_from_dict(r, f"{prefix}reasons[{i}].") for i, r in enumerate(reasons_value)
    )
    target_prefix = prefix + "target."
    target = _obj(_get(d, "target", prefix), prefix + "target")
    return _build(
        prefix,
        lambda: Clearance(
            id=_str(d, "id", prefix),
            verdict=_enum(Verdict, d, "verdict", prefix),
            reasons=reasons,
            target=Target(
                lat=_raw_float(target, "lat", target_prefix),
                lon=_raw_float(target, "lon", target_prefix),
                mgrs=_str(target, "mgrs", target_prefix, ""),
            ),
            weapon=_str(d, "weapon", prefix),
            impact_time=_time(d, "impact_time", prefix),
            evaluated_at=_time(d, "evaluated_at", prefix),
            valid_until=_time(d, "valid_until", prefix),
            picture_version=_int(d, "picture_version", prefix),
            request=_request_from_dict(_get(d, "request", prefix), prefix + "request."),
        ),
    )


# ---------------------------------------------------------------------------------------------
# Alert


def alert_to_dict(alert_id: str, alert: Alert) -> JSONDict:
    return {
        "id": alert_id,
        "kind": alert.kind.value,
        "subjects": list(alert.subjects),
        "recipients": list(alert.recipients),
        "created_at": _format_time(alert.created_at, "created_at"),
        "cleared_at": None,  # the Alert value has no clearing yet; kept for the §5 shape
        "detail": alert.detail,
    }


def alert_from_dict(data: Mapping[str, Any], *, prefix: str = "") -> tuple[str, Alert]:
    """Inverse of :func:`alert_to_dict`: returns ``(alert_id, alert)``."""
    d = _obj(data, prefix.rstrip(".") or "alert")
    alert_id = _str(d, "id", prefix)
    alert = _build(
        prefix,
        lambda: Alert(
            kind=_enum(AlertKind, d, "kind", prefix),
            subjects=_str_tuple(d, "subjects", prefix),
            detail=_str(d, "detail", prefix, ""),
            created_at=_time(d, "created_at", prefix),
            recipients=_str_tuple(d, "recipients", prefix),
        ),
    )
    return alert_id, alert


# ---------------------------------------------------------------------------------------------
# What people did about a check: decisions and fired notices


def decision_to_dict(decision: Decision) -> JSONDict:
    return {
        "id": decision.id,
        "check_id": decision.check_id,
        "kind": decision.kind.value,
        "by": decision.by,
        "authority": decision.authority,
        "initials": decision.initials,
        "expires": _format_time(decision.expires, "expires"),
        "recorded_at": _format_time(decision.recorded_at, "recorded_at"),
        "recorded_by": decision.recorded_by,
    }


def decision_from_dict(data: Mapping[str, Any], *, prefix: str = "") -> Decision:
    d = _obj(data, prefix.rstrip(".") or "decision")
    return _build(
        prefix,
        lambda: Decision(
            id=_str(d, "id", prefix),
            check_id=_str(d, "check_id", prefix),
            kind=_enum(DecisionKind, d, "kind", prefix),
            by=_str(d, "by", prefix),
            authority=_str(d, "authority", prefix),
            initials=_str(d, "initials", prefix),
            expires=_time(d, "expires", prefix),
            recorded_at=_time(d, "recorded_at", prefix),
            recorded_by=_str(d, "recorded_by", prefix),
        ),
    )


def fired_to_dict(notice: FiredNotice) -> JSONDict:
    return {
        "id": notice.id,
        "check_id": notice.check_id,
        "fired_at": _format_time(notice.fired_at, "fired_at"),
        "recorded_at": _format_time(notice.recorded_at, "recorded_at"),
        "recorded_by": notice.recorded_by,
        "remarks": notice.remarks,
    }


def fired_from_dict(data: Mapping[str, Any], *, prefix: str = "") -> FiredNotice:
    d = _obj(data, prefix.rstrip(".") or "fired")
    return _build(
        prefix,
        lambda: FiredNotice(
            id=_str(d, "id", prefix),
            check_id=_str(d, "check_id", prefix),
            fired_at=_time(d, "fired_at", prefix),
            recorded_at=_time(d, "recorded_at", prefix),
            recorded_by=_str(d, "recorded_by", prefix),
            remarks=_str(d, "remarks", prefix, ""),
        ),
    )


# ---------------------------------------------------------------------------------------------
# Pairing and API token


def pairing_to_dict(pairing: Pairing) -> JSONDict:
    return {
        "id": pairing.id,
        "vehicle": pairing.vehicle,
        "dismounts": list(pairing.dismounts),
        "max_separation_m": _num_out(pairing.max_separation_m),
        "created_at": _format_time(pairing.created_at, "created_at"),
        "created_by": pairing.created_by,
    }


def pairing_from_dict(data: Mapping[str, Any], *, prefix: str = "") -> Pairing:
    d = _obj(data, prefix.rstrip(".") or "pairing")
    return _build(
        prefix,
        lambda: Pairing(
            id=_str(d, "id", prefix),
            vehicle=_str(d, "vehicle", prefix),
            dismounts=_str_tuple(d, "dismounts", prefix),
            max_separation_m=_opt_float(d, "max_separation_m", prefix),
            created_at=_time(d, "created_at", prefix),
            created_by=_str(d, "created_by", prefix, ""),
        ),
    )


def token_to_dict(token: ApiToken) -> JSONDict:
    """The stored form: the secret's hash, never the secret."""
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "units": list(token.units),
        "secret_hash": token.secret_hash,
        "created_at": _format_time(token.created_at, "created_at"),
        "created_by": token.created_by,
        "revoked_at": _opt_time_out(token.revoked_at, "revoked_at"),
        "expires_at": _opt_time_out(token.expires_at, "expires_at"),
    }


def token_from_dict(data: Mapping[str, Any], *, prefix: str = "") -> ApiToken:
    d = _obj(data, prefix.rstrip(".") or "token")
    return _build(
        prefix,
        lambda: ApiToken(
            id=_str(d, "id", prefix),
            name=_str(d, "name", prefix),
            role=_enum(Role, d, "role", prefix),
            secret_hash=_str(d, "secret_hash", prefix),
            created_at=_time(d, "created_at", prefix),
            units=_str_tuple(d, "units", prefix),
            created_by=_str(d, "created_by", prefix, ""),
            revoked_at=_opt_time(d, "revoked_at", prefix),
            expires_at=_opt_time(d, "expires_at", prefix),
        ),
    )


# ---------------------------------------------------------------------------------------------
# Messages and deliveries


def _params(value: object, field: str) -> dict[str, ParamValue]:
    d = _obj({} if value is None else value, field)
    out: dict[str, ParamValue] = {}
    for key, item in d.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise CodecError(
                f"{field}.{key}", f"must be a string or a number, got {type_name(item)}"
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise CodecError(f"{field}.{key}", "must be a finite number")
        out[str(key)] = item
    return out


def message_to_dict(message: Message) -> JSONDict:
    return {
        "id": message.id,
        "code": message.code,
        "params": dict(message.params),
        "to": message.to,
        "sender": message.sender,
        "sender_uid": message.sender_uid,
        "created_at": _format_time(message.created_at, "created_at"),
        "ack_required": message.ack_required,
        "attachment": message.attachment,
        "cause": message.cause,
    }


def message_from_dict(data: Mapping[str, Any], *, prefix: str = "") -> Message:
    d = _obj(data, prefix.rstrip(".") or "message")
    return _build(
        prefix,
        lambda: Message(
            id=_str(d, "id", prefix),
            code=_str(d, "code", prefix),
            params=_params(d.get("params"), prefix + "params"),
            to=_str(d, "to", prefix),
            sender=_str(d, "sender", prefix),
            created_at=_time(d, "created_at", prefix),
            ack_required=_bool(d, "ack_required", prefix, True),
            sender_uid=_opt_str(d, "sender_uid", prefix),
            attachment=_opt_str(d, "attachment", prefix),
            cause=_opt_str(d, "cause", prefix),
        ),
    )


def delivery_to_dict(delivery: Delivery) -> JSONDict:
    """The §5 delivery shape (`id`, `code`, `to`, `language`, `text`, `text_en`, `sent_at`,
    `acked_at`) plus the message id and the acknowledgement bookkeeping."""
    return {
        "id": delivery.id,
        "message_id": delivery.message_id,
        "code": delivery.code,
        "to": delivery.recipient,
        "language": delivery.language,
        "text": delivery.text,
        "text_en": delivery.text_en,
        "fallback": delivery.fallback,
        "sent_at": _format_time(delivery.sent_at, "sent_at"),
        "ack_required": delivery.ack_required,
        "acked_at": _opt_time_out(delivery.acked_at, "acked_at"),
        "acked_by": delivery.acked_by,
        "attempts": delivery.attempts,
        "escalated_at": _opt_time_out(delivery.escalated_at, "escalated_at"),
    }


def delivery_from_dict(data: Mapping[str, Any], *, prefix: str = "") -> Delivery:
    d = _obj(data, prefix.rstrip(".") or "delivery")
    return _build(
        prefix,
        lambda: Delivery(
            id=_str(d, "id", prefix),
            message_id=_str(d, "message_id", prefix),
            code=_str(d, "code", prefix),
            recipient=_str(d, "to", prefix),
            language=_str(d, "language", prefix),
            text=_str(d, "text", prefix),
            text_en=_str(d, "text_en", prefix),
            sent_at=_time(d, "sent_at", prefix),
            ack_required=_bool(d, "ack_required", prefix, True),
            fallback=_bool(d, "fallback", prefix, False),
            acked_at=_opt_time(d, "acked_at", prefix),
            acked_by=_opt_str(d, "acked_by", prefix),
            attempts=_int(d, "attempts", prefix),
            escalated_at=_opt_time(d, "escalated_at", prefix),
        ),
    )


def _deliveries_from(value: object, field: str) -> tuple[Delivery, ...]:
    if not isinstance(value, list | tuple):
        raise CodecError(field, f"must be an array, got {type_name(value)}")
    return tuple(
        delivery_from_dict(_obj(item, f"{field}[{i}]"), prefix=f"{field}[{i}].")
        for i, item in enumerate(value)
    )


# ---------------------------------------------------------------------------------------------
# Events

EVENT_TYPES = (
    "unit",
    "report",
    "measure",
    "measure_cancelled",
    "marker_removed",
    "message_kept",
    "messages_delivered",
    "check",
    "alert",
    "alert_acked",
    "decision",
    "fired",
    "pairing",
    "token",
    "token_revoked",
    "alert_cleared",
    "pairing_closed",
    "message",
    "deliveries",
)

# Events that carry one record under one key: (class, tag, key, encode, decode).
_RECORD_EVENTS: tuple[tuple[type[Any], str, str, Callable[[Any], JSONDict], Any], ...] = (
    (DecisionRecorded, "decision", "decision", decision_to_dict, decision_from_dict),
    (CheckFired, "fired", "notice", fired_to_dict, fired_from_dict),
    (PairingCreated, "pairing", "pairing", pairing_to_dict, pairing_from_dict),
    (TokenIssued, "token", "token", token_to_dict, token_from_dict),
)


def event_type(event: Event) -> str:
    """The ``type`` tag an event carries in its dict form."""
    if isinstance(event, UnitRegistered):
        return "unit"
    if isinstance(event, PositionReported):
        return "report"
    if isinstance(event, MeasureDefined):
        return "measure"
    if isinstance(event, MeasureCancelled):
        return "measure_cancelled"
    if isinstance(event, MarkerRemoved):
        return "marker_removed"
    if isinstance(event, MessageKept):
        return "message_kept"
    if isinstance(event, MessagesDelivered):
        return "messages_delivered"
    if isinstance(event, CheckEvaluated):
        return "check"
    if isinstance(event, AlertRaised):
        return "alert"
    if isinstance(event, AlertAcked):
        return "alert_acked"
    if isinstance(event, TokenRevoked):
        return "token_revoked"
    if isinstance(event, AlertCleared):
        return "alert_cleared"
    if isinstance(event, PairingClosed):
        return "pairing_closed"
    if isinstance(event, MessageSent):
        return "message"
    if isinstance(event, DeliveriesUpdated):
        return "deliveries"
    for cls, tag, _, _, _ in _RECORD_EVENTS:
        if isinstance(event, cls):
            return tag
    raise CodecError("type", f"unknown event {type(event).__name__}")


def event_to_dict(event: Event) -> JSONDict:
    tag = event_type(event)
    if isinstance(event, UnitRegistered):
        return {
            "type": tag,
            "unit": unit_to_dict(event.unit),
            "at": _format_time(event.at, "at"),
            "by": event.by,
        }
    if isinstance(event, PositionReported):
        return {"type": tag, "report": report_to_dict(event.report)}
    if isinstance(event, MeasureDefined):
        return {
            "type": tag,
            "measure": measure_to_feature(event.measure),
            "at": _format_time(event.at, "at"),
            "by": event.by,
        }
    if isinstance(event, MeasureCancelled):
        return {
            "type": tag,
            "measure_id": event.measure_id,
            "at": _format_time(event.at, "at"),
            "by": event.by,
        }
    if isinstance(event, MarkerRemoved):
        return {
            "type": tag,
            "uid": event.uid,
            "at": _format_time(event.at, "at"),
            "by": event.by,
            "reason": event.reason,
        }
    if isinstance(event, MessageKept):
        return {
            "type": tag,
            "recipient": event.recipient,
            "body": event.body,
            "expires_at": _format_time(event.expires_at, "expires_at"),
            "at": _format_time(event.at, "at"),
        }
    if isinstance(event, MessagesDelivered):
        return {"type": tag, "recipient": event.recipient, "at": _format_time(event.at, "at")}
    if isinstance(event, CheckEvaluated):
        return {"type": tag, "clearance": clearance_to_dict(event.clearance)}
    if isinstance(event, AlertRaised):
        return {"type": tag, "alert": alert_to_dict(event.alert_id, event.alert)}
    if isinstance(event, AlertAcked):
        return {
            "type": tag,
            "alert_id": event.alert_id,
            "at": _format_time(event.at, "at"),
            "by": event.by,
        }
    if isinstance(event, TokenRevoked):
        return {
            "type": tag,
            "token_id": event.token_id,
            "at": _format_time(event.at, "at"),
            "by": event.by,
        }
    if isinstance(event, AlertCleared):
        return {"type": tag, "alert_id": event.alert_id, "at": _format_time(event.at, "at")}
    if isinstance(event, PairingClosed):
        return {
            "type": tag,
            "pairing_id": event.pairing_id,
            "at": _format_time(event.at, "at"),
            "reason": event.reason,
        }
    if isinstance(event, MessageSent):
        return {
            "type": tag,
            "message": message_to_dict(event.message),
            "deliveries": [delivery_to_dict(d) for d in event.deliveries],
        }
    if isinstance(event, DeliveriesUpdated):
        return {"type": tag, "deliveries": [delivery_to_dict(d) for d in event.deliveries]}
    for cls, _, key, encode, _ in _RECORD_EVENTS:
        if isinstance(event, cls):
            return {"type": tag, key: encode(getattr(event, key))}
    raise CodecError("type", f"unknown event {type(event).__name__}")


def event_from_dict(data: Mapping[str, Any]) -> Event:
    d = _obj(data, "event")
    tag = _str(d, "type", "")
    if tag == "unit":
        return UnitRegistered(
            unit=unit_from_dict(_obj(_get(d, "unit", ""), "unit"), prefix="unit."),
            at=_time(d, "at", ""),
            by=_str(d, "by", ""),
        )
    if tag == "report":
        return PositionReported(
            report_from_dict(_obj(_get(d, "report", ""), "report"), prefix="report.")
        )
    if tag == "measure":
        try:
            measure = measure_from_feature(_obj(_get(d, "measure", ""), "measure"))
        except CodecError as error:
            raise CodecError(f"measure.{error.field}", error.message) from error
        return MeasureDefined(measure=measure, at=_time(d, "at", ""), by=_str(d, "by", ""))
    if tag == "measure_cancelled":
        return MeasureCancelled(
            measure_id=_str(d, "measure_id", ""), at=_time(d, "at", ""), by=_str(d, "by", "")
        )
    if tag == "marker_removed":
        return MarkerRemoved(
            uid=_str(d, "uid", ""),
            at=_time(d, "at", ""),
            by=_str(d, "by", ""),
            reason=_str(d, "reason", ""),
        )
    if tag == "message_kept":
        return MessageKept(
            recipient=_str(d, "recipient", ""),
            body=_str(d, "body", ""),
            expires_at=_time(d, "expires_at", ""),
            at=_time(d, "at", ""),
        )
    if tag == "messages_delivered":
        return MessagesDelivered(recipient=_str(d, "recipient", ""), at=_time(d, "at", ""))
    if tag == "check":
        return CheckEvaluated(
            clearance_from_dict(_obj(_get(d, "clearance", ""), "clearance"), prefix="clearance.")
        )
    if tag == "alert":
        alert_id, alert = alert_from_dict(_obj(_get(d, "alert", ""), "alert"), prefix="alert.")
        return AlertRaised(alert_id=alert_id, alert=alert)
    if tag == "alert_acked":
        return AlertAcked(
            alert_id=_str(d, "alert_id", ""), at=_time(d, "at", ""), by=_str(d, "by", "")
        )
    if tag == "token_revoked":
        return TokenRevoked(
            token_id=_str(d, "token_id", ""), at=_time(d, "at", ""), by=_str(d, "by", "")
        )
    if tag == "alert_cleared":
        return AlertCleared(alert_id=_str(d, "alert_id", ""), at=_time(d, "at", ""))
    if tag == "pairing_closed":
        return PairingClosed(
            pairing_id=_str(d, "pairing_id", ""),
            at=_time(d, "at", ""),
            reason=_str(d, "reason", ""),
        )
    if tag == "message":
        return MessageSent(
            message=message_from_dict(_obj(_get(d, "message", ""), "message"), prefix="message."),
            deliveries=_deliveries_from(_get(d, "deliveries", ""), "deliveries"),
        )
    if tag == "deliveries":
        return DeliveriesUpdated(_deliveries_from(_get(d, "deliveries", ""), "deliveries"))
    for cls, record_tag, key, _, decode in _RECORD_EVENTS:
        if tag == record_tag:
            record = decode(_obj(_get(d, key, ""), key), prefix=f"{key}.")
            event: Event = cls(record)
            return event
    raise CodecError("type", f"must be one of {', '.join(EVENT_TYPES)}; got {tag!r}")

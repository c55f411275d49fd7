"""The public report shape (POST /reports, imports, MQTT JSON) -> PositionReport.

`{"uid", "lat", "lon"` or `"grid"`, `"datum"`, `"ce_m"`, `"hae_m"`, `"observed_at"`, `"course_deg"`,
`"speed_mps"`, optionally `"callsign"`, `"affiliation"`, `"mobility"`}`. A position given as a
grid carries its cell's half-diagonal as extra uncertainty; SK-42 positions are converted to
WGS 84 and carry the conversion's residual error. Required: uid and a position. A missing time
is the arrival time (marked); bad optional numbers become unknown, never a reason to drop a
friendly position (design.md §3).

Decisions written down here:

- An `affiliation` that is not one of the §5 names is read as *not given* (None), like a missing
  one: a report for a new uid then registers a friend (the worst case) and the registry's identity
  stands for a known one. Reading it as `unknown` would make a typo looser than leaving the field
  out (a new unit would be weighed as unidentified, COORDINATE, instead of friend, HOLD).
  An unreadable `mobility` is `unknown`, the worst mobility class.
- A report is the unit's *own* only over an authenticated channel bound to its uid. An
  authenticated channel whose name happens to equal a uid it is not bound to is recorded as
  unauthenticated, so its report can never pass for the unit's own.
- `observed_at` may also be an aware `datetime` (TOML times arrive that way); a time that is
  given but cannot be read refuses the report, since the position's age would be unknown.
- `lat`/`lon` set to null count as absent (so `{"grid": ..., "lat": null}` is a grid report).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from holdfire.codecs.json import CodecError, parse_time
from holdfire.domain.errors import DomainError
from holdfire.domain.identity import Affiliation
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import parse_mobility
from holdfire.geo import DATUM_ERROR_M, Datum, GeoError, parse_datum, parse_mgrs, sk42_to_wgs84


@dataclass(frozen=True, slots=True)
class Channel:
    """Who sent a batch of reports and how: decides whether a report is the unit's own."""

    source: str
    reporter: str
    authenticated: bool
    bound_uids: frozenset[str] = frozenset()  # uids this channel may report as its own


def report_from_input(
    data: Mapping[str, Any], channel: Channel, received_at: datetime
) -> PositionReport:
    """Read one public-shape report; raises CodecError naming the field."""
    if not isinstance(data, Mapping):
        raise CodecError("report", "must be a JSON object")
    uid = data.get("uid")
    if uid is None:
        raise CodecError("uid", "is required (a non-empty string)")
    if not isinstance(uid, str):
        raise CodecError("uid", f"must be a string, got {type(uid).__name__}")
    if not uid.strip():
        raise CodecError("uid", "is required (a non-empty string)")
    uid = uid.strip()
    lat, lon, cell_m, datum = _position(data)
    observed_at, time_assumed = _observed(data, received_at)
    affiliation = data.get("affiliation")
    mobility = data.get("mobility")
    callsign = data.get("callsign")
    own = channel.authenticated and uid in channel.bound_uids
    # A name that collides with an unbound uid must not make the report look like its own.
    authenticated = channel.authenticated and (own or channel.reporter != uid)
    try:
        return PositionReport(
            uid=uid,
            lat=lat,
            lon=lon,
            observed_at=observed_at,
            received_at=received_at,
            source=channel.source,
            # A channel bound to this uid speaks for the unit itself; otherwise it is a witness.
            reporter=uid if own else channel.reporter,
            authenticated=authenticated,
            ce_m=_non_negative(data.get("ce_m")),
            hae_m=_finite(data.get("hae_m")),
            cell_m=cell_m,
            datum=datum.value,
            datum_error_m=DATUM_ERROR_M[datum],
            affiliation=_affiliation(affiliation),
            mobility=parse_mobility(mobility) if isinstance(mobility, str) else None,
            callsign=callsign.strip() if isinstance(callsign, str) and callsign.strip() else None,
            course_deg=_finite(data.get("course_deg")),
            speed_mps=_non_negative(data.get("speed_mps")),
            time_assumed=time_assumed,
        )
    except DomainError as exc:
        raise CodecError(exc.field, exc.message) from None


def _position(data: Mapping[str, Any]) -> tuple[float, float, float, Datum]:
    grid = data.get("grid")
    has_latlon = data.get("lat") is not None or data.get("lon") is not None
    if grid is not None and has_latlon:
        raise CodecError("grid", "give either grid or lat/lon, not both")
    try:
        if grid is not None:
            if not isinstance(grid, str):
                raise CodecError("grid", "must be an MGRS string such as 36UXB5303396604")
            location = parse_mgrs(grid)
            return location.lat, location.lon, location.cell_m, Datum.WGS84
        datum_text = data.get("datum")
        if datum_text is not None and not isinstance(datum_text, str):
            raise CodecError("datum", f"must be WGS84 or SK42, got {type(datum_text).__name__}")
        datum = parse_datum(datum_text)
        lat, lon = _number(data, "lat"), _number(data, "lon")
        if not -90.0 <= lat <= 90.0:
            raise CodecError("lat", f"must be in [-90, 90], got {lat!r}")
        if not -180.0 <= lon <= 180.0:
            raise CodecError("lon", f"must be in [-180, 180], got {lon!r}")
        if datum is Datum.SK42:
            lat, lon = sk42_to_wgs84(lat, lon)
        return lat, lon, 0.0, datum
    except GeoError as exc:
        raise CodecError("grid" if grid is not None else "datum", str(exc)) from None


def _number(data: Mapping[str, Any], field: str) -> float:
    value = data.get(field)
    if value is None:
        raise CodecError(field, "is required (or give grid)")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CodecError(field, f"must be a number, got {type(value).__name__}")
    number = _finite(value)
    if number is None:
        shown = repr(value) if isinstance(value, float) else "a number too large"
        raise CodecError(field, f"must be a finite number, got {shown}")
    return number


def _finite(value: object) -> float | None:
    """A finite float, else None (unknown). Integers too large for a float are unknown too."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _non_negative(value: object) -> float | None:
    number = _finite(value)
    return number if number is not None and number >= 0 else None


def _affiliation(value: object) -> Affiliation | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return Affiliation(value.strip().lower())
    except ValueError:
        return None  # unreadable: as if not given (see the module docstring)


def _observed(data: Mapping[str, Any], received_at: datetime) -> tuple[datetime, bool]:
    value = data.get("observed_at")
    if value is None or (isinstance(value, str) and not value.strip()):
        return received_at, True
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise CodecError("observed_at", "must carry a time zone (e.g. 2026-11-22T07:00:00Z)")
        return value.astimezone(UTC), False
    if not isinstance(value, str):
        raise CodecError("observed_at", "must be an RFC 3339 time such as 2026-11-22T07:00:00Z")
    try:
        return parse_time(value), False
    except CodecError as exc:
        raise CodecError("observed_at", exc.message) from None

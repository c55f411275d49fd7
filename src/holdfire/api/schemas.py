"""Pydantic DTOs: the request bodies the API validates, and the documented response shapes.

These are the wire contract of design.md §5 and never domain objects; routes turn them into
domain values through the codecs. Request bodies refuse unknown fields: a misspelt `tle_m` must
not silently become a target location error of 0 (fail closed).
"""

from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
)

from holdfire.adapters.tiles import MAX_ZOOM, TileFormat
from holdfire.domain.access import Role
from holdfire.domain.checks import PidBasis
from holdfire.domain.decisions import DecisionKind
from holdfire.domain.identity import Affiliation
from holdfire.domain.tables import Mobility
from holdfire.domain.units import UnitStatus


def _rfc3339_text(value: Any) -> Any:
    # pydantic would take a bare number for a Unix time; the API's times are RFC 3339 text.
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 time such as 2026-12-01T07:00:00Z")
    return value


Time = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
Distance = Annotated[float, Field(ge=0, le=1e7, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=128)]
Text = Annotated[str, Field(max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LatLon(Strict):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)


class Grid(Strict):
    grid: str = Field(min_length=2, max_length=40, examples=["36UXB5303396604"])


def _target_form(value: Any) -> str:
    has_grid = (isinstance(value, dict) and "grid" in value) or isinstance(value, Grid)
    return "form:grid" if has_grid else "form:latlon"


# Either {"lat", "lon"} or {"grid"}; errors name the fields of the form that was sent.
Target = Annotated[
    Annotated[LatLon, Tag("form:latlon")] | Annotated[Grid, Tag("form:grid")],
    Discriminator(_target_form),
]


class CheckIn(Strict):
    target: Target
    datum: Literal["WGS84", "SK42"] = "WGS84"
    tle_m: Distance = 0.0
    weapon: Name = Field(examples=["155mm-howitzer"])
    target_type: Name | None = None
    pid: list[PidBasis] = Field(default_factory=list, max_length=6)
    pid_detail: Text | None = None
    time: Time | None = Field(None, description="Impact time; default now")
    firing_unit: Name | None = Field(
        None, description="uid of the firing unit; default the unit bound to the token, if one"
    )


class DecisionIn(Strict):
    kind: DecisionKind
    by: Name
    authority: Name
    initials: Annotated[str, Field(min_length=1, max_length=16)]
    expires: Time


class FiredIn(Strict):
    at: Time | None = Field(None, description="When it was fired; default now")
    remarks: Text = ""


class PairingIn(Strict):
    vehicle: Name
    dismounts: list[Name] = Field(min_length=1, max_length=100)
    max_separation_m: Distance | None = None


class UnitIn(Strict):
    uid: Name | None = Field(None, description="If given, must equal the uid in the path")
    callsign: Name | None = None
    affiliation: Affiliation = Affiliation.FRIEND
    nation: Annotated[str, Field(max_length=16)] | None = None
    language: Annotated[str, Field(min_length=2, max_length=35)] = "en"
    mobility: Mobility = Mobility.UNKNOWN
    equipment: list[Name] = Field(default_factory=list, max_length=100)
    parent: Name | None = None
    group: Name | None = None
    sector: dict[str, Any] | None = Field(None, description="GeoJSON Polygon")
    status: UnitStatus = UnitStatus.ACTIVE


class MessageIn(Strict):
    to: Name = Field(description="A unit uid, group:NAME or pairing:ID")
    code: Annotated[str, Field(min_length=2, max_length=40, examples=["WITHDRAWING_IN"])]
    params: dict[str, str | int | float] = Field(default_factory=dict, max_length=20)
    ack_required: bool | None = Field(None, description="Default: as the catalog says")
    attachment: Text | None = Field(None, description="Free text, never translated")
    sender_uid: Name | None = Field(
        None, description="The unit it is from (must be bound to the token); default its one unit"
    )


class TokenIn(Strict):
    name: Name
    role: Role
    units: list[Name] = Field(default_factory=list, max_length=100)
    expires_at: Time | None = Field(None, description="When it stops working; default never")


class ReportIn(BaseModel):
    """One report (documentation of POST /reports; the route reads each item itself so a bad
    item of a list is rejected alone)."""

    uid: Name
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    grid: str | None = Field(None, max_length=40)
    datum: Literal["WGS84", "SK42"] = "WGS84"
    ce_m: Distance | None = None
    hae_m: float | None = None
    observed_at: Time | None = None
    course_deg: float | None = None
    speed_mps: Distance | None = None
    callsign: Name | None = None
    affiliation: Affiliation | None = None
    mobility: Mobility | None = None


class FeatureIn(BaseModel):
    """A GeoJSON Feature (documentation; the codec reads and checks it)."""

    type: Literal["Feature"]
    geometry: dict[str, Any] | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


# -- responses (documented; routes return the codecs' dicts) ----------------------------------


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    error: str
    field: str | None = None
    detail: list[FieldProblem] | None = Field(None, description="Every field problem (422)")
    retryable: bool | None = Field(None, description="Not recorded; send it again later (503)")


class IdOut(BaseModel):
    id: str


class Rejected(BaseModel):
    index: int
    error: str


class AcceptedOut(BaseModel):
    accepted: int
    rejected: list[Rejected]


class HealthOut(BaseModel):
    ready: bool


class TilesOut(BaseModel):
    format: TileFormat
    minzoom: int = Field(ge=0, le=MAX_ZOOM)
    maxzoom: int = Field(ge=0, le=MAX_ZOOM)
    bounds: list[float] | None = Field(
        description="[west, south, east, north] in degrees, or null when the source does not say",
        min_length=4,
        max_length=4,
    )
    name: str
    attribution: str | None


class ReasonOut(BaseModel):
    code: str
    verdict: str
    note: bool
    subject: str | None
    distance_m: float | None
    threshold_m: float | None
    detail: str


class TargetOut(BaseModel):
    lat: float
    lon: float
    mgrs: str


class ClearanceOut(BaseModel):
    id: str
    verdict: Literal["HOLD", "DANGER_CLOSE", "COORDINATE", "NO_KNOWN_CONFLICT"]
    reasons: list[ReasonOut]
    target: TargetOut
    weapon: str
    impact_time: str
    evaluated_at: str
    valid_until: str
    picture_version: int


class PageOut(BaseModel):
    items: list[dict[str, Any]]
    next: str | None


class NewTokenOut(BaseModel):
    id: str
    name: str
    role: Role
    units: list[str]
    expires_at: str | None = None
    token: str = Field(description="The secret, shown this once")

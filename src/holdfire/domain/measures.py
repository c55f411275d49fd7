"""Control measures and protected sites: geometry, effective window, who owns them."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from holdfire.domain.errors import DomainError
from holdfire.domain.numbers import require_distance, require_instant, require_lat_lon
from holdfire.domain.units import Rings, validate_rings


class MeasureKind(StrEnum):
    NFA = "NFA"
    RFA = "RFA"
    RFL = "RFL"
    FSCL = "FSCL"
    CFL = "CFL"
    FFA = "FFA"
    ACA = "ACA"
    KILLBOX = "KILLBOX"
    BOUNDARY = "BOUNDARY"
    NSL = "NSL"
    RTL = "RTL"
    CHECKFIRE = "CHECKFIRE"

    @property
    def permissive(self) -> bool:
        """Permissive measures never relax anything, so the check does not weigh them."""
        return self in (MeasureKind.FSCL, MeasureKind.CFL, MeasureKind.FFA, MeasureKind.KILLBOX)


class MeasureStatus(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    CANCELLED = "cancelled"


class Side(StrEnum):
    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True, slots=True)
class CircleGeometry:
    lat: float
    lon: float
    radius_m: float

    def __post_init__(self) -> None:
        require_lat_lon(self.lat, self.lon)
        require_distance("radius_m", self.radius_m)


@dataclass(frozen=True, slots=True)
class LineGeometry:
    coords: tuple[tuple[float, float], ...]  # (lon, lat), GeoJSON order

    def __post_init__(self) -> None:
        if len(self.coords) < 2:
            raise DomainError("geometry", "a line needs at least 2 positions")
        for i, (lon, lat) in enumerate(self.coords):
            require_lat_lon(lat, lon, prefix=f"geometry[{i}].")


@dataclass(frozen=True, slots=True)
class PolygonGeometry:
    rings: Rings

    def __post_init__(self) -> None:
        validate_rings("geometry", self.rings)


Geometry = CircleGeometry | LineGeometry | PolygonGeometry


@dataclass(frozen=True, slots=True)
class Measure:
    id: str
    kind: MeasureKind
    geometry: Geometry | None  # None only for a unit-scoped check fire
    name: str = ""
    establishing_hq: str | None = None
    effective_from: datetime | None = None
    effective_to: datetime | None = None
    window_invalid: bool = False  # a window came but could not be read
    status: MeasureStatus = MeasureStatus.ACTIVE
    category: str | None = None  # NSL: free text (hospital, school, convoy, ...)
    friendly_side: Side | None = None  # lines: side of the line's direction friends are on
    unit: str | None = None  # unit-scoped check fire: the unit that must not fire
    originator: str | None = None  # who called it (check fire: who may cancel it)

    def __post_init__(self) -> None:
        if not self.id:
            raise DomainError("id", "is required")
        require_instant("effective_from", self.effective_from, optional=True)
        require_instant("effective_to", self.effective_to, optional=True)
        if self.geometry is None and not (self.kind is MeasureKind.CHECKFIRE and self.unit):
            raise DomainError("geometry", "is required (only a unit-scoped check fire has none)")

    def counts_during(self, start: datetime, end: datetime) -> bool:
        """Is the measure in force at any instant of [start, end]?

        A restrictive measure whose window is missing or unreadable counts as in force; a
        permissive one never counts (it relaxes nothing).
        """
        if self.status is MeasureStatus.CANCELLED or self.kind.permissive:
            return False
        if self.window_invalid:
            return True
        start_at, end_at = self.effective_from, self.effective_to
        if start_at is not None and end_at is not None and end_at < start_at:
            return True  # an inverted window is unreadable: fail closed
        if self.effective_from is not None and self.effective_from > end:
            return False
        return not (self.effective_to is not None and self.effective_to < start)

"""Units: the registry of who is out there, what they field and which language they read."""

from dataclasses import dataclass
from enum import StrEnum

from holdfire.domain.errors import DomainError
from holdfire.domain.identity import Affiliation
from holdfire.domain.numbers import require_lat_lon
from holdfire.domain.tables import Mobility

# GeoJSON polygon coordinates: rings of (lon, lat); the first ring is the exterior.
Rings = tuple[tuple[tuple[float, float], ...], ...]


class UnitStatus(StrEnum):
    ACTIVE = "active"
    ABSENT = "absent"
    RETIRED = "retired"


def validate_rings(field: str, rings: Rings) -> None:
    if not rings:
        raise DomainError(field, "a polygon needs at least one ring")
    for i, ring in enumerate(rings):
        if len(ring) < 4:
            raise DomainError(f"{field}[{i}]", "a ring needs at least 4 positions (closed)")
        if ring[0] != ring[-1]:
            raise DomainError(f"{field}[{i}]", "a ring must be closed (first position = last)")
        for lon, lat in ring:
            require_lat_lon(lat, lon, prefix=f"{field}[{i}].")


@dataclass(frozen=True, slots=True)
class Unit:
    uid: str
    callsign: str
    affiliation: Affiliation = Affiliation.FRIEND
    nation: str | None = None
    language: str = "en"
    mobility: Mobility = Mobility.UNKNOWN
    equipment: tuple[str, ...] = ()
    parent: str | None = None
    group: str | None = None
    sector: Rings | None = None
    status: UnitStatus = UnitStatus.ACTIVE

    def __post_init__(self) -> None:
        if not self.uid or not self.uid.strip():
            raise DomainError("uid", "is required")
        if self.sector is not None:
            validate_rings("sector", self.sector)

"""Pairings: a vehicle and the dismounted team it carries, watched so neither is left behind."""

from dataclasses import dataclass
from datetime import datetime

from holdfire.domain.errors import DomainError
from holdfire.domain.numbers import require_distance, require_instant


@dataclass(frozen=True, slots=True)
class Pairing:
    id: str
    vehicle: str  # uid
    dismounts: tuple[str, ...]  # uids
    created_at: datetime
    created_by: str
    max_separation_m: float | None = None  # None: the watch's default

    def __post_init__(self) -> None:
        if not self.vehicle.strip():
            raise DomainError("vehicle", "is required (a unit uid)")
        if not self.dismounts:
            raise DomainError("dismounts", "needs at least one unit uid")
        for i, uid in enumerate(self.dismounts):
            if not uid.strip():
                raise DomainError(f"dismounts[{i}]", "must be a non-empty unit uid")
            if uid == self.vehicle:
                raise DomainError(f"dismounts[{i}]", "must not be the vehicle itself")
        if len(set(self.dismounts)) != len(self.dismounts):
            raise DomainError("dismounts", "lists a unit twice")
        require_distance("max_separation_m", self.max_separation_m, optional=True)
        require_instant("created_at", self.created_at)

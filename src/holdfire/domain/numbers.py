"""Guards for the numbers every record carries: finite, in range, never negative distances."""

import math
from datetime import datetime

from holdfire.domain.errors import DomainError


def _finite(value: float) -> bool:
    """math.isfinite, but an int too large for a float is not finite either (no OverflowError)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def require_distance(field: str, value: float | None, *, optional: bool = False) -> None:
    """A distance, radius or error must be a finite number >= 0."""
    if value is None:
        if optional:
            return
        raise DomainError(field, "is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DomainError(field, f"must be a number, got {type(value).__name__}")
    if not _finite(value) or value < 0:
        raise DomainError(field, f"must be a finite number >= 0, got {value!r}")


def require_lat_lon(lat: float, lon: float, *, prefix: str = "") -> None:
    """Latitude in [-90, 90], longitude in [-180, 180], both finite."""
    for name, value, bound in ((f"{prefix}lat", lat, 90.0), (f"{prefix}lon", lon, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DomainError(name, f"must be a number, got {type(value).__name__}")
        if not _finite(value) or abs(value) > bound:
            raise DomainError(
                name, f"must be a finite number in [-{bound:g}, {bound:g}], got {value!r}"
            )


def require_instant(field: str, value: datetime | None, *, optional: bool = False) -> None:
    """Every time is an aware instant (UTC offsets allowed; naive times are ambiguous)."""
    if value is None:
        if optional:
            return
        raise DomainError(field, "is required")
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError(field, "must carry a time zone (use UTC, e.g. 2026-11-22T07:00:00Z)")


def optional_finite(value: float | None) -> float | None:
    """Bad optional numbers become unknown (None) rather than refusing the whole record."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if _finite(value) else None

"""Position reports: one fix of one unit, with how sure we are and who says so."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from holdfire.domain.errors import DomainError
from holdfire.domain.identity import Affiliation
from holdfire.domain.numbers import require_distance, require_instant, require_lat_lon
from holdfire.domain.tables import Mobility

# A fix stamped further ahead than this is not believed (clock skew budget, domain.md §3).
MAX_FUTURE_SKEW = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class PositionReport:
    uid: str
    lat: float  # WGS 84, already converted from the datum it arrived in
    lon: float
    observed_at: datetime  # when the fix was taken, not when it arrived
    received_at: datetime
    source: str  # channel: cot-tcp, cot-tls, cot-udp, http, mqtt, import, sim
    reporter: str  # uid or token name of whoever sent it
    authenticated: bool = False  # channel bound to `reporter` (TLS certificate or token)
    ce_m: float | None = None  # 95 % circular error; None = unknown -> class worst case
    hae_m: float | None = None  # height above the WGS 84 ellipsoid
    cell_m: float = 0.0  # half-diagonal of the grid cell the position was given as
    datum: str = "WGS84"
    datum_error_m: float = 0.0  # residual error of the datum conversion
    affiliation: Affiliation | None = None  # what the report claims; the registry decides
    mobility: Mobility | None = None
    callsign: str | None = None
    course_deg: float | None = None
    speed_mps: float | None = None
    stale_at: datetime | None = None  # the sender's own validity limit (CoT stale)
    time_assumed: bool = False  # no observation time came: the arrival time stands in
    suspect_time: bool = False  # came stamped in the future: the arrival time stands in
    # Placed by the reporter about something else (a CoT marker): an unregistered uid reported
    # this way is a marker, not a unit (it honours deletes and expires); see design.md §3.
    marker: bool = False

    def __post_init__(self) -> None:
        if not self.uid or not self.uid.strip():
            raise DomainError("uid", "is required")
        require_lat_lon(self.lat, self.lon)
        require_instant("observed_at", self.observed_at)
        require_instant("received_at", self.received_at)
        require_instant("stale_at", self.stale_at, optional=True)
        require_distance("ce_m", self.ce_m, optional=True)
        require_distance("cell_m", self.cell_m)
        require_distance("datum_error_m", self.datum_error_m)

    @property
    def own(self) -> bool:
        """Sent by the unit itself over a channel bound to it."""
        return self.authenticated and self.reporter == self.uid

    @property
    def reporter_key(self) -> str:
        return f"{self.source}:{self.reporter}"


def settle_times(report: PositionReport) -> PositionReport:
    """Apply the time rules: a fix from the future is replaced by its arrival time and marked."""
    if report.observed_at - report.received_at > MAX_FUTURE_SKEW:
        return replace(report, observed_at=report.received_at, suspect_time=True)
    return report

"""Tracks: the positions the picture holds for one uid, and how old and how wide they are."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import MobilityClass


class TrackState(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class Track:
    """The latest own fix of a uid plus the latest fix from each other reporter.

    Other reporters' positions add protection (the unit may be there too) but never move the
    own one; extras older than the newest own fix are dropped because that fix supersedes them.
    """

    uid: str
    own: PositionReport | None = None
    extras: tuple[PositionReport, ...] = ()  # one per reporter_key, sorted by it

    @property
    def positions(self) -> tuple[PositionReport, ...]:
        return ((self.own,) if self.own is not None else ()) + self.extras

    @property
    def latest(self) -> PositionReport:
        """The position to show: the own fix if there is one, else the newest other fix."""
        if self.own is not None:
            return self.own
        return max(self.extras, key=lambda r: (r.observed_at, r.reporter_key))


def error_m(report: PositionReport, mobility: MobilityClass) -> float:
    """Everything but movement: the fix's 95 % error, its grid cell and its datum."""
    ce = report.ce_m if report.ce_m is not None else mobility.default_ce_m
    return ce + report.cell_m + report.datum_error_m


def radius_m(report: PositionReport, mobility: MobilityClass, at: datetime) -> float:
    """Where the unit may be by `at`: grows with age at the class's top speed, with no cap."""
    age_s = max(0.0, (at - report.observed_at).total_seconds())
    return error_m(report, mobility) + mobility.v_max_mps * age_s


def state_at(report: PositionReport, mobility: MobilityClass, at: datetime) -> TrackState:
    """Fresh, stale or lost by age; the sender's own stale time may only make it stale sooner."""
    age_s = (at - report.observed_at).total_seconds()
    if age_s > mobility.lost_after_s:
        return TrackState.LOST
    if age_s > mobility.stale_after_s or (report.stale_at is not None and at >= report.stale_at):
        return TrackState.STALE
    return TrackState.FRESH

"""GeoJSON for the picture: tracks as Features (GET /tracks, the stream) and collections.

A track's Feature sits at its latest position (the unit's own fix when it has one) with the
radius it has grown to by `at`; positions other reporters claim for the same uid are counted in
`other_positions` and weighed by every check, though not drawn here.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from holdfire.codecs.json import format_time
from holdfire.domain.identity import Affiliation
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import MobilityClass
from holdfire.domain.tracks import Track, radius_m, state_at
from holdfire.domain.units import Unit

JSONDict = dict[str, Any]


def track_feature(
    track: Track,
    unit: Unit | None,
    affiliation: Affiliation,
    mobility: MobilityClass,
    at: datetime,
) -> JSONDict:
    report = track.latest
    hae = report.hae_m
    coordinates = [report.lon, report.lat] + ([hae] if hae is not None else [])
    callsign = unit.callsign if unit is not None else (report.callsign or track.uid)
    return {
        "type": "Feature",
        "id": track.uid,
        "geometry": {"type": "Point", "coordinates": coordinates},
        "properties": {
            "uid": track.uid,
            "callsign": callsign,
            "affiliation": affiliation.value,
            "mobility": mobility.mobility.value,
            "observed_at": format_time(report.observed_at),
            "age_s": round(max(0.0, (at - report.observed_at).total_seconds()), 1),
            "radius_m": round(radius_m(report, mobility, at), 1),
            "state": state_at(report, mobility, at).value,
            # what a map needs to age the track between updates exactly as the check does
            "growth_mps": mobility.v_max_mps,
            "stale_at": format_time(_stale_at(report, mobility)),
            "lost_at": format_time(report.observed_at + timedelta(seconds=mobility.lost_after_s)),
            "display_cap_m": mobility.r_cap_m,
            "source": report.source,
            "authenticated": report.own,
            "registered": unit is not None,
            "other_positions": len(track.positions) - 1,
            "time_assumed": report.time_assumed,
            "suspect_time": report.suspect_time,
        },
    }


def _stale_at(report: PositionReport, mobility: MobilityClass) -> datetime:
    by_age = report.observed_at + timedelta(seconds=mobility.stale_after_s)
    return by_age if report.stale_at is None else min(by_age, report.stale_at)


def removed_feature(uid: str) -> JSONDict:
    """A track that left the picture (a deleted or expired marker, a unit marked absent)."""
    return {
        "type": "Feature",
        "id": uid,
        "geometry": None,
        "properties": {"uid": uid, "removed": True},
    }


def collection(features: Iterable[JSONDict], **members: Any) -> JSONDict:
    return {"type": "FeatureCollection", "features": list(features), **members}

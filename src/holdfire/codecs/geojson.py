"""GeoJSON for the picture: tracks as Features (GET /tracks, the stream) and collections.

A track's Feature sits at its latest position (the unit's own fix when it has one) with the
radius it has grown to by `at`; positions other reporters claim for the same uid are counted in
`other_positions` and weighed by every check, though not drawn here.
"""

import json
from collections.abc import Callable, Iterable
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
    feature = _lasting_feature(track, unit, affiliation, mobility)
    feature["properties"].update(_aged(track.latest, mobility, at))
    return feature


def _lasting_feature(
    track: Track, unit: Unit | None, affiliation: Affiliation, mobility: MobilityClass
) -> JSONDict:
    """The Feature without what changes with time alone; `properties` is its last member."""
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


def _aged(report: PositionReport, mobility: MobilityClass, at: datetime) -> JSONDict:
    """The properties that change with time alone: age, grown radius, state."""
    return {
        "age_s": round(max(0.0, (at - report.observed_at).total_seconds()), 1),
        "radius_m": round(radius_m(report, mobility, at), 1),
        "state": state_at(report, mobility, at).value,
    }


class TrackFeatures:
    """Track Features as JSON text for GET /tracks, each encoded once per change of its track or
    unit (both immutable, so identity tells), with only age, radius and state added per call:
    encoding 5,000 Features afresh on every read took ~200 ms of the web map's sign-in."""

    def __init__(self) -> None:
        # uid -> (track, unit, mobility, the Feature's JSON without its two closing braces)
        self._kept: dict[str, tuple[Track, Unit | None, MobilityClass, str]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def encoded(
        self,
        track: Track,
        unit: Unit | None,
        affiliation_of: Callable[[str], Affiliation],
        mobility_of: Callable[[str], MobilityClass],
        at: datetime,
    ) -> str:
        kept = self._kept.get(track.uid)
        if kept is None or kept[0] is not track or kept[1] is not unit:
            mobility = mobility_of(track.uid)
            lasting = _lasting_feature(track, unit, affiliation_of(track.uid), mobility)
            text = json.dumps(lasting, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
            kept = (track, unit, mobility, text[:-2])
            self._kept[track.uid] = kept
        aged = _aged(track.latest, kept[2], at)
        # floats as json.dumps writes them (repr); a state is a plain lower-case word
        return (
            f'{kept[3]},"age_s":{aged["age_s"]!r},"radius_m":{aged["radius_m"]!r},'
            f'"state":"{aged["state"]}"}}}}'
        )

    def retain(self, uids: Iterable[str]) -> None:
        """Forget the tracks that have left the picture."""
        keep = set(uids)
        self._kept = {uid: kept for uid, kept in self._kept.items() if uid in keep}


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


def collection_text(features: Iterable[str], **members: Any) -> str:
    """`collection` of Features already encoded as JSON text."""
    rest = json.dumps(members, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    tail = "}" if rest == "{}" else "," + rest[1:]
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]" + tail

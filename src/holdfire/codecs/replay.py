"""JSON for replays: the picture at an instant (``GET /picture?at=``, ``holdfire replay
--json``) and what a stored check saw (``GET /checks/{id}/picture``).

Tracks are the Features of ``GET /tracks``, aged to the instant replayed (age, radius and state
as they were then); measures are the Features of ``GET /measures`` with ``in_force`` added.
"""

from datetime import datetime

from holdfire.codecs.geojson import JSONDict, collection, track_feature
from holdfire.codecs.json import clearance_to_dict, format_time, measure_to_feature, unit_to_dict
from holdfire.engine.picture import Picture
from holdfire.engine.replay import Replay, measures_at
from holdfire.service.replay import CheckPicture


def track_features(picture: Picture, at: datetime) -> list[JSONDict]:
    """Every track of the picture at `at`, sorted by uid."""
    return [
        track_feature(
            track,
            picture.unit(track.uid),
            picture.affiliation_of(track.uid),
            picture.mobility_of(track.uid),
            at,
        )
        for track in sorted(picture.tracks(), key=lambda t: t.uid)
    ]


def replay_to_dict(folded: Replay) -> JSONDict:
    """The picture at the instant replayed; `since` is when the log's first event was
    recorded (None for an empty log), `events` how many events made the picture."""
    picture, at = folded.picture, folded.at
    measures = []
    for item in measures_at(picture, at):
        feature = measure_to_feature(item.measure)
        feature["properties"]["in_force"] = item.in_force
        measures.append(feature)
    return {
        "at": format_time(at),
        "since": format_time(folded.first_at) if folded.first_at is not None else None,
        "events": folded.applied,
        "tracks": collection(track_features(picture, at)),
        "measures": collection(measures),
        "units": [unit_to_dict(u) for u in sorted(picture.units(), key=lambda u: u.uid)],
    }


def check_picture_to_dict(seen: CheckPicture) -> JSONDict:
    picture, weighed = seen.picture, seen.weighed
    positions = []
    for p in weighed.positions if weighed is not None else ():
        report = p.report
        unit = picture.unit(report.uid)
        positions.append(
            {
                "uid": report.uid,
                "callsign": unit.callsign if unit is not None else report.callsign or report.uid,
                "affiliation": picture.affiliation_of(report.uid).value,
                "reporter": report.reporter_key,
                "authenticated": report.own,
                "lat": report.lat,
                "lon": report.lon,
                "observed_at": format_time(report.observed_at),
                "distance_m": round(p.distance_m, 1),
                "radius_m": round(p.radius_m, 1),
                "state": p.state.value,
            }
        )
    replayed, stored = clearance_to_dict(seen.replayed), clearance_to_dict(seen.clearance)
    # Compared as stored (distances kept to 0.1 m): the same picture gives the same record.
    reproduced = all(replayed[key] == stored[key] for key in ("verdict", "reasons"))
    return {
        "check": stored,
        "events": seen.events,
        "at": format_time(weighed.at) if weighed is not None else None,
        "window": [format_time(t) for t in weighed.window] if weighed is not None else None,
        "reach_m": round(weighed.reach_m, 1) if weighed is not None else None,
        "footprint_m": round(weighed.footprint_m, 1) if weighed is not None else None,
        "positions": positions,
        "measures": collection(
            measure_to_feature(m) for m in (weighed.measures if weighed is not None else ())
        ),
        "replayed": {
            "verdict": replayed["verdict"],
            "reasons": replayed["reasons"],
            "reproduced": reproduced,
        },
    }

"""The live picture: the unit registry, every unit's track, and the measures in force.

Pure and clock-free: every call that depends on time is given it. The picture never lets a
friendly vanish because its data aged; a registered unit leaves only when marked absent or
retired. What a report may and may not change follows design.md §3 (trust, times, identity).
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mypy_extensions import mypyc_attr
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from holdfire.domain.alerts import Alert, AlertKind
from holdfire.domain.identity import Affiliation, more_protected
from holdfire.domain.measures import (
    CircleGeometry,
    LineGeometry,
    Measure,
    MeasureKind,
    PolygonGeometry,
)
from holdfire.domain.reports import PositionReport, settle_times
from holdfire.domain.tables import Mobility, MobilityClass, Tables
from holdfire.domain.tracks import Track, error_m
from holdfire.domain.units import Unit, UnitStatus
from holdfire.engine.spatial import (
    Candidates,
    IndexedPosition,
    MeasureIndex,
    PointSet,
    TrackIndex,
    degree_box,
)
from holdfire.geo import LocalFrame, Polyline, distance_m, frame_for

# Measures that matter beyond the footprint: fires that cross them need coordination.
CROSSING_KINDS = frozenset({MeasureKind.RFL, MeasureKind.BOUNDARY, MeasureKind.ACA})


@dataclass(frozen=True, slots=True)
class Weighing:
    """What a check needs of one weighed uid, worked out once per change to it rather than
    for every position of it every check finds."""

    track: Track
    affiliation: Affiliation  # `Picture.affiliation_of`
    mobility: MobilityClass  # `Picture.mobility_of`
    name: str  # the registry's callsign, else the uid
    reports: dict[str, PositionReport]  # the track's positions by reporter key


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    applied: bool
    detail: str = ""  # why it was not applied
    registered: Unit | None = None  # the unit this report registered, if it was unknown
    alerts: tuple[Alert, ...] = ()
    report: PositionReport | None = None  # the report as applied (times settled)


# Compiled (setup.py), yet open to subclasses in plain Python: the benchmark's full-scan
# reference (bench/check_latency.py) replaces its spatial queries.
@mypyc_attr(allow_interpreted_subclasses=True)
class Picture:
    """Current state, indexed for checks. Mutated only through its methods."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.version = 0
        self._units: dict[str, Unit] = {}
        self._tracks: dict[str, Track] = {}
        self._measures: dict[str, Measure] = {}
        self._track_index = TrackIndex()
        self._measure_index = MeasureIndex()
        self._crossing_index = MeasureIndex()  # CROSSING_KINDS only: queried far and wide
        self._line_index = MeasureIndex()  # the lines among them, for the far-side rule
        # Kept up to date on every change so a check never walks the whole registry.
        self._unlocated: set[str] = set()
        self._unlocated_units: list[Unit] | None = None  # sorted view, None = to rebuild
        self._by_family: dict[str, set[str]] = {}
        # Friendly units fielding each family: all of them, and the located ones' latest fixes.
        self._friendly_fielders: dict[str, set[str]] = {}
        self._fielder_points: dict[str, PointSet] = {}
        self._unit_check_fires: dict[str, Measure] = {}
        self._friendly_nations: Counter[str] = Counter()
        self._shapes: dict[str, tuple[LocalFrame, BaseGeometry]] = {}
        self._polylines: dict[str, Polyline] = {}  # lines, in their frame
        self._weighings: dict[str, Weighing] = {}  # per weighed uid, kept by _reindex

    # --- units -----------------------------------------------------------------------------

    def register_unit(self, unit: Unit) -> None:
        """Register a unit or replace its entry; its track is re-weighed under the new entry."""
        previous = self._units.get(unit.uid)
        if previous is not None:
            self._forget(previous)
        self._units[unit.uid] = unit
        self._remember(unit)
        self._reindex(unit.uid)
        self.version += 1

    def unit(self, uid: str) -> Unit | None:
        return self._units.get(uid)

    def units(self) -> Iterable[Unit]:
        return self._units.values()

    def mobility_of(self, uid: str) -> MobilityClass:
        unit = self._units.get(uid)
        mobility = unit.mobility if unit is not None else None
        if mobility is None:
            track = self._tracks.get(uid)
            mobility = track.latest.mobility if track is not None else None
        return self.tables.mobility_class(mobility) if mobility else self._unknown_mobility()

    def affiliation_of(self, uid: str) -> Affiliation:
        """The registry's identity, raised (never lowered) by what kept reports claim.

        A marker has no registry entry: the most protected identity any report claims for it,
        unknown when none says.
        """
        unit = self._units.get(uid)
        track = self._tracks.get(uid)
        claims = [r.affiliation for r in track.positions] if track is not None else []
        if unit is not None:
            affiliation = unit.affiliation
        else:
            stated = [c for c in claims if c is not None]
            affiliation = stated[0] if stated else Affiliation.UNKNOWN
        for claim in claims:
            affiliation = more_protected(affiliation, claim)
        return affiliation

    def weighing(self, uid: str) -> Weighing | None:
        """The uid's track with its identity and class, None if it has no track or does not
        count in checks (`weighed`)."""
        return self._weighings.get(uid)

    def is_marker(self, uid: str) -> bool:
        """A track placed by a client for a uid that is not a registered unit."""
        return uid in self._tracks and uid not in self._units

    def remove_marker(self, uid: str) -> bool:
        """A client deleted its marker, or it expired. Registered units never leave this way."""
        if not self.is_marker(uid):
            return False
        del self._tracks[uid]
        self._weighings.pop(uid, None)
        self._track_index.remove(uid)
        self.version += 1
        return True

    def expired_markers(self, now: datetime) -> list[str]:
        """Markers whose newest fix is past its own stale time plus the class's lost time."""
        expired = []
        for uid in [u for u in self._tracks if u not in self._units]:
            latest = max(self._tracks[uid].positions, key=lambda r: r.observed_at)
            lost = timedelta(seconds=self.mobility_of(uid).lost_after_s)
            if (latest.stale_at or latest.observed_at) + lost < now:
                expired.append(uid)
        return sorted(expired)

    def weighed(self, uid: str) -> bool:
        """Does this uid count in checks? Everything but units marked absent or retired."""
        unit = self._units.get(uid)
        return unit is None or unit.status is UnitStatus.ACTIVE

    def unlocated(self) -> list[Unit]:
        """Active friendly units that have never reported."""
        if self._unlocated_units is None:
            self._unlocated_units = [self._units[uid] for uid in sorted(self._unlocated)]
        return list(self._unlocated_units)

    def fielding(self, family: str) -> list[Unit]:
        """Active units whose equipment belongs to `family`."""
        return [self._units[uid] for uid in sorted(self._by_family.get(family, ()))]

    def nearest_fielding(
        self, family: str, lat: float, lon: float
    ) -> tuple[str, float | None] | None:
        """The nearest located friendly unit fielding `family` and its distance; if none is
        located, the first friendly fielder with distance None; None if there is none."""
        points = self._fielder_points.get(family)
        found = points.nearest(lat, lon) if points is not None else None
        if found is not None:
            return found
        friends = self._friendly_fielders.get(family)
        return (min(friends), None) if friends else None

    def friendly_nations(self) -> frozenset[str]:
        """Nations of the active friendly units in the registry."""
        return frozenset(n for n, count in self._friendly_nations.items() if count > 0)

    # --- tracks ----------------------------------------------------------------------------

    def apply_report(self, report: PositionReport) -> ReportOutcome:
        """Fold one report into the picture (design.md §3)."""
        report = settle_times(report)
        registered: Unit | None = None
        if report.uid not in self._units and not report.marker:
            registered = Unit(
                uid=report.uid,
                callsign=report.callsign or report.uid,
                affiliation=report.affiliation or Affiliation.FRIEND,
                mobility=report.mobility or Mobility.UNKNOWN,
            )
            self._units[report.uid] = registered
            self._remember(registered)
        track = self._tracks.get(report.uid, Track(uid=report.uid))
        alerts = self._conflicts(track, report)
        if report.own:
            if track.own is not None and report.observed_at < track.own.observed_at:
                return ReportOutcome(False, "older than the unit's own latest fix", registered)
            # An own fix supersedes other reporters' older claims about the unit.
            extras = tuple(e for e in track.extras if e.observed_at >= report.observed_at)
            track = Track(uid=report.uid, own=report, extras=extras)
        else:
            if track.own is not None and report.observed_at < track.own.observed_at:
                return ReportOutcome(
                    False, "older than the unit's own latest fix", registered, alerts
                )
            current = {e.reporter_key: e for e in track.extras}
            previous = current.get(report.reporter_key)
            if previous is not None and report.observed_at < previous.observed_at:
                return ReportOutcome(False, "older than this reporter's latest fix", registered)
            current[report.reporter_key] = report
            extras = tuple(current[k] for k in sorted(current))
            track = Track(uid=report.uid, own=track.own, extras=extras)
        self._tracks[report.uid] = track
        if report.uid in self._unlocated:
            self._unlocated.discard(report.uid)
            self._unlocated_units = None
        self._reindex(report.uid, report.received_at)
        unit = self._units.get(report.uid)
        if unit is not None:
            self._place_fielder(unit)
        self.version += 1
        return ReportOutcome(True, "", registered, alerts, report)

    def track(self, uid: str) -> Track | None:
        return self._tracks.get(uid)

    def tracks(self) -> Iterable[Track]:
        """Tracks still in the picture (units marked absent or retired have left it)."""
        return (t for t in self._tracks.values() if self.weighed(t.uid))

    def positions_near(self, lat: float, lon: float, reach_m: float, at: datetime) -> Candidates:
        return self._track_index.near(lat, lon, reach_m, at.timestamp())

    # --- measures --------------------------------------------------------------------------

    def define_measure(self, measure: Measure) -> None:
        self._measures[measure.id] = measure
        self._shapes.pop(measure.id, None)
        self._polylines.pop(measure.id, None)
        if measure.kind is MeasureKind.CHECKFIRE and measure.geometry is None:
            self._unit_check_fires[measure.id] = measure
        else:
            self._unit_check_fires.pop(measure.id, None)
        geometry = measure.geometry
        self._measure_index.remove(measure.id)
        self._crossing_index.remove(measure.id)
        self._line_index.remove(measure.id)
        if geometry is not None:
            if isinstance(geometry, CircleGeometry):
                bounds = degree_box(geometry.lat, geometry.lon, geometry.radius_m)
            else:
                coords = (
                    geometry.coords
                    if isinstance(geometry, LineGeometry)
                    else tuple(p for ring in geometry.rings for p in ring)
                )
                lons = [c[0] for c in coords]
                lats = [c[1] for c in coords]
                bounds = (min(lons), min(lats), max(lons), max(lats))
            self._measure_index.put(measure.id, bounds)
            if measure.kind in CROSSING_KINDS:
                self._crossing_index.put(measure.id, bounds)
                if isinstance(geometry, LineGeometry):
                    self._line_index.put(measure.id, bounds)
            if not measure.kind.permissive:
                self.shape_of(measure)  # projected now, not in the middle of a check
                if isinstance(geometry, LineGeometry):
                    self.polyline(measure)
        self.version += 1

    def cancel_measure(self, measure_id: str) -> bool:
        if self._measures.pop(measure_id, None) is None:
            return False
        self._shapes.pop(measure_id, None)
        self._polylines.pop(measure_id, None)
        self._unit_check_fires.pop(measure_id, None)
        self._measure_index.remove(measure_id)
        self._crossing_index.remove(measure_id)
        self._line_index.remove(measure_id)
        self.version += 1
        return True

    def measure(self, measure_id: str) -> Measure | None:
        return self._measures.get(measure_id)

    def measures(self) -> Iterable[Measure]:
        return self._measures.values()

    def measures_near(self, lat: float, lon: float, reach_m: float) -> list[Measure]:
        return [self._measures[i] for i in self._measure_index.near(lat, lon, reach_m)]

    def crossing_measures_near(self, lat: float, lon: float, reach_m: float) -> list[Measure]:
        """RFL, BOUNDARY and ACA measures whose box comes within `reach_m` of the point."""
        return [self._measures[i] for i in self._crossing_index.near(lat, lon, reach_m)]

    def crossing_lines_near(self, lat: float, lon: float, reach_m: float) -> list[Measure]:
        """The lines among `crossing_measures_near` (RFL and BOUNDARY lines)."""
        return [self._measures[i] for i in self._line_index.near(lat, lon, reach_m)]

    def crossing_measures_between(
        self, a: tuple[float, float], b: tuple[float, float], margin_m: float
    ) -> list[Measure]:
        """RFL, BOUNDARY and ACA measures whose box meets the box spanning points a and b
        (lat, lon) widened by `margin_m`: every one a line between them could cross."""
        boxes = (degree_box(*a, margin_m), degree_box(*b, margin_m))
        if any(w <= -180.0 or e >= 180.0 for w, _, e, _ in boxes) or abs(a[1] - b[1]) > 180.0:
            # Near a pole or across the antimeridian: fall back to the circle around a.
            return self.crossing_measures_near(*a, distance_m(*a, *b) + margin_m)
        bounds = (
            min(boxes[0][0], boxes[1][0]),
            min(boxes[0][1], boxes[1][1]),
            max(boxes[0][2], boxes[1][2]),
            max(boxes[0][3], boxes[1][3]),
        )
        return [self._measures[i] for i in self._crossing_index.within(bounds)]

    def shape_of(self, measure: Measure) -> tuple[LocalFrame, BaseGeometry]:
        """A measure's geometry in the local frame of the tile it lies in, projected once.

        Every test against it happens in that frame, so a measure is projected once however
        many aimpoints are checked against it (accurate to 1 m within 50 km of the tile).
        """
        cached = self._shapes.get(measure.id)
        if cached is None:
            geometry = measure.geometry
            if isinstance(geometry, CircleGeometry):
                frame = frame_for(geometry.lat, geometry.lon)
                # drawn around, never inside, the true circle
                shape: BaseGeometry = (
                    frame.circle(geometry.lat, geometry.lon, geometry.radius_m)
                    if geometry.radius_m > 0
                    else frame.point(geometry.lat, geometry.lon)
                )
            elif isinstance(geometry, LineGeometry | PolygonGeometry):
                coords = (
                    geometry.coords if isinstance(geometry, LineGeometry) else geometry.rings[0]
                )
                lons = [c[0] for c in coords]
                lats = [c[1] for c in coords]
                frame = frame_for((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)
                shape = (
                    frame.line(geometry.coords)
                    if isinstance(geometry, LineGeometry)
                    else frame.polygon(geometry.rings)
                )
            else:
                raise TypeError(f"measure {measure.id} has no geometry")
            cached = (frame, shape)
            self._shapes[measure.id] = cached
        return cached

    def polyline(self, measure: Measure) -> Polyline:
        """A line measure's vertices and segments in its frame (`shape_of`), taken once."""
        found = self._polylines.get(measure.id)
        if found is None:
            _, shape = self.shape_of(measure)
            if not isinstance(shape, LineString):
                raise TypeError(f"measure {measure.id} is not a line")
            found = self._polylines[measure.id] = Polyline(shape)
        return found

    def unit_check_fires(self) -> list[Measure]:
        return sorted(self._unit_check_fires.values(), key=lambda m: m.id)

    # --- internals -------------------------------------------------------------------------

    def _unknown_mobility(self) -> MobilityClass:
        return self.tables.mobility_class(Mobility.UNKNOWN)

    def _remember(self, unit: Unit) -> None:
        if unit.status is not UnitStatus.ACTIVE:
            return
        if unit.affiliation.friendly:
            if unit.uid not in self._tracks:
                self._unlocated.add(unit.uid)
                self._unlocated_units = None
            if unit.nation:
                self._friendly_nations[unit.nation.upper()] += 1
        for family in self._families(unit):
            self._by_family.setdefault(family, set()).add(unit.uid)
        self._place_fielder(unit)

    def _families(self, unit: Unit) -> set[str]:
        return {self.tables.equipment_family(i) or i.strip().lower() for i in unit.equipment}

    def _place_fielder(self, unit: Unit) -> None:
        """Keep the friendly-fielder sets and points of the unit's families up to date."""
        if not unit.equipment:
            return
        track = self._tracks.get(unit.uid)
        friendly = unit.status is UnitStatus.ACTIVE and self.affiliation_of(unit.uid).friendly
        for family in self._families(unit):
            points = self._fielder_points.setdefault(family, PointSet())
            friends = self._friendly_fielders.setdefault(family, set())
            if friendly:
                friends.add(unit.uid)
            else:
                friends.discard(unit.uid)
            if friendly and track is not None:
                points.put(unit.uid, track.latest.lat, track.latest.lon)
            else:
                points.remove(unit.uid)

    def _forget(self, unit: Unit) -> None:
        if unit.uid in self._unlocated:
            self._unlocated.discard(unit.uid)
            self._unlocated_units = None
        for family in self._families(unit):
            self._by_family.get(family, set()).discard(unit.uid)
            self._friendly_fielders.get(family, set()).discard(unit.uid)
            if family in self._fielder_points:
                self._fielder_points[family].remove(unit.uid)
        if unit.status is UnitStatus.ACTIVE and unit.affiliation.friendly and unit.nation:
            self._friendly_nations[unit.nation.upper()] -= 1

    def _reindex(self, uid: str, at: datetime | None = None) -> None:
        """Index the uid's positions and work out its Weighing anew, after any change to its
        unit or its track: here, once per change, rather than in the checks that read it."""
        track = self._tracks.get(uid)
        if track is None or not self.weighed(uid):
            self._weighings.pop(uid, None)
            self._track_index.remove(uid)
            return
        mobility = self.mobility_of(uid)
        unit = self._units.get(uid)
        self._weighings[uid] = Weighing(
            track,
            self.affiliation_of(uid),
            mobility,
            unit.callsign if unit is not None else uid,
            {r.reporter_key: r for r in reversed(track.positions)},  # the own fix wins a key
        )
        entries = [
            IndexedPosition(
                uid=uid,
                key=r.reporter_key,
                lat=r.lat,
                lon=r.lon,
                base_m=error_m(r, mobility),
                v_mps=mobility.v_max_mps,
                observed_ts=r.observed_at.timestamp(),
            )
            for r in track.positions
        ]
        now_ts = (at or track.latest.received_at).timestamp()
        self._track_index.put(uid, entries, now_ts)

    def _conflicts(self, track: Track, report: PositionReport) -> tuple[Alert, ...]:
        """A claim by someone else that the unit's own fix cannot explain is a security event."""
        own = track.own
        if report.own or own is None:
            return ()
        mobility = self.mobility_of(report.uid)
        gap_s = abs((report.observed_at - own.observed_at).total_seconds())
        explained = error_m(own, mobility) + error_m(report, mobility) + mobility.v_max_mps * gap_s
        apart = distance_m(own.lat, own.lon, report.lat, report.lon)
        if apart <= explained:
            return ()
        return (
            Alert(
                kind=AlertKind.SECURITY,
                subjects=(report.uid,),
                detail=(
                    f"{report.reporter} via {report.source} placed {report.uid} {apart:.0f} m "
                    f"from its own authenticated fix (at most {explained:.0f} m explainable); "
                    "kept as an extra position, the own position is unchanged"
                ),
                created_at=report.received_at,
            ),
        )

"""The check: every rule of design.md §4, strictest verdict wins, every reason returned.

Pure and deterministic: the same request, picture and `now` give the same Clearance apart from
the id handed in. Anything unknown or malformed makes the answer stricter, never looser.
"""

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from holdfire.domain.checks import (
    PID_BEYOND_APPEARANCE,
    CheckRequest,
    Clearance,
    Reason,
    ReasonCode,
    Target,
    Verdict,
)
from holdfire.domain.errors import DomainError
from holdfire.domain.identity import Affiliation
from holdfire.domain.measures import CircleGeometry, LineGeometry, Measure, MeasureKind, Side
from holdfire.domain.numbers import require_distance, require_instant, require_lat_lon
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Weapon
from holdfire.domain.tracks import TrackState, state_at
from holdfire.engine.picture import CROSSING_KINDS as _CROSSING_KINDS
from holdfire.engine.picture import Picture, Weighing
from holdfire.engine.spatial import IndexedPosition
from holdfire.geo import LocalFrame, distance_m, distances_m, frame_for, to_mgrs

VALID_FOR = timedelta(seconds=60)  # a Clearance must be re-checked after this
MEASURE_MARGIN = timedelta(seconds=60)  # added to the time of flight for measure windows
MAX_PAST = timedelta(minutes=5)  # an impact time further back is refused

_AREA_RULES = {
    MeasureKind.NFA: (ReasonCode.NO_FIRE_AREA, Verdict.HOLD),
    MeasureKind.NSL: (ReasonCode.PROTECTED_SITE, Verdict.HOLD),
    MeasureKind.CHECKFIRE: (ReasonCode.CHECK_FIRE, Verdict.HOLD),
    MeasureKind.RFA: (ReasonCode.RESTRICTED_FIRE_AREA, Verdict.COORDINATE),
    MeasureKind.RTL: (ReasonCode.RESTRICTED_TARGET, Verdict.COORDINATE),
    MeasureKind.ACA: (ReasonCode.AIRSPACE_COORDINATION_AREA, Verdict.COORDINATE),
    MeasureKind.RFL: (ReasonCode.RESTRICTED_FIRE_LINE, Verdict.COORDINATE),
    MeasureKind.BOUNDARY: (ReasonCode.BOUNDARY, Verdict.COORDINATE),
}


@dataclass(frozen=True, slots=True)
class _Aim:
    """Everything the rules share about one check."""

    lat: float
    lon: float
    at: datetime  # radii and states are taken at max(impact time, now)
    window: tuple[datetime, datetime]  # measures in force at any instant of it count
    weapon: Weapon
    error_m: float  # E = TLE + CEP + target cell half-diagonal + datum error
    frame: LocalFrame  # the aimpoint's own tile frame
    firer: tuple[float, float] | None  # the firing unit's position (lat, lon), if known
    views: dict[LocalFrame, "_View"]  # the aim in each measure frame met so far

    @property
    def footprint_m(self) -> float:
        return self.weapon.red01_m + self.error_m

    def view(self, frame: LocalFrame) -> "_View":
        """The aimpoint and the firing unit in `frame`, projected once (frames are cached per
        tile, so the frame object itself is the key)."""
        found = self.views.get(frame)
        if found is None:
            firer = frame.to_xy(*self.firer) if self.firer is not None else None
            found = self.views[frame] = _View(frame.to_xy(self.lat, self.lon), firer)
        return found


class _View:
    """The aim in one frame. Most tests need only the coordinates, so the shapely objects are
    made on first use."""

    __slots__ = ("_firer", "_line_of_fire", "_point", "firer_xy", "xy")

    def __init__(self, xy: tuple[float, float], firer_xy: tuple[float, float] | None) -> None:
        self.xy = xy
        self.firer_xy = firer_xy
        self._point: Point | None = None
        self._firer: Point | None = None
        self._line_of_fire: LineString | None = None

    @property
    def point(self) -> Point:
        if self._point is None:
            self._point = Point(*self.xy)
        return self._point

    @property
    def firer(self) -> Point | None:
        if self._firer is None and self.firer_xy is not None:
            self._firer = Point(*self.firer_xy)
        return self._firer

    @property
    def line_of_fire(self) -> LineString | None:
        if self._line_of_fire is None and self.firer_xy is not None:
            self._line_of_fire = LineString([self.firer_xy, self.xy])
        return self._line_of_fire


def evaluate(
    picture: Picture,
    request: CheckRequest,
    *,
    now: datetime,
    check_id: str,
    cut_off_since: datetime | None = None,
) -> Clearance:
    """Answer one check against the picture as it stands at `now`.

    `cut_off_since`: when this node lost its cluster (None when it has none, or is in step);
    reports other nodes took since then may be missing here, so the check says so.
    """
    reasons: list[Reason] = [] if cut_off_since is None else [_cut_off(cut_off_since, now)]
    problems = _problems(request, now)
    try:
        require_lat_lon(request.lat, request.lon)
    except DomainError as exc:
        reasons.append(_invalid([*problems, str(exc)]))
        return _clearance(picture, request, now, check_id, reasons, mgrs="")
    if problems:
        reasons.append(_invalid(problems))
        request = _sanitised(request)

    weapon = picture.tables.weapons.get(request.weapon.strip().lower())
    if weapon is None:
        weapon = picture.tables.worst_weapon()
        reasons.append(
            Reason(
                ReasonCode.UNKNOWN_WEAPON,
                Verdict.HOLD,
                f"weapon {request.weapon!r} is not in the weapon table; the other rules were "
                "weighed with the most demanding profile of the table",
                subject=request.weapon,
            )
        )
    aim = _aim(picture, request, now, weapon)
    reasons += _track_reasons(picture, aim)
    reasons += _unlocated_reasons(picture, aim)
    reasons += _measure_reasons(picture, aim)
    reasons += _unit_check_fire_reasons(picture, request, aim)
    reasons += _lookalike_reasons(picture, request, aim)
    return _clearance(picture, request, now, check_id, reasons, mgrs=to_mgrs(aim.lat, aim.lon))


@dataclass(frozen=True, slots=True)
class WeighedPosition:
    """One position a check weighed: a track's fix within reach of the aimpoint."""

    report: PositionReport
    distance_m: float
    radius_m: float  # grown to the check's time, max(impact time, now)
    state: TrackState


@dataclass(frozen=True, slots=True)
class Weighed:
    """What a check weighed: the instant its radii and states were taken at, the window its
    measures counted in, the positions within reach and the measures near enough to count."""

    at: datetime
    window: tuple[datetime, datetime]
    reach_m: float
    footprint_m: float
    positions: tuple[WeighedPosition, ...]
    measures: tuple[Measure, ...]


def weighed(picture: Picture, request: CheckRequest, *, now: datetime) -> Weighed | None:
    """What `evaluate` weighs for this request at `now`, chosen by the very same steps; None
    when the target itself is invalid (then nothing but the input was weighed)."""
    try:
        require_lat_lon(request.lat, request.lon)
    except DomainError:
        return None
    if _problems(request, now):
        request = _sanitised(request)
    weapon = picture.tables.weapons.get(request.weapon.strip().lower())
    aim = _aim(picture, request, now, weapon or picture.tables.worst_weapon())
    positions = []
    for entry, d, r in _candidates(picture, aim):
        weighing = picture.weighing(entry.uid)
        if weighing is None:
            continue
        report = weighing.reports[entry.key]
        positions.append(WeighedPosition(report, d, r, state_at(report, weighing.mobility, aim.at)))
    positions.sort(key=lambda p: (p.distance_m - p.radius_m, p.report.uid, p.report.reporter_key))
    return Weighed(
        aim.at,
        aim.window,
        _reach(aim),
        aim.footprint_m,
        tuple(positions),
        tuple(_weighed_measures(picture, aim)),
    )


def _aim(picture: Picture, request: CheckRequest, now: datetime, weapon: Weapon) -> _Aim:
    impact = request.time or now
    if impact.tzinfo is None:
        impact = now
    return _Aim(
        lat=request.lat,
        lon=request.lon,
        at=max(impact, now),
        window=(min(impact, now), max(impact, now) + _flight(weapon) + MEASURE_MARGIN),
        weapon=weapon,
        error_m=request.tle_m + weapon.cep_m + request.cell_m + request.datum_error_m,
        frame=frame_for(request.lat, request.lon),
        firer=_firer_position(picture, request.firing_unit),
        views={},
    )


# --- input ---------------------------------------------------------------------------------


def _problems(request: CheckRequest, now: datetime) -> list[str]:
    """Values that should have been refused at the edge; each one makes the verdict HOLD."""
    problems: list[str] = []
    for field in ("tle_m", "cell_m", "datum_error_m"):
        try:
            require_distance(field, getattr(request, field))
        except DomainError as exc:
            problems.append(str(exc))
    try:
        require_instant("time", request.time, optional=True)
        if request.time is not None and request.time < now - MAX_PAST:
            problems.append("time: more than 5 minutes in the past")
    except DomainError as exc:
        problems.append(str(exc))
    return problems


def _sanitised(request: CheckRequest) -> CheckRequest:
    """Bad numbers are read as 0 so the other rules can still name what they find."""

    def fix(value: float) -> float:
        ok = isinstance(value, int | float) and math.isfinite(value) and value >= 0
        return float(value) if ok else 0.0

    time = request.time if request.time is not None and request.time.tzinfo else None
    return replace(
        request,
        tle_m=fix(request.tle_m),
        cell_m=fix(request.cell_m),
        datum_error_m=fix(request.datum_error_m),
        time=time,
    )


def _cut_off(since: datetime, now: datetime) -> Reason:
    seconds = max(0.0, (now - since).total_seconds())
    return Reason(
        ReasonCode.CLUSTER_DEGRADED,
        Verdict.COORDINATE,
        f"this node has been cut off from its cluster for {seconds:.0f} s (since "
        f"{since.isoformat(timespec='seconds')}): positions and measures other nodes took in "
        "that time are not in this picture",
    )


def _invalid(problems: list[str]) -> Reason:
    return Reason(
        ReasonCode.INVALID_INPUT,
        Verdict.HOLD,
        "invalid input reached the check: " + "; ".join(problems),
    )


def _flight(weapon: Weapon) -> timedelta:
    return timedelta(seconds=weapon.time_of_flight_s)


def _firer_position(picture: Picture, uid: str | None) -> tuple[float, float] | None:
    track = picture.track(uid) if uid else None
    if track is None:
        return None
    return (track.latest.lat, track.latest.lon)


# --- tracks --------------------------------------------------------------------------------


def _reach(aim: _Aim) -> float:
    w = aim.weapon
    return max(w.red10_m, w.red01_m, w.danger_close_m) + aim.error_m


def _candidates(picture: Picture, aim: _Aim) -> list[tuple[IndexedPosition, float, float]]:
    """The indexed positions within reach of the aimpoint, each with its distance and its
    radius at the check's time."""
    reach = _reach(aim)
    found = picture.positions_near(aim.lat, aim.lon, reach, aim.at)
    if not len(found):
        return []
    ts = aim.at.timestamp()
    cols = found.columns  # IndexedPosition.radius_at, vectorised
    radii = cols[:, 2] + cols[:, 3] * np.maximum(0.0, ts - cols[:, 4])
    distances = distances_m(aim.lat, aim.lon, cols[:, 0], cols[:, 1])
    hits = np.flatnonzero(distances - radii < reach)
    near = zip(hits.tolist(), distances[hits].tolist(), radii[hits].tolist(), strict=True)
    return [(found.entry(i), d, r) for i, d, r in near]


def _track_reasons(picture: Picture, aim: _Aim) -> list[Reason]:
    best: dict[str, Reason] = {}  # per uid, its strictest position's reason
    for entry, d, r in _candidates(picture, aim):
        uid = entry.uid
        weighing = picture.weighing(uid)
        if weighing is None or not weighing.affiliation.protected:
            continue
        report = weighing.reports[entry.key]
        reason = _track_reason(
            weighing,
            d,
            r,  # radius_m(report, mobility, aim.at), from the columns
            state_at(report, weighing.mobility, aim.at),
            aim,
            report.authenticated,
            report.reporter_key,
        )
        if reason is None:
            continue
        current = best.get(uid)
        if current is None or reason.sort_key() < current.sort_key():
            best[uid] = reason
    return list(best.values())


_Rule = tuple[ReasonCode, Verdict, str, float]


def _track_rule(affiliation: Affiliation, state: TrackState, gap: float, aim: _Aim) -> _Rule | None:
    """Which row of the table a position falls in; `gap` is its distance less its radius."""
    w, e = aim.weapon, aim.error_m
    danger_close = max(w.red01_m, w.danger_close_m)
    neutral = affiliation is Affiliation.NEUTRAL
    if affiliation.friendly or neutral:
        if state is not TrackState.FRESH and gap < w.red01_m + e:
            return (ReasonCode.STALE_FRIENDLY, Verdict.HOLD, "RED 0.1%", w.red01_m)
        if neutral:
            if gap < w.red01_m + e:
                return (ReasonCode.NEUTRAL_IN_DANGER_AREA, Verdict.HOLD, "RED 0.1%", w.red01_m)
            return None
        if state is TrackState.FRESH and gap < w.red10_m + e:
            return (ReasonCode.FRIENDLY_IN_DANGER_AREA, Verdict.HOLD, "RED 10%", w.red10_m)
        if gap < danger_close + e:
            return (ReasonCode.DANGER_CLOSE, Verdict.DANGER_CLOSE, "danger close", danger_close)
        return None
    if affiliation.unidentified and gap < w.red01_m + e:
        return (ReasonCode.UNIDENTIFIED_IN_DANGER_AREA, Verdict.COORDINATE, "RED 0.1%", w.red01_m)
    return None


def _track_reason(
    weighing: Weighing,
    d: float,
    r: float,
    state: TrackState,
    aim: _Aim,
    authenticated: bool,
    reporter: str,
) -> Reason | None:
    affiliation = weighing.affiliation
    rule = _track_rule(affiliation, state, d - r, aim)
    if rule is None:
        return None
    code, verdict, label, distance = rule
    e = aim.error_m
    name = weighing.name
    trust = "" if authenticated else f", reported unauthenticated by {reporter}"
    return Reason(
        code,
        verdict,
        f"{affiliation} {name} ({state}{trust}) {d:.0f} m from the aimpoint, may be anywhere "
        f"within {r:.0f} m; {verdict} inside {distance + e + r:.0f} m = {label} {distance:.0f} "
        f"+ target error {e:.0f} + position radius {r:.0f}",
        subject=weighing.track.uid,
        distance_m=d,
        threshold_m=distance + e + r,
    )


def _unlocated_reasons(picture: Picture, aim: _Aim) -> list[Reason]:
    reasons = []
    for unit in picture.unlocated():
        if unit.sector is None:
            reasons.append(
                Reason(
                    ReasonCode.UNLOCATED_FRIENDLY,
                    Verdict.NO_KNOWN_CONFLICT,
                    f"{unit.affiliation} {unit.callsign} is active but has never reported and "
                    "has no sector: its position is unknown",
                    subject=unit.uid,
                    note=True,
                )
            )
            continue
        gap = aim.frame.polygon(unit.sector).distance(aim.view(aim.frame).point)
        if gap <= aim.footprint_m:
            reasons.append(
                Reason(
                    ReasonCode.UNLOCATED_FRIENDLY,
                    Verdict.HOLD,
                    f"{unit.affiliation} {unit.callsign} has never reported and operates in a "
                    f"sector {gap:.0f} m from the aimpoint (footprint {aim.footprint_m:.0f} m)",
                    subject=unit.uid,
                    distance_m=gap,
                    threshold_m=aim.footprint_m,
                )
            )
    return reasons


# --- measures ------------------------------------------------------------------------------


def _weighed_measures(picture: Picture, aim: _Aim) -> list[Measure]:
    """The measures near enough to matter that count during the check's window, by id."""
    nearby = {m.id: m for m in picture.measures_near(aim.lat, aim.lon, aim.footprint_m)}
    if aim.firer is not None:
        for m in picture.measures_near(*aim.firer, 0.0):
            if m.kind is MeasureKind.CHECKFIRE:
                nearby[m.id] = m
        # Beyond the footprint a crossing measure counts only where the line of fire crosses
        # it; the margin covers the frame's straight line bowing off the lon/lat box.
        margin = 100.0 + 0.01 * distance_m(aim.lat, aim.lon, *aim.firer)
        for m in picture.crossing_measures_between((aim.lat, aim.lon), aim.firer, margin):
            nearby[m.id] = m
    else:
        # With no firer, only a line counts beyond the footprint (its far side), within range.
        reach = aim.weapon.max_range_m + aim.footprint_m
        for m in picture.crossing_lines_near(aim.lat, aim.lon, reach):
            nearby[m.id] = m
    return [
        nearby[i]
        for i in sorted(nearby)
        if nearby[i].kind in _AREA_RULES and nearby[i].counts_during(*aim.window)
    ]


def _measure_reasons(picture: Picture, aim: _Aim) -> list[Reason]:
    weighed = _weighed_measures(picture, aim)
    # Circles are measured geodesically, all in one vectorised call; their frame polygons
    # (drawn around, never inside, the true circle) serve the containment and crossing tests.
    circles = [m.geometry for m in weighed if isinstance(m.geometry, CircleGeometry)]
    centres = distances_m(
        aim.lat,
        aim.lon,
        np.fromiter((c.lat for c in circles), float, len(circles)),
        np.fromiter((c.lon for c in circles), float, len(circles)),
    )
    gaps = iter(max(0.0, float(d) - c.radius_m) for d, c in zip(centres, circles, strict=True))
    reasons = []
    for measure in weighed:
        circle_gap = next(gaps) if isinstance(measure.geometry, CircleGeometry) else None
        reason = _measure_reason(picture, measure, aim, circle_gap)
        if reason is not None:
            reasons.append(reason)
    return reasons


def _measure_reason(
    picture: Picture, measure: Measure, aim: _Aim, circle_gap: float | None
) -> Reason | None:
    code, verdict = _AREA_RULES[measure.kind]
    frame, shape = picture.shape_of(measure)
    view = aim.view(frame)
    side: float | None = None  # lines: signed distance, + on the left of the line's direction
    if circle_gap is not None:
        gap = circle_gap
    elif isinstance(shape, LineString):
        side = picture.polyline(measure).side(*view.xy)
        # |side| is the distance to the line; 0 also stands for "on an end's extension"
        gap = abs(side) if side != 0.0 else float(shape.distance(view.point))
    else:
        gap = float(shape.distance(view.point))
    why = _why(measure, shape, side, gap, aim.footprint_m, view)
    if why is None:
        return None
    name = measure.name or measure.id
    ask = _who_to_ask(measure) if verdict is Verdict.COORDINATE else ""
    return Reason(
        code,
        verdict,
        f"{measure.kind} {name}: {why}{ask}",
        subject=measure.id,
        distance_m=gap,
        threshold_m=aim.footprint_m,
    )


def _why(
    measure: Measure,
    shape: BaseGeometry,
    side: float | None,
    gap: float,
    footprint: float,
    view: _View,
) -> str | None:
    """Why the measure applies to this check, or None when it does not."""
    firer = view.firer
    kind = measure.kind
    if kind is MeasureKind.BOUNDARY and not isinstance(measure.geometry, LineGeometry):
        # A zone: fires landing wholly inside the firing unit's own zone need no consent.
        if gap > footprint:
            return None
        own_zone = (
            firer is not None
            and shape.contains(firer)
            and shape.contains(view.point)
            and shape.boundary.distance(view.point) > footprint
        )
        return None if own_zone else f"footprint ({footprint:.0f} m) reaches the zone"
    if gap <= footprint:
        return f"footprint ({footprint:.0f} m) touches it, {gap:.0f} m from the aimpoint"
    if kind is MeasureKind.CHECKFIRE and firer is not None and shape.intersects(firer):
        return "the firing unit stands inside it"
    if kind not in _CROSSING_KINDS:
        return None
    if view.line_of_fire is not None:
        if view.line_of_fire.intersects(shape):
            return "fires from the firing unit's position cross it"
        return None
    if kind is MeasureKind.ACA or side is None:
        return None
    if measure.friendly_side is None:
        return "neither the firing unit's position nor the line's friendly side is known"
    far = side < 0 if measure.friendly_side is Side.LEFT else side > 0
    return "the target lies on the far side from friendly forces" if far else None


def _who_to_ask(measure: Measure) -> str:
    if measure.establishing_hq:
        return f"; coordinate with {measure.establishing_hq}"
    return "; coordinate with its establishing HQ (not recorded)"


def _unit_check_fire_reasons(picture: Picture, request: CheckRequest, aim: _Aim) -> list[Reason]:
    reasons = []
    # A firing unit the registry does not know is as good as none: it could be a typo.
    known = request.firing_unit is not None and picture.unit(request.firing_unit) is not None
    firer = request.firing_unit if known else None
    for measure in picture.unit_check_fires():
        if not measure.counts_during(*aim.window):
            continue
        if firer is None:
            why = "a unit check fire is in force and the firing unit is not known"
        elif firer == measure.unit:
            why = f"check fire on {measure.unit}, the firing unit"
        else:
            continue
        reasons.append(Reason(ReasonCode.CHECK_FIRE, Verdict.HOLD, why, subject=measure.id))
    return reasons


# --- lookalikes ----------------------------------------------------------------------------


def _lookalike_reasons(picture: Picture, request: CheckRequest, aim: _Aim) -> list[Reason]:
    target_type = (request.target_type or "").strip()
    family = picture.tables.equipment_family(target_type) if target_type else None
    subject: str | None = None
    distance: float | None = None
    if not target_type:
        why = "no target type stated: a vehicle's look never proves whose it is"
    elif family is None:
        why = f"target type {target_type!r} is not in the equipment registry"
    else:
        nearest = picture.nearest_fielding(family, aim.lat, aim.lon)
        nations = sorted(
            picture.friendly_nations().intersection(
                n.upper() for e in picture.tables.family_members(family) for n in e.fielded_by
            )
        )
        if nearest is not None:
            subject, distance = nearest
            unit = picture.unit(subject)
            where = f"{distance / 1000:.1f} km away" if distance is not None else "position unknown"
            name = unit.callsign if unit is not None else subject
            why = f"family {family} is fielded by friendly {name} ({where})"
        elif nations:
            why = f"family {family} is fielded by friendly nations: {', '.join(nations)}"
        else:
            return []
    confirmed = bool(set(request.pid) & PID_BEYOND_APPEARANCE) and bool(
        (request.pid_detail or "").strip()
    )
    if confirmed:
        return [
            Reason(
                ReasonCode.LOOKALIKE,
                Verdict.NO_KNOWN_CONFLICT,
                f"{why}; identity confirmed by {', '.join(sorted(request.pid))}: "
                f"{(request.pid_detail or '').strip()}",
                subject=subject,
                distance_m=distance,
                note=True,
            )
        ]
    return [
        Reason(
            ReasonCode.LOOKALIKE,
            Verdict.COORDINATE,
            f"{why}; confirm identity by observer, hostile act or SIGINT, not by appearance",
            subject=subject,
            distance_m=distance,
        )
    ]


# --- result --------------------------------------------------------------------------------


def _clearance(
    picture: Picture,
    request: CheckRequest,
    now: datetime,
    check_id: str,
    reasons: list[Reason],
    *,
    mgrs: str,
) -> Clearance:
    ordered = tuple(sorted(reasons, key=Reason.sort_key))
    verdict = Verdict.strictest([r.verdict for r in ordered if not r.note])
    impact = request.time if request.time is not None and request.time.tzinfo else now
    return Clearance(
        id=check_id,
        verdict=verdict,
        reasons=ordered,
        target=Target(lat=request.lat, lon=request.lon, mgrs=mgrs),
        weapon=request.weapon,
        impact_time=impact,
        evaluated_at=now,
        valid_until=now + VALID_FOR,
        picture_version=picture.version,
        request=request,
    )

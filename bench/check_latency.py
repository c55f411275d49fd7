"""Check latency: how long one `evaluate` takes on a large picture, and how much the index saves.

Run:  .venv/bin/python bench/check_latency.py [--tracks 100000 --measures 10000 --checks 10000]
      .venv/bin/python bench/check_latency.py --quick      (a smoke test of a few seconds)

Prints one JSON line on stdout (progress goes to stderr). Exit 1 if the indexed and the naive
paths disagree on any verdict or reason code, 2 on bad arguments.

The picture (shipped tables, fixed `now`, seeded, so every run builds the same picture):

- Area: a 200 x 200 km square centred on 51.5 N, 35.5 E (Kursk region). Its corners are the
  geodesic destinations 100·√2 km from the centre at azimuths 45/135/225/315°; points are drawn
  uniformly in the square of the centre's azimuthal-equidistant plane (x, y in ±100 km) and mapped
  back with `Geod.fwd` (azimuth atan2(x, y), distance hypot(x, y)), which puts exactly those
  corners at the square's corners.
- Tracks: one registered Unit per uid (mobility = the report's), one own authenticated report each
  (source cot-tls), ce_m uniform 5-50 m.
  Affiliation: friend 78 %, assumed-friend 4 %, neutral 6 %, unknown 5 %, pending 1 %,
  suspect 2 %, hostile 4 %.
  Mobility: dismounted 50 %, wheeled 20 %, tracked 12 %, static 8 %, towed 5 %, air 3 %,
  unknown 2 %.
  Age at `now` (per the unit's mobility class): fresh 95 % (0 to min(30 s, stale_after)),
  stale 4 % (stale_after to lost_after), lost 1 % (lost_after to 2·lost_after, i.e. recently
  lost; a wheeled track 10 min old already has a 17 km radius); --stale and --lost change the
  shares (--stale 0.12 --lost 0.03 is a stress picture in which every check holds). The report
  arrives 0.5 s after it was observed, so stale and lost positions are first indexed narrow and
  are promoted to the wider levels by the first checks (the warm-up).
  Equipment (unless --no-unit-equipment): tracked units field t-72b3 / bmp-2 / 2s1 / 2s19 /
  tor-m2, wheeled units btr-82a / btr-80 / bm-21, towed units d-30; friend and assumed-friend
  units are nation UKR, so the lookalike rule finds friendly units fielding most target types.
- Measures: NFA circles 34 %, NSL circles 25 %, CHECKFIRE circles 1 % (radius 100-2000 m);
  polygons (5-10 corners, 0.5-2.5 km from their centre, so 1-5 km across): RFA 12 %, ACA 8 %,
  NFA 8 %, RTL 2 %; lines (3-8 vertices, 5-30 km long): RFL 1.5 %, BOUNDARY 1.5 % (300 of
  10,000; friendly side left or right, 5 % unstated); permissive: FFA 3 %, KILLBOX 2 % polygons,
  FSCL 1 %, CFL 1 % lines. Windows: open 70 %, bounded and in force 15 %, in force until a
  future time 5 %, starting hours later 4 %, expired 5 %, cancelled 1 %.
- Checks: aimpoints uniform in the square; weapon uniform over the weapon table (or --weapon);
  target type uniform over the equipment ids; tle 5-50 m; grid cell of a 10- or 8-digit MGRS
  reference; half of them name a firing unit (a friendly unit within half the weapon's range of
  the aimpoint), the rest none. `now` is fixed and the impact time is `now`.

Timing: each `evaluate` call is timed with perf_counter_ns after --warmup untimed checks (other
aimpoints from the same distribution) have built the frames, shape caches and index promotions.

The naive reference (the same engine with every spatial prefilter replaced by a full scan):
`FullScanPicture` overrides `positions_near` to return every indexed position of the picture (so
`_track_reasons` computes a vectorised `pyproj.Geod.inv` over all tracks and every radius), and
`measures_near` to return every measure whose geometry the check then tests exactly. One scope
rule is copied rather than scanned: RFL, BOUNDARY and ACA, which count when fires cross them or
land beyond them, are weighed by the engine only when their bounding box meets the box of
weapon range + footprint around the aimpoint (it applies the far-side rule to whatever the index
hands it), so the reference keeps those measures by the same box test, done by a linear scan of
all boxes. It is built from the same units, reports and measures as the indexed picture, and the
verdict and reasons (code, verdict, subject, note) of every naive check must equal the indexed
ones. The speed-ups divide the full scan's figures by the indexed path's on the same checks.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from pyproj import Geod

from holdfire.adapters.tables import load_tables
from holdfire.domain.checks import CheckRequest, Clearance
from holdfire.domain.identity import Affiliation
from holdfire.domain.measures import (
    CircleGeometry,
    Geometry,
    LineGeometry,
    Measure,
    MeasureKind,
    MeasureStatus,
    PolygonGeometry,
    Side,
)
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility, Tables
from holdfire.domain.tracks import error_m
from holdfire.domain.units import Unit
from holdfire.engine.clearance import evaluate
from holdfire.engine.picture import Picture
from holdfire.engine.spatial import Candidates, IndexedPosition, degree_box
from holdfire.geo import distances_m, frame_for

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")

GEOD = Geod(ellps="WGS84")
CENTRE = (51.5, 35.5)  # lat, lon
HALF_SIDE_M = 100_000.0
NOW = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)

AFFILIATIONS: dict[Affiliation, float] = {
    Affiliation.FRIEND: 0.78,
    Affiliation.ASSUMED_FRIEND: 0.04,
    Affiliation.NEUTRAL: 0.06,
    Affiliation.UNKNOWN: 0.05,
    Affiliation.PENDING: 0.01,
    Affiliation.SUSPECT: 0.02,
    Affiliation.HOSTILE: 0.04,
}
MOBILITIES: dict[Mobility, float] = {
    Mobility.DISMOUNTED: 0.50,
    Mobility.WHEELED: 0.20,
    Mobility.TRACKED: 0.12,
    Mobility.STATIC: 0.08,
    Mobility.TOWED: 0.05,
    Mobility.AIR: 0.03,
    Mobility.UNKNOWN: 0.02,
}
EQUIPMENT_BY_MOBILITY: dict[Mobility, tuple[str, ...]] = {
    Mobility.TRACKED: ("t-72b3", "bmp-2", "2s1", "2s19", "tor-m2"),
    Mobility.WHEELED: ("btr-82a", "btr-80", "bm-21"),
    Mobility.TOWED: ("d-30",),
}
MEASURE_KINDS: dict[tuple[MeasureKind, str], float] = {
    (MeasureKind.NFA, "circle"): 0.34,
    (MeasureKind.NSL, "circle"): 0.25,
    (MeasureKind.CHECKFIRE, "circle"): 0.01,
    (MeasureKind.RFA, "polygon"): 0.12,
    (MeasureKind.ACA, "polygon"): 0.08,
    (MeasureKind.NFA, "polygon"): 0.08,
    (MeasureKind.RTL, "polygon"): 0.02,
    (MeasureKind.RFL, "line"): 0.015,
    (MeasureKind.BOUNDARY, "line"): 0.015,
    (MeasureKind.FFA, "polygon"): 0.03,
    (MeasureKind.KILLBOX, "polygon"): 0.02,
    (MeasureKind.FSCL, "line"): 0.01,
    (MeasureKind.CFL, "line"): 0.01,
}
WINDOWS: dict[str, float] = {
    "open": 0.70,
    "bounded": 0.15,
    "until": 0.05,
    "later": 0.04,
    "expired": 0.05,
    "cancelled": 0.01,
}
NSL_CATEGORIES = ("hospital", "school", "church", "water plant", "convoy", "cultural site")
CROSSING_KINDS = frozenset({MeasureKind.RFL, MeasureKind.BOUNDARY, MeasureKind.ACA})


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pick(rng: np.random.Generator, weights: dict[T, float], n: int) -> list[T]:
    """n draws from a {value: weight} mix."""
    values = list(weights)
    p = np.array([weights[v] for v in values], dtype=np.float64)
    return [values[i] for i in rng.choice(len(values), size=n, p=p / p.sum())]


# --- the area --------------------------------------------------------------------------------


def plane_to_latlon(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Points of the centre's azimuthal-equidistant plane (metres) to lat/lon, geodesically."""
    n = len(x)
    azimuth = np.degrees(np.arctan2(x, y))
    distance = np.hypot(x, y)
    lon, lat, _ = GEOD.fwd(
        np.full(n, CENTRE[1]), np.full(n, CENTRE[0]), azimuth, distance, radians=False
    )
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def corners() -> list[tuple[float, float]]:
    """The square's corners (lat, lon): NW, NE, SE, SW."""
    lat, lon = plane_to_latlon(
        np.array([-HALF_SIDE_M, HALF_SIDE_M, HALF_SIDE_M, -HALF_SIDE_M]),
        np.array([HALF_SIDE_M, HALF_SIDE_M, -HALF_SIDE_M, -HALF_SIDE_M]),
    )
    return [(round(float(a), 5), round(float(b), 5)) for a, b in zip(lat, lon, strict=True)]


def uniform_xy(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray]:
    return (
        rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, n),
        rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, n),
    )


# --- the picture's inputs --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    units: list[Unit]
    reports: list[PositionReport]
    measures: list[Measure]
    states: Counter[str]
    friend_uids: list[str]
    friend_x: FloatArray  # plane coordinates of the friendly units, sorted by x
    friend_y: FloatArray


def make_tracks(
    rng: np.random.Generator,
    tables: Tables,
    n: int,
    equipment: bool,
    states_share: dict[str, float],
) -> tuple[list[Unit], list[PositionReport], Counter[str], list[str], FloatArray, FloatArray]:
    x, y = uniform_xy(rng, n)
    lats, lons = plane_to_latlon(x, y)
    affiliations = pick(rng, AFFILIATIONS, n)
    mobilities = pick(rng, MOBILITIES, n)
    states = pick(rng, states_share, n)
    ces = rng.uniform(5.0, 50.0, n)
    fractions = rng.uniform(0.0, 1.0, n)
    gear = rng.integers(0, 1 << 30, n)
    units: list[Unit] = []
    reports: list[PositionReport] = []
    friends: list[int] = []
    for i in range(n):
        uid = f"u{i:06d}"
        affiliation, mobility, state = affiliations[i], mobilities[i], states[i]
        row = tables.mobility_class(mobility)
        if state == "fresh":
            age = fractions[i] * min(30.0, row.stale_after_s)
        elif state == "stale":
            span = row.lost_after_s - row.stale_after_s
            age = row.stale_after_s + (1.0 - fractions[i]) * span  # strictly past stale_after
        else:
            age = row.lost_after_s * (2.0 - fractions[i])
        kit = EQUIPMENT_BY_MOBILITY.get(mobility, ()) if equipment else ()
        units.append(
            Unit(
                uid=uid,
                callsign=f"{affiliation.value[:1].upper()}-{i:06d}",
                affiliation=affiliation,
                nation="UKR" if affiliation.friendly else None,
                mobility=mobility,
                equipment=(kit[int(gear[i]) % len(kit)],) if kit else (),
            )
        )
        observed = NOW - timedelta(seconds=float(age))
        reports.append(
            PositionReport(
                uid=uid,
                lat=float(lats[i]),
                lon=float(lons[i]),
                observed_at=observed,
                received_at=min(NOW, observed + timedelta(seconds=0.5)),
                source="cot-tls",
                reporter=uid,
                authenticated=True,
                ce_m=float(ces[i]),
                affiliation=affiliation,
                mobility=mobility,
                callsign=units[-1].callsign,
            )
        )
        if affiliation.friendly:
            friends.append(i)
    order = sorted(friends, key=lambda i: float(x[i]))
    return (
        units,
        reports,
        Counter(states),
        [units[i].uid for i in order],
        x[order],
        y[order],
    )


def polygon_rings(rng: np.random.Generator, cx: float, cy: float) -> tuple[FloatArray, FloatArray]:
    corners_n = int(rng.integers(5, 11))
    azimuths = np.sort(rng.uniform(0.0, 2.0 * math.pi, corners_n))
    radii = rng.uniform(500.0, 2_500.0, corners_n)
    px = cx + radii * np.sin(azimuths)
    py = cy + radii * np.cos(azimuths)
    return np.append(px, px[0]), np.append(py, py[0])  # closed


def line_xy(rng: np.random.Generator, cx: float, cy: float) -> tuple[FloatArray, FloatArray]:
    vertices = int(rng.integers(3, 9))
    length = rng.uniform(5_000.0, 30_000.0)
    step = length / (vertices - 1)
    heading = rng.uniform(0.0, 2.0 * math.pi)
    xs, ys = [cx], [cy]
    for _ in range(vertices - 1):
        heading += rng.uniform(-0.35, 0.35)
        xs.append(xs[-1] + step * math.sin(heading))
        ys.append(ys[-1] + step * math.cos(heading))
    return np.array(xs), np.array(ys)


def window(rng: np.random.Generator, kind: str) -> dict[str, Any]:
    hours = float(rng.uniform(1.0, 6.0))
    if kind == "bounded":
        return {
            "effective_from": NOW - timedelta(hours=hours),
            "effective_to": NOW + timedelta(hours=float(rng.uniform(1.0, 12.0))),
        }
    if kind == "until":
        return {"effective_to": NOW + timedelta(hours=hours)}
    if kind == "later":
        return {"effective_from": NOW + timedelta(hours=hours)}
    if kind == "expired":
        return {
            "effective_from": NOW - timedelta(hours=hours + 6.0),
            "effective_to": NOW - timedelta(hours=hours),
        }
    if kind == "cancelled":
        return {"status": MeasureStatus.CANCELLED}
    return {}


def make_measures(rng: np.random.Generator, n: int) -> list[Measure]:
    kinds = pick(rng, MEASURE_KINDS, n)
    windows = pick(rng, WINDOWS, n)
    cx, cy = uniform_xy(rng, n)
    measures: list[Measure] = []
    for i, ((kind, shape), window_kind) in enumerate(zip(kinds, windows, strict=True)):
        geometry: Geometry
        extra: dict[str, Any] = {}
        if shape == "circle":
            lat, lon = plane_to_latlon(cx[i : i + 1], cy[i : i + 1])
            geometry = CircleGeometry(float(lat[0]), float(lon[0]), float(rng.uniform(100, 2000)))
        elif shape == "polygon":
            lat, lon = plane_to_latlon(*polygon_rings(rng, float(cx[i]), float(cy[i])))
            ring = tuple((float(a), float(b)) for a, b in zip(lon, lat, strict=True))
            geometry = PolygonGeometry((ring,))
        else:
            lat, lon = plane_to_latlon(*line_xy(rng, float(cx[i]), float(cy[i])))
            line = tuple((float(a), float(b)) for a, b in zip(lon, lat, strict=True))
            geometry = LineGeometry(line)
            if rng.uniform() >= 0.05:
                extra["friendly_side"] = Side.LEFT if rng.uniform() < 0.5 else Side.RIGHT
        if kind is MeasureKind.NSL:
            extra["category"] = NSL_CATEGORIES[int(rng.integers(len(NSL_CATEGORIES)))]
        measures.append(
            Measure(
                id=f"m{i:06d}",
                kind=kind,
                geometry=geometry,
                name=f"{kind.value} {i}",
                establishing_hq=f"HQ-{int(rng.integers(1, 40))}" if rng.uniform() < 0.8 else None,
                **extra,
                **window(rng, window_kind),
            )
        )
    return measures


def make_scenario(
    rng: np.random.Generator,
    tables: Tables,
    tracks: int,
    measures: int,
    equipment: bool,
    states_share: dict[str, float],
) -> Scenario:
    units, reports, states, friend_uids, fx, fy = make_tracks(
        rng, tables, tracks, equipment, states_share
    )
    return Scenario(units, reports, make_measures(rng, measures), states, friend_uids, fx, fy)


def make_checks(
    rng: np.random.Generator, tables: Tables, scenario: Scenario, n: int, weapon: str | None
) -> list[CheckRequest]:
    x, y = uniform_xy(rng, n)
    lats, lons = plane_to_latlon(x, y)
    weapon_ids = sorted(tables.weapons)
    equipment_ids = sorted(tables.equipment)
    checks: list[CheckRequest] = []
    for i in range(n):
        weapon_id = weapon or weapon_ids[int(rng.integers(len(weapon_ids)))]
        firer: str | None = None
        if rng.uniform() < 0.5 and len(scenario.friend_uids):
            firer = nearby_friend(rng, scenario, float(x[i]), float(y[i]), weapon_id, tables)
        checks.append(
            CheckRequest(
                lat=float(lats[i]),
                lon=float(lons[i]),
                weapon=weapon_id,
                tle_m=float(rng.uniform(5.0, 50.0)),
                cell_m=0.71 if rng.uniform() < 0.7 else 7.07,
                target_type=equipment_ids[int(rng.integers(len(equipment_ids)))],
                firing_unit=firer,
                requester="bench",
            )
        )
    return checks


def nearby_friend(
    rng: np.random.Generator, scenario: Scenario, x: float, y: float, weapon_id: str, t: Tables
) -> str | None:
    """A friendly unit within half the weapon's range of (x, y), if there is one."""
    weapon = t.weapons.get(weapon_id)
    reach = 0.5 * (weapon.max_range_m if weapon is not None else 10_000.0)
    lo, hi = np.searchsorted(scenario.friend_x, [x - reach, x + reach])
    dx = scenario.friend_x[lo:hi] - x
    dy = scenario.friend_y[lo:hi] - y
    inside = np.flatnonzero(dx * dx + dy * dy <= reach * reach)
    if not len(inside):
        return None
    return scenario.friend_uids[int(lo + inside[int(rng.integers(len(inside)))])]


def one_per_tile(template: CheckRequest) -> list[CheckRequest]:
    """The template check moved to one point of every local-frame tile the square touches."""
    seen: set[tuple[float, float]] = set()
    checks: list[CheckRequest] = []
    corner_lats, corner_lons = zip(*corners(), strict=True)
    for lat in np.arange(min(corner_lats), max(corner_lats), 0.1):
        for lon in np.arange(min(corner_lons), max(corner_lons), 0.1):
            frame = frame_for(float(lat), float(lon))
            if (frame.lat0, frame.lon0) not in seen:
                seen.add((frame.lat0, frame.lon0))
                checks.append(replace(template, lat=float(lat), lon=float(lon)))
    return checks


# --- the pictures ----------------------------------------------------------------------------


class FullScanPicture(Picture):
    """The same picture, with every spatial prefilter replaced by a scan of everything."""

    def __init__(self, tables: Tables) -> None:
        super().__init__(tables)
        self._scan_version = -1
        self._all_positions: list[IndexedPosition] = []
        self._all_columns: FloatArray = np.empty((0, 5))
        self._always: list[Measure] = []  # every measure but the crossing kinds
        self._crossing: list[Measure] = []
        self._crossing_boxes: FloatArray = np.empty((0, 4))

    def positions_near(self, lat: float, lon: float, reach_m: float, at: datetime) -> Candidates:
        self._refresh()
        positions = self._all_positions
        return Candidates(self._all_columns, np.arange(len(positions)), positions.__getitem__)

    def measures_near(self, lat: float, lon: float, reach_m: float) -> list[Measure]:
        self._refresh()
        west, south, east, north = degree_box(lat, lon, reach_m)
        b = self._crossing_boxes
        meets = (b[:, 0] <= east) & (b[:, 2] >= west) & (b[:, 1] <= north) & (b[:, 3] >= south)
        return self._always + [self._crossing[int(i)] for i in np.flatnonzero(meets)]

    # Full-scan versions of the crossing-measure queries: linear scans of every box.

    def crossing_measures_near(self, lat: float, lon: float, reach_m: float) -> list[Measure]:
        self._refresh()
        west, south, east, north = degree_box(lat, lon, reach_m)
        b = self._crossing_boxes
        meets = (b[:, 0] <= east) & (b[:, 2] >= west) & (b[:, 1] <= north) & (b[:, 3] >= south)
        return [self._crossing[int(i)] for i in np.flatnonzero(meets)]

    def crossing_lines_near(self, lat: float, lon: float, reach_m: float) -> list[Measure]:
        lines = self.crossing_measures_near(lat, lon, reach_m)
        return [m for m in lines if isinstance(m.geometry, LineGeometry)]

    def crossing_measures_between(
        self, a: tuple[float, float], b: tuple[float, float], margin_m: float
    ) -> list[Measure]:
        self._refresh()
        return list(self._crossing)  # the line of fire is tested against every one exactly

    def nearest_fielding(
        self, family: str, lat: float, lon: float
    ) -> tuple[str, float | None] | None:
        friends = [u.uid for u in self.fielding(family) if self.affiliation_of(u.uid).friendly]
        located = [(uid, t.latest) for uid in friends if (t := self.track(uid)) is not None]
        if not located:
            return (friends[0], None) if friends else None
        d = distances_m(lat, lon, [r.lat for _, r in located], [r.lon for _, r in located])
        distance, uid = min((float(x), uid) for x, (uid, _) in zip(d, located, strict=True))
        return uid, distance

    def _refresh(self) -> None:
        """Lists of everything, rebuilt only when the picture has changed."""
        if self._scan_version == self.version:
            return
        positions: list[IndexedPosition] = []
        for track in self.tracks():
            mobility = self.mobility_of(track.uid)
            positions.extend(
                IndexedPosition(
                    uid=track.uid,
                    key=r.reporter_key,
                    lat=r.lat,
                    lon=r.lon,
                    base_m=error_m(r, mobility),
                    v_mps=mobility.v_max_mps,
                    observed_ts=r.observed_at.timestamp(),
                )
                for r in track.positions
            )
        self._all_positions = positions
        self._all_columns = np.array(
            [(e.lat, e.lon, e.base_m, e.v_mps, e.observed_ts) for e in positions],
            dtype=np.float64,
        ).reshape(-1, 5)
        measures = [m for m in self.measures() if m.geometry is not None]
        self._always = [m for m in measures if m.kind not in CROSSING_KINDS]
        self._crossing = [m for m in measures if m.kind in CROSSING_KINDS]
        self._crossing_boxes = np.array(
            [bounds(m.geometry) for m in self._crossing if m.geometry is not None],
            dtype=np.float64,
        ).reshape(-1, 4)
        self._scan_version = self.version


def unscanned_queries() -> list[str]:
    """Public Picture queries that look like index lookups but FullScanPicture leaves as is."""
    return sorted(
        name
        for name in dir(Picture)
        if not name.startswith("_")
        and any(word in name for word in ("near", "between", "within"))
        and getattr(FullScanPicture, name) is getattr(Picture, name)
    )


def bounds(geometry: Geometry) -> tuple[float, float, float, float]:
    """A line's or polygon's lon/lat box, as the picture computes it for its index."""
    if isinstance(geometry, CircleGeometry):
        return degree_box(geometry.lat, geometry.lon, geometry.radius_m)
    coords = (
        geometry.coords
        if isinstance(geometry, LineGeometry)
        else tuple(p for ring in geometry.rings for p in ring)
    )
    lons = [c[0] for c in coords]
    lats = [c[1] for c in coords]
    return (min(lons), min(lats), max(lons), max(lats))


def build(picture: Picture, scenario: Scenario) -> float:
    """Fill the picture; returns the seconds it took."""
    start = time.perf_counter()
    for unit in scenario.units:
        picture.register_unit(unit)
    for report in scenario.reports:
        outcome = picture.apply_report(report)
        if not outcome.applied:
            raise RuntimeError(f"report of {report.uid} not applied: {outcome.detail}")
    for measure in scenario.measures:
        picture.define_measure(measure)
    return time.perf_counter() - start


# --- timing ----------------------------------------------------------------------------------


Signature = tuple[str, tuple[tuple[str, str, str, bool], ...]]


@dataclass
class Run:
    """What one pass over the checks leaves: timings, tallies and the first signatures."""

    elapsed_ns: list[int]
    signatures: list[Signature]  # of the first `keep` checks, for the comparison
    verdicts: Counter[str]
    codes: Counter[str]


def run(picture: Picture, checks: Sequence[CheckRequest], label: str, keep: int = 0) -> Run:
    """Evaluate and time every check. Clearances are tallied, not kept: a heap of them would
    make the garbage collector's full passes, which land inside timed calls, longer."""
    result = Run([], [], Counter(), Counter())
    step = max(1, len(checks) // 10)
    clock = time.perf_counter_ns
    for i, request in enumerate(checks):
        start = clock()
        clearance = evaluate(picture, request, now=NOW, check_id=f"{label}-{i}")
        result.elapsed_ns.append(clock() - start)
        result.verdicts[clearance.verdict.value] += 1
        result.codes.update(r.code.value for r in clearance.reasons)
        if i < keep:
            result.signatures.append(signature(clearance))
        if (i + 1) % step == 0:
            log(f"  {label}: {i + 1}/{len(checks)} checks")
    return result


def stats(elapsed_ns: Sequence[int]) -> dict[str, float]:
    us = np.asarray(elapsed_ns, dtype=np.float64) / 1_000.0
    if not len(us):
        return {}
    mean = float(us.mean())
    return {
        "p50_us": round(float(np.percentile(us, 50)), 1),
        "p90_us": round(float(np.percentile(us, 90)), 1),
        "p99_us": round(float(np.percentile(us, 99)), 1),
        "max_us": round(float(us.max()), 1),
        "mean_us": round(mean, 1),
        "checks_per_s": round(1e6 / mean, 1),
    }


def signature(clearance: Clearance) -> Signature:
    """What both paths must agree on: the verdict and every reason's code and subject."""
    return (
        clearance.verdict.value,
        tuple((r.code.value, r.verdict.value, r.subject or "", r.note) for r in clearance.reasons),
    )


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time holdfire's check on a large picture against a naive full scan.",
    )
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--measures", type=int, default=10_000)
    parser.add_argument("--checks", type=int, default=10_000, help="timed indexed checks")
    parser.add_argument("--naive-checks", type=int, default=200, help="of those, run naively")
    parser.add_argument("--warmup", type=int, default=500, help="untimed checks first")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--stale", type=float, default=0.04, help="share of stale tracks (default 0.04)"
    )
    parser.add_argument(
        "--lost", type=float, default=0.01, help="share of lost tracks (default 0.01)"
    )
    parser.add_argument("--weapon", help="one weapon id for every check (default: drawn)")
    parser.add_argument(
        "--no-unit-equipment",
        action="store_true",
        help="register units without equipment (isolates the lookalike rule's cost)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10,000 tracks, 1,000 measures, 1,000 checks, 50 naive, 100 warm-up",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.tracks, args.measures, args.checks = 10_000, 1_000, 1_000
        args.naive_checks, args.warmup = 50, 100
    for name in ("tracks", "measures", "checks", "naive_checks", "warmup"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0")
    if min(args.stale, args.lost) < 0.0 or args.stale + args.lost > 1.0:
        parser.error("--stale and --lost must be shares >= 0 that add up to at most 1")
    args.naive_checks = min(args.naive_checks, args.checks)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    unscanned = unscanned_queries()
    if unscanned:
        log(f"FullScanPicture must replace these Picture queries too: {', '.join(unscanned)}")
        return 2
    tables = load_tables()
    if args.weapon is not None and args.weapon not in tables.weapons:
        log(f"unknown weapon {args.weapon!r}; the table has: {', '.join(sorted(tables.weapons))}")
        return 2
    rng = np.random.default_rng(args.seed)

    log(f"generating {args.tracks} tracks, {args.measures} measures, {args.checks} checks")
    shares = {"fresh": 1.0 - args.stale - args.lost, "stale": args.stale, "lost": args.lost}
    scenario = make_scenario(
        rng, tables, args.tracks, args.measures, not args.no_unit_equipment, shares
    )
    warmup = make_checks(rng, tables, scenario, args.warmup, args.weapon)
    checks = make_checks(rng, tables, scenario, args.checks, args.weapon)

    log("building the indexed picture")
    picture = Picture(tables)
    build_s = build(picture, scenario)
    log(f"  built in {build_s:.1f} s")
    gc.collect()
    log(f"warming up with {len(warmup)} checks")
    run(picture, warmup, "warm-up")
    gc.collect()
    gc.freeze()  # as the service does once the picture is loaded
    log(f"timing {len(checks)} indexed checks")
    indexed = run(picture, checks, "indexed", keep=args.naive_checks)

    naive_checks = checks[: args.naive_checks]
    naive_stats: dict[str, float] = {}
    naive_keys = ("p50_us", "p99_us", "mean_us", "checks_per_s")
    mismatches = 0
    if naive_checks:
        log("building the full-scan picture")
        naive_picture = FullScanPicture(tables)
        build(naive_picture, scenario)
        # The full scan projects every line and polygon into each frame tile it meets: one
        # untimed check per tile caches them all, so the timed checks see warm caches.
        sweep = one_per_tile(naive_checks[0])
        log(f"warming up the full scan ({len(sweep)} frame tiles)")
        run(naive_picture, sweep, "naive warm-up")
        gc.collect()
        log(f"timing {len(naive_checks)} full-scan checks")
        naive = run(naive_picture, naive_checks, "naive", keep=len(naive_checks))
        naive_stats = stats(naive.elapsed_ns)
        pairs = zip(indexed.signatures, naive.signatures, strict=True)
        for i, (a, b) in enumerate(pairs):
            if a != b:
                mismatches += 1
                if mismatches <= 5:
                    log(f"MISMATCH check {i}: indexed {a} naive {b}")

    indexed_stats = stats(indexed.elapsed_ns)
    same = indexed.elapsed_ns[: len(naive_checks)]  # the speed-ups compare the same checks
    mean_same = float(np.mean(same)) / 1_000 if same else 0.0
    p50_same = float(np.median(same)) / 1_000 if same else 0.0
    n = max(1, len(checks))
    result: dict[str, Any] = {
        "bench": "check_latency",
        "tracks": args.tracks,
        "measures": args.measures,
        "checks": len(checks),
        **indexed_stats,
        "naive": {
            "checks": len(naive_checks),
            **{k: naive_stats[k] for k in naive_keys if k in naive_stats},
        },
        "speedup_mean": round(naive_stats["mean_us"] / mean_same, 1) if naive_stats else None,
        "speedup_p50": round(naive_stats["p50_us"] / p50_same, 1) if naive_stats else None,
        "verdict_mismatches": mismatches,
        "verdicts": dict(sorted(indexed.verdicts.items())),
        "reasons_per_check": round(sum(indexed.codes.values()) / n, 2),
        "reason_codes_per_check": {
            code: round(count / n, 2) for code, count in sorted(indexed.codes.items())
        },
        "track_states": dict(sorted(scenario.states.items())),
        "weapon": args.weapon or "drawn",
        "unit_equipment": not args.no_unit_equipment,
        "stale_share": args.stale,
        "lost_share": args.lost,
        "seed": args.seed,
        "square_corners_nw_ne_se_sw": corners(),
        "build_s": round(build_s, 2),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result), flush=True)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())

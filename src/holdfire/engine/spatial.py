"""Spatial indexes, so that a check touches only the tracks and measures that can matter.

Tracks: a track's radius grows with age, so positions are kept in levels by how wide they may
be. Level k holds positions whose radius stays within R_k until an expiry time; a query at time
t first promotes positions whose expiry has passed, then scans, per level, the grid cells within
`reach + R_k` of the aimpoint. The last level has no bound and is always scanned whole, so a
position that has grown very wide is seen by every check. The index only prefilters: the exact
geodesic test is the caller's.

Measures: an STRtree over bounding boxes in degrees, rebuilt lazily after a change.
"""

import heapq
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from holdfire.geo import distances_m

_M_PER_DEG_LAT = 110_574.0  # the shortest degree of latitude (at the equator)
_M_PER_DEG_LON_EQ = 111_320.0
# Level bounds in metres: 1 km, 4 km, 16 km, 64 km, 256 km, then unbounded.
_LEVEL_RADII_M = (1_000.0, 4_000.0, 16_000.0, 64_000.0, 256_000.0)
_EARTH_M = 6_371_008.8  # mean radius: only bounds and ranks candidates, the geodesic decides
_SPHERE_SLACK = 1.01  # sphere vs ellipsoid distances differ by under 0.7 %


@dataclass(frozen=True, slots=True)
class IndexedPosition:
    """One position of one track, with what is needed to bound its radius at any time."""

    uid: str
    key: str  # reporter key; a track has one entry per reporter
    lat: float
    lon: float
    base_m: float  # radius at the time of the fix
    v_mps: float  # growth of the radius per second of age
    observed_ts: float  # POSIX seconds

    def radius_at(self, ts: float) -> float:
        return self.base_m + self.v_mps * max(0.0, ts - self.observed_ts)

    def expiry(self, bound_m: float) -> float:
        """Last instant at which the radius is still within `bound_m`."""
        if self.base_m > bound_m:
            return -math.inf
        if self.v_mps <= 0.0:
            return math.inf
        return self.observed_ts + (bound_m - self.base_m) / self.v_mps


def degree_box(lat: float, lon: float, reach_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box that surely contains every point within `reach_m` of (lat, lon)."""
    reach = reach_m * 1.01 + 1.0  # margin for the ellipsoid's shape
    dlat = reach / _M_PER_DEG_LAT
    south, north = lat - dlat, lat + dlat
    widest = max(abs(south), abs(north))
    if north >= 90.0 or south <= -90.0 or widest >= 89.0:
        return (-180.0, max(south, -90.0), 180.0, min(north, 90.0))
    dlon = reach / (_M_PER_DEG_LON_EQ * math.cos(math.radians(widest)))
    if dlon >= 180.0:
        return (-180.0, south, 180.0, north)
    return (lon - dlon, south, lon + dlon, north)


def _lon_ranges(west: float, east: float) -> list[tuple[float, float]]:
    """Split a longitude range that crosses the antimeridian into ranges inside [-180, 180]."""
    if west < -180.0:
        return [(west + 360.0, 180.0), (-180.0, east)]
    if east > 180.0:
        return [(west, 180.0), (-180.0, east - 360.0)]
    return [(west, east)]


@dataclass(frozen=True, slots=True)
class Candidates:
    """Positions a query found: their numbers as columns, for vectorised tests.

    `columns` rows are (lat, lon, base_m, v_mps, observed_ts); `entry(i)` is row i's position.
    """

    columns: npt.NDArray[np.float64]
    slots: npt.NDArray[np.intp]
    lookup: Callable[[int], IndexedPosition]

    def __len__(self) -> int:
        return len(self.slots)

    def entry(self, i: int) -> IndexedPosition:
        return self.lookup(int(self.slots[i]))


class _Level:
    def __init__(self, bound_m: float) -> None:
        self.bound_m = bound_m
        # A cell about half the bound wide keeps a query to a few dozen cells.
        self.cell_deg = max(0.01, bound_m / _M_PER_DEG_LAT / 2.0)
        self.cells: dict[tuple[int, int], set[int]] = {}

    def cell_of(self, lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / self.cell_deg), math.floor(lon / self.cell_deg))

    def add(self, slot: int, lat: float, lon: float) -> None:
        self.cells.setdefault(self.cell_of(lat, lon), set()).add(slot)

    def discard(self, slot: int, lat: float, lon: float) -> None:
        cell = self.cell_of(lat, lon)
        bucket = self.cells.get(cell)
        if bucket is not None:
            bucket.discard(slot)
            if not bucket:
                del self.cells[cell]

    def collect(self, lat: float, lon: float, reach_m: float, into: list[int]) -> None:
        west, south, east, north = degree_box(lat, lon, reach_m + self.bound_m)
        i0, i1 = math.floor(south / self.cell_deg), math.floor(north / self.cell_deg)
        cells = self.cells
        for lo, hi in _lon_ranges(west, east):
            j0, j1 = math.floor(lo / self.cell_deg), math.floor(hi / self.cell_deg)
            if (i1 - i0 + 1) * (j1 - j0 + 1) > len(cells):
                # The box spans more cells than exist: walk the cells instead.
                for (i, j), bucket in cells.items():
                    if i0 <= i <= i1 and j0 <= j <= j1:
                        into.extend(bucket)
                continue
            # the cells row by row, looked up in C (product, map, chain) rather than one by one
            keys = itertools.product(range(i0, i1 + 1), range(j0, j1 + 1))
            into.extend(itertools.chain.from_iterable(filter(None, map(cells.get, keys))))


class TrackIndex:
    """Positions by place and by how wide they may have grown.

    Each position has a slot in column arrays (lat, lon, base, growth, time), so a query hands
    back numbers for vectorised tests rather than objects.
    """

    def __init__(self, level_radii_m: Iterable[float] = _LEVEL_RADII_M) -> None:
        self._levels = [_Level(r) for r in sorted(level_radii_m)]
        self._wide: set[int] = set()
        self._columns = np.zeros((1024, 5))
        self._xyz = np.zeros((1024, 3))  # per slot: unit vector of the position, for the bound
        self._entries: list[IndexedPosition | None] = []
        self._level: list[int] = []  # per slot: level, -1 for the wide set
        self._stamp: list[int] = []  # per slot: bumped on every placement
        self._free: list[int] = []
        self._slot: dict[tuple[str, str], int] = {}
        self._by_uid: dict[str, list[int]] = {}
        self._heap: list[tuple[float, int, int]] = []  # (expiry, stamp, slot)
        self._seq = 0

    def __len__(self) -> int:
        return len(self._slot)

    def put(self, uid: str, entries: Iterable[IndexedPosition], now_ts: float) -> None:
        """Replace every position of `uid`."""
        self.remove(uid)
        slots = [self._add(entry, now_ts) for entry in entries]
        if slots:
            self._by_uid[uid] = slots

    def remove(self, uid: str) -> None:
        for slot in self._by_uid.pop(uid, ()):
            entry = self._entries[slot]
            assert entry is not None
            self._unplace(slot, entry)
            del self._slot[(entry.uid, entry.key)]
            self._entries[slot] = None
            self._stamp[slot] += 1  # invalidates its heap entries
            self._free.append(slot)

    def entry(self, slot: int) -> IndexedPosition:
        entry = self._entries[slot]
        assert entry is not None
        return entry

    def near(self, lat: float, lon: float, reach_m: float, at_ts: float) -> Candidates:
        """Every position that may lie within `reach_m` + its radius at `at_ts` of (lat, lon)."""
        self._promote(at_ts)
        found: list[int] = []
        for level in self._levels:
            level.collect(lat, lon, reach_m, found)
        found.extend(self._wide)
        slots = np.fromiter(found, np.intp, len(found))
        columns = self._columns[slots]
        # Most of the cells' positions lie beyond reach: a bound far cheaper than the caller's
        # geodesic drops those. The chord on the mean sphere is shorter than the arc, and the
        # arc less its slack shorter than the geodesic (the ellipsoid's radii of curvature are
        # all at least 0.994 of the sphere's radius).
        offsets = self._xyz[slots] - np.array(_unit_vector(lat, lon))
        chord = np.sqrt(np.einsum("ij,ij->i", offsets, offsets))
        radius = columns[:, 2] + columns[:, 3] * np.maximum(0.0, at_ts - columns[:, 4])
        keep = chord * (_EARTH_M / _SPHERE_SLACK) - 1.0 - radius < reach_m
        return Candidates(columns[keep], slots[keep], self.entry)

    def _add(self, entry: IndexedPosition, now_ts: float) -> int:
        if self._free:
            slot = self._free.pop()
        else:
            slot = len(self._entries)
            self._entries.append(None)
            self._level.append(-1)
            self._stamp.append(0)
            if slot == len(self._columns):
                self._columns = np.concatenate((self._columns, np.zeros_like(self._columns)))
                self._xyz = np.concatenate((self._xyz, np.zeros_like(self._xyz)))
        self._entries[slot] = entry
        self._slot[(entry.uid, entry.key)] = slot
        self._columns[slot] = (entry.lat, entry.lon, entry.base_m, entry.v_mps, entry.observed_ts)
        self._xyz[slot] = _unit_vector(entry.lat, entry.lon)
        self._place(slot, entry, now_ts, start_level=0)
        return slot

    def _place(self, slot: int, entry: IndexedPosition, now_ts: float, start_level: int) -> None:
        self._seq += 1
        self._stamp[slot] = self._seq
        for k in range(start_level, len(self._levels)):
            expiry = entry.expiry(self._levels[k].bound_m)
            if expiry >= now_ts:
                self._levels[k].add(slot, entry.lat, entry.lon)
                self._level[slot] = k
                if expiry != math.inf:
                    heapq.heappush(self._heap, (expiry, self._seq, slot))
                return
        self._wide.add(slot)
        self._level[slot] = -1

    def _unplace(self, slot: int, entry: IndexedPosition) -> None:
        level = self._level[slot]
        if level < 0:
            self._wide.discard(slot)
        else:
            self._levels[level].discard(slot, entry.lat, entry.lon)

    def _promote(self, at_ts: float) -> None:
        heap = self._heap
        while heap and heap[0][0] < at_ts:
            _, stamp, slot = heapq.heappop(heap)
            if self._stamp[slot] != stamp:
                continue  # replaced or removed since
            entry = self.entry(slot)
            level = self._level[slot]
            self._levels[level].discard(slot, entry.lat, entry.lon)
            self._place(slot, entry, at_ts, start_level=level + 1)


class MeasureIndex:
    """Bounding boxes of measure geometries (degrees); exact tests are the caller's."""

    def __init__(self) -> None:
        self._boxes: dict[str, BaseGeometry] = {}
        self._tree: STRtree | None = None
        self._ids: list[str] = []

    def put(self, measure_id: str, bounds: tuple[float, float, float, float]) -> None:
        self._boxes[measure_id] = shapely.box(*bounds)
        self._tree = None

    def remove(self, measure_id: str) -> None:
        if self._boxes.pop(measure_id, None) is not None:
            self._tree = None

    def near(self, lat: float, lon: float, reach_m: float) -> list[str]:
        return self.within(degree_box(lat, lon, reach_m))

    def within(self, bounds: tuple[float, float, float, float]) -> list[str]:
        """Ids whose box meets the lon/lat box (west, south, east, north)."""
        if not self._boxes:
            return []
        if self._tree is None:
            self._ids = sorted(self._boxes)
            self._tree = STRtree([self._boxes[i] for i in self._ids])
        west, south, east, north = bounds
        hits: set[int] = set()
        for lo, hi in _lon_ranges(west, east):
            hits.update(self._tree.query(shapely.box(lo, south, hi, north)).tolist())
        return [self._ids[i] for i in sorted(hits)]


def _unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


class PointSet:
    """One point per key, kept in arrays so the nearest one is found in one vectorised pass."""

    def __init__(self) -> None:
        self._slot: dict[str, int] = {}
        self._keys: list[str] = []
        self._xyz = np.empty((16, 3))
        self._lat = np.empty(16)
        self._lon = np.empty(16)

    def __len__(self) -> int:
        return len(self._keys)

    def put(self, key: str, lat: float, lon: float) -> None:
        slot = self._slot.get(key)
        if slot is None:
            slot = len(self._keys)
            if slot == len(self._lat):
                self._xyz = np.concatenate((self._xyz, np.empty_like(self._xyz)))
                self._lat = np.concatenate((self._lat, np.empty_like(self._lat)))
                self._lon = np.concatenate((self._lon, np.empty_like(self._lon)))
            self._slot[key] = slot
            self._keys.append(key)
        self._xyz[slot] = _unit_vector(lat, lon)
        self._lat[slot], self._lon[slot] = lat, lon

    def remove(self, key: str) -> None:
        slot = self._slot.pop(key, None)
        if slot is None:
            return
        last = len(self._keys) - 1
        if slot != last:
            moved = self._keys[last]
            self._keys[slot] = moved
            self._slot[moved] = slot
            self._xyz[slot] = self._xyz[last]
            self._lat[slot], self._lon[slot] = self._lat[last], self._lon[last]
        self._keys.pop()

    def nearest(self, lat: float, lon: float) -> tuple[str, float] | None:
        """The nearest key and its geodesic distance; ties go to the smallest key."""
        n = len(self._keys)
        if n == 0:
            return None
        # Cosines of the central angles on a sphere: the largest is the nearest on the sphere,
        # and the nearest on the ellipsoid is within the slack of it.
        cosines = self._xyz[:n] @ np.array(_unit_vector(lat, lon))
        angle = math.acos(min(1.0, float(cosines.max())))
        close = np.flatnonzero(cosines >= math.cos(min(math.pi, angle * _SPHERE_SLACK + 1e-6)))
        exact = distances_m(lat, lon, self._lat[close], self._lon[close])
        d, key = min((float(d), self._keys[int(i)]) for d, i in zip(exact, close, strict=True))
        return key, d

"""Scenario files: YAML, checked against the shipped JSON Schema, read into a plan to replay.

A scenario is a start time and an area; units (the unit JSON of `PUT /units/{uid}`) with a
route of timed waypoints, a report interval, an error and optional silences; measures;
timed events (checks, messages, acknowledgements, pairings, check fires, fired notices); and
expectations: each check's verdict and reasons, the alerts and messages that must and must not
appear, by when. `scenario.schema.json` (next to this module) documents every field.

Decisions written down here:

- YAML is read with a safe loader; timestamps stay text (RFC 3339 is parsed by the codec, not
  by YAML) so the schema sees what the author wrote.
- Every error names the file, the line and the field (`file:12: units[3].route[0].pos: ...`):
  the line comes from the YAML node the field was read from, also for errors found after the
  schema (an unknown place, a route out of order, a check named twice).
- Times are offsets from `start`: seconds, or text such as `90s`, `2m30s`, `1h`. YAML 1.1 reads
  `1:30` as 90 (sexagesimal), which therefore also means 90 s.
- Positions are place names, MGRS grids or "lat, lon" text, `[lat, lon]`, or
  `{from, bearing_deg, distance_m}` (geodesic offset). A grid keeps its cell's half-diagonal,
  so a check given a grid weighs the same error as one sent to the API with that grid.
- A route's positions are interpolated along the geodesic between waypoints; before its first
  waypoint the unit is silent, after its last it stays put and keeps reporting until `until`.
  A unit without a route never reports (for an active friend: UNLOCATED_FRIENDLY).
- Catalog parameters given as a place, `[lat, lon]` or an offset become 10 m MGRS grids.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import jsonschema
import yaml

from holdfire.codecs.json import CodecError, parse_time
from holdfire.geo import GeoError, destination, inverse, parse_location, to_mgrs

SCHEMA_FILE = "scenario.schema.json"
DEFAULT_EVERY_S = 10.0
DEFAULT_CE_M = 10.0
TAIL_S = 30.0  # a scenario without a duration runs this long past its last timed item
GRID_DIGITS = 4  # catalog parameters given as positions: 10 m grids

Path_ = tuple[str | int, ...]


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the file, line and field."""


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float
    cell_m: float = 0.0  # half-diagonal of the grid cell it was given as
    grid: str | None = None  # the MGRS text it was given as

    def target(self) -> dict[str, Any]:
        """The `target` of POST /checks: the grid as written, else latitude and longitude."""
        return {"grid": self.grid} if self.grid else {"lat": self.lat, "lon": self.lon}


@dataclass(frozen=True, slots=True)
class UnitPlan:
    uid: str
    unit: dict[str, Any]  # the unit JSON of PUT /units/{uid}
    register: bool = True
    every_s: float = DEFAULT_EVERY_S
    ce_m: float = DEFAULT_CE_M
    delay_s: float = 0.0
    cot_type: str | None = None
    route: tuple[tuple[float, Point], ...] = ()
    until_s: float | None = None
    dropouts: tuple[tuple[float, float], ...] = ()

    def position(self, t: float) -> Point:
        """Where the unit is at offset t (geodesic interpolation between waypoints)."""
        before = self.route[0]
        for after in self.route[1:]:
            if t < after[0]:
                span = after[0] - before[0]
                if span <= 0:
                    return after[1]
                a, b = before[1], after[1]
                distance, azimuth = inverse(a.lat, a.lon, b.lat, b.lon)
                lat, lon = destination(a.lat, a.lon, azimuth, distance * (t - before[0]) / span)
                return Point(lat, lon)
            before = after
        return before[1]

    def report_times(self, end_s: float) -> Iterator[float]:
        """When the unit reports: every `every_s` from its first waypoint, except in silences."""
        if not self.route:
            return
        last = min(end_s, self.until_s if self.until_s is not None else end_s)
        t = self.route[0][0]
        while t <= last + 1e-9:
            if not any(start <= t < stop for start, stop in self.dropouts):
                yield t
            t += self.every_s


@dataclass(frozen=True, slots=True)
class Action:
    """One timed thing done to holdfire. `data` is in the API's JSON shapes (resolved)."""

    at_s: float
    kind: str  # measure, check, message, ack, pairing, check_fire, cancel_check_fire, fired
    data: dict[str, Any]
    where: str  # the field it was read from, for messages


@dataclass(frozen=True, slots=True)
class Expectation:
    kind: str  # check, alert, message
    where: str  # e.g. "expect[2]"
    fields: dict[str, Any]
    by_s: float | None = None
    never: bool = False

    @property
    def label(self) -> str:
        f = self.fields
        if self.kind == "check":
            parts = [f"check {f['check']}"]
            if "verdict" in f:
                parts.append(f"verdict {f['verdict']}")
            for key in ("reasons", "includes", "excludes"):
                if key in f:
                    parts.append(f"{key} {', '.join(f[key]) or '(none)'}")
            return "; ".join(parts)
        head = f"{'no ' if self.never else ''}{self.kind} {f[self.kind]}"
        for key, word in (("subject", "about"), ("recipient", "to"), ("to", "to")):
            if key in f:
                head += f" {word} {f[key]}"
        if "language" in f:
            head += f" in {f['language']}"
        if self.by_s is not None:
            head += f" by {format_offset(self.by_s)}"
        return head


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    description: str
    source: str  # the file it was read from
    start: datetime
    duration_s: float
    center: Point
    units: tuple[UnitPlan, ...]
    actions: tuple[Action, ...]  # sorted by time, file order kept among equal times
    expectations: tuple[Expectation, ...]
    places: dict[str, Point] = field(default_factory=dict)

    def report_count(self) -> int:
        return sum(1 for u in self.units for _ in u.report_times(self.duration_s))


def format_offset(seconds: float) -> str:
    whole = round(seconds)
    return f"+{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


# --- reading ----------------------------------------------------------------------------------


# Far deeper than the format goes; a document nested ~1,000 levels would overflow the stack
# where it is validated and its errors are written.
MAX_DEPTH: Final = 64


class _Loader(yaml.CSafeLoader):
    """Safe YAML (libyaml's parser) that leaves timestamps as the text written."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


@cache
def schema() -> dict[str, Any]:
    text = resources.files("holdfire.sim").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _too_deep(root: yaml.Node | None) -> yaml.Node | None:
    """The first node nested deeper than MAX_DEPTH, if any (walked without recursion)."""
    stack = [(root, 0)] if root is not None else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        if isinstance(node, yaml.SequenceNode):
            stack += [(child, depth + 1) for child in node.value]
        elif isinstance(node, yaml.MappingNode):
            stack += [(part, depth + 1) for pair in node.value for part in pair]
    return None


@cache
def validator() -> jsonschema.Draft202012Validator:
    """The schema's validator, built once (it holds no state between validations)."""
    return jsonschema.Draft202012Validator(schema())


def load_file(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not UTF-8 text") from None
    return load_text(text, str(path))


def load_text(text: str, source: str = "<scenario>") -> Scenario:
    """Parse, validate and resolve a scenario; raises ScenarioError naming line and field."""
    loader = _Loader(text)
    try:
        # Parsed once: the node tree (for line numbers) is also what the data is built from.
        node = loader.get_single_node()
        data: Any = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ScenarioError(f"{source}{line}: not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    deep = _too_deep(node)
    if deep is not None:
        raise ScenarioError(
            f"{source}:{deep.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels"
        )
    reader = _Reader(source, node)
    errors = sorted(validator().iter_errors(data), key=lambda e: (len(e.absolute_path), e.message))
    if errors:
        raise reader.error(*_schema_error(errors[0]))
    return reader.scenario(data)


def _schema_error(error: jsonschema.ValidationError) -> tuple[Path_, str]:
    """Where and what: for a `oneOf`, the branch that got furthest; for a field that is not in
    the format, that field itself."""
    while error.validator == "oneOf" and error.context:
        deepest = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.message)))
        if len(deepest.absolute_path) <= len(error.absolute_path) and len(error.context) > 1:
            break  # no branch got further: the value fits none of them
        error = deepest
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = sorted((k for k in error.instance if k not in allowed), key=str)  # keys of any type
        if extra:
            return (*path, extra[0]), "is not a field of the scenario format"
    wanted = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator == "oneOf" and wanted:
        return path, f"{error.instance!r} is not {wanted[0].lower()}{wanted[1:]}"
    return path, str(error.message)


def _field(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


class _Reader:
    """Turns validated data into a Scenario, with line numbers for every error."""

    def __init__(self, source: str, node: yaml.Node | None) -> None:
        self.source = source
        self.node = node
        self.places: dict[str, Point] = {}

    def line(self, path: Path_) -> int | None:
        node, best = self.node, None
        for part in path:
            if node is None:
                break
            best = node.start_mark.line + 1
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if k.value == part), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                node = node.value[part] if part < len(node.value) else None
            else:
                node = None
        return node.start_mark.line + 1 if node is not None else best

    def error(self, path: Path_, message: str) -> ScenarioError:
        line = self.line(path)
        where = f"{self.source}:{line}" if line is not None else self.source
        return ScenarioError(f"{where}: {_field(path)}: {message}")

    # -- values

    def offset(self, value: object, path: Path_) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = re.fullmatch(
            r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*",
            str(value),
        )
        if match is None or not any(match.groups()):
            raise self.error(path, f"{value!r} is not a time offset (seconds, or 1h2m3s)")
        h, m, s = (float(g) if g else 0.0 for g in match.groups())
        return h * 3600 + m * 60 + s

    def position(self, value: object, path: Path_) -> Point:
        if isinstance(value, str):
            if value in self.places:
                return self.places[value]
            try:
                location = parse_location(value)
            except GeoError as exc:
                raise self.error(
                    path, f"{value!r} is no place, grid or 'lat, lon': {exc}"
                ) from None
            grid = value.replace(" ", "").upper() if location.cell_m else None
            return Point(location.lat, location.lon, location.cell_m, grid)
        if isinstance(value, list):
            return Point(float(value[0]), float(value[1]))
        assert isinstance(value, dict)  # the schema allows nothing else
        origin = self.position(value["from"], (*path, "from"))
        lat, lon = destination(
            origin.lat, origin.lon, float(value["bearing_deg"]), float(value["distance_m"])
        )
        return Point(lat, lon)

    def ring(self, values: Sequence[object], path: Path_) -> list[list[float]]:
        points = [self.position(v, (*path, i)) for i, v in enumerate(values)]
        ring = [[p.lon, p.lat] for p in points]
        return ring if ring[0] == ring[-1] else [*ring, ring[0]]

    # -- the document

    def scenario(self, data: dict[str, Any]) -> Scenario:
        try:
            start = parse_time(data["start"])
        except CodecError as exc:
            raise self.error(("start",), exc.message) from None
        for name, value in (data.get("places") or {}).items():
            self.places[name] = self.position(value, ("places", name))
        center = self.position(data["area"]["center"], ("area", "center"))
        units = tuple(self.unit(u, ("units", i)) for i, u in enumerate(data["units"]))
        uids = [u.uid for u in units]
        for i, uid in enumerate(uids):
            if uid in uids[:i]:
                raise self.error(("units", i, "uid"), f"{uid!r} is defined twice")
        actions = [
            self.measure(m, ("measures", i)) for i, m in enumerate(data.get("measures") or [])
        ]
        actions += [self.event(e, ("events", i)) for i, e in enumerate(data.get("events") or [])]
        actions.sort(key=lambda a: a.at_s)  # stable: file order among equal times
        self.check_names(actions, set(uids))
        expectations = tuple(
            self.expectation(e, ("expect", i)) for i, e in enumerate(data["expect"])
        )
        checks = {a.data["name"] for a in actions if a.kind == "check"}
        for exp in expectations:
            if exp.kind == "check" and exp.fields["check"] not in checks:
                raise self.error(
                    (*_path_of(exp.where), "check"), f"no check is named {exp.fields['check']!r}"
                )
        last = max(
            [a.at_s for a in actions]
            + [t for u in units for t, _ in u.route]
            + [e.by_s for e in expectations if e.by_s is not None]
            + [0.0]
        )
        duration = (
            self.offset(data["duration"], ("duration",)) if "duration" in data else last + TAIL_S
        )
        return Scenario(
            name=data["name"],
            title=data.get("title", data["name"]),
            description=data.get("description", "").strip(),
            source=self.source,
            start=start,
            duration_s=duration,
            center=center,
            units=units,
            actions=tuple(actions),
            expectations=expectations,
            places=dict(self.places),
        )

    def unit(self, data: dict[str, Any], path: Path_) -> UnitPlan:
        plan_keys = {"register", "report", "route", "until", "dropouts"}
        unit = {k: v for k, v in data.items() if k not in plan_keys}
        sector = unit.get("sector")
        if isinstance(sector, list):
            unit["sector"] = {
                "type": "Polygon",
                "coordinates": [self.ring(sector, (*path, "sector"))],
            }
        unit.setdefault("callsign", data["uid"].upper())
        route: list[tuple[float, Point]] = []
        for i, waypoint in enumerate(data.get("route") or []):
            at = self.offset(waypoint["at"], (*path, "route", i, "at"))
            if route and at < route[-1][0]:
                raise self.error((*path, "route", i, "at"), "waypoints must be in time order")
            route.append((at, self.position(waypoint["pos"], (*path, "route", i, "pos"))))
        report = data.get("report") or {}
        every = self.offset(report.get("every", DEFAULT_EVERY_S), (*path, "report", "every"))
        if every <= 0:
            raise self.error((*path, "report", "every"), "must be more than 0 s")
        dropouts = tuple(
            (
                self.offset(d["from"], (*path, "dropouts", i, "from")),
                self.offset(d["to"], (*path, "dropouts", i, "to")) if "to" in d else math.inf,
            )
            for i, d in enumerate(data.get("dropouts") or [])
        )
        return UnitPlan(
            uid=data["uid"],
            unit=unit,
            register=data.get("register", True),
            every_s=every,
            ce_m=float(report.get("ce_m", DEFAULT_CE_M)),
            delay_s=self.offset(report.get("delay", 0), (*path, "report", "delay")),
            cot_type=report.get("cot_type"),
            route=tuple(route),
            until_s=self.offset(data["until"], (*path, "until")) if "until" in data else None,
            dropouts=dropouts,
        )

    def geometry(self, data: Mapping[str, Any], path: Path_) -> dict[str, Any] | None:
        if "center" in data:
            p = self.position(data["center"], (*path, "center"))
            return {"type": "Point", "coordinates": [p.lon, p.lat]}
        if "polygon" in data:
            return {
                "type": "Polygon",
                "coordinates": [self.ring(data["polygon"], (*path, "polygon"))],
            }
        if "line" in data:
            points = [self.position(v, (*path, "line", i)) for i, v in enumerate(data["line"])]
            return {"type": "LineString", "coordinates": [[p.lon, p.lat] for p in points]}
        geometry = data.get("geometry")
        return dict(geometry) if isinstance(geometry, Mapping) else None

    def measure(self, data: dict[str, Any], path: Path_) -> Action:
        shape_keys = {"at", "center", "polygon", "line", "geometry", "id"}
        properties = {k: v for k, v in data.items() if k not in shape_keys}
        feature: dict[str, Any] = {
            "type": "Feature",
            "geometry": self.geometry(data, path),
            "properties": properties,
        }
        if "id" in data:
            feature["id"] = data["id"]
        at = self.offset(data.get("at", 0), (*path, "at"))
        return Action(at, "measure", feature, _field(path))

    def event(self, data: dict[str, Any], path: Path_) -> Action:
        at = self.offset(data["at"], (*path, "at"))
        kind = next(k for k in data if k != "at")
        body = data[kind]
        where = (*path, kind)
        if kind == "check":
            target = self.position(body["target"], (*where, "target"))
            body = {**body, "target": target.target(), "point": target}
        elif kind == "message":
            body = {
                **body,
                "params": {
                    k: self.param(v, (*where, "params", k))
                    for k, v in body.get("params", {}).items()
                },
            }
        elif kind == "check_fire":
            if ("unit" in body) == ("center" in body or "polygon" in body):
                raise self.error(
                    where, "name either a unit or an area (center + radius_m, or polygon)"
                )
            if "center" in body and "radius_m" not in body:
                raise self.error(where, "an area around a center needs radius_m")
            properties: dict[str, Any] = {"kind": "CHECKFIRE", "name": body["name"]}
            if "unit" in body:
                properties["unit"] = body["unit"]
            if "radius_m" in body:
                properties["radius_m"] = body["radius_m"]
            body = {
                "name": body["name"],
                "feature": {
                    "type": "Feature",
                    "geometry": self.geometry(body, where),
                    "properties": properties,
                },
            }
        elif kind == "cancel_check_fire":
            body = {"name": body}
        return Action(at, kind, dict(body), _field(where))

    def param(self, value: object, path: Path_) -> object:
        if isinstance(value, list | dict) or (isinstance(value, str) and value in self.places):
            point = self.position(value, path)
            return to_mgrs(point.lat, point.lon, GRID_DIGITS)
        return value

    def check_names(self, actions: list[Action], uids: set[str]) -> None:
        """Names used before they exist, or twice; units that are not in the scenario."""
        seen: dict[str, set[str]] = {"check": set(), "message": set(), "check_fire": set()}
        for action in actions:
            path = _path_of(action.where)
            data = action.data
            if action.kind in seen and "name" in data:
                if data["name"] in seen[action.kind]:
                    raise self.error((*path, "name"), f"{data['name']!r} is used twice")
                seen[action.kind].add(data["name"])
            wanted = {
                "ack": [("message", "message")],
                "cancel_check_fire": [("name", "check_fire")],
                "fired": [("check", "check")],
            }.get(action.kind, [])
            for key, kind in wanted:
                if data[key] not in seen[kind]:
                    raise self.error(
                        (*path, key) if key != "name" else path,
                        f"no {kind.replace('_', ' ')} named {data[key]!r} comes before it",
                    )
            for key in ("firing_unit", "from", "by", "vehicle", "unit"):
                uid = data.get(key)
                if isinstance(uid, str) and uid not in uids and action.kind != "check_fire":
                    raise self.error((*path, key), f"{uid!r} is not a unit of this scenario")
            for i, uid in enumerate(data.get("dismounts", [])):
                if uid not in uids:
                    raise self.error(
                        (*path, "dismounts", i), f"{uid!r} is not a unit of this scenario"
                    )

    def expectation(self, data: dict[str, Any], path: Path_) -> Expectation:
        kind = next(k for k in ("check", "alert", "message") if k in data)
        by = self.offset(data["by"], (*path, "by")) if "by" in data else None
        fields = {k: v for k, v in data.items() if k not in ("by", "never")}
        return Expectation(kind, _field(path), fields, by, bool(data.get("never", False)))


def _path_of(where: str) -> Path_:
    """Back from `events[3].check` to ("events", 3, "check")."""
    out: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", where):
        out.append(int(index) if index else name)
    return tuple(out)


def start_plus(scenario: Scenario, seconds: float) -> datetime:
    return scenario.start + timedelta(seconds=seconds)

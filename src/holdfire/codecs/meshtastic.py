"""Meshtastic JSON uplink packets (as the firmware publishes them on `msh/<region>/2/json/...`)
-> PositionReport. Sans-I/O: a decoded JSON object in, a report (or why it was ignored) out.

A packet looks like `{"from": 2130636288, "to": 4294967295, "sender": "!a1b2c3d4", "type":
"position", "timestamp": 1764576005, "payload": {"latitude_i": 513500000, "longitude_i":
351000000, "altitude": 180, "time": 1764576000, "precision_bits": 32, "PDOP": 150, ...}}`.

Decisions written down here:

- The node is `from` (the node that took the fix), written `!xxxxxxxx` (8 lower-case hex digits,
  Meshtastic's own node id form). `sender` is the *gateway* that uplinked the packet, not the
  node, and is not used for identity.
- The uid is `nodes[node_id]` when the mapping names the node, else the node id itself: an
  unmapped node still lands in the picture (a new uid registers a friend of unknown mobility,
  the worst case), so a tracker nobody mapped still protects its carrier.
- Never *own*: `from` is self-declared and the default channel keys are public, so a packet is
  a claim about the node (design.md §3: "MQTT without binding"), kept as an extra position.
- `latitude_i`/`longitude_i` are 1e-7 degrees and required (integers within ±90°/±180°).
  0/0 is how Meshtastic sends "no fix": ignored (`no-fix`), never placed at 0°N 0°E.
- `precision_bits` 1-31: the firmware keeps that many high bits of each coordinate and moves
  the position to the centre of the cell, so the fix lies anywhere in a cell of 2^(32-p) × 1e-7
  degrees on each axis. That cell's half-diagonal (geodesic, at the reported latitude) is the
  report's `cell_m`, added to the radius like an MGRS grid cell. 32 is full precision. Missing,
  0 or unreadable is *unknown precision*: no cell is assumed (firmware before 2.3 always sent
  full precision and left the field out), and the error is the unknown `ce` below.
- `ce` is always unknown (the mobility class's worst case): the JSON uplink carries DOPs but not
  the receiver's accuracy constant (`gps_accuracy`), so DOPs cannot be turned into metres.
- `altitude` is above mean sea level, not the ellipsoid, and no geoid model is at hand: the
  report's `hae_m` stays unknown. `ground_speed`/`ground_track` are left out: senders disagree on
  their units (m/s or km/h; 1e-2 or 1e-5 degrees) and the check does not weigh them.
- Time: the payload's `timestamp` (time of the GPS solution), else its `time`; without either,
  the packet's `timestamp` (when the gateway received it; an upper bound on the fix time) marked
  `time_assumed`, else the arrival time, marked. Zero means absent (the firmware's "no valid
  time"); any other value that is not a plausible POSIX time refuses the packet, since the
  position's age would be unknown.
- Packets of any other `type` (nodeinfo, telemetry, text, ...) are ignored (`not-position`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from holdfire.codecs.json import CodecError
from holdfire.domain.errors import DomainError
from holdfire.domain.reports import PositionReport
from holdfire.geo import distance_m

_UNITS = 10_000_000  # latitude_i / longitude_i units per degree
_MAX_NODE = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Ignored:
    """A packet that is well-formed but carries no position to keep; `reason` is a short key."""

    reason: str  # "not-position" or "no-fix"


def looks_like_packet(data: Mapping[str, Any]) -> bool:
    """A Meshtastic packet rather than the public report shape: it has `from` and `type` and
    no `uid` (the public shape always names a uid)."""
    return "from" in data and "type" in data and "uid" not in data


def node_id(number: int) -> str:
    """Meshtastic's node id form for a node number: `!` and 8 lower-case hex digits."""
    return f"!{number:08x}"


def report_from_packet(
    packet: Mapping[str, Any],
    *,
    nodes: Mapping[str, str],
    source: str,
    reporter: str,
    received_at: datetime,
) -> PositionReport | Ignored:
    """Read one packet; raises CodecError naming the field for a packet that cannot be read."""
    number = packet.get("from")
    if not _is_int(number) or not 0 <= number <= _MAX_NODE:
        raise CodecError("from", "must be a node number (an integer in [0, 2^32))")
    if packet.get("type") != "position":
        return Ignored("not-position")
    payload = packet.get("payload")
    if not isinstance(payload, Mapping):
        raise CodecError("payload", "a position packet needs a payload object")
    lat_i = _coordinate(payload, "latitude_i", 900_000_000)
    lon_i = _coordinate(payload, "longitude_i", 1_800_000_000)
    if lat_i == 0 and lon_i == 0:
        return Ignored("no-fix")
    lat, lon = lat_i / _UNITS, lon_i / _UNITS
    observed_at, assumed = _observed(payload, packet, received_at)
    node = node_id(number)
    try:
        return PositionReport(
            uid=nodes.get(node, node),
            lat=lat,
            lon=lon,
            observed_at=observed_at,
            received_at=received_at,
            source=source,
            reporter=reporter,
            authenticated=False,
            cell_m=_cell_m(lat, lon, payload.get("precision_bits")),
            time_assumed=assumed,
        )
    except DomainError as exc:
        raise CodecError(exc.field, exc.message) from None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _coordinate(payload: Mapping[str, Any], field: str, limit: int) -> int:
    value = payload.get(field)
    if not _is_int(value):
        raise CodecError(f"payload.{field}", "is required (an integer in 1e-7 degrees)")
    if not -limit <= value <= limit:
        raise CodecError(f"payload.{field}", f"must be in [{-limit}, {limit}], got {value}")
    return value


def _cell_m(lat: float, lon: float, bits: object) -> float:
    """Half-diagonal of the cell a reduced-precision position stands for (0: full or unknown)."""
    if not _is_int(bits) or not 1 <= bits <= 31:
        return 0.0
    half = 2.0 ** (31 - bits) / _UNITS
    corners = (
        (max(-90.0, min(90.0, lat + dlat)), (lon + dlon + 180.0) % 360.0 - 180.0)
        for dlat in (-half, half)
        for dlon in (-half, half)
    )
    return max(distance_m(lat, lon, c_lat, c_lon) for c_lat, c_lon in corners)


def _observed(
    payload: Mapping[str, Any], packet: Mapping[str, Any], received_at: datetime
) -> tuple[datetime, bool]:
    fix = _time(payload, "timestamp", "payload.timestamp") or _time(payload, "time", "payload.time")
    if fix is not None:
        return fix, False
    heard = _time(packet, "timestamp", "timestamp")
    return (heard or received_at), True


def _time(data: Mapping[str, Any], key: str, field: str) -> datetime | None:
    value = data.get(key)
    if value is None or value == 0:
        return None
    if not _is_int(value) or value < 0:
        raise CodecError(field, f"must be POSIX seconds (a non-negative integer), got {value!r}")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise CodecError(field, f"is not a time: {value}") from None

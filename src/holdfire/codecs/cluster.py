"""What the nodes of a cluster send each other over NATS, as JSON bytes; sans-I/O.

- An **events envelope** carries events the origin node made durable, in the order of the
  store: each with its sequence number in the shared store (the event's id: the same event
  published twice is recognised by it) and in its :func:`~holdfire.codecs.json.event_to_dict`
  shape; one message for many events, since a message costs every receiver more than an event.
- A **CoT envelope** carries one CoT event a node routed to its TAK clients (SA, GeoChat,
  emergencies), with the server-side groups it was routed in, so the other nodes route it to
  theirs the same way.
- A **node status** is a node's heartbeat: its name, state, how far it is behind the stream, and
  where its API listens.

Every reader raises :class:`~holdfire.codecs.json.CodecError` naming the field it could not read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from holdfire.codecs.json import CodecError, event_from_dict, format_time, parse_time
from holdfire.domain.events import Event

MAX_COT_BYTES = 1 << 20  # a relayed CoT event is never bigger than a client may send


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode()


def _object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CodecError(what, f"is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CodecError(what, "must be a JSON object")
    return value


def _text(value: dict[str, Any], field: str) -> str:
    item = value.get(field)
    if not isinstance(item, str) or not item:
        raise CodecError(field, "must be a non-empty string")
    return item


def _count(value: dict[str, Any], field: str) -> int:
    item = value.get(field)
    if isinstance(item, bool) or not isinstance(item, int) or item < 0:
        raise CodecError(field, "must be a whole number >= 0")
    return item


def events_envelope(node: str, stored: Sequence[tuple[int, str]]) -> bytes:
    """Events of one node around their JSON texts as the store keeps them (`(seq, body)`, the
    shape of `event_to_dict`), not decoded and encoded again."""
    items = ",".join(f'{{"seq":{int(seq)},"event":{body}}}' for seq, body in stored)
    return f'{{"node":{_dumps(node).decode()},"events":[{items}]}}'.encode()


def read_events_envelope(data: bytes) -> tuple[str, list[tuple[int, Event]]]:
    """(origin node, [(sequence number in the shared store, event), ...])."""
    value = _object(data, "envelope")
    items = value.get("events")
    if not isinstance(items, list) or not items:
        raise CodecError("events", "must be a non-empty list")
    node = _text(value, "node")
    events: list[tuple[int, Event]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("event"), dict):
            raise CodecError(f"events[{i}]", "must be an object with an event")
        events.append((_count(item, "seq"), event_from_dict(item["event"])))
    return node, events


def cot_envelope(node: str, xml: bytes, groups: Iterable[str]) -> bytes:
    return _dumps({"node": node, "groups": sorted(groups), "xml": xml.decode("utf-8")})


def read_cot_envelope(data: bytes) -> tuple[str, bytes, frozenset[str]]:
    """(origin node, the CoT event's XML, the groups it was routed in)."""
    value = _object(data, "cot envelope")
    groups = value.get("groups")
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise CodecError("groups", "must be a list of group names")
    xml = _text(value, "xml").encode("utf-8")
    if len(xml) > MAX_COT_BYTES:
        raise CodecError("xml", f"is longer than {MAX_COT_BYTES} bytes")
    return _text(value, "node"), xml, frozenset(groups)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One node as it last described itself."""

    node: str
    state: str  # starting | catching-up | ready | cut-off
    lag: int  # stream messages it has not applied yet
    applied: int  # the last stream sequence number it applied
    at: datetime  # when it said so (its own clock)
    http: str | None = None  # where its API listens, if it does
    cut_off_since: datetime | None = None


NODE_STATES = frozenset({"starting", "catching-up", "ready", "cut-off"})


def node_status_to_dict(status: NodeStatus) -> dict[str, Any]:
    return {
        "node": status.node,
        "state": status.state,
        "lag": status.lag,
        "applied": status.applied,
        "at": format_time(status.at),
        "http": status.http,
        "cut_off_since": (
            None if status.cut_off_since is None else format_time(status.cut_off_since)
        ),
    }


def node_status_to_bytes(status: NodeStatus) -> bytes:
    return _dumps(node_status_to_dict(status))


def read_node_status(data: bytes) -> NodeStatus:
    value = _object(data, "node status")
    state = _text(value, "state")
    if state not in NODE_STATES:
        raise CodecError("state", f"must be one of {sorted(NODE_STATES)}")
    http = value.get("http")
    if http is not None and not isinstance(http, str):
        raise CodecError("http", "must be a string or null")
    cut = value.get("cut_off_since")
    if cut is not None and not isinstance(cut, str):
        raise CodecError("cut_off_since", "must be a time or null")
    return NodeStatus(
        node=_text(value, "node"),
        state=state,
        lag=_count(value, "lag"),
        applied=_count(value, "applied"),
        at=parse_time(_text(value, "at")),
        http=http,
        cut_off_since=None if cut is None else parse_time(cut),
    )

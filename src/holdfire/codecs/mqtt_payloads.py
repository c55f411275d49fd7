"""One MQTT message's payload -> the position reports it carries, and what was wrong with the
rest. Sans-I/O: bytes in, reports and counted problems out.

A payload is JSON: the public report shape (`POST /reports`: one object or a list, read by
`report_from_input`) or a Meshtastic JSON packet (`codecs.meshtastic`); each object is told
apart by its keys (`looks_like_packet`), so one topic may carry either.

Decisions written down here:

- A payload larger than `max_bytes` is refused unread (`too-large`), as is one that is not UTF-8
  JSON (`not-json`, which includes nesting too deep to parse) or is neither an object nor a list
  (`bad-shape`).
- A list is read item by item: a bad item is one problem (`bad-<field>`, its index kept) and the
  other items still land.
- Problem reasons are short fixed keys (the field names come from the codecs, never from the
  payload), so counting them by reason stays bounded whatever a publisher sends.
- Reports from MQTT are never *own*: the channel is unauthenticated and bound to no uid
  (design.md §3, "MQTT without binding"); `reporter` names the topic it came on.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from holdfire.codecs.json import CodecError
from holdfire.codecs.meshtastic import Ignored, looks_like_packet, report_from_packet
from holdfire.codecs.reports import Channel, report_from_input
from holdfire.domain.reports import PositionReport

SOURCE = "mqtt"


@dataclass(frozen=True, slots=True)
class Problem:
    reason: str  # counter key: too-large, not-json, bad-shape, bad-<field>
    detail: str  # for the log
    index: int | None = None  # the list item, for a list payload


@dataclass(frozen=True, slots=True)
class Decoded:
    reports: list[PositionReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # reasons, e.g. not-position


def decode_payload(
    payload: bytes,
    *,
    topic: str,
    received_at: datetime,
    nodes: Mapping[str, str],
    max_bytes: int,
) -> Decoded:
    """Every report a payload carries; never raises for bad input."""
    out = Decoded()
    if len(payload) > max_bytes:
        out.problems.append(Problem("too-large", f"{len(payload)} bytes > {max_bytes}"))
        return out
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: JSON, huge ints
        out.problems.append(Problem("not-json", str(exc).splitlines()[0][:200]))
        return out
    if isinstance(document, dict):
        items, indexed = [document], False
    elif isinstance(document, list):
        items, indexed = document, True
    else:
        out.problems.append(Problem("bad-shape", "must be a JSON object or a list of them"))
        return out
    channel = Channel(source=SOURCE, reporter=topic, authenticated=False)
    for i, item in enumerate(items):
        try:
            if isinstance(item, dict) and looks_like_packet(item):
                read = report_from_packet(
                    item, nodes=nodes, source=SOURCE, reporter=topic, received_at=received_at
                )
            else:
                read = report_from_input(item, channel, received_at)
        except CodecError as exc:
            out.problems.append(Problem(f"bad-{exc.field}", str(exc), i if indexed else None))
            continue
        if isinstance(read, Ignored):
            out.ignored.append(read.reason)
        else:
            out.reports.append(read)
    return out

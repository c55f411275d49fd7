"""Fuzz target: one CoT XML message (``parse_event``, ``parse_auth``) and its protobuf twin.

Properties: the only error is ``CotError``; an event that parses keeps its exact bytes, has a
position in range or none, and survives XML → protobuf → event with every field but times and
numbers unchanged (the position too, when it has one), after which a second trip changes nothing.
"""

import contextlib
import math
from dataclasses import fields

from harness import CORPUS, fuzz, instrumented

with instrumented():
    from holdfire.codecs.cot_xml import CotError, CotEvent, parse_auth, parse_event
    from holdfire.codecs.tak_proto import event_to_proto, proto_to_event


# Protobuf has no "absent" number or string and counts time in ms: all else must survive it.
LOSSY = {"raw", "time", "start", "stale", "lat", "lon", "hae", "ce", "le", "course", "speed"}


def kept(event: CotEvent) -> dict[str, object]:
    values = {f.name: getattr(event, f.name) for f in fields(event) if f.name not in LOSSY}
    return {name: None if value == "" else value for name, value in values.items()}


def test_one(data: bytes) -> None:
    with contextlib.suppress(CotError):
        parse_auth(data)
    try:
        event = parse_event(data)
    except CotError:
        return
    assert event.raw == data
    assert event.uid.strip()
    if event.lat is not None and event.lon is not None:
        assert math.isfinite(event.lat) and abs(event.lat) <= 90
        assert math.isfinite(event.lon) and abs(event.lon) <= 180
    once = proto_to_event(event_to_proto(event))
    assert kept(once) == kept(event), (once, event)
    if event.has_point:
        assert (once.lat, once.lon) == (event.lat, event.lon), (once, event)
    twice = proto_to_event(event_to_proto(once))
    assert twice == once, (twice, once)


if __name__ == "__main__":
    fuzz(test_one, [path.read_bytes() for path in sorted((CORPUS / "cot").iterdir())])

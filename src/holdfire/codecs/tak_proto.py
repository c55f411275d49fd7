"""TAK protocol v1 payloads (``TakMessage`` protobuf) ⇄ CotEvent, without going through pytak.

The generated classes come from takproto (``takproto.proto.takmessage_pb2``); framing is
:mod:`holdfire.codecs.cot_stream`'s job, so these functions take and return bare payloads.

``event_to_proto`` maps a received XML event onto the typed fields (uid, type, how, access, qos,
opex, times in ms since the epoch, point, and the detail children ``contact``, ``__group``,
``precisionlocation``, ``status``, ``takv``, ``track``) and puts every other detail child, as XML,
into ``Detail.xmlDetail``. A typed child is only moved into its typed field when it is the first
child of its tag and nothing is lost: no children, no text, only the attributes the typed message
has, each non-empty and readable (``status@battery`` an unsigned int, ``track`` numbers finite);
otherwise it stays in ``xmlDetail``. Unknown ``hae``/``ce``/``le`` are written as 9999999 and an
event without a point as lat 0 lon 0 (protobuf has no "absent" for doubles); an unreadable time
is written as 0.

``proto_to_event`` reads a payload into the same :class:`CotEvent` that ``parse_event`` gives for
the equivalent XML: it rebuilds the XML event from the typed fields plus ``xmlDetail`` (parsed,
wrapped in ``<detail>``, with the same hardened parser) and reads it with the same code, so both
paths agree on every field by construction; ``raw`` is that rebuilt XML, ready for XML clients.
A time of 0 reads as absent. Refused (CotError): bytes that are not a TakMessage (``proto``),
a TakMessage without a cotEvent (``not-event``), a blank uid (``no-uid``), lat/lon out of range
or not finite (``bad-point``), an ``xmlDetail`` that is not well-formed XML (``xml``) or holds a
DOCTYPE (``doctype``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree
from takproto.proto.takmessage_pb2 import TakMessage

from holdfire.codecs.cot_xml import (
    CotError,
    CotEvent,
    event_from_element,
    format_cot_time,
    parse_xml,
    xml_safe,
)

__all__ = ["event_to_proto", "proto_to_event"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_UNKNOWN = 9999999.0
_MAX_UINT32 = 0xFFFFFFFF


def _text_value(value: str) -> str | None:
    return value if value else None


def _float_value(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _uint32_value(value: str) -> int | None:
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if 0 <= number <= _MAX_UINT32 else None


# XML detail tag -> (Detail field, {attribute: (proto field, reader)})
_Reader = Callable[[str], Any]
_TYPED: dict[str, tuple[str, dict[str, tuple[str, _Reader]]]] = {
    "contact": (
        "contact",
        {"endpoint": ("endpoint", _text_value), "callsign": ("callsign", _text_value)},
    ),
    "__group": ("group", {"name": ("name", _text_value), "role": ("role", _text_value)}),
    "precisionlocation": (
        "precisionLocation",
        {"geopointsrc": ("geopointsrc", _text_value), "altsrc": ("altsrc", _text_value)},
    ),
    "status": ("status", {"battery": ("battery", _uint32_value)}),
    "takv": (
        "takv",
        {
            "device": ("device", _text_value),
            "platform": ("platform", _text_value),
            "os": ("os", _text_value),
            "version": ("version", _text_value),
        },
    ),
    "track": ("track", {"speed": ("speed", _float_value), "course": ("course", _float_value)}),
}


# Typed messages made of numbers (no presence in proto3): typed only when every field is given.
_NUMERIC = frozenset({"status", "track"})


def _ms(value: datetime | None) -> int:
    if value is None:
        return 0
    return max(0, (value - _EPOCH) // _MS)


def _typed_values(el: Any) -> dict[str, Any] | None:
    """The typed field values of a known detail child, or None if it must stay XML."""
    _, attributes = _TYPED[el.tag]
    if len(el) or (el.text or "").strip():
        return None
    values: dict[str, Any] = {}
    for name, text in el.attrib.items():
        spec = attributes.get(name)
        if spec is None:
            return None
        value = spec[1](text)
        if value is None:
            return None
        values[spec[0]] = value
    if el.tag in _NUMERIC and len(values) != len(attributes):
        return None  # a number protobuf cannot mark absent would read back as 0
    return values


def event_to_proto(event: CotEvent) -> bytes:
    """Serialize a received event as a TakMessage payload (not framed)."""
    root = parse_xml(event.raw) if event.raw else None
    message = TakMessage()
    cot = message.cotEvent
    cot.uid = event.uid
    cot.type = event.type
    if event.how:
        cot.how = event.how
    if root is not None:
        for name in ("access", "qos", "opex"):
            if value := root.get(name):
                setattr(cot, name, value)
    cot.sendTime = _ms(event.time)
    cot.startTime = _ms(event.start)
    cot.staleTime = _ms(event.stale)
    cot.lat = event.lat if event.lat is not None else 0.0
    cot.lon = event.lon if event.lon is not None else 0.0
    cot.hae = event.hae if event.hae is not None else _UNKNOWN
    cot.ce = event.ce if event.ce is not None else _UNKNOWN
    cot.le = event.le if event.le is not None else _UNKNOWN
    detail_el = None if root is None else root.find("detail")
    if detail_el is not None:
        detail = cot.detail
        detail.SetInParent()
        extra: list[str] = []
        seen: set[str] = set()
        for el in detail_el:
            tag = el.tag
            if not isinstance(tag, str):
                continue
            # Readers take the first child of a tag, and typed fields are rebuilt before
            # xmlDetail: only a first one may move, or a later one would take its place.
            values = _typed_values(el) if tag in _TYPED and tag not in seen else None
            seen.add(tag)
            if values is None:
                extra.append(etree.tostring(el, encoding="unicode", with_tail=False))
                continue
            target = getattr(detail, _TYPED[tag][0])
            target.SetInParent()
            for name, value in values.items():
                setattr(target, name, value)
        if extra:
            detail.xmlDetail = "".join(extra)
    data: bytes = message.SerializeToString()
    return data


def _time(ms: int) -> str | None:
    if ms <= 0:
        return None
    try:
        return format_cot_time(_EPOCH + ms * _MS)
    except (OverflowError, ValueError):
        return None


def _set(el: Any, name: str, value: str) -> None:
    if value:
        el.set(name, xml_safe(value))


def proto_to_event(payload: bytes) -> CotEvent:
    """Read a TakMessage payload; raises CotError when it must be refused."""
    try:
        message = TakMessage.FromString(bytes(payload))
    except Exception as exc:  # DecodeError and anything else protobuf raises on garbage
        raise CotError("proto", f"not a TAK protobuf message: {exc}") from None
    if not message.HasField("cotEvent"):
        raise CotError("not-event", "TakMessage carries no cotEvent")
    cot = message.cotEvent
    if not cot.uid.strip():
        raise CotError("no-uid", "event has no uid")
    lat, lon = cot.lat, cot.lon
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        raise CotError("bad-point", f"point lat={lat!r} lon={lon!r} is not a valid position")
    root = etree.Element("event")
    root.set("version", "2.0")
    _set(root, "uid", cot.uid)
    root.set("type", xml_safe(cot.type))
    for name in ("how", "access", "qos", "opex"):
        _set(root, name, getattr(cot, name))
    for name, ms in (("time", cot.sendTime), ("start", cot.startTime), ("stale", cot.staleTime)):
        if (text := _time(ms)) is not None:
            root.set(name, text)
    point = etree.SubElement(root, "point")
    for name in ("lat", "lon", "hae", "ce", "le"):
        value = getattr(cot, name)
        point.set(name, repr(value) if math.isfinite(value) else repr(_UNKNOWN))
    if cot.HasField("detail"):
        _detail(etree.SubElement(root, "detail"), cot.detail)
    raw: bytes = etree.tostring(root, encoding="UTF-8")
    return event_from_element(root, raw)


def _detail(out: Any, detail: Any) -> None:
    for tag, (field_name, attributes) in _TYPED.items():
        if not detail.HasField(field_name):
            continue
        source = getattr(detail, field_name)
        el = etree.SubElement(out, tag)
        for attr, (proto_name, _) in attributes.items():
            value = getattr(source, proto_name)
            if isinstance(value, str):
                _set(el, attr, value)
            elif isinstance(value, float):
                if math.isfinite(value):
                    el.set(attr, repr(value))
            else:
                el.set(attr, str(value))
    if detail.xmlDetail:
        text = detail.xmlDetail
        wrapped = f"<detail>{text}</detail>".encode()
        extra = parse_xml(wrapped, max_bytes=len(wrapped))
        for child in extra:
            out.append(child)

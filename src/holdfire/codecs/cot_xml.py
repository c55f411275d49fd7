"""Cursor-on-Target XML: parse one event once, and build the events holdfire sends (sans-I/O).

Reading (``parse_event``) uses one hardened lxml parser: no entity expansion, no network, no DTD
loading, no huge trees. CoT never needs a DTD, so any ``<!DOCTYPE`` or ``<!ENTITY`` is refused
before parsing (reason ``doctype``) and, as a second guard, after parsing (the parsed tree must
carry no DTD). Only UTF-8 (or its ASCII subset) is read: another declared encoding is refused
(reason ``encoding``) and so is a NUL byte, which makes the byte-level DOCTYPE check sound
(UTF-16/32 and EBCDIC cannot smuggle one past it).

What must parse (design.md §3), else :class:`CotError` with a short machine reason:

- the root is ``<event>`` (``not-event``), the document is well-formed XML (``xml``), at most
  ``max_bytes`` long (``too-large``);
- ``uid`` is present and not blank (``no-uid``);
- ``<point>`` is present for atoms (``a-…``; ``no-point``); when present, ``lat`` and ``lon`` are
  finite numbers in range (``bad-point``). Other events (pings, chat, deletes) may lack a point:
  ``lat``/``lon`` are then None.

Everything else is optional and a bad value becomes unknown (None), never a reason to drop:
``time``/``start``/``stale`` that cannot be read are None (the caller stands the arrival time in
for a missing ``time`` and marks it assumed); ``hae``/``ce``/``le`` that are not finite numbers
are None; a garbled ``track`` is None. Values are kept as sent otherwise (``ce=9999999`` stays
9999999.0: mapping "unknown" is :mod:`holdfire.codecs.cot_reports`' job).

Times: ISO 8601 with or without fractional seconds (more than six digits are truncated), ``Z``
or a numeric offset; a time without a zone is read as UTC (CoT times are UTC by definition);
all are returned as aware UTC datetimes.

``CotEvent.raw`` holds the exact bytes as received, so the server forwards events unchanged;
:meth:`CotEvent.xml_bytes` gives them without a leading ``<?xml …?>`` prolog, ready to be
concatenated into any stream. Equality of ``CotEvent`` ignores ``raw`` (it is semantic).

Building: every builder returns UTF-8 bytes of one bare ``<event>…</event>`` (no XML
declaration: ATAK, WinTAK, iTAK and TAK Server accept both, and bare events concatenate safely
into a stream). They are built with lxml, so text and attributes are always escaped; characters
XML 1.0 cannot carry (control characters, lone surrogates) are replaced by U+FFFD. Times are
written in UTC with milliseconds and ``Z`` (the form takproto requires). Unknown ``hae``/``ce``/
``le`` are written as 9999999.0. Builders take the current time as an argument (no clock here).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree

from holdfire.codecs.json import CodecError

__all__ = [
    "MAX_EVENT_BYTES",
    "UNKNOWN_ERROR",
    "AuthMessage",
    "CotChat",
    "CotError",
    "CotEvent",
    "CotLink",
    "CotTakControl",
    "CotTakv",
    "circle_shape",
    "delete_event",
    "disconnect_notice",
    "event_from_element",
    "format_cot_time",
    "geochat",
    "parse_auth",
    "parse_cot_time",
    "parse_event",
    "parse_xml",
    "pong",
    "sa_event",
    "tak_protocol_support",
    "tak_response",
    "xml_safe",
]

MAX_EVENT_BYTES = 64 * 1024
UNKNOWN_ERROR = 9999999.0  # what CoT writes for an unknown hae / ce / le

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)
_UTF8_NAMES = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
_PROLOG_ENCODING = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class CotError(CodecError):
    """A CoT message that must be refused; ``reason`` is a short machine code (``no-uid`` …)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)

    @property
    def reason(self) -> str:
        return self.field


# ---------------------------------------------------------------------------------------------
# The parsed event


@dataclass(frozen=True, slots=True)
class CotLink:
    uid: str
    type: str | None = None
    relation: str | None = None


@dataclass(frozen=True, slots=True)
class CotChat:
    """GeoChat ``__chat`` (+ ``chatgrp``), with the message text from ``remarks``."""

    chatroom: str | None = None
    chat_id: str | None = None  # __chat@id: the room, or the recipient's uid in a direct chat
    parent: str | None = None  # RootContactGroup | TeamGroups | …
    sender_callsign: str | None = None
    message_id: str | None = None  # __chat@messageId, else the last part of a GeoChat uid
    chatgrp_uids: tuple[str, ...] = ()  # chatgrp uid0, uid1, … in order
    chatgrp_id: str | None = None
    text: str | None = None  # remarks text
    remarks_source: str | None = None
    remarks_to: str | None = None
    link_uid: str | None = None  # the sender (link relation p-p)


@dataclass(frozen=True, slots=True)
class CotTakv:
    device: str | None = None
    platform: str | None = None
    os: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class CotTakControl:
    """``<TakControl>`` of the protocol negotiation messages (t-x-takp-v / -q / -r)."""

    supported_versions: tuple[int, ...] = ()  # TakProtocolSupport@version
    request_version: int | None = None  # TakRequest@version (None: absent or unreadable)
    response_status: bool | None = None  # TakResponse@status


@dataclass(frozen=True, slots=True)
class CotEvent:
    uid: str
    type: str
    raw: bytes = field(default=b"", repr=False, compare=False)
    how: str | None = None
    time: datetime | None = None
    start: datetime | None = None
    stale: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    hae: float | None = None
    ce: float | None = None  # 1-sigma, as sent (9999999 = unknown)
    le: float | None = None
    callsign: str | None = None
    endpoint: str | None = None
    group_name: str | None = None
    group_role: str | None = None
    dest_uids: tuple[str, ...] = ()
    dest_callsigns: tuple[str, ...] = ()
    dest_missions: tuple[str, ...] = ()
    chat: CotChat | None = None
    remarks: str | None = None
    links: tuple[CotLink, ...] = ()
    course: float | None = None  # degrees
    speed: float | None = None  # m/s
    emergency_type: str | None = None
    emergency_cancel: bool = False
    takv: CotTakv | None = None
    tak_control: CotTakControl | None = None

    @property
    def link_uids(self) -> tuple[str, ...]:
        return tuple(link.uid for link in self.links)

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None

    def xml_bytes(self) -> bytes:
        """The received bytes without a leading XML declaration: safe to put into any stream."""
        raw = self.raw
        if raw.startswith(b"<event"):
            return raw
        body = raw.lstrip()
        if body.startswith(b"\xef\xbb\xbf"):
            body = body[3:].lstrip()
        if body.startswith(b"<?xml"):
            end = body.find(b"?>")
            if end >= 0:
                body = body[end + 2 :].lstrip()
        return body


@dataclass(frozen=True, slots=True)
class AuthMessage:
    """``<auth><cot username password uid/></auth>``, a client's first message when asked."""

    username: str | None
    password: str | None = field(repr=False)
    uid: str | None


# ---------------------------------------------------------------------------------------------
# Reading


def parse_xml(data: bytes, *, max_bytes: int = MAX_EVENT_BYTES) -> Any:
    """Parse bytes with the hardened parser; returns the root element or raises CotError."""
    if not isinstance(data, bytes):
        data = bytes(data)
    if len(data) > max_bytes:
        raise CotError("too-large", f"message of {len(data)} bytes exceeds {max_bytes}")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise CotError("doctype", "a DOCTYPE or ENTITY declaration is not allowed in CoT")
    if b"\x00" in data:
        raise CotError("xml", "NUL byte: CoT must be UTF-8 XML")
    if not data.startswith(b"<event"):
        _check_encoding(data)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise CotError("xml", f"not well-formed XML: {str(exc)[:160]}") from None
    except ValueError as exc:  # e.g. an encoding lxml refuses
        raise CotError("xml", f"unreadable XML: {str(exc)[:160]}") from None
    if root is None:
        raise CotError("xml", "empty document")
    if root.getroottree().docinfo.internalDTD is not None:
        raise CotError("doctype", "a DOCTYPE is not allowed in CoT")
    return root


def _check_encoding(data: bytes) -> None:
    head = data[:300]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    head = head.lstrip()
    if head.startswith(b"<?xml"):
        match = _PROLOG_ENCODING.match(head)
        if match and match.group(1).strip().lower() not in _UTF8_NAMES:
            name = match.group(1).decode("ascii", "replace")
            raise CotError("encoding", f"only UTF-8 CoT is read, not {name!r}")
    elif not head.startswith(b"<"):
        raise CotError("xml", "CoT must be UTF-8 XML starting with '<'")


def parse_event(data: bytes, *, max_bytes: int = MAX_EVENT_BYTES) -> CotEvent:
    """Parse one CoT ``<event>`` (bytes as received); raises CotError when it must be refused."""
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag != "event":
        raise CotError("not-event", f"root element is <{_tag_name(root)}>, not <event>")
    return event_from_element(root, bytes(data))


def parse_auth(data: bytes) -> AuthMessage:
    """Read an ``<auth>`` frame; raises CotError (``not-auth``) for anything else."""
    root = parse_xml(data, max_bytes=8 * 1024)
    if root.tag != "auth":
        raise CotError("not-auth", f"root element is <{_tag_name(root)}>, not <auth>")
    cot = root.find("cot")
    if cot is None:
        raise CotError("not-auth", "<auth> without <cot>")
    return AuthMessage(cot.get("username"), cot.get("password"), cot.get("uid"))


def event_from_element(root: Any, raw: bytes) -> CotEvent:
    """Build a CotEvent from a parsed ``<event>`` element (shared by the XML and protobuf paths)."""
    uid = root.get("uid")
    if uid is None or not uid.strip():
        raise CotError("no-uid", "event has no uid")
    cot_type = root.get("type") or ""
    if not cot_type.strip():
        # Nothing can route it (every event of CoT has a type); refused, it is not relayed.
        raise CotError("no-type", f"event {uid!r} has no type")
    lat = lon = hae = ce = le = None
    point = detail = None
    for child in root:  # one pass: cheaper than two find() calls
        tag = child.tag
        if tag == "point":
            if point is None:
                point = child
        elif tag == "detail" and detail is None:
            detail = child
    if point is None:
        if cot_type.startswith("a-"):
            raise CotError("no-point", f"position event {uid!r} has no <point>")
    else:
        lat = _number(point.get("lat"))
        lon = _number(point.get("lon"))
        if lat is None or lon is None or abs(lat) > 90.0 or abs(lon) > 180.0:
            raise CotError(
                "bad-point",
                f"point lat={point.get('lat')!r} lon={point.get('lon')!r} is not a valid position",
            )
        hae = _number(point.get("hae"))
        ce = _number(point.get("ce"))
        le = _number(point.get("le"))
    values: dict[str, Any] = {}
    if detail is not None:
        _read_detail(detail, uid, values)
    return CotEvent(
        uid=uid,
        type=cot_type,
        raw=raw,
        how=root.get("how"),
        time=parse_cot_time(root.get("time")),
        start=parse_cot_time(root.get("start")),
        stale=parse_cot_time(root.get("stale")),
        lat=lat,
        lon=lon,
        hae=hae,
        ce=ce,
        le=le,
        **values,
    )


def _read_detail(detail: Any, uid: str, out: dict[str, Any]) -> None:
    links: list[CotLink] = []
    dest_uids: list[str] = []
    dest_callsigns: list[str] = []
    dest_missions: list[str] = []
    remarks_el = None
    chat_el = None
    for el in detail:
        tag = el.tag
        if tag == "contact":
            if "callsign" not in out:
                out["callsign"] = el.get("callsign")
                out["endpoint"] = el.get("endpoint")
        elif tag == "__group":
            if "group_name" not in out:
                out["group_name"] = el.get("name")
                out["group_role"] = el.get("role")
        elif tag == "link":
            link_uid = el.get("uid")
            if link_uid:
                links.append(CotLink(link_uid, el.get("type"), el.get("relation")))
        elif tag == "marti":
            for dest in el.iterchildren("dest"):
                if value := dest.get("uid"):
                    dest_uids.append(value)
                if value := dest.get("callsign"):
                    dest_callsigns.append(value)
                if value := dest.get("mission"):
                    dest_missions.append(value)
        elif tag == "remarks":
            if remarks_el is None:
                remarks_el = el
        elif tag == "__chat":
            if chat_el is None:
                chat_el = el
        elif tag == "track":
            if "course" not in out:
                out["course"] = _number(el.get("course"))
                out["speed"] = _number(el.get("speed"))
        elif tag == "emergency":
            if "emergency_type" not in out:
                out["emergency_type"] = el.get("type") or None
                out["emergency_cancel"] = (el.get("cancel") or "").strip().lower() == "true"
        elif tag == "takv":
            if "takv" not in out:
                out["takv"] = CotTakv(
                    el.get("device"), el.get("platform"), el.get("os"), el.get("version")
                )
        elif tag == "TakControl" and "tak_control" not in out:
            out["tak_control"] = _tak_control(el)
    remarks = None
    if remarks_el is not None:
        remarks = remarks_el.text if len(remarks_el) == 0 else "".join(remarks_el.itertext())
        out["remarks"] = remarks
    if links:
        out["links"] = tuple(links)
    if dest_uids:
        out["dest_uids"] = tuple(dest_uids)
    if dest_callsigns:
        out["dest_callsigns"] = tuple(dest_callsigns)
    if dest_missions:
        out["dest_missions"] = tuple(dest_missions)
    if chat_el is not None:
        out["chat"] = _chat(chat_el, uid, remarks, remarks_el, links)


def _chat(el: Any, uid: str, text: str | None, remarks_el: Any, links: list[CotLink]) -> CotChat:
    grp = el.find("chatgrp")
    uids: list[str] = []
    grp_id = None
    if grp is not None:
        grp_id = grp.get("id")
        index = 0
        while (value := grp.get(f"uid{index}")) is not None:
            uids.append(value)
            index += 1
    message_id = el.get("messageId")
    if not message_id and uid.startswith("GeoChat.") and uid.count(".") >= 3:
        message_id = uid.rsplit(".", 1)[1] or None
    sender = next((link.uid for link in links if link.relation == "p-p"), None)
    return CotChat(
        chatroom=el.get("chatroom"),
        chat_id=el.get("id"),
        parent=el.get("parent"),
        sender_callsign=el.get("senderCallsign"),
        message_id=message_id,
        chatgrp_uids=tuple(uids),
        chatgrp_id=grp_id,
        text=text,
        remarks_source=None if remarks_el is None else remarks_el.get("source"),
        remarks_to=None if remarks_el is None else remarks_el.get("to"),
        link_uid=sender if sender is not None else (links[0].uid if links else None),
    )


def _tak_control(el: Any) -> CotTakControl:
    supported = []
    for child in el.iterchildren("TakProtocolSupport"):
        version = _int(child.get("version"))
        if version is not None:
            supported.append(version)
    request = el.find("TakRequest")
    response = el.find("TakResponse")
    status = None
    if response is not None:
        text = (response.get("status") or "").strip().lower()
        status = True if text == "true" else False if text == "false" else None
    return CotTakControl(
        supported_versions=tuple(supported),
        request_version=None if request is None else _int(request.get("version")),
        response_status=status,
    )


def _tag_name(el: Any) -> str:
    tag = el.tag
    return tag if isinstance(tag, str) else "?"


def _number(text: str | None) -> float | None:
    """A finite float, else None (unknown)."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def parse_cot_time(text: str | None) -> datetime | None:
    """An ISO 8601 instant as aware UTC, or None when missing or unreadable (never raises)."""
    if not text:
        return None
    text = text.strip()
    if "T" not in text and "t" not in text and " " not in text:
        return None  # a date alone, or garbage: not an instant
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        cleaned = _LONG_FRACTION.sub(r"\1", text.upper())
        try:
            parsed = datetime.fromisoformat(cleaned)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    if parsed.tzinfo is UTC:
        return parsed
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


# ---------------------------------------------------------------------------------------------
# Building


def format_cot_time(value: datetime) -> str:
    """UTC with milliseconds and ``Z`` (``2026-11-22T07:00:00.000Z``); naive times refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("CoT times must be aware (UTC)")
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def xml_safe(value: object) -> str:
    """A string XML 1.0 can carry: disallowed characters become U+FFFD."""
    text = str(value)
    return _NOT_XML_CHAR.sub("\ufffd", text)


def _num(value: float) -> str:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return repr(number)


def _opt_num(value: float | None) -> str:
    if value is None:
        return "9999999.0"
    number = float(value)
    return repr(number) if math.isfinite(number) else "9999999.0"


def _event(
    uid: str,
    cot_type: str,
    how: str,
    time: datetime,
    stale: datetime,
    *,
    lat: float = 0.0,
    lon: float = 0.0,
    hae: float | None = None,
    ce: float | None = None,
    le: float | None = None,
    start: datetime | None = None,
) -> tuple[Any, Any]:
    lat_f, lon_f = float(lat), float(lon)
    if not (math.isfinite(lat_f) and math.isfinite(lon_f)) or abs(lat_f) > 90 or abs(lon_f) > 180:
        raise ValueError(f"invalid position lat={lat!r} lon={lon!r}")
    if not uid or not str(uid).strip():
        raise ValueError("uid is required")
    root = etree.Element("event")
    root.set("version", "2.0")
    root.set("uid", xml_safe(uid))
    root.set("type", xml_safe(cot_type))
    root.set("how", xml_safe(how))
    root.set("time", format_cot_time(time))
    root.set("start", format_cot_time(start or time))
    root.set("stale", format_cot_time(stale))
    point = etree.SubElement(root, "point")
    point.set("lat", _num(lat_f))
    point.set("lon", _num(lon_f))
    point.set("hae", _opt_num(hae))
    point.set("ce", _opt_num(ce))
    point.set("le", _opt_num(le))
    detail = etree.SubElement(root, "detail")
    return root, detail


def _sub(parent: Any, tag: str, attrs: Iterable[tuple[str, object | None]] = ()) -> Any:
    el = etree.SubElement(parent, tag)
    for name, value in attrs:
        if value is not None:
            el.set(name, xml_safe(value))
    return el


def _bytes(root: Any) -> bytes:
    data: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    return data


def sa_event(
    uid: str,
    callsign: str,
    type: str,
    lat: float,
    lon: float,
    hae: float | None,
    ce: float | None,
    le: float | None,
    time: datetime,
    stale: datetime,
    *,
    group: str | None = None,
    role: str | None = None,
    endpoint: str | None = "*:-1:stcp",
    remarks: str | None = None,
    how: str = "h-e",
) -> bytes:
    """A contact's situational awareness (SA) event: holdfire itself announced as a TAK contact.

    ``ce``/``le`` are CoT's 1-sigma errors (None: unknown). ``endpoint`` defaults to
    ``*:-1:stcp`` ("reach me via the server"), which lets ATAK list the contact and chat with it;
    None omits it.
    """
    root, detail = _event(uid, type, how, time, stale, lat=lat, lon=lon, hae=hae, ce=ce, le=le)
    _sub(detail, "contact", (("endpoint", endpoint), ("callsign", callsign)))
    if group is not None or role is not None:
        _sub(detail, "__group", (("name", group), ("role", role)))
    if remarks is not None:
        _sub(detail, "remarks").text = xml_safe(remarks)
    return _bytes(root)


def pong(now: datetime) -> bytes:
    """The answer to a client's ping (``t-x-c-t``), as TAK Server sends it (stale +20 s)."""
    root, _ = _event("takPong", "t-x-c-t-r", "h-g-i-g-o", now, now + timedelta(seconds=20))
    return _bytes(root)


def _tak_control_event(uid: str, cot_type: str, now: datetime) -> tuple[Any, Any]:
    root, detail = _event(
        uid, cot_type, "m-g", now, now + timedelta(seconds=60), hae=0.0, ce=999999, le=999999
    )
    return root, _sub(detail, "TakControl")


def tak_protocol_support(uid: str, now: datetime, *, server_version: str | None = None) -> bytes:
    """``t-x-takp-v``: the server offers TAK protocol version 1 (send at most once)."""
    root, control = _tak_control_event(uid, "t-x-takp-v", now)
    _sub(control, "TakProtocolSupport", (("version", "1"),))
    if server_version is not None:
        _sub(control, "TakServerVersionInfo", (("serverVersion", server_version),))
    return _bytes(root)


def tak_response(uid: str, now: datetime, ok: bool) -> bytes:
    """``t-x-takp-r``: the answer to a client's ``t-x-takp-q`` request."""
    root, control = _tak_control_event(uid, "t-x-takp-r", now)
    _sub(control, "TakResponse", (("status", "true" if ok else "false"),))
    return _bytes(root)


def disconnect_notice(
    uid_of_leaver: str,
    type_of_leaver: str,
    now: datetime,
    *,
    event_uid: str | None = None,
) -> bytes:
    """``t-x-d-d`` with ``<link relation="p-p">``: tells clients that a user went offline.

    As TAK Server does, the event has a uid of its own (default ``<leaver>.disconnect``) so it never
    replaces the leaver's SA in a store keyed by uid; the leaver is named by the link.
    """
    root, detail = _event(
        event_uid or f"{uid_of_leaver}.disconnect",
        "t-x-d-d",
        "h-g-i-g-o",
        now,
        now + timedelta(seconds=20),
        hae=0.0,
    )
    _sub(detail, "link", (("uid", uid_of_leaver), ("type", type_of_leaver), ("relation", "p-p")))
    return _bytes(root)


def delete_event(uid: str, now: datetime, *, event_uid: str | None = None) -> bytes:
    """``t-x-d-d`` with ``<__forcedelete/>``: clients remove the marker ``uid`` from their map."""
    root, detail = _event(
        event_uid or f"{uid}.delete", "t-x-d-d", "h-g-i-g-o", now, now + timedelta(seconds=60)
    )
    _sub(detail, "link", (("uid", uid), ("type", "none"), ("relation", "none")))
    _sub(detail, "__forcedelete")
    return _bytes(root)


def geochat(
    sender_uid: str,
    sender_callsign: str,
    to_uid: str,
    to_callsign: str,
    text: str,
    now: datetime,
    message_id: str,
    chatroom: str | None = None,
    *,
    lat: float = 0.0,
    lon: float = 0.0,
    stale: datetime | None = None,
) -> bytes:
    """A GeoChat message (``b-t-f``) that ATAK shows in a direct chat with the sender.

    Without ``chatroom`` it is a direct message: ``chatroom`` is the recipient's callsign, ``id``
    and ``chatgrp uid1`` its uid, and ``marti/dest`` names it. With ``chatroom`` (e.g.
    ``"All Chat Rooms"`` or a team name) the message goes to that room instead.
    """
    room = chatroom if chatroom is not None else to_uid
    root, detail = _event(
        f"GeoChat.{sender_uid}.{room}.{message_id}",
        "b-t-f",
        "h-g-i-g-o",
        now,
        stale or now + timedelta(days=1),
        lat=lat,
        lon=lon,
    )
    if chatroom is None:
        parent, shown_room, chat_id = "RootContactGroup", to_callsign, to_uid
    else:
        parent = "RootContactGroup" if chatroom == "All Chat Rooms" else "TeamGroups"
        shown_room, chat_id = chatroom, chatroom
    chat = _sub(
        detail,
        "__chat",
        (
            ("parent", parent),
            ("groupOwner", "false"),
            ("messageId", message_id),
            ("chatroom", shown_room),
            ("id", chat_id),
            ("senderCallsign", sender_callsign),
        ),
    )
    _sub(chat, "chatgrp", (("uid0", sender_uid), ("uid1", chat_id), ("id", chat_id)))
    _sub(detail, "link", (("uid", sender_uid), ("type", "a-f-G-U-C"), ("relation", "p-p")))
    remarks = _sub(
        detail,
        "remarks",
        (("source", f"BAO.F.ATAK.{sender_uid}"), ("to", chat_id), ("time", format_cot_time(now))),
    )
    remarks.text = xml_safe(text)
    if chatroom is None:
        marti = _sub(detail, "marti")
        _sub(marti, "dest", (("callsign", to_callsign),))
    return _bytes(root)


def _signed32(argb: int) -> int:
    value = int(argb) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def circle_shape(
    uid: str,
    lat: float,
    lon: float,
    radius_m: float,
    color_argb: int,
    label: str,
    now: datetime,
    stale: datetime,
    *,
    fill_argb: int | None = None,
    remarks: str | None = None,
    line_width: float = 4.0,
) -> bytes:
    """A drawn circle (``u-d-c-c``) as ATAK draws one: ``<shape><ellipse>`` of ``radius_m``.

    ``color_argb`` is 0xAARRGGBB; the fill defaults to the same colour at alpha 0x40. The style
    link carries the colours as ARGB hex (as ATAK writes them) and ``strokeColor``/``fillColor``
    as signed 32-bit integers. The shape is not editable on clients.
    """
    radius = float(radius_m)
    if not math.isfinite(radius) or radius <= 0:
        raise ValueError(f"radius_m must be a finite number > 0, got {radius_m!r}")
    stroke = int(color_argb) & 0xFFFFFFFF
    fill = (stroke & 0x00FFFFFF) | 0x40000000 if fill_argb is None else int(fill_argb) & 0xFFFFFFFF
    root, detail = _event(uid, "u-d-c-c", "h-e", now, stale, lat=lat, lon=lon)
    shape = _sub(detail, "shape")
    _sub(shape, "ellipse", (("major", _num(radius)), ("minor", _num(radius)), ("angle", "360")))
    link = _sub(
        shape, "link", (("uid", f"{uid}.Style"), ("type", "b-x-KmlStyle"), ("relation", "p-c"))
    )
    style = _sub(link, "Style")
    line_style = _sub(style, "LineStyle")
    _sub(line_style, "color").text = f"{stroke:08x}"
    _sub(line_style, "width").text = _num(line_width)
    _sub(_sub(style, "PolyStyle"), "color").text = f"{fill:08x}"
    _sub(detail, "__shapeExtras", (("cpvis", "true"), ("editable", "false")))
    _sub(detail, "strokeColor", (("value", _signed32(stroke)),))
    _sub(detail, "strokeWeight", (("value", _num(line_width)),))
    _sub(detail, "fillColor", (("value", _signed32(fill)),))
    _sub(detail, "contact", (("callsign", label),))
    _sub(detail, "remarks").text = None if remarks is None else xml_safe(remarks)
    _sub(detail, "labels_on", (("value", "true"),))
    return _bytes(root)

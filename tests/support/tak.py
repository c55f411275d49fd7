"""TAK clients for the tests: events as ATAK writes them, and pytak's own workers on a socket."""

from __future__ import annotations

import asyncio
import uuid
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from configparser import ConfigParser
from datetime import UTC, datetime, timedelta
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pytak warns when aiohttp is missing
    import pytak

TIMEOUT = 5.0  # the longest any single wait may take
AIM = (51.40, 35.60)  # an aimpoint in open country


def cot_time(at: datetime | None = None, offset_s: float = 0.0) -> str:
    when = (at or datetime.now(UTC)) + timedelta(seconds=offset_s)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"


def sa(
    uid: str,
    callsign: str,
    lat: float = AIM[0],
    lon: float = AIM[1],
    *,
    cot_type: str = "a-f-G-U-C",
    team: str = "Cyan",
    endpoint: str | None = "*:-1:stcp",
    ce: float = 5.0,
    at: datetime | None = None,
    remarks: str | None = None,
) -> bytes:
    """An ATAK-like self SA built with pytak (contact, __group, takv)."""
    detail = ET.Element("detail")
    contact = ET.SubElement(detail, "contact", callsign=callsign)
    if endpoint is not None:
        contact.set("endpoint", endpoint)
    ET.SubElement(detail, "__group", name=team, role="Team Member")
    ET.SubElement(
        detail, "takv", device="pytest", platform="holdfire-tests", os="linux", version="1"
    )
    if remarks is not None:
        ET.SubElement(detail, "remarks").text = remarks
    event = pytak.cot_event(
        lat=lat,
        lon=lon,
        ce=ce,
        hae=150.0,
        le=10.0,
        uid=uid,
        stale=120,
        cot_type=cot_type,
        detail=detail,
    )
    if at is not None:
        for name in ("time", "start"):
            event.set(name, cot_time(at))
    data: bytes = pytak.serialize_cot(event)
    return data


def geochat(
    sender_uid: str,
    sender_callsign: str,
    text: str,
    *,
    chatroom: str = "All Chat Rooms",
    chat_id: str = "All Chat Rooms",
    parent: str = "RootContactGroup",
    dest_callsign: str | None = None,
    dest_uid: str | None = None,
) -> bytes:
    """GeoChat (b-t-f) as ATAK sends it; a direct chat names the recipient's uid in `chat_id`."""
    message_id = uuid.uuid4().hex
    now = cot_time()
    event = ET.Element(
        "event",
        version="2.0",
        uid=f"GeoChat.{sender_uid}.{chat_id}.{message_id}",
        type="b-t-f",
        how="h-g-i-g-o",
        time=now,
        start=now,
        stale=cot_time(offset_s=86400),
    )
    ET.SubElement(
        event, "point", lat="0.0", lon="0.0", hae="9999999.0", ce="9999999.0", le="9999999.0"
    )
    detail = ET.SubElement(event, "detail")
    chat = ET.SubElement(
        detail,
        "__chat",
        {
            "parent": parent,
            "groupOwner": "false",
            "messageId": message_id,
            "chatroom": chatroom,
            "id": chat_id,
            "senderCallsign": sender_callsign,
        },
    )
    ET.SubElement(chat, "chatgrp", uid0=sender_uid, uid1=chat_id, id=chat_id)
    ET.SubElement(detail, "link", uid=sender_uid, type="a-f-G-U-C", relation="p-p")
    remarks = ET.SubElement(
        detail, "remarks", source=f"BAO.F.ATAK.{sender_uid}", to=chat_id, time=now
    )
    remarks.text = text
    if dest_callsign is not None or dest_uid is not None:
        marti = ET.SubElement(detail, "marti")
        dest = ET.SubElement(marti, "dest")
        if dest_callsign is not None:
            dest.set("callsign", dest_callsign)
        if dest_uid is not None:
            dest.set("uid", dest_uid)
    return ET.tostring(event)


class PytakClient:
    """pytak's own TXWorker and RXWorker on one pytak connection."""

    def __init__(self, config: Any, reader: Any, writer: Any) -> None:
        self.tx = pytak.TXWorker(asyncio.Queue(), config, writer)
        self.rx_queue: asyncio.Queue[Any] = asyncio.Queue()
        self.rx = pytak.RXWorker(self.rx_queue, config, reader)
        self.received: list[Any] = []
        self.rx_task = asyncio.ensure_future(self._receive())

    async def _receive(self) -> None:
        reader = self.rx.reader
        while not reader.at_eof():
            data = await self.rx.readcot()
            if data is not None:  # pytak's protobuf reader gives None for what it cannot read
                self.received.append(data)

    async def send(self, xml: bytes) -> None:
        await asyncio.wait_for(self.tx.send_data(xml), TIMEOUT)

    async def wait_message(self, pred: Callable[[Any], bool]) -> Any:
        """A TakMessage pytak's protobuf RXWorker decoded."""
        for _ in range(int(TIMEOUT / 0.01)):
            for data in self.received:
                if not isinstance(data, bytes | bytearray) and pred(data):
                    return data
            await asyncio.sleep(0.01)
        raise AssertionError(f"pytak decoded no matching message: {self.received}")

    async def wait_for(self, pred: Callable[[ET.Element], bool], what: str) -> ET.Element:
        """pytak hands over raw `...</event>` chunks: parse them and look for a match."""
        for _ in range(int(TIMEOUT / 0.01)):
            for data in self.received:
                if not isinstance(data, bytes | bytearray):
                    continue
                text = bytes(data).strip()
                if text.startswith(b"<?xml"):
                    text = text[text.index(b"?>") + 2 :].strip()
                root = ET.fromstring(text)
                if pred(root):
                    return root
            await asyncio.sleep(0.01)
        raise AssertionError(f"pytak client received no {what}")


async def open_pytak(name: str, **options: str) -> PytakClient:
    """A pytak connection configured as pytak reads its config (COT_URL, TAK_PROTO …)."""
    cfg = ConfigParser()
    cfg[name] = options
    section = cfg[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pytak sets ssl.OP_NO_TLSv1
        reader, writer = await asyncio.wait_for(pytak.protocol_factory(section), TIMEOUT)
    return PytakClient(section, reader, writer)

"""Commands sent to holdfire over GeoChat, and holdfire's own messages to TAK clients.

`CHECK` runs a check for the sender and answers with the verdict and a circle on the map
coloured by it; `MSG` sends a catalog message; `ACK` and `WILCO` acknowledge one; `HELP` lists
the commands. Replies go to the sender if still connected, else wait for it in the mailbox; they
start with an English word (the verdict, `SENT`, `ACKED`, `ERROR`) and never carry a traceback.

Messages reach TAK clients as GeoChat from holdfire (`on_service_events`, subscribed to the
service's hub by the server): every first delivery and every re-send, to the recipient's uid,
in its language with the English text and the reference to acknowledge with
(`format_delivery`). Acknowledgements and escalations are bookkeeping and send nothing here
(an escalation's own ACK_OVERDUE message to the parent is a delivery like any other). A
recipient that is not connected finds the message in the mailbox when it connects; that
includes units that never used TAK (bounded by the mailbox's limits and time to live).

Who speaks (decisions):

- `MSG` is sent as the client's label (`tak:<certificate name>`, or
  `tak-unauthenticated:<callsign>@<address>`); only a certificate makes it speak *for* a unit
  (`sender_uid`), which is what lets DISMOUNT_COMPLETE, MOUNTED and WITHDRAWING_IN act on the
  pairing watch and keeps the sender out of its own group's recipients. The recipient sees who
  it is from.
- `ACK`/`WILCO` over TLS acknowledge for the certificate's uid (`by` the label). A client
  without a certificate acknowledges only as the uid it identified itself with: its own SA's
  uid if it sent one, and every sender the chat names (`chatgrp uid0`, `link`, the GeoChat uid,
  `remarks@source`) must be that same uid; a uid a certificate speaks for is refused (fail
  closed: over TLS only). Such an acknowledgement is recorded as `unauthenticated:<uid>`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from holdfire.adapters.net.cot_connection import CotConnection, Peer
from holdfire.adapters.net.cot_routing import Outgoing
from holdfire.codecs.chat_commands import (
    HELP_TEXT,
    AckCommand,
    BadCommand,
    CheckCommand,
    HelpCommand,
    MessageCommand,
    format_delivery,
    format_reply,
    message_params,
    parse_command,
)
from holdfire.codecs.cot_xml import CotEvent, circle_shape, geochat
from holdfire.domain.checks import CheckRequest, Clearance, Verdict
from holdfire.domain.errors import DomainError, NotAllowed, NotFound
from holdfire.domain.events import Event
from holdfire.domain.messages import (
    GROUP_PREFIX,
    PAIRING_PREFIX,
    UNAUTHENTICATED,
    Delivery,
    Message,
)
from holdfire.engine.coordination import HOLDFIRE
from holdfire.geo import GeoError, parse_location
from holdfire.service.messaging import to_carry
from holdfire.service.ports import StoreError, StoreNotWritable

if TYPE_CHECKING:
    from holdfire.adapters.net.cot_server import CotServer

log = logging.getLogger("holdfire.cot")
NOT_READY = "ERROR not ready: this server is still catching up with its cluster; try again shortly"

_VERDICT_COLOURS = {  # ARGB, as ATAK writes them
    Verdict.HOLD: 0xFFFF0000,
    Verdict.DANGER_CLOSE: 0xFFFF8000,
    Verdict.COORDINATE: 0xFFFFFF00,
    Verdict.NO_KNOWN_CONFLICT: 0xFF00FFFF,
}


class CommandDesk:
    """Answers commands addressed to holdfire and sends holdfire's own GeoChat."""

    def __init__(self, server: CotServer) -> None:
        self.server = server

    async def command(self, conn: CotConnection, event: CotEvent) -> None:
        chat = event.chat
        text = (chat.text if chat is not None else None) or event.remarks or ""
        command = parse_command(text)
        if isinstance(command, HelpCommand):
            self._reply(conn, event, HELP_TEXT)
        elif isinstance(command, BadCommand):
            self._reply(conn, event, f"ERROR {command.message}")
        elif isinstance(command, MessageCommand | AckCommand):
            try:
                if isinstance(command, MessageCommand):
                    reply = await self._message(conn.peer, command)
                else:
                    reply = await self._ack(conn.peer, event, command)
            except (DomainError, NotFound, NotAllowed, GeoError) as exc:
                reply = f"ERROR {exc}"
            except StoreError as exc:
                if not isinstance(exc, StoreNotWritable):  # that one the store logs, once
                    name = type(command).__name__
                    log.error("%s from %s not stored: %s", name, conn.peer.label, exc)
                reply = "ERROR it could not be recorded; nothing was done, try again"
            except Exception:  # the sender must hear back whatever happened
                log.exception("%s from %s failed", type(command).__name__, conn.peer.label)
                reply = "ERROR holdfire could not do this; try again"
            self._reply(conn, event, reply)
        elif isinstance(command, CheckCommand):
            if not self.server.service.ready:
                self._reply(conn, event, NOT_READY)
                return
            try:
                clearance = await self._check(conn.peer, command)
            except GeoError as exc:
                self._reply(conn, event, f"ERROR target: {exc}")
                return
            except StoreError as exc:
                if not isinstance(exc, StoreNotWritable):
                    log.error("check from %s not stored: %s", conn.peer.label, exc)
                self._reply(conn, event, "ERROR the check could not be recorded; try again")
                return
            except Exception:  # the requester must hear back whatever happened
                log.exception("check from %s failed", conn.peer.label)
                self._reply(conn, event, "ERROR holdfire could not evaluate this check; try again")
                return
            reply = format_reply(clearance)
            if conn.peer.bound_uid is None:
                reply += "\n(unauthenticated request: recorded as such)"
            self._reply(conn, event, reply)
            self._send_footprint(conn, event, clearance, command)

    async def _check(self, peer: Peer, command: CheckCommand) -> Clearance:
        location = parse_location(command.target)
        request = CheckRequest(
            lat=location.lat,
            lon=location.lon,
            weapon=command.weapon,
            cell_m=location.cell_m,
            target_type=command.target_type,
            pid=command.pid,
            pid_detail=command.pid_detail,
            firing_unit=peer.bound_uid,  # only a certificate says which unit is asking
            requester=peer.label,
        )
        return await self.server.service.check(request)

    async def _message(self, peer: Peer, command: MessageCommand) -> str:
        service = self.server.service
        params = message_params(service.catalog.definition(command.code), command.params)
        message, deliveries = await service.send_message(
            command.code,
            params,
            self._address(command.to),
            sender=peer.label,
            sender_uid=peer.bound_uid,
            attachment=command.attachment,
        )
        n = len(deliveries)
        reply = f"SENT {message.code} to {n} recipient{'' if n == 1 else 's'}"
        if n == 0:
            reply += " (none of them is active)"
        return f"{reply}; message {message.id[:8]}"

    def _address(self, to: str) -> str:
        """A uid, `group:NAME` or `pairing:ID` as given; else the one unit with that callsign."""
        if to.lower().startswith((GROUP_PREFIX, PAIRING_PREFIX)):
            prefix, _, rest = to.partition(":")
            return f"{prefix.lower()}:{rest}"
        uid = self.server.service.unit_named(to)
        if uid is None:
            raise DomainError("to", f"{to!r} names no single registered unit; give its uid")
        return uid

    async def _ack(self, peer: Peer, event: CotEvent, command: AckCommand) -> str:
        if peer.bound_uid is not None:
            uid, by = peer.bound_uid, peer.label
        else:
            uid = self._unauthenticated_uid(peer, event)
            by = f"{UNAUTHENTICATED}{uid}"
        acked = await self.server.service.ack_message(command.ref, by=by, recipient=uid)
        codes = ", ".join(sorted({d.code for d in acked}))
        refs = ", ".join(sorted({d.message_id[:8] for d in acked}))
        reply = f"ACKED {codes} (message {refs}) for {uid}"
        if peer.bound_uid is None:
            reply += "\n(unauthenticated acknowledgement: recorded as such)"
        return reply

    def _unauthenticated_uid(self, peer: Peer, event: CotEvent) -> str:
        """The one uid a client without a certificate may acknowledge as, or NotAllowed."""
        named = chat_senders(event)
        uid = peer.uid or (next(iter(named)) if len(named) == 1 else None)
        if uid is None or any(other != uid for other in named):
            raise NotAllowed(
                "ACK without a certificate: send your own SA first, and acknowledge only as "
                "the uid you send it from"
            )
        if self.server.certified_elsewhere(peer, uid):
            raise NotAllowed(f"{uid} is bound to a certificate: acknowledge over TLS with it")
        return uid

    def on_service_events(self, events: Sequence[Event]) -> None:
        """A hub listener: every first delivery and every re-send goes out as GeoChat.

        Called on the event loop right after the store took the events; it only queues (a
        connected client's bytes, or the mailbox with its durable copy written by a task)."""
        coordinator = self.server.service.coordinator
        for delivery in to_carry(events):
            if self._on_tak(delivery.recipient):
                self.send_delivery(delivery, coordinator.message(delivery.message_id))

    def on_remote_events(self, events: Sequence[Event]) -> None:
        """A hub listener for what other nodes took: their deliveries to recipients connected
        here (the node that took a message keeps it for those who are offline)."""
        coordinator = self.server.service.coordinator
        for delivery in to_carry(events):
            if delivery.recipient in self.server.by_uid:
                self.send_delivery(delivery, coordinator.message(delivery.message_id))

    def _on_tak(self, uid: str) -> bool:
        """Is `uid` a TAK client: connected now, or last heard of over CoT? Units that report
        only over HTTP or MQTT get nothing kept here (their deliveries stay pending in the store
        and are re-sent until acknowledged, so a device that comes onto TAK later still gets
        them)."""
        if uid in self.server.by_uid:
            return True
        track = self.server.service.picture.track(uid)
        return track is not None and track.latest.source.startswith("cot")

    def send_delivery(self, delivery: Delivery, message: Message | None) -> bool:
        """One delivery as GeoChat from holdfire to its recipient (now, or kept for it)."""
        return self.send_text(delivery.recipient, format_delivery(delivery, self._sender(message)))

    def _sender(self, message: Message | None) -> str | None:
        """Who a message is from, as its recipient should read it; None for holdfire's own."""
        if message is None or message.sender == HOLDFIRE:
            return None
        if message.sender_uid is not None:
            unit = self.server.service.picture.unit(message.sender_uid)
            return unit.callsign if unit is not None else message.sender_uid
        return message.sender

    def send_text(self, uid: str, text: str) -> bool:
        """A GeoChat from holdfire to `uid`; True if it went out now, False if it is kept."""
        conn = self.server.by_uid.get(uid)
        unit = self.server.service.picture.unit(uid)
        callsign = (conn.peer.callsign if conn is not None else None) or (
            unit.callsign if unit is not None else uid
        )
        out = Outgoing(
            geochat(
                self.server.config.server_uid,
                self.server.config.callsign,
                uid,
                callsign,
                text,
                self.server.clock.now(),
                message_id=self.server.service.new_id(),
            )
        )
        if conn is not None and not conn.closing:
            conn.send_message(out)
            return True
        self.server.mailbox.keep(uid, out)
        return False

    @staticmethod
    def _requester(conn: CotConnection, event: CotEvent) -> tuple[str, str]:
        """(uid, callsign) to answer a command: the connection's own, else what the chat says."""
        chat = event.chat
        to_uid = conn.peer.uid or (chat.link_uid if chat else None) or event.uid
        to_callsign = conn.peer.callsign or (chat.sender_callsign if chat else None) or to_uid
        return to_uid, to_callsign

    def _reply(self, conn: CotConnection, event: CotEvent, text: str) -> None:
        to_uid, to_callsign = self._requester(conn, event)
        now = self.server.clock.now()
        out = Outgoing(
            geochat(
                self.server.config.server_uid,
                self.server.config.callsign,
                to_uid,
                to_callsign,
                text,
                now,
                message_id=self.server.service.new_id(),
            )
        )
        self._send_to(conn, to_uid, out)

    def _send_to(self, conn: CotConnection, uid: str, out: Outgoing) -> None:
        """A message for the client on `conn`: there if it is still connected, else kept."""
        if not conn.closing:
            conn.send_message(out)
            return
        current = self.server.by_uid.get(uid)
        if current is not None and not current.closing:
            current.send_message(out)
        elif conn.peer.uid is not None and self.server.by_uid.get(uid) is conn:
            conn.sink.messages.append(out)  # it is leaving: left() keeps these for it
        else:
            self.server.mailbox.keep(uid, out)

    def _send_footprint(
        self, conn: CotConnection, event: CotEvent, clearance: Clearance, cmd: CheckCommand
    ) -> None:
        tables = self.server.service.picture.tables
        weapon = tables.weapons.get(cmd.weapon) or tables.worst_weapon()
        request = clearance.request
        radius = weapon.red01_m + weapon.cep_m + request.tle_m + request.cell_m
        now = self.server.clock.now()
        shape = circle_shape(
            f"holdfire-check-{clearance.id}",
            clearance.target.lat,
            clearance.target.lon,
            radius,
            _VERDICT_COLOURS[clearance.verdict],
            f"{clearance.verdict.value} {cmd.weapon}",
            now,
            now + timedelta(minutes=10),
            remarks=format_reply(clearance),
        )
        self._send_to(conn, self._requester(conn, event)[0], Outgoing(shape))


def chat_senders(event: CotEvent) -> set[str]:
    """Every uid a GeoChat names as its sender: event uid, link, chatgrp uid0, remarks source."""
    senders = set(event.link_uids[:1])
    parts = event.uid.split(".")
    if len(parts) >= 4 and parts[0] == "GeoChat":
        senders.add(".".join(parts[1:-2]))
    chat = event.chat
    if chat is not None:
        if chat.link_uid:
            senders.add(chat.link_uid)
        if chat.chatgrp_uids:
            senders.add(chat.chatgrp_uids[0])
        if chat.remarks_source and chat.remarks_source.startswith("BAO.F.ATAK."):
            senders.add(chat.remarks_source.removeprefix("BAO.F.ATAK."))
    senders.discard("")
    return senders

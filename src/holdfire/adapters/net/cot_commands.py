"""Commands sent to holdfire over GeoChat, and holdfire's own messages to TAK clients.

`CHECK` runs a check for the sender and answers with the verdict and a circle on the map
coloured by it; `HELP` lists the commands. Replies go to the sender if still connected, else
wait for it in the mailbox.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from holdfire.adapters.net.cot_connection import CotConnection, Peer
from holdfire.adapters.net.cot_routing import Outgoing
from holdfire.codecs.chat_commands import (
    HELP_TEXT,
    BadCommand,
    CheckCommand,
    HelpCommand,
    format_reply,
    parse_command,
)
from holdfire.codecs.cot_xml import CotEvent, circle_shape, geochat
from holdfire.domain.alerts import Alert
from holdfire.domain.checks import CheckRequest, Clearance, Verdict
from holdfire.geo import GeoError, parse_location
from holdfire.service.ports import StoreError

if TYPE_CHECKING:
    from holdfire.adapters.net.cot_server import CotServer

log = logging.getLogger("holdfire.cot")

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
            self._reply(conn, event, command.message)
        elif isinstance(command, CheckCommand):
            try:
                clearance = await self._check(conn.peer, command)
            except GeoError as exc:
                self._reply(conn, event, f"target: {exc}")
                return
            except StoreError as exc:
                log.error("check from %s not stored: %s", conn.peer.label, exc)
                self._reply(conn, event, "the check could not be recorded; try again")
                return
            except Exception:  # the requester must hear back whatever happened
                log.exception("check from %s failed", conn.peer.label)
                self._reply(conn, event, "holdfire could not evaluate this check; try again")
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

    def push_alert(self, alert_id: str, alert: Alert) -> int:
        """Tell an alert's recipients, as GeoChat from holdfire: at once to those connected,
        when they reconnect to the others. Returns how many were reached at once."""
        text = f"ALERT {alert.kind.value}: {alert.detail} (alert {alert_id[:8]})"
        return sum(1 for uid in alert.recipients if self.send_text(uid, text))

    def send_text(self, uid: str, text: str) -> bool:
        """A GeoChat from holdfire to `uid`; True if it went out now, False if it is kept."""
        conn = self.server.by_uid.get(uid)
        callsign = (conn.peer.callsign if conn is not None else None) or uid
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

"""Coordination: who is told what, in which language, and who has not answered (pure).

Fed the facts the service learns (a message sent, an acknowledgement, a position, a unit
registered, the time passing), the coordinator returns what follows from them: deliveries of
catalog messages to each recipient in its own language, re-sends, escalations, alerts raised
and cleared, pairings made or closed. It does no I/O and reads no clock; ids come from the
function it is given, so a scenario replays it exactly at any speed.

Rules (domain.md §7; decisions written down here):

- **Addresses.** A uid, `group:NAME` (every active unit of that group) or `pairing:ID` (the
  vehicle and its dismounts). The sending unit never receives its own message.
- **Acknowledgements.** A delivery that needs one is re-sent every `ack_timeout_s` until
  acknowledged; after `max_attempts` sends it is escalated once: an ACK_OVERDUE alert to the
  recipient's parent unit (and the fires cells' stream) and an ACK_OVERDUE message to the parent
  in its language. A recipient acknowledges by ACK/WILCO (`ref`: the message or delivery id, or
  its first 8 characters) or through the API; a planner may acknowledge for a recipient.
- **Pairing watch.** A pairing is watched from its creation (POST /pairings, or a
  DISMOUNT_COMPLETE sent by the vehicle to its team) until MOUNTED. For each dismount: alert when
  the gap exceeds the pairing's `max_separation_m` (default 150 m) and is growing, or the gap
  grows faster than `leaving_speed_mps` (10 km/h); escalate beyond `escalate_m` (400 m) or when
  either side's track is stale or lost. Nothing is raised once a WITHDRAWING_IN the vehicle sent
  has been acknowledged by the team over an authenticated channel. An alert goes to both
  sides and their parents: the team gets SEPARATION_WARNING in its language, the vehicle
  WAIT_FOR_US in its own, the parents SEPARATION_WARNING. It clears once the pair has closed
  up again: the gap is within the threshold and at least `CLOSING_M` smaller than when the
  alert was raised.
- **Staleness.** A registered active unit whose track turns stale, or lost, raises one STALE or
  LOST alert per transition to its parent (LOST_CONTACT_WITH in the parent's language) and the
  stream; it clears when the unit reports fresh again.
- **Lookalike arrival.** A unit fielding equipment of a lookalike family, when it registers
  with that equipment or first reports, raises a LOOKALIKE_ARRIVAL alert (for the fires cells)
  and sends LOOKALIKE_ARRIVAL to every unit within `lookalike_radius_m` (30 km) of it, except
  units told of that family in the last `lookalike_repeat_s` (an hour): the alert names every
  arrival, the units are warned once, not once per vehicle.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from holdfire.domain.alerts import Alert, AlertKind
from holdfire.domain.catalog import Catalog
from holdfire.domain.errors import DomainError, NotFound
from holdfire.domain.measures import CircleGeometry, Measure, PolygonGeometry
from holdfire.domain.messages import GROUP_PREFIX, PAIRING_PREFIX, Delivery, Message, ParamValue
from holdfire.domain.pairings import Pairing
from holdfire.domain.reports import PositionReport
from holdfire.domain.tracks import TrackState, state_at
from holdfire.domain.units import Unit, UnitStatus
from holdfire.engine.picture import Picture
from holdfire.geo import distance_m, frame_for, to_mgrs

HOLDFIRE = "holdfire"  # the sender of every message holdfire itself sends
ESCALATED = "escalated: "  # how an escalated SEPARATION alert's detail starts
CLOSING_M = 10.0  # a raised pair clears once the gap is this much smaller and under threshold


@dataclass(frozen=True, slots=True)
class CoordinationConfig:
    separation_m: float = 150.0
    escalate_m: float = 400.0
    leaving_speed_mps: float = 10.0 / 3.6
    ack_timeout_s: float = 60.0
    max_attempts: int = 3  # sends, the first included, before escalating
    max_resends_per_tick: int = 200  # and as many track state changes
    lookalike_radius_m: float = 30_000.0
    lookalike_repeat_s: float = 3600.0  # a unit hears of a family's arrivals once per this


@dataclass(slots=True)
class Outcome:
    """Everything that follows from one fact; the service records and sends it."""

    messages: list[Message] = field(default_factory=list)  # holdfire's own prompts
    deliveries: list[Delivery] = field(default_factory=list)  # new
    updated: list[Delivery] = field(default_factory=list)  # acked, re-sent or escalated
    alerts: list[tuple[str, Alert]] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)  # alert ids
    pairings: list[Pairing] = field(default_factory=list)  # made by DISMOUNT_COMPLETE
    closed_pairings: list[str] = field(default_factory=list)  # MOUNTED

    def merge(self, other: Outcome) -> Outcome:
        for name in self.__slots__:
            getattr(self, name).extend(getattr(other, name))
        return self


@dataclass(slots=True)
class _Watch:
    """One pairing under watch: per dismount, the last gap seen and the alert level raised."""

    pairing: Pairing
    gaps: dict[str, tuple[float, datetime]] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)  # 0 none, 1 separation, 2 escalated
    alert_ids: dict[str, str] = field(default_factory=dict)
    alert_gaps: dict[str, float] = field(default_factory=dict)  # the gap when last raised
    withdrawals: set[str] = field(default_factory=set)  # WITHDRAWING_IN message ids sent
    withdrawal_acked: bool = False


class Coordinator:
    def __init__(
        self,
        picture: Picture,
        catalog: Catalog,
        new_id: Callable[[], str],
        config: CoordinationConfig | None = None,
        lookalike_families: frozenset[str] = frozenset(),
    ) -> None:
        self.picture = picture
        self.catalog = catalog
        self.config = config or CoordinationConfig()
        self._new_id = new_id
        self._lookalikes = lookalike_families
        self._deliveries: dict[str, Delivery] = {}  # pending acknowledgement
        self._due: list[tuple[datetime, str, int]] = []  # (re-send due, delivery id, attempts)
        self._messages: dict[str, Message] = {}
        self._watches: dict[str, _Watch] = {}
        self._states: dict[str, TrackState] = {}
        self._state_alerts: dict[str, str] = {}  # uid -> open STALE/LOST alert id
        self._state_due: list[tuple[datetime, str]] = []
        self._state_at: dict[str, datetime] = {}  # uid -> the moment it is queued for
        self._announced: set[str] = set()  # lookalike fielders already announced
        self._told: dict[tuple[str, str], datetime] = {}  # (uid, family) -> last notice

    # --- restoring after a restart ---------------------------------------------------------

    def restore(
        self,
        pairings: Iterable[Pairing],
        messages: Iterable[Message],
        deliveries: Iterable[Delivery],
        open_state_alerts: Mapping[str, tuple[str, TrackState]],
        announced: Iterable[str],
        now: datetime,
        open_separations: Mapping[tuple[str, str], tuple[str, int]] | None = None,
    ) -> None:
        """Rebuild from what the store kept: no alert is raised again for what was raised.

        `open_separations` maps (pairing id, dismount uid) to the open SEPARATION alert and its
        level (2 once escalated), so a pair still apart is not alerted afresh by a restart.
        """
        for pairing in pairings:
            self.watch(pairing)
        for (pairing_id, dismount), (alert_id, level) in (open_separations or {}).items():
            watch = self._watches.get(pairing_id)
            if watch is None or dismount not in watch.pairing.dismounts:
                continue
            watch.levels[dismount] = level
            watch.alert_ids[dismount] = alert_id
            gap = watch.gaps.get(dismount)
            threshold = watch.pairing.max_separation_m or self.config.separation_m
            watch.alert_gaps[dismount] = gap[0] if gap is not None else threshold
        for message in messages:
            self._messages[message.id] = message
            if message.code == "WITHDRAWING_IN":
                for watch in self._watches.values():
                    if message.sender_uid == watch.pairing.vehicle:
                        watch.withdrawals.add(message.id)
        for delivery in deliveries:
            self._note_withdrawal_ack(delivery)
            if delivery.pending:
                self._track_ack(delivery, now)
        for uid, (alert_id, state) in open_state_alerts.items():
            self._state_alerts[uid] = alert_id
            self._states[uid] = state
        self._announced.update(announced)
        for track in self.picture.tracks():
            if track.uid not in self._states and self.picture.unit(track.uid) is not None:
                self._states[track.uid] = self._state(track.uid, now)
            self._schedule_state(track.uid)

    # --- what another node of the cluster did ------------------------------------------------

    def absorb_message(
        self, message: Message, deliveries: Iterable[Delivery], now: datetime
    ) -> None:
        """A message another node sent: kept, and its deliveries awaited, as if sent here."""
        self._messages[message.id] = message
        if message.code == "WITHDRAWING_IN":
            for watch in self._watches.values():
                if message.sender_uid == watch.pairing.vehicle:
                    watch.withdrawals.add(message.id)
        self.absorb_deliveries(deliveries, now)

    def absorb_deliveries(self, deliveries: Iterable[Delivery], now: datetime) -> None:
        """Deliveries as another node left them (acknowledged, re-sent or escalated)."""
        for delivery in deliveries:
            self._note_withdrawal_ack(delivery)
            if delivery.pending:
                self._track_ack(delivery, now)
            else:
                self._deliveries.pop(delivery.id, None)

    def unwatch(self, pairing_id: str) -> None:
        """Another node closed a pairing."""
        self._watches.pop(pairing_id, None)

    # --- messages --------------------------------------------------------------------------

    def recipients(self, to: str, exclude: str | None = None) -> list[Unit]:
        """The units an address reaches (active ones; never the sender)."""
        if to.startswith(GROUP_PREFIX):
            group = to.removeprefix(GROUP_PREFIX)
            units = [u for u in self.picture.units() if u.group == group]
            if not units:
                raise DomainError("to", f"no unit is in group {group!r}")
        elif to.startswith(PAIRING_PREFIX):
            watch = self._watches.get(to.removeprefix(PAIRING_PREFIX))
            if watch is None:
                raise DomainError("to", f"no open pairing {to.removeprefix(PAIRING_PREFIX)!r}")
            uids = (watch.pairing.vehicle, *watch.pairing.dismounts)
            units = [u for u in (self.picture.unit(uid) for uid in uids) if u is not None]
        else:
            unit = self.picture.unit(to)
            if unit is None:
                raise DomainError("to", f"{to!r} is not a registered unit")
            units = [unit]
        return sorted(
            (u for u in units if u.status is UnitStatus.ACTIVE and u.uid != exclude),
            key=lambda u: u.uid,
        )

    def send(self, message: Message, now: datetime) -> Outcome:
        """Deliver a message to every unit its address reaches, and act on what it says."""
        recipients = self.recipients(message.to, exclude=message.sender_uid)
        outcome = Outcome()
        self._messages[message.id] = message
        outcome.deliveries = [self._deliver(message, unit, now) for unit in recipients]
        sender = message.sender_uid
        if message.code in ("ACK", "WILCO") and sender is not None:
            ref = message.params.get("ref")
            if isinstance(ref, str):
                outcome.merge(self.ack(ref, now, by=sender, recipient=sender))
        elif message.code == "DISMOUNT_COMPLETE" and sender is not None:
            dismounts = tuple(u.uid for u in recipients)
            if dismounts:
                pairing = Pairing(self._new_id(), sender, dismounts, now, message.sender)
                self.watch(pairing)
                outcome.pairings.append(pairing)
        elif message.code == "MOUNTED" and sender is not None:
            for watch in list(self._watches.values()):
                if sender in (watch.pairing.vehicle, *watch.pairing.dismounts):
                    outcome.merge(self._close(watch))
        elif message.code == "WITHDRAWING_IN" and sender is not None:
            for watch in self._watches.values():
                if watch.pairing.vehicle == sender:
                    watch.withdrawals.add(message.id)
        return outcome

    def message(self, message_id: str) -> Message | None:
        """A message sent since the start (or restored), by id."""
        return self._messages.get(message_id)

    def _deliver(self, message: Message, unit: Unit, now: datetime) -> Delivery:
        rendered = self.catalog.render(message.code, message.params, unit.language)
        text = (
            rendered.text if not message.attachment else f"{rendered.text} — {message.attachment}"
        )
        text_en = (
            rendered.text_en
            if not message.attachment
            else (f"{rendered.text_en} — {message.attachment}")
        )
        delivery = Delivery(
            id=self._new_id(),
            message_id=message.id,
            code=message.code,
            recipient=unit.uid,
            language=rendered.language_used,
            text=text,
            text_en=text_en,
            sent_at=now,
            ack_required=message.ack_required,
            fallback=rendered.fallback,
        )
        if delivery.pending:
            self._track_ack(delivery, now)
        return delivery

    def notify(
        self, code: str, params: dict[str, ParamValue], to: Iterable[str], now: datetime, cause: str
    ) -> Outcome:
        """holdfire's own message to each of `to` (uids), in their languages."""
        outcome = Outcome()
        for uid in dict.fromkeys(to):
            unit = self.picture.unit(uid)
            if unit is None or unit.status is not UnitStatus.ACTIVE:
                continue
            message = Message(
                id=self._new_id(),
                code=code,
                params=params,
                to=uid,
                sender=HOLDFIRE,
                created_at=now,
                ack_required=self.catalog.definition(code).ack_required,
                cause=cause,
            )
            self._messages[message.id] = message
            outcome.messages.append(message)
            outcome.deliveries.append(self._deliver(message, unit, now))
        return outcome

    # --- acknowledgements ------------------------------------------------------------------

    def ack(self, key: str, now: datetime, *, by: str, recipient: str | None = None) -> Outcome:
        """Acknowledge the deliveries of a message (by id, delivery id, or an 8+ character
        prefix of either); `recipient` limits it to that unit's deliveries."""
        key = key.strip().lower()
        if len(key) < 8:
            raise DomainError("ref", "give the message id or at least its first 8 characters")
        matches = [
            d
            for d in self._deliveries.values()
            if (d.id.startswith(key) or d.message_id.startswith(key))
            and (recipient is None or d.recipient == recipient)
        ]
        if not matches:
            raise NotFound("unacknowledged delivery", key)
        outcome = Outcome()
        for delivery in matches:
            done = replace(delivery, acked_at=now, acked_by=by)
            del self._deliveries[delivery.id]
            self._note_withdrawal_ack(done)
            outcome.updated.append(done)
        return outcome

    def _note_withdrawal_ack(self, delivery: Delivery) -> None:
        # Only an acknowledgement someone can be held to silences the watch (fail closed): an
        # unauthenticated one is recorded, but the pair stays watched.
        if delivery.code != "WITHDRAWING_IN" or not delivery.acked_by_someone_known:
            return
        for watch in self._watches.values():
            if delivery.message_id in watch.withdrawals and (
                delivery.recipient in watch.pairing.dismounts
            ):
                watch.withdrawal_acked = True

    def _track_ack(self, delivery: Delivery, now: datetime) -> None:
        self._deliveries[delivery.id] = delivery
        due = now + timedelta(seconds=self.config.ack_timeout_s)
        heapq.heappush(self._due, (due, delivery.id, delivery.attempts))

    def pending(self) -> list[Delivery]:
        return sorted(self._deliveries.values(), key=lambda d: (d.sent_at, d.id))

    def _resend_due(self, now: datetime) -> Outcome:
        """Re-send or escalate what is due, oldest first, at most `max_resends_per_tick`: after
        a bulk registration thousands fall due at once, and the rest can wait a tick or two
        rather than starve the checks."""
        outcome = Outcome()
        budget = self.config.max_resends_per_tick
        while self._due and self._due[0][0] <= now and budget > 0:
            budget -= 1
            _, delivery_id, attempts = heapq.heappop(self._due)
            delivery = self._deliveries.get(delivery_id)
            if delivery is None or delivery.attempts != attempts or delivery.escalated_at:
                continue
            if delivery.attempts < self.config.max_attempts:
                again = replace(delivery, attempts=delivery.attempts + 1, sent_at=now)
                self._track_ack(again, now)
                outcome.updated.append(again)
            else:
                outcome.merge(self._escalate(delivery, now))
        return outcome

    def _escalate(self, delivery: Delivery, now: datetime) -> Outcome:
        escalated = replace(delivery, escalated_at=now)
        self._deliveries[delivery.id] = escalated  # still waiting, no more re-sends
        unit = self.picture.unit(delivery.recipient)
        parent = unit.parent if unit is not None else None
        name = unit.callsign if unit is not None else delivery.recipient
        alert_id = self._new_id()
        alert = Alert(
            AlertKind.ACK_OVERDUE,
            subjects=(delivery.recipient, delivery.message_id),
            detail=f"{name} has not acknowledged {delivery.code} (message "
            f"{delivery.message_id[:8]}) after {delivery.attempts} sends",
            created_at=now,
            recipients=(parent,) if parent else (),
        )
        outcome = Outcome(updated=[escalated], alerts=[(alert_id, alert)])
        if parent:
            params: dict[str, ParamValue] = {"unit": name, "ref": delivery.message_id[:8]}
            outcome.merge(self.notify("ACK_OVERDUE", params, [parent], now, alert_id))
        return outcome

    # --- pairings --------------------------------------------------------------------------

    def watch(self, pairing: Pairing) -> None:
        """Start watching a pairing from the gap it has now, so the first move already counts."""
        watch = _Watch(pairing)
        for dismount in pairing.dismounts:
            gap = self._gap_of(pairing.vehicle, dismount)
            if gap is not None:
                watch.gaps[dismount] = gap
        self._watches[pairing.id] = watch

    def pairings(self) -> list[Pairing]:
        """The pairings under watch (until MOUNTED), by id."""
        return sorted((w.pairing for w in self._watches.values()), key=lambda p: p.id)

    def _close(self, watch: _Watch) -> Outcome:
        del self._watches[watch.pairing.id]
        return Outcome(cleared=list(watch.alert_ids.values()), closed_pairings=[watch.pairing.id])

    def _gap_of(self, a: str, b: str) -> tuple[float, datetime] | None:
        ta, tb = self.picture.track(a), self.picture.track(b)
        if ta is None or tb is None:
            return None
        ra, rb = ta.latest, tb.latest
        return distance_m(ra.lat, ra.lon, rb.lat, rb.lon), max(ra.observed_at, rb.observed_at)

    def _judge(self, watch: _Watch, dismount: str, now: datetime) -> Outcome:
        pairing = watch.pairing
        found = self._gap_of(pairing.vehicle, dismount)
        if found is None:
            return Outcome()
        gap, seen = found
        previous = watch.gaps.get(dismount)
        watch.gaps[dismount] = (gap, seen)
        growing = previous is not None and gap > previous[0] + 1.0
        leaving = False
        if previous is not None and seen > previous[1]:
            rate = (gap - previous[0]) / (seen - previous[1]).total_seconds()
            leaving = rate > self.config.leaving_speed_mps
        threshold = pairing.max_separation_m or self.config.separation_m
        aged = any(
            self._state(uid, now) is not TrackState.FRESH for uid in (pairing.vehicle, dismount)
        )
        current = watch.levels.get(dismount, 0)
        if gap > self.config.escalate_m or (aged and gap > threshold):
            level = 2
        elif (gap > threshold and growing) or leaving:
            level = 1
        elif current and gap <= threshold and gap < watch.alert_gaps[dismount] - CLOSING_M:
            level = 0  # they closed up again
        else:
            level = current  # apart but not parting further: stays as it was
        if level == 0 and current > 0:
            watch.levels[dismount] = 0
            alert_id = watch.alert_ids.pop(dismount, None)
            return Outcome(cleared=[alert_id] if alert_id else [])
        if level <= current or watch.withdrawal_acked:
            return Outcome()
        watch.levels[dismount] = level
        watch.alert_gaps[dismount] = gap
        return self._separation_alert(watch, dismount, gap, level, now)

    def _separation_alert(
        self, watch: _Watch, dismount: str, gap: float, level: int, now: datetime
    ) -> Outcome:
        pairing = watch.pairing
        vehicle, team = self.picture.unit(pairing.vehicle), self.picture.unit(dismount)
        vehicle_name = vehicle.callsign if vehicle is not None else pairing.vehicle
        team_name = team.callsign if team is not None else dismount
        parents = [u.parent for u in (vehicle, team) if u is not None and u.parent]
        alert_id = self._new_id()
        what = ESCALATED if level == 2 else ""
        alert = Alert(
            AlertKind.SEPARATION,
            subjects=(pairing.vehicle, dismount, pairing.id),
            detail=f"{what}{vehicle_name} and its dismounts {team_name} are {gap:.0f} m apart "
            f"(pairing {pairing.id[:8]}, threshold "
            f"{pairing.max_separation_m or self.config.separation_m:.0f} m)",
            created_at=now,
            recipients=(pairing.vehicle, dismount, *parents),
        )
        old = watch.alert_ids.get(dismount)
        watch.alert_ids[dismount] = alert_id
        # Subjects (vehicle, dismount, pairing id) and an "escalated" detail let a restart
        # pick the alert up again (see restore).
        outcome = Outcome(alerts=[(alert_id, alert)], cleared=[old] if old else [])
        distance = round(gap)
        outcome.merge(
            self.notify(
                "SEPARATION_WARNING",
                {"unit": vehicle_name, "distance_m": distance},
                [dismount],
                now,
                alert_id,
            )
        )
        outcome.merge(self.notify("WAIT_FOR_US", {}, [pairing.vehicle], now, alert_id))
        outcome.merge(
            self.notify(
                "SEPARATION_WARNING",
                {"unit": f"{vehicle_name} / {team_name}", "distance_m": distance},
                parents,
                now,
                alert_id,
            )
        )
        return outcome

    # --- positions, units and time ---------------------------------------------------------

    def reported(self, report: PositionReport, now: datetime) -> Outcome:
        """A position landed in the picture."""
        uid = report.uid
        outcome = Outcome()
        for watch in list(self._watches.values()):
            pairing = watch.pairing
            if uid == pairing.vehicle:
                for dismount in pairing.dismounts:
                    outcome.merge(self._judge(watch, dismount, now))
            elif uid in pairing.dismounts:
                outcome.merge(self._judge(watch, uid, now))
        unit = self.picture.unit(uid)
        if unit is not None:
            outcome.merge(self._state_change(uid, now))
            self._schedule_state(uid)
            outcome.merge(self._announce(unit, now))
        return outcome

    def registered(self, unit: Unit, now: datetime) -> Outcome:
        """A unit was registered or its entry replaced."""
        if unit.status is not UnitStatus.ACTIVE:
            self._announced.discard(unit.uid)
            return Outcome()
        return self._announce(unit, now)

    def tick(self, now: datetime) -> Outcome:
        """Time passed: re-sends, escalations, and tracks that turned stale or lost."""
        outcome = self._resend_due(now)
        budget = self.config.max_resends_per_tick  # a silent network must not stall checks
        while self._state_due and self._state_due[0][0] <= now and budget > 0:
            moment, uid = heapq.heappop(self._state_due)
            if self._state_at.get(uid) != moment:
                continue  # superseded by a newer report's schedule
            del self._state_at[uid]
            budget -= 1
            outcome.merge(self._state_change(uid, now))
            self._schedule_state(uid, now)
            for watch in list(self._watches.values()):
                if uid == watch.pairing.vehicle or uid in watch.pairing.dismounts:
                    for dismount in watch.pairing.dismounts:
                        if uid in (watch.pairing.vehicle, dismount):
                            outcome.merge(self._judge(watch, dismount, now))
        return outcome

    def _state(self, uid: str, now: datetime) -> TrackState:
        track = self.picture.track(uid)
        if track is None:
            return TrackState.LOST
        return state_at(track.latest, self.picture.mobility_of(uid), now)

    def _schedule_state(self, uid: str, after: datetime | None = None) -> None:
        """Queue the next instant this track's state may change (stale, then lost)."""
        track = self.picture.track(uid)
        if track is None:
            return
        report, mobility = track.latest, self.picture.mobility_of(uid)
        moments = [
            report.observed_at + timedelta(seconds=mobility.stale_after_s, microseconds=1),
            report.observed_at + timedelta(seconds=mobility.lost_after_s, microseconds=1),
        ]
        if report.stale_at is not None:
            moments.append(report.stale_at)
        for moment in sorted(moments):
            if after is None or moment > after:
                if self._state_at.get(uid) != moment:
                    self._state_at[uid] = moment  # the one that counts; older entries lapse
                    heapq.heappush(self._state_due, (moment, uid))
                return
        self._state_at.pop(uid, None)

    def _state_change(self, uid: str, now: datetime) -> Outcome:
        unit = self.picture.unit(uid)
        if unit is None or unit.status is not UnitStatus.ACTIVE:
            return Outcome()
        state = self._state(uid, now)
        before = self._states.get(uid, TrackState.FRESH)
        self._states[uid] = state
        if state is before:
            return Outcome()
        outcome = Outcome()
        old = self._state_alerts.pop(uid, None)
        if old is not None:
            outcome.cleared.append(old)
        if state is TrackState.FRESH:
            return outcome
        kind = AlertKind.STALE if state is TrackState.STALE else AlertKind.LOST
        track = self.picture.track(uid)
        age = (now - track.latest.observed_at).total_seconds() if track is not None else 0.0
        alert_id = self._new_id()
        what = (
            "resolve it: get a report, or mark it absent or retired"
            if (state is TrackState.LOST)
            else "its position is growing uncertain"
        )
        alert = Alert(
            kind,
            subjects=(uid,),
            detail=f"{unit.callsign} has not reported for {age / 60:.0f} min ({state.value}); "
            f"{what}",
            created_at=now,
            recipients=(unit.parent,) if unit.parent else (),
        )
        self._state_alerts[uid] = alert_id
        outcome.alerts.append((alert_id, alert))
        if unit.parent:
            outcome.merge(
                self.notify(
                    "LOST_CONTACT_WITH", {"unit": unit.callsign}, [unit.parent], now, alert_id
                )
            )
        return outcome

    def _announce(self, unit: Unit, now: datetime) -> Outcome:
        """The first time a lookalike fielder is in the picture with a position."""
        if unit.uid in self._announced or not unit.affiliation.protected:
            return Outcome()
        families = sorted(
            {f for f in (self.picture.tables.equipment_family(e) for e in unit.equipment) if f}
            & self._lookalikes
        )
        track = self.picture.track(unit.uid)
        if not families or track is None:
            return Outcome()
        self._announced.add(unit.uid)
        at = track.latest
        grid = to_mgrs(at.lat, at.lon, 4)
        family = ", ".join(families)
        alert_id = self._new_id()
        alert = Alert(
            AlertKind.LOOKALIKE_ARRIVAL,
            subjects=(unit.uid,),
            detail=f"{unit.affiliation.value} {unit.callsign} ({unit.nation or 'nation unknown'}) "
            f"fields equipment of the {family} family and is now at {grid}: what looks like a "
            f"{family} may be friendly",
            created_at=now,
        )
        near = self.units_near(at.lat, at.lon, self.config.lookalike_radius_m, now)
        params: dict[str, ParamValue] = {"unit": unit.callsign, "family": family, "grid": grid}
        outcome = Outcome(alerts=[(alert_id, alert)])
        return outcome.merge(
            self.notify(
                "LOOKALIKE_ARRIVAL",
                params,
                [u for u in near if u != unit.uid and self._not_told(u, families, now)],
                now,
                alert_id,
            )
        )

    def _not_told(self, uid: str, families: list[str], now: datetime) -> bool:
        """True (and noted) unless `uid` heard of every one of these families lately: a whole
        battalion registering at once must not bury each unit in one notice per vehicle."""
        repeat = timedelta(seconds=self.config.lookalike_repeat_s)
        fresh = [f for f in families if now - self._told.get((uid, f), now - repeat) >= repeat]
        for family in fresh:
            self._told[(uid, family)] = now
        return bool(fresh)

    def announced(self) -> frozenset[str]:
        return frozenset(self._announced)

    # --- where units are -------------------------------------------------------------------

    def units_near(self, lat: float, lon: float, reach_m: float, now: datetime) -> list[str]:
        """Registered active units whose latest position is within `reach_m`."""
        found = self.picture.positions_near(lat, lon, reach_m, now)
        uids = sorted({found.entry(i).uid for i in range(len(found))})
        out = []
        for uid in uids:
            track, unit = self.picture.track(uid), self.picture.unit(uid)
            if track is None or unit is None or unit.status is not UnitStatus.ACTIVE:
                continue
            if distance_m(lat, lon, track.latest.lat, track.latest.lon) <= reach_m:
                out.append(uid)
        return out

    def units_inside(self, measure: Measure, now: datetime) -> list[str]:
        """Units whose latest position lies in a measure's area (or the unit it names)."""
        geometry = measure.geometry
        if geometry is None:
            return [measure.unit] if measure.unit and self.picture.unit(measure.unit) else []
        if isinstance(geometry, CircleGeometry):
            return self.units_near(geometry.lat, geometry.lon, geometry.radius_m, now)
        if not isinstance(geometry, PolygonGeometry):
            return []
        ring = geometry.rings[0]
        lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
        lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
        reach = max(distance_m(lat, lon, p[1], p[0]) for p in ring)
        frame = frame_for(lat, lon)
        shape = frame.polygon(geometry.rings)
        inside = []
        for uid in self.units_near(lat, lon, reach, now):
            track = self.picture.track(uid)
            if track is not None and shape.covers(frame.point(track.latest.lat, track.latest.lon)):
                inside.append(uid)
        return inside

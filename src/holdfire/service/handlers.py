"""The service: one async handler per command, keeping the picture and the store in step.

Each handler applies the command to the in-memory picture (pure engine) and returns only once
the resulting events are durable in the store, so whatever a client was told was accepted
survives a crash. The picture is rebuilt from the store on start.
"""

import gc
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from holdfire.domain.alerts import Alert, AlertKind
from holdfire.domain.catalog import Catalog
from holdfire.domain.checks import CheckRequest, Clearance, Verdict
from holdfire.domain.decisions import Decision, DecisionKind, FiredNotice
from holdfire.domain.errors import DomainError, NotAllowed, NotFound
from holdfire.domain.events import (
    AlertAcked,
    AlertRaised,
    CheckEvaluated,
    CheckFired,
    DecisionRecorded,
    DeliveriesUpdated,
    Event,
    MarkerRemoved,
    MeasureCancelled,
    MeasureDefined,
    MessageKept,
    MessagesDelivered,
    MessageSent,
    PairingClosed,
    PairingCreated,
    PositionReported,
    UnitRegistered,
)
from holdfire.domain.measures import CircleGeometry, Measure, MeasureKind, PolygonGeometry
from holdfire.domain.messages import Delivery, Message, ParamValue, check_address
from holdfire.domain.pairings import Pairing
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Tables
from holdfire.domain.tracks import TrackState
from holdfire.domain.units import Unit
from holdfire.engine.clearance import evaluate
from holdfire.engine.coordination import ESCALATED, CoordinationConfig, Coordinator, Outcome
from holdfire.engine.picture import Picture, ReportOutcome
from holdfire.engine.replay import PICTURE_EVENTS, apply_event
from holdfire.geo import distance_m, parse_mgrs, to_mgrs
from holdfire.service.bus import EventHub
from holdfire.service.connections import Connections
from holdfire.service.messaging import outcome_events
from holdfire.service.ports import (
    AlertRecord,
    CheckSpool,
    Clock,
    ClusterLink,
    ServiceMetrics,
    Store,
    StoreError,
    StoreUnavailable,
)

CHECK_FIRE_RADIUS_M = 1000.0  # a check fire called on a grid covers at least this around it


def lookalike_families(tables: Tables) -> frozenset[str]:
    """Families fielded by more than one nation: their look proves nothing about whose they are."""
    nations: dict[str, set[str]] = {}
    for equipment in tables.equipment.values():
        nations.setdefault(equipment.family, set()).update(equipment.fielded_by)
    return frozenset(family for family, who in nations.items() if len(who) > 1)


@dataclass(frozen=True, slots=True)
class ReportResult:
    accepted: bool
    detail: str
    alert_ids: tuple[str, ...] = ()


GC_YOUNG_THRESHOLD = 20_000  # allocations between young collections (default 700)


class Service:
    """The application: picture + store + clock + id source."""

    def __init__(
        self,
        store: Store,
        tables: Tables,
        clock: Clock,
        new_id: Callable[[], str],
        catalog: Catalog,
        coordination: CoordinationConfig | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.catalog = catalog
        self.picture = Picture(tables)
        self.coordinator = Coordinator(
            self.picture, catalog, new_id, coordination, lookalike_families(tables)
        )
        self.kept_messages: tuple[MessageKept, ...] = ()  # as loaded at start, for the channels
        self.hub = EventHub()
        self.connections = Connections()  # who is connected, over every protocol
        self._new_id = new_id
        self.cluster: ClusterLink | None = None  # set when this is one node of several
        # Answering checks: false until the picture is loaded (and, in a cluster, caught up).
        self.ready = False
        self.spool: CheckSpool | None = None  # where check records wait while the store is down
        self.loaded_at: datetime | None = None  # when start() took the store's snapshot
        self.loaded_seqs: frozenset[int] = frozenset()  # the newest events it held
        self.metrics: ServiceMetrics | None = None  # counts reports and checks (GET /metrics)

    async def start(self) -> None:
        """Open the store and rebuild the picture from it."""
        await self.store.open()
        self.loaded_at = self.clock.now()
        state = await self.store.load()
        self.loaded_seqs = state.recent_seqs
        for unit in state.units:
            self.picture.register_unit(unit)
        for report in state.reports:
            self.picture.apply_report(report)
        for measure in state.measures:
            self.picture.define_measure(measure)
        self.kept_messages = state.mailbox
        states = {AlertKind.STALE: TrackState.STALE, AlertKind.LOST: TrackState.LOST}
        self.coordinator.restore(
            state.pairings,
            state.messages,
            state.deliveries,
            {
                r.alert.subjects[0]: (r.id, states[r.alert.kind])
                for r in state.alerts
                if r.alert.kind in states and r.alert.subjects
            },
            [
                r.alert.subjects[0]
                for r in state.alerts
                if r.alert.kind is AlertKind.LOOKALIKE_ARRIVAL and r.alert.subjects
            ],
            self.clock.now(),
            {
                (r.alert.subjects[2], r.alert.subjects[1]): (
                    r.id,
                    2 if r.alert.detail.startswith(ESCALATED) else 1,
                )
                for r in state.alerts
                if r.alert.kind is AlertKind.SEPARATION and len(r.alert.subjects) == 3
            },
        )
        # The rebuilt picture lives as long as the process: keep the cyclic collector from
        # walking its million objects again on every collection (pauses of 0.1-0.6 s).
        gc.collect()
        gc.freeze()
        # A check allocates thousands of short-lived objects, which reference counting frees.
        # At the default threshold (700) the young collections ran several times a check and
        # promoted the objects of the checks in flight, so full collections of what was
        # reported since the start (60-90 ms each with 10,000 tracks) came every second or two.
        gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
        self.ready = self.cluster is None  # a node is ready once it has caught up

    async def close(self) -> None:
        await self.store.close()

    async def register_unit(self, unit: Unit, *, by: str) -> None:
        now = self.clock.now()
        self.picture.register_unit(unit)
        outcome = self.coordinator.registered(unit, now)
        await self._record([UnitRegistered(unit, now, by), *outcome_events(outcome, now)])

    async def report(self, report: PositionReport) -> ReportResult:
        return (await self.reports([report]))[0]

    async def reports(self, reports: Sequence[PositionReport]) -> list[ReportResult]:
        """Apply a batch of reports; one durable write for the whole batch."""
        events: list[Event] = []
        results = []
        now = self.clock.now()
        for report in reports:
            outcome = self.picture.apply_report(report)
            produced = self._report_events(report, outcome)
            alert_ids = tuple(e.alert_id for e in produced if isinstance(e, AlertRaised))
            results.append(ReportResult(outcome.applied, outcome.detail, alert_ids))
            events += produced
            if outcome.applied:
                followed = self.coordinator.reported(outcome.report or report, now)
                events += outcome_events(followed, now)
        await self._record(events)
        if self.metrics is not None:
            taken = Counter(
                r.source for r, done in zip(reports, results, strict=True) if done.accepted
            )
            self.metrics.reports_taken(taken)
        return results

    async def define_measure(self, measure: Measure, *, by: str) -> Measure:
        """Store a measure; one without an id gets a new one."""
        if not measure.id:
            raise DomainError("id", "is required")
        before = self._measures_before([measure.id])
        self.picture.define_measure(measure)
        await self._record_measures([MeasureDefined(measure, self.clock.now(), by)], before)
        return measure

    def new_id(self) -> str:
        return self._new_id()

    async def cancel_measure(self, measure_id: str, *, by: str) -> bool:
        before = self._measures_before([measure_id])
        if not self.picture.cancel_measure(measure_id):
            return False
        await self._record_measures([MeasureCancelled(measure_id, self.clock.now(), by)], before)
        return True

    async def remove_marker(self, uid: str, *, by: str, reason: str) -> bool:
        """A client's delete of its marker; registered units never leave this way."""
        if not self.picture.remove_marker(uid):
            return False
        await self._record([MarkerRemoved(uid, self.clock.now(), by, reason)])
        return True

    async def expire_markers(self) -> list[str]:
        """Drop markers nobody refreshed: lost time past their own stale time."""
        now = self.clock.now()
        gone = [uid for uid in self.picture.expired_markers(now) if self.picture.remove_marker(uid)]
        await self._record([MarkerRemoved(uid, now, "holdfire", "expired") for uid in gone])
        return gone

    async def keep_message(self, recipient: str, body: str, expires_at: datetime) -> None:
        """A message for a recipient who is not connected waits durably until it reconnects."""
        await self._record([MessageKept(recipient, body, expires_at, self.clock.now())])

    async def messages_delivered(self, recipient: str) -> None:
        await self._record([MessagesDelivered(recipient, self.clock.now())])

    async def check(self, request: CheckRequest) -> Clearance:
        """Evaluate a check and keep it, with who asked, before answering.

        While the store cannot be reached the check is still answered: its record waits in the
        spool (durably) and is written when the store is back."""
        started = time.perf_counter()
        clearance = evaluate(
            self.picture,
            request,
            now=self.clock.now(),
            check_id=self._new_id(),
            cut_off_since=self.cluster.cut_off_since() if self.cluster is not None else None,
        )
        evaluate_s = time.perf_counter() - started
        event = CheckEvaluated(clearance)
        try:
            await self._record([event])
        except StoreUnavailable:
            if self.spool is None:
                raise
            await self.spool.keep(event)
            self.hub.publish([event])
        if self.metrics is not None:
            self.metrics.check_answered(clearance.verdict, evaluate_s)
        return clearance

    async def record_fired(
        self, check_id: str, *, fired_at: datetime | None, remarks: str, by: str
    ) -> FiredNotice:
        """A check's mission was fired. Firing on a HOLD, or on DANGER_CLOSE without a danger
        close accepted by a named person, raises an alert for the planners."""
        clearance = await self._clearance(check_id)
        now = self.clock.now()
        notice = FiredNotice(self._new_id(), check_id, fired_at or now, now, by, remarks)
        events: list[Event] = [CheckFired(notice)]
        concern = await self._unanswered_verdict(clearance, now)
        if concern is not None:
            alert = Alert(
                AlertKind.HOLD_FIRED,
                subjects=(check_id,),
                detail=f"check {check_id} answered {clearance.verdict.value} ({concern}) and "
                f"was reported fired by {by} at {notice.fired_at:%H:%M:%SZ}",
                created_at=now,
            )
            events.append(AlertRaised(self._new_id(), alert))
        events += outcome_events(self._warn_of_fires(clearance, notice.id, now), now)
        await self._record(events)
        return notice

    def _warn_of_fires(self, clearance: Clearance, cause: str, now: datetime) -> Outcome:
        """Friendly units within twice the footprint hear of the fires in their language:
        DANGER_CLOSE_WARNING inside the danger-close distance, FRIENDLY_FIRES beyond it."""
        request, tables = clearance.request, self.picture.tables
        weapon = tables.weapons.get(clearance.weapon) or tables.worst_weapon()
        error = sum(
            v if math.isfinite(v) else 0.0
            for v in (request.tle_m, weapon.cep_m, request.cell_m, request.datum_error_m)
        )
        footprint = weapon.red01_m + error
        close = max(weapon.red01_m, weapon.danger_close_m) + error
        target = clearance.target
        grid = to_mgrs(target.lat, target.lon, 4)
        outcome = Outcome()
        for uid in self.coordinator.units_near(target.lat, target.lon, 2 * footprint, now):
            unit = self.picture.unit(uid)
            if unit is None or not self.picture.affiliation_of(uid).friendly:
                continue
            track = self.picture.track(uid)
            assert track is not None  # units_near only returns located units
            gap = distance_m(target.lat, target.lon, track.latest.lat, track.latest.lon)
            if gap <= close:
                params: dict[str, ParamValue] = {"distance_m": round(gap), "grid": grid}
                outcome.merge(
                    self.coordinator.notify("DANGER_CLOSE_WARNING", params, [uid], now, cause)
                )
            else:
                params = {"grid": grid, "minutes": 0, "weapon": weapon.name}
                outcome.merge(self.coordinator.notify("FRIENDLY_FIRES", params, [uid], now, cause))
        return outcome

    async def _unanswered_verdict(self, clearance: Clearance, now: datetime) -> str | None:
        if clearance.verdict is Verdict.HOLD:
            codes = sorted({r.code.value for r in clearance.reasons if r.verdict is Verdict.HOLD})
            return ", ".join(codes)
        if clearance.verdict is Verdict.DANGER_CLOSE:
            records = await self.store.check_records(clearance.id)
            accepted = any(
                d.kind is DecisionKind.DANGER_CLOSE_ACCEPTED and d.expires > now
                for d in records.decisions
            )
            return None if accepted else "danger close not accepted by a named person"
        return None

    async def record_decision(
        self,
        check_id: str,
        *,
        kind: DecisionKind,
        by: str,
        authority: str,
        initials: str,
        expires: datetime,
        recorded_by: str,
    ) -> Decision:
        """Attach a named, time-bounded human decision to a check; the verdict never changes."""
        clearance = await self._clearance(check_id)
        if not any(r.code is kind.answers and not r.note for r in clearance.reasons):
            raise DomainError(
                "kind", f"check {check_id} has no {kind.answers.value} reason for {kind.value}"
            )
        decision = Decision(
            self._new_id(),
            check_id,
            kind,
            by=by,
            authority=authority,
            initials=initials,
            expires=expires,
            recorded_at=self.clock.now(),
            recorded_by=recorded_by,
        )
        await self._record([DecisionRecorded(decision)])
        return decision

    async def _clearance(self, check_id: str) -> Clearance:
        clearance = await self.store.get_check(check_id)
        if clearance is None:
            raise NotFound("check", check_id)
        return clearance

    async def call_check_fire(self, measure: Measure) -> Measure:
        """A check fire (anyone who sees an unsafe act may call one) holds every check it
        covers until its originator or a planner cancels it; planners are alerted at once and
        every unit inside it (or the unit it names) is told, in its language."""
        if measure.kind is not MeasureKind.CHECKFIRE:
            raise DomainError("properties.kind", "a check fire has kind CHECKFIRE")
        now = self.clock.now()
        by = measure.originator or "unknown"
        where = f"unit {measure.unit}" if measure.geometry is None else "an area"
        alert_id = self._new_id()
        alert = Alert(
            AlertKind.CHECK_FIRE,
            subjects=(measure.id,) + ((measure.unit,) if measure.unit else ()),
            detail=f"CHECK FIRE called by {by} on {where}: every check it covers is HOLD "
            "until its originator or a planner cancels it",
            created_at=now,
        )
        before = self._measures_before([measure.id])
        self.picture.define_measure(measure)
        told = self.coordinator.notify(
            "CHECK_FIRE", self._stop_params(measure), self.coordinator.units_inside(measure, now),
            now, measure.id,
        )  # fmt: skip
        events: list[Event] = [MeasureDefined(measure, now, by), AlertRaised(alert_id, alert)]
        await self._record_measures(events + outcome_events(told, now), before)
        return measure

    def _stop_params(self, measure: Measure) -> dict[str, ParamValue]:
        geometry = measure.geometry
        if isinstance(geometry, CircleGeometry):
            return {"grid": to_mgrs(geometry.lat, geometry.lon, 4)}
        if isinstance(geometry, PolygonGeometry):
            ring = geometry.rings[0][:-1]
            lat, lon = sum(p[1] for p in ring) / len(ring), sum(p[0] for p in ring) / len(ring)
            return {"grid": to_mgrs(lat, lon, 4)}
        unit = self.picture.unit(measure.unit or "")
        return {"unit": unit.callsign if unit is not None else (measure.unit or "")}

    async def cancel_check_fire(self, measure_id: str, *, by: str, any_originator: bool) -> None:
        measure = self.picture.measure(measure_id)
        if measure is None or measure.kind is not MeasureKind.CHECKFIRE:
            raise NotFound("check fire", measure_id)
        if not any_originator and measure.originator != by:
            raise NotAllowed(
                f"check fire {measure_id} was called by {measure.originator}; only its "
                "originator or a planner may cancel it"
            )
        now = self.clock.now()
        told = self.coordinator.notify(
            "CANCEL_CHECK_FIRE", self._stop_params(measure),
            self.coordinator.units_inside(measure, now), now, measure.id,
        )  # fmt: skip
        before = self._measures_before([measure_id])
        self.picture.cancel_measure(measure_id)
        events = [MeasureCancelled(measure_id, now, by), *outcome_events(told, now)]
        await self._record_measures(events, before)

    async def create_pairing(
        self, vehicle: str, dismounts: tuple[str, ...], max_separation_m: float | None, by: str
    ) -> Pairing:
        for field, uid in [("vehicle", vehicle)] + [
            (f"dismounts[{i}]", uid) for i, uid in enumerate(dismounts)
        ]:
            if self.picture.unit(uid) is None:
                raise DomainError(field, f"{uid!r} is not a registered unit")
        pairing = Pairing(
            self._new_id(), vehicle, dismounts, self.clock.now(), by, max_separation_m
        )
        self.coordinator.watch(pairing)
        await self._record([PairingCreated(pairing)])
        return pairing

    # --- messages --------------------------------------------------------------------------

    async def send_message(
        self,
        code: str,
        params: Mapping[str, object],
        to: str,
        *,
        sender: str,
        sender_uid: str | None = None,
        ack_required: bool | None = None,
        attachment: str | None = None,
        cancel_any: bool = False,
    ) -> tuple[Message, list[Delivery]]:
        """Send a catalog message; each recipient gets it in its own language.

        CHECK_FIRE also holds every check it covers until cancelled: an area around its `grid`
        (at least CHECK_FIRE_RADIUS_M), else the named `unit`, else each unit addressed.
        CANCEL_CHECK_FIRE ends the sender's matching check fires (by `grid` or `unit`; with
        neither, all of the sender's own); `cancel_any` (a planner) may end anyone's by grid
        or unit. Nothing is sent if a parameter is wrong or nothing matches.
        """
        code = code.strip().upper()
        values = self.catalog.validate_params(code, dict(params))
        now = self.clock.now()
        to = check_address(to)
        recipients = self.coordinator.recipients(to, exclude=sender_uid)
        message = Message(
            id=self._new_id(),
            code=code,
            params=values,
            to=to,
            sender=sender,
            created_at=now,
            ack_required=(
                self.catalog.definition(code).ack_required if ack_required is None else ack_required
            ),
            sender_uid=sender_uid,
            attachment=attachment,
        )
        events: list[Event] = []
        before: dict[str, Measure | None] = {}
        if code == "CHECK_FIRE":
            for measure in self._new_check_fires(message, [u.uid for u in recipients]):
                before |= self._measures_before([measure.id])
                self.picture.define_measure(measure)
                events.append(MeasureDefined(measure, now, sender))
        elif code == "CANCEL_CHECK_FIRE":
            for measure in self._check_fires_to_cancel(message, cancel_any):
                before |= self._measures_before([measure.id])
                self.picture.cancel_measure(measure.id)
                events.append(MeasureCancelled(measure.id, now, sender))
        outcome = self.coordinator.send(message, now)
        events += outcome_events(outcome, now, sent=(message,))
        await self._record_measures(events, before)
        return message, [d for d in outcome.deliveries if d.message_id == message.id]

    def unit_named(self, name: str) -> str | None:
        """A uid, or the uid of the one unit with that callsign."""
        if self.picture.unit(name) is not None:
            return name
        matches = [u.uid for u in self.picture.units() if u.callsign.lower() == name.lower()]
        return matches[0] if len(matches) == 1 else None

    def _new_check_fires(self, message: Message, recipients: list[str]) -> list[Measure]:
        grid, unit = message.params.get("grid"), message.params.get("unit")
        if isinstance(grid, str):
            location = parse_mgrs(grid)
            circle = CircleGeometry(
                location.lat, location.lon, max(CHECK_FIRE_RADIUS_M, location.cell_m)
            )
            return [self._check_fire(message, f"CHECK FIRE {grid}", circle, None)]
        if isinstance(unit, str):
            uid = self.unit_named(unit)
            if uid is None:
                raise DomainError("params.unit", f"{unit!r} names no single registered unit")
            targets = [uid]
        else:
            targets = recipients
        return [self._check_fire(message, f"CHECK FIRE {uid}", None, uid) for uid in targets]

    def _check_fire(
        self, message: Message, name: str, geometry: CircleGeometry | None, unit: str | None
    ) -> Measure:
        return Measure(
            id=self._new_id(),
            kind=MeasureKind.CHECKFIRE,
            geometry=geometry,
            name=name,
            unit=unit,
            originator=message.sender,
        )

    def _check_fires_to_cancel(self, message: Message, cancel_any: bool) -> list[Measure]:
        grid, unit = message.params.get("grid"), message.params.get("unit")
        active = [m for m in self.picture.measures() if m.kind is MeasureKind.CHECKFIRE]
        if isinstance(grid, str):
            chosen = [m for m in active if m.name == f"CHECK FIRE {grid}"]
        elif isinstance(unit, str):
            uid = self.unit_named(unit) or unit
            chosen = [m for m in active if m.unit == uid]
        else:
            chosen = [m for m in active if m.originator == message.sender]
        if not cancel_any:
            chosen = [m for m in chosen if m.originator == message.sender]
        if not chosen:
            raise DomainError("params", f"no active check fire of {message.sender}'s matches")
        return chosen

    async def ack_message(self, key: str, *, by: str, recipient: str | None) -> list[Delivery]:
        """Acknowledge a message or delivery (id or 8+ character prefix) for `recipient`, or
        for every recipient still pending when None (a planner acknowledging for them)."""
        now = self.clock.now()
        outcome = self.coordinator.ack(key, now, by=by, recipient=recipient)
        await self._record(outcome_events(outcome, now))
        return outcome.updated

    async def tick(self) -> None:
        """Time passed: re-send what is unanswered, escalate, notice tracks turning stale.
        In a cluster only the node that coordinates does this (the others hear of it)."""
        if self.cluster is not None and not self.cluster.coordinates():
            return
        now = self.clock.now()
        await self._record(outcome_events(self.coordinator.tick(now), now))

    async def ack_alert(self, alert_id: str, *, by: str) -> AlertRecord:
        """Acknowledge an alert (receipt, not resolution); the first acknowledgement stands."""
        record = await self.store.get_alert(alert_id)
        if record is None:
            raise NotFound("alert", alert_id)
        if record.acked_at is None:
            await self._record([AlertAcked(alert_id, self.clock.now(), by)])
            record = await self.store.get_alert(alert_id) or record
        return record

    async def security_event(self, detail: str, subjects: tuple[str, ...]) -> str:
        """Something a person must look at: a refused attempt, a spoofed position."""
        alert = Alert(AlertKind.SECURITY, subjects, detail, self.clock.now())
        alert_id = self._new_id()
        await self._record([AlertRaised(alert_id, alert)])
        return alert_id

    def _report_events(self, report: PositionReport, outcome: ReportOutcome) -> list[Event]:
        events: list[Event] = []
        if outcome.registered is not None:
            events.append(UnitRegistered(outcome.registered, report.received_at, report.reporter))
        if outcome.applied:
            events.append(PositionReported(outcome.report or report))
        events += [AlertRaised(self._new_id(), alert) for alert in outcome.alerts]
        return events

    def apply_remote(self, events: Sequence[Event]) -> None:
        """Events another node of the cluster took (and made durable): into this node's
        picture and coordination, then to this node's listeners. What they caused there
        (alerts, deliveries) came with them, so nothing is raised again here."""
        now = self.clock.now()
        picture, coordinator = self.picture, self.coordinator
        for event in events:
            if isinstance(event, PICTURE_EVENTS):
                apply_event(picture, event)
            elif isinstance(event, PairingCreated):
                coordinator.watch(event.pairing)
            elif isinstance(event, PairingClosed):
                coordinator.unwatch(event.pairing_id)
            elif isinstance(event, MessageSent):
                coordinator.absorb_message(event.message, event.deliveries, now)
            elif isinstance(event, DeliveriesUpdated):
                coordinator.absorb_deliveries(event.deliveries, now)
        self.hub.publish(events, remote=True)

    def _measures_before(self, ids: Sequence[str]) -> dict[str, Measure | None]:
        return {measure_id: self.picture.measure(measure_id) for measure_id in ids}

    async def _record_measures(
        self, events: Sequence[Event], before: Mapping[str, Measure | None]
    ) -> None:
        """Record a change of measures already made in the picture; if the store refuses it,
        put them back as they were. The caller was told nothing was done (503, retry), and a
        cancelled no-fire area or check fire that was never recorded must go on holding checks.
        """
        try:
            await self._record(events)
        except StoreError:
            for measure_id, measure in before.items():
                if measure is None:
                    self.picture.cancel_measure(measure_id)
                else:
                    self.picture.define_measure(measure)
            raise

    async def _record(self, events: Sequence[Event]) -> None:
        if events:
            cluster = self.cluster
            await self.store.append(events, outbox=cluster.node if cluster is not None else None)
            self.hub.publish(events)
            if cluster is not None:
                cluster.recorded()

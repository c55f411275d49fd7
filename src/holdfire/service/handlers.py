"""The service: one async handler per command, keeping the picture and the store in step.

Each handler applies the command to the in-memory picture (pure engine) and returns only once
the resulting events are durable in the store, so whatever a client was told was accepted
survives a crash. The picture is rebuilt from the store on start.
"""

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from holdfire.domain.alerts import Alert, AlertKind
from holdfire.domain.checks import CheckRequest, Clearance, Verdict
from holdfire.domain.decisions import Decision, DecisionKind, FiredNotice
from holdfire.domain.errors import DomainError, NotAllowed, NotFound
from holdfire.domain.events import (
    AlertAcked,
    AlertRaised,
    CheckEvaluated,
    CheckFired,
    DecisionRecorded,
    Event,
    MarkerRemoved,
    MeasureCancelled,
    MeasureDefined,
    MessageKept,
    MessagesDelivered,
    PairingCreated,
    PositionReported,
    UnitRegistered,
)
from holdfire.domain.measures import Measure, MeasureKind
from holdfire.domain.pairings import Pairing
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Tables
from holdfire.domain.units import Unit
from holdfire.engine.clearance import evaluate
from holdfire.engine.picture import Picture, ReportOutcome
from holdfire.service.bus import EventHub
from holdfire.service.ports import AlertRecord, Clock, Store


@dataclass(frozen=True, slots=True)
class ReportResult:
    accepted: bool
    detail: str
    alert_ids: tuple[str, ...] = ()


class Service:
    """The application: picture + store + clock + id source."""

    def __init__(
        self, store: Store, tables: Tables, clock: Clock, new_id: Callable[[], str]
    ) -> None:
        self.store = store
        self.clock = clock
        self.picture = Picture(tables)
        self.kept_messages: tuple[MessageKept, ...] = ()  # as loaded at start, for the channels
        self.pairings: dict[str, Pairing] = {}
        self.hub = EventHub()
        self._new_id = new_id

    async def start(self) -> None:
        """Open the store and rebuild the picture from it."""
        await self.store.open()
        state = await self.store.load()
        for unit in state.units:
            self.picture.register_unit(unit)
        for report in state.reports:
            self.picture.apply_report(report)
        for measure in state.measures:
            self.picture.define_measure(measure)
        self.kept_messages = state.mailbox
        self.pairings = {p.id: p for p in state.pairings}
        # The rebuilt picture lives as long as the process: keep the cyclic collector from
        # walking its million objects again on every collection (pauses of 0.1-0.6 s).
        gc.collect()
        gc.freeze()

    async def close(self) -> None:
        await self.store.close()

    async def register_unit(self, unit: Unit, *, by: str) -> None:
        self.picture.register_unit(unit)
        await self._record([UnitRegistered(unit, self.clock.now(), by)])

    async def report(self, report: PositionReport) -> ReportResult:
        return (await self.reports([report]))[0]

    async def reports(self, reports: Sequence[PositionReport]) -> list[ReportResult]:
        """Apply a batch of reports; one durable write for the whole batch."""
        events: list[Event] = []
        results = []
        for report in reports:
            outcome = self.picture.apply_report(report)
            produced = self._report_events(report, outcome)
            alert_ids = tuple(e.alert_id for e in produced if isinstance(e, AlertRaised))
            results.append(ReportResult(outcome.applied, outcome.detail, alert_ids))
            events += produced
        await self._record(events)
        return results

    async def define_measure(self, measure: Measure, *, by: str) -> Measure:
        """Store a measure; one without an id gets a new one."""
        if not measure.id:
            raise DomainError("id", "is required")
        self.picture.define_measure(measure)
        await self._record([MeasureDefined(measure, self.clock.now(), by)])
        return measure

    def new_id(self) -> str:
        return self._new_id()

    async def cancel_measure(self, measure_id: str, *, by: str) -> bool:
        if not self.picture.cancel_measure(measure_id):
            return False
        await self._record([MeasureCancelled(measure_id, self.clock.now(), by)])
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
        """Evaluate a check and keep it, with who asked, before answering."""
        clearance = evaluate(self.picture, request, now=self.clock.now(), check_id=self._new_id())
        await self._record([CheckEvaluated(clearance)])
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
        await self._record(events)
        return notice

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
        covers until its originator or a planner cancels it; planners are alerted at once."""
        if measure.kind is not MeasureKind.CHECKFIRE:
            raise DomainError("properties.kind", "a check fire has kind CHECKFIRE")
        by = measure.originator or "unknown"
        where = f"unit {measure.unit}" if measure.geometry is None else "an area"
        alert = Alert(
            AlertKind.CHECK_FIRE,
            subjects=(measure.id,) + ((measure.unit,) if measure.unit else ()),
            detail=f"CHECK FIRE called by {by} on {where}: every check it covers is HOLD "
            "until its originator or a planner cancels it",
            created_at=self.clock.now(),
        )
        self.picture.define_measure(measure)
        await self._record(
            [MeasureDefined(measure, self.clock.now(), by), AlertRaised(self._new_id(), alert)]
        )
        return measure

    async def cancel_check_fire(self, measure_id: str, *, by: str, any_originator: bool) -> None:
        measure = self.picture.measure(measure_id)
        if measure is None or measure.kind is not MeasureKind.CHECKFIRE:
            raise NotFound("check fire", measure_id)
        if not any_originator and measure.originator != by:
            raise NotAllowed(
                f"check fire {measure_id} was called by {measure.originator}; only its "
                "originator or a planner may cancel it"
            )
        await self.cancel_measure(measure_id, by=by)

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
        self.pairings[pairing.id] = pairing
        await self._record([PairingCreated(pairing)])
        return pairing

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

    async def _record(self, events: Sequence[Event]) -> None:
        if events:
            await self.store.append(events)
            self.hub.publish(events)

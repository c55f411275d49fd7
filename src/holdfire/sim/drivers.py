"""How a scenario reaches holdfire: the Driver port, and the in-process driver over a Service.

The runner speaks the API's JSON shapes (unit JSON, GeoJSON measures, the check body, message
bodies) and reads back Clearance, alert and delivery JSON, so one runner drives either a Service
in this process (ServiceDriver, through the same codecs the API uses) or a live server over CoT
and HTTP (holdfire.sim.live). In-process, every report is the unit's own (as from a device with
its own certificate); the requester and planner of everything else is `scenario`.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Protocol

from holdfire.codecs.json import (
    alert_to_dict,
    clearance_to_dict,
    delivery_to_dict,
    format_time,
    measure_from_feature,
    unit_from_dict,
)
from holdfire.codecs.reports import Channel, report_from_input
from holdfire.domain.checks import CheckRequest, PidBasis
from holdfire.domain.events import AlertRaised, Event, MessageSent
from holdfire.service.handlers import Service
from holdfire.sim.model import Point, UnitPlan

JSON = dict[str, Any]
PLANNER = "scenario"


class Driver(Protocol):
    """Everything a scenario does to holdfire, and what it reads back."""

    async def register(self, unit: JSON) -> None: ...

    async def reports(self, batch: Sequence[tuple[UnitPlan, Point]]) -> None: ...

    async def measure(self, feature: JSON) -> str: ...

    async def check(self, body: JSON) -> JSON: ...

    async def message(self, body: JSON, to: str) -> str: ...

    async def ack(self, message_id: str, original: JSON, by: str) -> None: ...

    async def pairing(self, body: JSON) -> str: ...

    async def check_fire(self, feature: JSON) -> str: ...

    async def cancel_check_fire(self, measure_id: str) -> None: ...

    async def fired(self, check_id: str, remarks: str) -> None: ...

    async def tick(self) -> None: ...

    async def observed(self) -> tuple[list[JSON], list[JSON]]:
        """Alerts and deliveries that appeared since the last call (JSON, oldest first)."""
        ...


def report_input(plan: UnitPlan, point: Point, observed: str) -> JSON:
    """The public report shape for one fix (with identity, for a unit that is not registered)."""
    data: JSON = {
        "uid": plan.uid,
        "lat": point.lat,
        "lon": point.lon,
        "ce_m": plan.ce_m,
        "observed_at": observed,
    }
    for key in ("callsign", "affiliation", "mobility"):
        if key in plan.unit:
            data[key] = plan.unit[key]
    return data


def ack_params(message_id: str) -> JSON:
    return {"ref": message_id}


class ServiceDriver:
    """Drives a Service in this process: on a fake clock, or the running server's own."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._alerts: list[JSON] = []
        self._deliveries: list[JSON] = []
        self._unsubscribe = service.hub.subscribe(self._listen, audit=False)

    def close(self) -> None:
        self._unsubscribe()

    def _listen(self, events: Sequence[Event]) -> None:
        for event in events:
            if isinstance(event, AlertRaised):
                self._alerts.append(alert_to_dict(event.alert_id, event.alert))
            elif isinstance(event, MessageSent):
                self._deliveries += [delivery_to_dict(d) for d in event.deliveries]

    async def register(self, unit: JSON) -> None:
        await self.service.register_unit(unit_from_dict(unit), by=PLANNER)

    async def reports(self, batch: Sequence[tuple[UnitPlan, Point]]) -> None:
        now = self.service.clock.now()
        channel = Channel(
            source="scenario",
            reporter=PLANNER,
            authenticated=True,
            bound_uids=frozenset(plan.uid for plan, _ in batch),
        )
        reports = [
            report_from_input(
                report_input(plan, point, format_time(now - timedelta(seconds=plan.delay_s))),
                channel,
                now,
            )
            for plan, point in batch
        ]
        await self.service.reports(reports)

    async def measure(self, feature: JSON) -> str:
        measure = measure_from_feature(
            feature, measure_id=feature.get("id") or self.service.new_id()
        )
        await self.service.define_measure(measure, by=PLANNER)
        return measure.id

    async def check(self, body: JSON) -> JSON:
        point: Point = body["point"]
        request = CheckRequest(
            lat=point.lat,
            lon=point.lon,
            weapon=body["weapon"],
            tle_m=float(body.get("tle_m", 0.0)),
            cell_m=point.cell_m,
            target_type=body.get("target_type"),
            pid=tuple(PidBasis(p) for p in body.get("pid", ())),
            pid_detail=body.get("pid_detail"),
            firing_unit=body.get("firing_unit"),
            requester=PLANNER,
        )
        return clearance_to_dict(await self.service.check(request))

    async def message(self, body: JSON, to: str) -> str:
        sender = body.get("from")
        message, _ = await self.service.send_message(
            body["code"],
            body.get("params", {}),
            to,
            sender=sender or PLANNER,
            sender_uid=sender,
            ack_required=body.get("ack_required"),
            cancel_any=sender is None,  # a planner may end anyone's check fire
        )
        return message.id

    async def ack(self, message_id: str, original: JSON, by: str) -> None:
        sender = original.get("from")
        if sender is None:  # nobody to answer over the air: acknowledged where it was read
            await self.service.ack_message(message_id, by=by, recipient=by)
            return
        await self.service.send_message(
            "ACK", ack_params(message_id), sender, sender=by, sender_uid=by
        )

    async def pairing(self, body: JSON) -> str:
        pairing = await self.service.create_pairing(
            body["vehicle"], tuple(body["dismounts"]), body.get("max_separation_m"), by=PLANNER
        )
        return pairing.id

    async def check_fire(self, feature: JSON) -> str:
        measure = measure_from_feature(feature, measure_id=self.service.new_id())
        await self.service.call_check_fire(replace(measure, originator=PLANNER))
        return measure.id

    async def cancel_check_fire(self, measure_id: str) -> None:
        await self.service.cancel_check_fire(measure_id, by=PLANNER, any_originator=True)

    async def fired(self, check_id: str, remarks: str) -> None:
        await self.service.record_fired(check_id, fired_at=None, remarks=remarks, by=PLANNER)

    async def tick(self) -> None:
        await self.service.tick()

    async def observed(self) -> tuple[list[JSON], list[JSON]]:
        alerts, deliveries = self._alerts, self._deliveries
        self._alerts, self._deliveries = [], []
        return alerts, deliveries

"""Replays a scenario through a Driver, paced by a Pacer, and judges its expectations.

At each instant that something happens the runner lets time pass (in-process it ticks the
coordinator every scenario second, as the server's ticker does every real one), registers the
units due, sends the reports due as one batch (one durable write), then the actions in file
order, and collects the alerts and deliveries that followed. The timeline is handed to
`on_entry` as it happens and kept in the result.

Decisions written down here:

- An action holdfire refuses (a 4xx; a DomainError, NotFound or NotAllowed) is an error of the
  run: it is shown in the timeline and the run fails, whatever the expectations say.
- `by` is judged on the time holdfire stamped the alert or delivery, mapped back to scenario
  time, plus the pacer's slack (0 in-process; one real second live). `never` without `by`
  covers the whole run.
- Reasons in expectations are `CODE` or `CODE@subject`; `reasons` must match the set of codes
  exactly (notes included), `includes` and `excludes` only what they name.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from holdfire.codecs.json import parse_time
from holdfire.sim.drivers import JSON, Driver
from holdfire.sim.model import Action, Expectation, Scenario, UnitPlan, format_offset
from holdfire.sim.pace import Pacer

PHASE_REGISTER, PHASE_REPORT, PHASE_ACTION = 0, 1, 2
SHOWN_UIDS = 6  # a report line names this many units, then counts the rest


class ActionRefused(RuntimeError):
    """holdfire refused an action of the scenario (the message says what and why)."""


@dataclass(frozen=True, slots=True)
class Entry:
    t_s: float
    kind: str  # reports, check, message, alert, delivery, action, error
    text: str
    verdict: str | None = None

    def to_json(self) -> JSON:
        out: JSON = {"t": format_offset(self.t_s), "kind": self.kind, "text": self.text}
        if self.verdict is not None:
            out["verdict"] = self.verdict
        return out


@dataclass(frozen=True, slots=True)
class Judged:
    expectation: Expectation
    passed: bool
    detail: str

    def to_json(self) -> JSON:
        return {
            "where": self.expectation.where,
            "expectation": self.expectation.label,
            "passed": self.passed,
            "detail": self.detail,
        }


@dataclass(slots=True)
class RunResult:
    scenario: Scenario
    mode: str
    entries: list[Entry] = field(default_factory=list)
    judged: list[Judged] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    checks: dict[str, JSON] = field(default_factory=dict)
    alerts: list[JSON] = field(default_factory=list)
    deliveries: list[JSON] = field(default_factory=list)
    reports: int = 0
    wall_s: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.errors and all(j.passed for j in self.judged)

    def to_json(self) -> JSON:
        return {
            "scenario": self.scenario.name,
            "source": self.scenario.source,
            "mode": self.mode,
            "passed": self.passed,
            "expectations": [j.to_json() for j in self.judged],
            "errors": self.errors,
            "checks": {
                name: {"verdict": c["verdict"], "reasons": [_reason_label(r) for r in c["reasons"]]}
                for name, c in self.checks.items()
            },
            "reports": self.reports,
            "alerts": len(self.alerts),
            "deliveries": len(self.deliveries),
            "wall_s": round(self.wall_s, 3),
            "timeline": [e.to_json() for e in self.entries],
        }


def _reason_label(reason: JSON) -> str:
    subject = f"@{reason['subject']}" if reason.get("subject") else ""
    return f"{reason['code']}{subject}{' (note)' if reason.get('note') else ''}"


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        driver: Driver,
        pacer: Pacer,
        on_entry: Callable[[Entry], None] | None,
        mode: str,
    ) -> None:
        self.scenario = scenario
        self.driver = driver
        self.pacer = pacer
        self.on_entry = on_entry
        self.result = RunResult(scenario, mode)
        self.messages: dict[str, tuple[str, JSON]] = {}  # name -> (id, body)
        self.check_fires: dict[str, str] = {}  # name -> measure id
        self.pairings: dict[str, str] = {}  # vehicle uid -> pairing id
        self.now = 0.0

    def entry(self, kind: str, text: str, verdict: str | None = None) -> None:
        item = Entry(self.now, kind, text, verdict)
        self.result.entries.append(item)
        if self.on_entry is not None:
            self.on_entry(item)

    def schedule(self) -> list[tuple[float, int, int, UnitPlan | Action | None]]:
        s = self.scenario
        items: list[tuple[float, int, int, UnitPlan | Action | None]] = []
        items += [(0.0, PHASE_REGISTER, i, u) for i, u in enumerate(s.units) if u.register]
        items += [
            (t, PHASE_REPORT, i, u)
            for i, u in enumerate(s.units)
            for t in u.report_times(s.duration_s)
        ]
        items += [(a.at_s, PHASE_ACTION, i, a) for i, a in enumerate(s.actions)]
        if not self.pacer.live:  # the coordinator's clock: a tick every scenario second
            items += [(float(t), PHASE_REGISTER, -1, None) for t in range(int(s.duration_s) + 1)]
        items.append((s.duration_s, PHASE_ACTION, len(s.actions), None))
        return sorted(items, key=lambda item: (round(item[0], 3), item[1], item[2]))

    async def run(self) -> RunResult:
        started = time.perf_counter()
        items = self.schedule()
        i = 0
        while i < len(items):
            t = items[i][0]
            step = []
            while i < len(items) and round(items[i][0], 3) == round(t, 3):
                step.append(items[i])
                i += 1
            self.now = t
            await self.pacer.wait_until(t)
            if not self.pacer.live:
                await self.driver.tick()
            await self.step(t, step)
            await self.collect()
        if self.pacer.live:  # what the last step caused may still be on its way
            await self.pacer.wait_until(self.scenario.duration_s + self.pacer.slack_s)
        await self.collect()
        self.result.wall_s = time.perf_counter() - started
        self.result.judged = [self.judge(e) for e in self.scenario.expectations]
        return self.result

    async def step(self, t: float, step: Iterable[tuple[float, int, int, object]]) -> None:
        batch = []
        for _, phase, _, item in step:
            if phase == PHASE_REGISTER and isinstance(item, UnitPlan):
                await self.guard(f"register {item.uid}", self.driver.register(item.unit))
            elif phase == PHASE_REPORT and isinstance(item, UnitPlan):
                batch.append((item, item.position(t)))
            elif isinstance(item, Action):
                if batch:
                    await self.send_reports(batch)
                    batch = []
                await self.guard(f"{item.where} ({item.kind})", self.act(item))
        if batch:
            await self.send_reports(batch)

    async def send_reports(self, batch: list[tuple[UnitPlan, Any]]) -> None:
        await self.guard("reports", self.driver.reports(batch))
        self.result.reports += len(batch)
        uids = [plan.uid for plan, _ in batch]
        more = f" (+{len(uids) - SHOWN_UIDS})" if len(uids) > SHOWN_UIDS else ""
        self.entry("reports", f"{len(uids)} positions: {', '.join(uids[:SHOWN_UIDS])}{more}")

    async def guard(self, what: str, work: Any) -> None:
        try:
            await work
        except (ActionRefused, ValueError, LookupError, PermissionError) as exc:
            message = f"{format_offset(self.now)} {what}: {exc}"
            self.result.errors.append(message)
            self.entry("error", f"{what}: {exc}")

    async def act(self, action: Action) -> None:
        data, driver = action.data, self.driver
        if action.kind == "measure":
            await driver.measure(data)
            props = data["properties"]
            self.entry("action", f"measure {props['kind']} {props.get('name', '')}".rstrip())
        elif action.kind == "check":
            clearance = await driver.check(data)
            self.result.checks[data["name"]] = clearance
            reasons = ", ".join(_reason_label(r) for r in clearance["reasons"]) or "no reasons"
            self.entry(
                "check",
                f"{data['name']}: {data['weapon']} at {clearance['target']['mgrs']}"
                f"{' on ' + data['target_type'] if data.get('target_type') else ''} -> "
                f"{clearance['verdict']} ({reasons})",
                clearance["verdict"],
            )
        elif action.kind == "message":
            to = data["to"]
            if to.startswith("pairing:") and to[8:] in self.pairings:
                to = f"pairing:{self.pairings[to[8:]]}"
            message_id = await driver.message(data, to)
            if "name" in data:
                self.messages[data["name"]] = (message_id, data)
            self.entry("message", f"{data.get('from', 'planner')} -> {data['to']}: {data['code']}")
        elif action.kind == "ack":
            message_id, original = self.messages[data["message"]]
            await driver.ack(message_id, original, data["by"])
            self.entry("message", f"{data['by']} acknowledges {data['message']}")
        elif action.kind == "pairing":
            self.pairings[data["vehicle"]] = await driver.pairing(data)
            self.entry("action", f"pairing {data['vehicle']} with {', '.join(data['dismounts'])}")
        elif action.kind == "check_fire":
            self.check_fires[data["name"]] = await driver.check_fire(data["feature"])
            self.entry("action", f"CHECK FIRE called: {data['name']}")
        elif action.kind == "cancel_check_fire":
            await driver.cancel_check_fire(self.check_fires[data["name"]])
            self.entry("action", f"check fire {data['name']} cancelled")
        elif action.kind == "fired":
            answered = self.result.checks.get(data["check"])
            if answered is None:
                raise ActionRefused(f"check {data['check']} was not answered")
            await driver.fired(answered["id"], data.get("remarks", ""))
            self.entry("action", f"{data['check']} reported fired")

    async def collect(self) -> None:
        alerts, deliveries = await self.driver.observed()
        for alert in alerts:
            self.result.alerts.append(alert)
            to = f" to {', '.join(alert['recipients'])}" if alert["recipients"] else ""
            self.entry("alert", f"{alert['kind']}{to}: {alert['detail']}")
        for delivery in deliveries:
            self.result.deliveries.append(delivery)
            self.entry(
                "delivery",
                f"{delivery['code']} to {delivery['to']} [{delivery['language']}]: "
                f"{delivery['text']}",
            )

    # --- judging -----------------------------------------------------------------------------

    def judge(self, expectation: Expectation) -> Judged:
        if expectation.kind == "check":
            return self.judge_check(expectation)
        return self.judge_seen(expectation)

    def judge_check(self, e: Expectation) -> Judged:
        f = e.fields
        clearance = self.result.checks.get(f["check"])
        if clearance is None:
            return Judged(e, False, "the check was not answered")
        reasons = clearance["reasons"]
        got = f"verdict {clearance['verdict']}, reasons " + (
            ", ".join(_reason_label(r) for r in reasons) or "(none)"
        )
        problems = []
        if "verdict" in f and clearance["verdict"] != f["verdict"]:
            problems.append(f"verdict was {clearance['verdict']}, expected {f['verdict']}")

        def matches(spec: str) -> bool:
            code, _, subject = spec.partition("@")
            return any(
                r["code"] == code and (not subject or r["subject"] == subject) for r in reasons
            )

        if "reasons" in f:
            wanted = {spec.partition("@")[0] for spec in f["reasons"]}
            codes = {r["code"] for r in reasons}
            if codes != wanted or not all(matches(s) for s in f["reasons"]):
                problems.append(f"reasons differ from {', '.join(f['reasons']) or '(none)'}")
        missing = [s for s in f.get("includes", []) if not matches(s)]
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        present = [s for s in f.get("excludes", []) if matches(s)]
        if present:
            problems.append(f"unexpected {', '.join(present)}")
        if problems:
            return Judged(e, False, f"{'; '.join(problems)} (got {got})")
        return Judged(e, True, got)

    def judge_seen(self, e: Expectation) -> Judged:
        f = e.fields
        if e.kind == "alert":
            pool, stamp = self.result.alerts, "created_at"
            found = [
                a
                for a in pool
                if a["kind"] == f["alert"]
                and ("subject" not in f or f["subject"] in a["subjects"])
                and ("recipient" not in f or f["recipient"] in a["recipients"])
            ]
        else:
            pool, stamp = self.result.deliveries, "sent_at"
            found = [
                d
                for d in pool
                if d["code"] == f["message"]
                and ("to" not in f or d["to"] == f["to"])
                and ("language" not in f or d["language"] == f["language"])
            ]
        when = sorted(self.pacer.offset_of(parse_time(x[stamp])) for x in found)
        deadline = None if e.by_s is None else e.by_s + self.pacer.slack_s
        in_time = [t for t in when if deadline is None or t <= deadline]
        seen = f"{len(found)} seen" + (f", first at {format_offset(when[0])}" if when else "")
        if e.never:
            return Judged(e, not in_time, "none seen" if not in_time else f"but {seen}")
        if in_time:
            return Judged(e, True, f"first at {format_offset(in_time[0])}")
        late = f"too late: {seen}" if found else "none seen"
        return Judged(e, False, late)


async def run_scenario(
    scenario: Scenario,
    driver: Driver,
    pacer: Pacer,
    *,
    on_entry: Callable[[Entry], None] | None = None,
    mode: str = "in-process",
) -> RunResult:
    """Replay `scenario` and judge every expectation; never raises for a failed expectation."""
    return await _Run(scenario, driver, pacer, on_entry, mode).run()

"""The live driver: a scenario against a running holdfire, over CoT (TCP) and HTTP.

Positions go as CoT SA events over one plain TCP connection, the way a TAK client sends them;
everything else goes through the HTTP API with the token given (an admin's: the runner
registers units and measures, asks checks, calls check fires and, for the messages the
scenario's units send themselves, issues one reporter token bound to those units). Alerts and
deliveries are read back by polling `GET /alerts` and `GET /messages` after every step.

Decisions written down here:

- Plain TCP carries no identity, so holdfire keeps these positions as ones reported by the
  connection, not the units' own fixes: they add protection and move the track like any
  witness's report; the checks weigh them the same way.
- CoT is fire-and-forget: before anything that reads the picture (a check, a message, a
  pairing, a check fire) the driver waits until `GET /tracks` shows every position it sent,
  so a check never races the reports before it.
- The SA's `time` is the moment the fix was taken (now minus the unit's relay `delay`), its
  `ce` the 1-sigma error (the scenario's 95 % figure / 2.45), its `stale` ten minutes on: no
  class is fresh longer, so the mobility table, not the SA, decides when a track turns stale.
- What holdfire does on its own clock (tracks turning stale in a silence, re-sends) happens in
  real time: at `--speed 10` a 5-minute silence lasts 30 s for the server. Relay delays and
  everything else hold at any speed.
"""

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import httpx

from holdfire.codecs.cot_reports import CE_95_FACTOR
from holdfire.codecs.cot_xml import sa_event
from holdfire.codecs.json import parse_time
from holdfire.sim.drivers import JSON, ack_params
from holdfire.sim.model import Point, Scenario, UnitPlan
from holdfire.sim.pace import WallPacer
from holdfire.sim.runner import ActionRefused, Entry, RunResult, run_scenario

API = "/api/v1"
SA_STALE = timedelta(minutes=10)
SETTLE_TIMEOUT_S = 10.0
SETTLE_POLL_S = 0.02
PAGE = 100  # newest first: one short page per poll once the backlog is read
# CoT type letters of the affiliations (MIL-STD-2525 standard identity) ...
COT_AFFILIATION = {
    "friend": "f", "assumed-friend": "a", "neutral": "n", "unknown": "u", "pending": "p",
    "suspect": "s", "hostile": "h",
}  # fmt: skip
# ... and a type per mobility class that holdfire's CoT codec reads back as that class.
COT_FUNCTION = {
    "dismounted": "G-U-C-I", "wheeled": "G-E-V", "tracked": "G-U-C-A", "static": "G-I",
    "air": "A", "towed": "G", "unknown": "G",
}  # fmt: skip
CHECK_FIELDS = ("target", "weapon", "tle_m", "target_type", "pid", "pid_detail", "firing_unit")


def cot_type(plan: UnitPlan) -> str:
    if plan.cot_type:
        return plan.cot_type
    letter = COT_AFFILIATION[plan.unit.get("affiliation", "friend")]
    return f"a-{letter}-{COT_FUNCTION[plan.unit.get('mobility', 'unknown')]}"


def speakers(scenario: Scenario) -> list[str]:
    """Units that send messages themselves (they need a token bound to them)."""
    uids = {a.data["from"] for a in scenario.actions if a.kind == "message" and "from" in a.data}
    uids |= {a.data["by"] for a in scenario.actions if a.kind == "ack"}
    return sorted(uids)


class LiveDriver:
    """Use as `async with LiveDriver(url, token, cot_address, scenario) as driver:`."""

    def __init__(
        self, url: str, token: str, cot_address: tuple[str, int], scenario: Scenario
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.cot_address = cot_address
        self.scenario = scenario
        self.api = httpx.AsyncClient(
            base_url=self.url + API, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
        )
        self.speaker: httpx.AsyncClient | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._drain: asyncio.Task[None] | None = None
        self._pending: dict[str, datetime] = {}  # uid -> time of the last fix sent
        self._seen_alerts: set[str] = set()
        self._seen_deliveries: set[str] = set()

    async def __aenter__(self) -> Self:
        try:
            reader, self._writer = await asyncio.open_connection(*self.cot_address)
        except OSError as exc:
            raise ActionRefused(
                f"CoT TCP {self.cot_address[0]}:{self.cot_address[1]}: {exc}"
            ) from None
        # The server sends us the picture and everyone's SA: read it, or it would stop sending.
        self._drain = asyncio.create_task(self._discard(reader))
        # Alerts and deliveries from before this run are not the scenario's.
        await self.observed()
        uids = speakers(self.scenario)
        if uids:
            made = await self._call(
                self.api, "POST", "/tokens",
                {"name": f"scenario-{self.scenario.name}-{uuid.uuid4().hex[:8]}",
                 "role": "reporter", "units": uids},
            )  # fmt: skip
            self.speaker = httpx.AsyncClient(
                base_url=self.url + API,
                headers={"Authorization": f"Bearer {made['token']}"},
                timeout=10.0,
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
        if self.speaker is not None:
            await self.speaker.aclose()
        await self.api.aclose()

    @staticmethod
    async def _discard(reader: asyncio.StreamReader) -> None:
        while await reader.read(65536):
            pass

    async def _call(
        self, client: httpx.AsyncClient, method: str, path: str, body: object = None
    ) -> Any:
        try:
            response = await client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ActionRefused(f"{method} {path}: {exc}") from None
        if response.status_code >= 400:
            try:
                error = response.json().get("error", response.text)
            except ValueError:
                error = response.text
            raise ActionRefused(f"{method} {path}: {response.status_code} {error}")
        return response.json() if response.content else None

    # --- the Driver port -----------------------------------------------------------------

    async def register(self, unit: JSON) -> None:
        await self._call(self.api, "PUT", f"/units/{unit['uid']}", unit)

    async def reports(self, batch: Sequence[tuple[UnitPlan, Point]]) -> None:
        assert self._writer is not None, "use the driver as an async context manager"
        now = datetime.now(UTC)
        for plan, point in batch:
            observed = now - timedelta(seconds=plan.delay_s)
            self._writer.write(
                sa_event(
                    plan.uid,
                    plan.unit.get("callsign", plan.uid),
                    cot_type(plan),
                    point.lat,
                    point.lon,
                    None,
                    plan.ce_m / CE_95_FACTOR,
                    None,
                    observed,
                    observed + SA_STALE,
                    endpoint=None,
                )
            )
            self._pending[plan.uid] = observed
        try:
            await self._writer.drain()
        except OSError as exc:
            raise ActionRefused(f"CoT TCP: {exc}") from None

    async def _settle(self) -> None:
        """Wait until every position sent shows in GET /tracks."""
        deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT_S
        while self._pending:
            tracks = await self._call(self.api, "GET", "/tracks")
            for feature in tracks["features"]:
                props = feature["properties"]
                sent = self._pending.get(props["uid"])
                landed = props.get("observed_at")
                if (
                    sent is not None
                    and landed
                    and parse_time(landed) >= sent - timedelta(milliseconds=1)
                ):
                    del self._pending[props["uid"]]
            if not self._pending:
                return
            if asyncio.get_running_loop().time() > deadline:
                missing = ", ".join(sorted(self._pending))
                self._pending.clear()
                raise ActionRefused(f"positions sent over CoT never reached the picture: {missing}")
            await asyncio.sleep(SETTLE_POLL_S)

    async def measure(self, feature: JSON) -> str:
        made = await self._call(self.api, "POST", "/measures", feature)
        return str(made["id"])

    async def check(self, body: JSON) -> JSON:
        await self._settle()
        request = {k: body[k] for k in CHECK_FIELDS if k in body}
        answer: JSON = await self._call(self.api, "POST", "/checks", request)
        return answer

    async def message(self, body: JSON, to: str) -> str:
        await self._settle()
        request: JSON = {"to": to, "code": body["code"], "params": body.get("params", {})}
        if "ack_required" in body:
            request["ack_required"] = body["ack_required"]
        client = self.api
        if "from" in body:
            assert self.speaker is not None  # speakers() named every sender
            client, request["sender_uid"] = self.speaker, body["from"]
        made = await self._call(client, "POST", "/messages", request)
        return str(made["id"])

    async def ack(self, message_id: str, original: JSON, by: str) -> None:
        await self._settle()
        assert self.speaker is not None  # speakers() named every acknowledging unit
        sender = original.get("from")
        if sender is None:
            await self._call(self.speaker, "POST", f"/messages/{message_id}/ack?for={by}")
            return
        request = {"to": sender, "code": "ACK", "params": ack_params(message_id), "sender_uid": by}
        await self._call(self.speaker, "POST", "/messages", request)

    async def pairing(self, body: JSON) -> str:
        await self._settle()
        made = await self._call(self.api, "POST", "/pairings", body)
        return str(made["id"])

    async def check_fire(self, feature: JSON) -> str:
        await self._settle()
        made = await self._call(self.api, "POST", "/checkfire", feature)
        return str(made["id"])

    async def cancel_check_fire(self, measure_id: str) -> None:
        await self._call(self.api, "DELETE", f"/checkfire/{measure_id}")

    async def fired(self, check_id: str, remarks: str) -> None:
        await self._call(self.api, "POST", f"/checks/{check_id}/fired", {"remarks": remarks})

    async def tick(self) -> None:
        """The server's own ticker lets time pass."""

    async def observed(self) -> tuple[list[JSON], list[JSON]]:
        alerts = await self._new("/alerts", self._seen_alerts)
        deliveries = await self._new("/messages", self._seen_deliveries)
        return alerts, deliveries

    async def _new(self, path: str, seen: set[str]) -> list[JSON]:
        """Items not seen before, oldest first (the lists answer newest first)."""
        fresh: list[JSON] = []
        cursor: str | None = None
        while True:
            query = f"{path}?limit={PAGE}" + (f"&cursor={cursor}" if cursor else "")
            page = await self._call(self.api, "GET", query)
            items = page["items"]
            new = [item for item in items if item["id"] not in seen]
            fresh += new
            cursor = page["next"]
            if len(new) < len(items) or cursor is None:
                break
        seen.update(item["id"] for item in fresh)
        return fresh[::-1]


async def run_live(
    scenario: Scenario,
    url: str,
    token: str,
    cot_address: tuple[str, int],
    speed: float,
    *,
    on_entry: Callable[[Entry], None] | None = None,
) -> RunResult:
    """Replay `scenario` against the server at `url`, `speed` times faster than real time."""
    async with LiveDriver(url, token, cot_address, scenario) as driver:
        return await run_scenario(
            scenario, driver, WallPacer(speed), on_entry=on_entry, mode=f"live x{speed:g}"
        )

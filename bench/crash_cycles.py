"""Crash consistency: kill -9 a loaded server again and again, and count what it acknowledged.

One `holdfire serve` process (SQLite in its data directory, or `--db` a fresh PostgreSQL
database on 127.0.0.1:5432), the harness of tests/support/cluster.py. Each cycle starts it on the
same data directory and database, waits until /api/v1/health is 200, and puts it under a steady
load until a random moment (`--min-s` … `--max-s` after it is ready), when it gets SIGKILL:

- HTTP: a reporter posting batches of 20 reports (POST /reports, 202 = acknowledged), a fires
  cell posting checks (POST /checks, 200 with the check's id), a planner sending messages to a
  registered unit (POST /messages, 201 with the message's id); each on its own keep-alive
  connection, as fast as the server answers. An answer that never came (the kill cut it off)
  acknowledged nothing.
- CoT: a TAK client streaming its own SA over TCP 20 times a second (CoT has no acknowledgement:
  this is load, not counted).

After the last cycle the server is started once more and the store is read back through the
Store port (`events()` of the same adapter the server uses): every acknowledged report (uid and
observed time), check (id) and message (id) must be there. `lost` counts those that are not.

Prints one JSON line per backend: `cycles`, `acknowledged` {reports, checks, messages}, `lost`
(by kind), `refused` (answers other than success, which are not acknowledgements),
`kill_after_s` (min, max), `restart_s` (p50, max: from start to ready), `seconds`, the target
(0 lost in 100 cycles) and whether it was met.

    .venv/bin/python bench/crash_cycles.py                        # 100 cycles, both backends
    .venv/bin/python bench/crash_cycles.py --cycles 5 --backend sqlite  # a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from holdfire.adapters.store.factory import make_store  # noqa: E402
from holdfire.domain.events import CheckEvaluated, MessageSent, PositionReported  # noqa: E402
from http_checks import NO_ADDRESS_LIMITS, log, run_bench  # noqa: E402
from support.cluster import Node, fresh_database  # noqa: E402
from support.process import free_port  # noqa: E402

TARGET = {"cycles": 100, "lost": 0}
RECIPIENT = "crash-unit-1"


class Load(threading.Thread):
    """One kind of write in a loop on one keep-alive connection, recording what was acked."""

    def __init__(self, node: Node, write: Callable[[httpx.Client, int], list[Any] | None]):
        super().__init__(daemon=True)
        self.node, self.write = node, write
        self.stop = threading.Event()
        self.acked: list[Any] = []
        self.refused = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.node.token}"}
        i = 0
        with httpx.Client(base_url=self.node.base + "/api/v1", headers=headers, timeout=5) as c:
            while not self.stop.is_set():
                try:
                    got = self.write(c, i)
                except httpx.HTTPError:
                    return  # the server is gone: what was in flight was not acknowledged
                if got is None:
                    self.refused += 1
                else:
                    self.acked += got
                i += 1


def report_writer(prefix: str) -> Callable[[httpx.Client, int], list[Any] | None]:
    def write(c: httpx.Client, i: int) -> list[Any] | None:
        now = datetime.now(UTC)
        at = now.isoformat()
        body = [
            {"uid": f"{prefix}{i % 50}-{k}", "lat": 51.3 + k * 1e-4, "lon": 35.2, "observed_at": at}
            for k in range(20)
        ]
        r = c.post("/reports", json=body)
        if r.status_code != 202 or r.json()["accepted"] != len(body):
            return None
        return [(b["uid"], now) for b in body]

    return write


def check_writer(c: httpx.Client, i: int) -> list[Any] | None:
    body = {"target": {"lat": 51.3 + (i % 100) * 1e-3, "lon": 35.2}, "weapon": "120mm-mortar"}
    r = c.post("/checks", json=body)
    return [r.json()["id"]] if r.status_code == 200 else None


def message_writer(c: httpx.Client, i: int) -> list[Any] | None:
    r = c.post("/messages", json={"to": RECIPIENT, "code": "WAIT_FOR_US"})
    return [r.json()["id"]] if r.status_code == 201 else None


async def cot_load(port: int, stop: threading.Event) -> None:
    """A TAK client's own SA, 20 a second, until `stop` or the server goes away."""
    with contextlib.suppress(OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        n = 0
        while not stop.is_set():
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            writer.write(
                f'<event version="2.0" uid="ANDROID-crash" type="a-f-G-U-C" how="m-g" '
                f'time="{now}" start="{now}" stale="{now}"><point lat="{51.3 + n * 1e-6}" '
                f'lon="35.2" hae="0" ce="5" le="5"/><detail><contact callsign="CRASH"/>'
                f"</detail></event>".encode()
            )
            await writer.drain()
            n += 1
            await asyncio.sleep(0.05)
        writer.close()


def node_for(data: Path, db: str | None, log_path: Path) -> Node:
    http, cot = free_port(), free_port()
    args = ["--data", str(data), "--http", f"127.0.0.1:{http}", "--cot-tcp", f"127.0.0.1:{cot}"]
    args += ["--cot-tls", "off", *NO_ADDRESS_LIMITS, *(["--db", db] if db else [])]
    return Node("crash", data, args, http, cot, log_path)


def cycles(data: Path, db: str | None, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    node = node_for(data, db, data.parent / "server.log")
    acked: dict[str, list[Any]] = {"reports": [], "checks": [], "messages": []}
    refused = 0
    restarts: list[float] = []
    kills: list[float] = []
    t_all = time.monotonic()
    for cycle in range(args.cycles):
        t0 = time.monotonic()
        node.start()
        node.wait_ready(60)
        restarts.append(time.monotonic() - t0)
        if not node.token:
            node.token = (data / "admin.token").read_text().strip()
            node.api("PUT", f"/units/{RECIPIENT}", {"callsign": "CRASH-1", "language": "ru"})
        loads = {
            "reports": Load(node, report_writer(f"c{cycle}-")),
            "checks": Load(node, check_writer),
            "messages": Load(node, message_writer),
        }
        stop_cot = threading.Event()
        cot = threading.Thread(target=asyncio.run, args=(cot_load(node.cot_port, stop_cot),))
        cot.start()
        for load in loads.values():
            load.start()
        kill_after = rng.uniform(args.min_s, args.max_s)
        time.sleep(kill_after)
        node.kill()
        kills.append(kill_after)
        stop_cot.set()
        for kind, load in loads.items():
            load.stop.set()
            load.join(10)
            acked[kind] += load.acked
            refused += load.refused
        cot.join(10)
        if (cycle + 1) % 10 == 0:
            log(f"{cycle + 1}/{args.cycles} cycles, {sum(map(len, acked.values()))} acknowledged")
    lost = asyncio.run(count_lost(data, db, acked))
    return {
        "cycles": args.cycles,
        "acknowledged": {kind: len(items) for kind, items in acked.items()},
        "lost": lost,
        "refused": refused,
        "kill_after_s": [round(min(kills), 2), round(max(kills), 2)],
        "restart_s": {"p50": round(statistics.median(restarts), 2), "max": round(max(restarts), 2)},
        "seconds": round(time.monotonic() - t_all, 1),
    }


async def count_lost(data: Path, db: str | None, acked: dict[str, list[Any]]) -> dict[str, int]:
    """What the store holds after a clean open, against what was acknowledged."""
    store = make_store(data, db)
    await store.open()
    reports: set[tuple[str, datetime]] = set()
    checks: set[str] = set()
    messages: set[str] = set()
    try:
        after = 0
        while batch := await store.events(after_seq=after, limit=5000):
            for _, event in batch:
                if isinstance(event, PositionReported):
                    reports.add((event.report.uid, event.report.observed_at))
                elif isinstance(event, CheckEvaluated):
                    checks.add(event.clearance.id)
                elif isinstance(event, MessageSent):
                    messages.add(event.message.id)
            after = batch[-1][0]
    finally:
        await store.close()
    return {
        "reports": sum(1 for item in acked["reports"] if item not in reports),
        "checks": sum(1 for item in acked["checks"] if item not in checks),
        "messages": sum(1 for item in acked["messages"] if item not in messages),
    }


@contextlib.contextmanager
def backend(kind: str) -> Iterator[str | None]:
    if kind == "sqlite":
        yield None
    else:
        with fresh_database() as db:
            yield db


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    kinds = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for kind in kinds:
        log(f"{kind}: {args.cycles} cycles")
        with backend(kind) as db:
            data = scratch / kind / "data"
            data.mkdir(parents=True)
            results[kind] = cycles(data, db, args)
    met = all(
        r["cycles"] >= TARGET["cycles"] and sum(r["lost"].values()) == 0 for r in results.values()
    )
    return {"bench": "crash_cycles", **results, "target": TARGET, "target_met": met}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--min-s", type=float, default=0.2, help="earliest kill after ready")
    ap.add_argument("--max-s", type=float, default=1.5, help="latest kill after ready")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.cycles < 1 or not 0 <= a.min_s <= a.max_s:
        ap.error("need --cycles >= 1 and 0 <= --min-s <= --max-s")
    return a


def main(argv: list[str] | None = None) -> int:
    return run_bench(parse_args(argv), run, "crash_cycles")


if __name__ == "__main__":
    sys.exit(main())

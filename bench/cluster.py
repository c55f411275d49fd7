"""Cluster: how fast a report taken by one node reaches a check on another, and what replication
costs a node's check throughput.

Three nodes (`holdfire serve --db <fresh database> --nats nats://127.0.0.1:4222 --node a|b|c
--cluster <unique>`, separate processes, the harness of tests/support/cluster.py) share a fresh
PostgreSQL database on 127.0.0.1:5432 and the machine's NATS server. Node a gets a picture
(`--tracks`, `--measures`, as http_checks.py loads it), then:

1. **Replication delay.** For `--seconds`, a feeder posts `--rate` reports/s to node a (batches of
   `--batch` every batch/rate seconds, moving the picture's own units), and every `--probe-every`
   seconds a prober posts one report of a new unit, far from the picture, to node a and, from the
   moment a acknowledged it (202), asks node c for a check at that unit's position, again and
   again on one keep-alive connection, until the check names the unit. The delay is from a's
   acknowledgement to the answer of the first check on c that names it (so it includes one
   check's round trip; `check_rtt_ms` says how long one takes).
2. **Throughput with replication on.** The feeder goes on into node a while http_checks.py's
   closed-loop generator (`--clients` connections) posts checks to node c for `--seconds`.
3. **The same node alone.** Node c is stopped and started again on the same data directory and
   database without `--nats` (nodes a and b and the feeder into a go on, so the machine carries
   the same load but c replicates nothing), and the same generator runs against it.

Prints one JSON line: `replication_p50_ms`, `replication_p90_ms`, `replication_p99_ms`,
`replication_max_ms`, `probes`; `feed_reports_per_s` (acknowledged, measured); `check_rtt_ms`;
`checks_per_s_replicating`, `checks_per_s_alone`, `replication_cost_pct` (1 − replicating /
alone); both phases' p50/p99 and server CPU; the targets and whether they were met.

    .venv/bin/python bench/cluster.py                    # 1,000 reports/s, 20 s a phase
    .venv/bin/python bench/cluster.py --seconds 5 --tracks 1000 --clients 8   # a smoke test
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from http_checks import NO_ADDRESS_LIMITS, check_load, load_picture, log, run_bench  # noqa: E402
from support.cluster import NATS_URL, Cluster, Node, fresh_database, wait_until  # noqa: E402

TARGET = {"replication_p99_ms": 200.0, "replication_cost_pct": 25.0, "reports_per_s": 1000}
MORTAR = "120mm-mortar"
PROBE_AREA = (49.5, 30.0)  # far from the picture: only the probe's unit is near a probe


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Feeder(threading.Thread):
    """`rate` reports/s into `node`, in batches, moving units u00000…; counts acknowledged."""

    def __init__(self, node: Node, units: int, rate: float, batch: int) -> None:
        super().__init__(daemon=True)
        self.node, self.units, self.rate, self.batch = node, units, rate, batch
        self.stop = threading.Event()
        self.acknowledged = 0
        self.refused = 0
        self.started_at = 0.0

    def run(self) -> None:
        rng = random.Random(7)
        every = self.batch / self.rate
        headers = {"Authorization": f"Bearer {self.node.token}"}
        with httpx.Client(base_url=self.node.base + "/api/v1", headers=headers) as client:
            self.started_at = time.monotonic()
            due = self.started_at
            i = 0
            while not self.stop.is_set():
                now = datetime.now(UTC).isoformat()
                body = []
                for _ in range(self.batch):
                    uid = f"u{i % self.units:05d}"
                    lat, lon = 51.4 + rng.uniform(-0.9, 0.9), 35.6 + rng.uniform(-1.4, 1.4)
                    body.append({"uid": uid, "lat": lat, "lon": lon, "observed_at": now})
                    i += 1
                reply = client.post("/reports", json=body, timeout=30)
                if reply.status_code == 202:
                    self.acknowledged += self.batch
                else:
                    self.refused += self.batch
                due += every
                time.sleep(max(0.0, due - time.monotonic()))

    def per_s(self) -> float:
        return self.acknowledged / max(1e-9, time.monotonic() - self.started_at)


def probe(a: Node, c: Node, n: int, client_a: httpx.Client, client_c: httpx.Client) -> float:
    """One probe: ms from node a acknowledging a new unit's report to a check on c naming it."""
    uid = f"probe-{n}"
    lat, lon = PROBE_AREA[0] + (n % 50) * 0.05, PROBE_AREA[1] + (n // 50) * 0.05
    when = datetime.now(UTC).isoformat()
    body = {"uid": uid, "lat": lat, "lon": lon, "observed_at": when, "ce_m": 10}
    reply = client_a.post("/reports", json=body)
    acked = time.perf_counter()
    if reply.status_code != 202:
        raise RuntimeError(f"node a refused a probe: {reply.status_code} {reply.text}")
    check = {"target": {"lat": lat, "lon": lon}, "weapon": MORTAR}
    while time.perf_counter() - acked < 10.0:
        answer = client_c.post("/checks", json=check).json()
        if any(r.get("subject") == uid for r in answer["reasons"]):
            return (time.perf_counter() - acked) * 1000.0
    raise RuntimeError(f"node c never saw {uid}")


def replication(a: Node, c: Node, args: argparse.Namespace) -> dict[str, Any]:
    delays: list[float] = []
    rtts: list[float] = []
    headers = {"Authorization": f"Bearer {a.token}"}
    with (
        httpx.Client(base_url=a.base + "/api/v1", headers=headers, timeout=10) as client_a,
        httpx.Client(base_url=c.base + "/api/v1", headers=headers, timeout=10) as client_c,
    ):
        check = {"target": {"lat": PROBE_AREA[0] - 1, "lon": PROBE_AREA[1]}, "weapon": MORTAR}
        for _ in range(20):
            t0 = time.perf_counter()
            client_c.post("/checks", json=check).raise_for_status()
            rtts.append((time.perf_counter() - t0) * 1000.0)
        end = time.monotonic() + args.seconds
        n = 0
        while time.monotonic() < end:
            t0 = time.monotonic()
            delays.append(probe(a, c, n, client_a, client_c))
            n += 1
            time.sleep(max(0.0, args.probe_every - (time.monotonic() - t0)))
    return {
        "replication_p50_ms": round(percentile(delays, 0.50), 1),
        "replication_p90_ms": round(percentile(delays, 0.90), 1),
        "replication_p99_ms": round(percentile(delays, 0.99), 1),
        "replication_max_ms": round(max(delays), 1),
        "replication_mean_ms": round(statistics.fmean(delays), 1),
        "probes": len(delays),
        "check_rtt_ms": round(statistics.median(rtts), 2),
    }


def throughput(node: Node, tables: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    assert node.process is not None
    figures = check_load(
        node.http_port,
        node.token,
        tables,
        node.process.pid,
        clients=args.clients,
        procs=1,
        seconds=args.seconds,
        warmup=args.warmup,
        seed=args.seed,
    )
    keep = ("checks_per_s", "p50_ms", "p99_ms", "errors", "server_cpu_pct", "generator_limited")
    return {key: figures[key] for key in keep}


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    with fresh_database() as db:
        cluster = Cluster(scratch, db, NATS_URL)
        for name in ("a", "b", "c"):
            cluster.add(name, *NO_ADDRESS_LIMITS)
        try:
            a, _b, c = cluster.start("a", "b", "c")
            headers = {"Authorization": f"Bearer {a.token}"}
            with httpx.Client(base_url=a.base + "/api/v1", headers=headers, timeout=120) as client:
                tables = load_picture(client, args)
            wait_until("c to hold a's picture", lambda: len(c.tracks()) >= args.tracks, 120)
            log(f"picture of {args.tracks} tracks on every node")
            feeder = Feeder(a, args.tracks, args.rate, args.batch)
            feeder.start()
            time.sleep(2.0)
            log("replication delay ...")
            rec: dict[str, Any] = {"bench": "cluster", **replication(a, c, args)}
            log("check throughput of c, replicating ...")
            replicating = throughput(c, tables, args)
            log("check throughput of c, alone ...")
            c.stop()
            c.leave_cluster()
            c.start()
            c.wait_ready(120)
            alone = throughput(c, tables, args)
            feeder.stop.set()
            feeder.join(30)
        finally:
            cluster.close()
    cost = 100.0 * (1.0 - replicating["checks_per_s"] / max(1e-9, alone["checks_per_s"]))
    rec.update(
        {
            "feed_reports_per_s": round(feeder.per_s(), 1),
            "feed_refused": feeder.refused,
            "checks_per_s_replicating": replicating["checks_per_s"],
            "checks_per_s_alone": alone["checks_per_s"],
            "replication_cost_pct": round(cost, 1),
            "replicating": replicating,
            "alone": alone,
            "tracks": args.tracks,
            "measures": args.measures,
            "rate": args.rate,
            "seconds": args.seconds,
            "clients": args.clients,
            "cpu_count": os.cpu_count(),
            "target": TARGET,
        }
    )
    rec["target_met"] = (
        rec["replication_p99_ms"] <= TARGET["replication_p99_ms"]
        and rec["replication_cost_pct"] <= TARGET["replication_cost_pct"]
        and rec["feed_reports_per_s"] >= 0.95 * TARGET["reports_per_s"]
    )
    return rec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="each phase's window")
    ap.add_argument("--warmup", type=float, default=3.0, help="uncounted seconds of a load")
    ap.add_argument("--rate", type=float, default=1000.0, help="reports/s into node a")
    ap.add_argument("--batch", type=int, default=50, help="reports per POST of the feeder")
    ap.add_argument("--probe-every", type=float, default=0.2, help="seconds between probes")
    ap.add_argument("--clients", type=int, default=16, help="check connections to node c")
    ap.add_argument("--tracks", type=int, default=5000)
    ap.add_argument("--measures", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.seconds <= 0 or a.rate <= 0 or a.batch < 1 or a.clients < 1 or a.tracks < 1:
        ap.error("need --seconds, --rate, --batch, --clients and --tracks > 0")
    return a


def main(argv: list[str] | None = None) -> int:
    return run_bench(parse_args(argv), run, "cluster", (AssertionError,))


if __name__ == "__main__":
    sys.exit(main())

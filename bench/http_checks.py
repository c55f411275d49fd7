"""HTTP checks: POST /api/v1/checks throughput and latency against a loaded holdfire server.

Starts a fresh server process (`holdfire serve --data <tmp> --http 127.0.0.1:PORT --cot-tcp off
--cot-tls off`, the per-address limits off: `NO_ADDRESS_LIMITS`), waits until /api/v1/health
is 200, reads the admin token from <tmp>/admin.token, then loads the picture over HTTP:

- `--tracks` units (10,000) registered by their first report (POST /reports, 1,000 a batch),
  uniform over a 200 × 200 km square centred on 51.4 N 35.6 E: 85 % friend, 5 % neutral, 5 %
  unknown, 5 % hostile; mobility dismounted / wheeled / tracked / towed / static; ce 5-50 m;
  age per the unit's mobility class as in check_latency.py: fresh 95 % (0 to min(30 s,
  stale_after)), stale 4 % (stale_after to lost_after), lost 1 % (lost_after to
  2·lost_after); one in twenty units is then registered with equipment (PUT /units) so the
  lookalike rule has fielders;
- `--measures` (300) via POST /measures: NFA circles 40 %, NSL circles 25 %, RFA polygons 20 %,
  ACA polygons 5 %, RFL lines 5 %, BOUNDARY lines 5 %, all in force.

Then `--procs` generator processes (default 1), `--clients` connections in all (default 32),
each a closed loop on one keep-alive HTTP/1.1 connection (raw asyncio streams: one request,
then its whole answer, no pipelining), POST /api/v1/checks with a uniform aimpoint in the
square, a weapon drawn from GET /weapons, a target type from GET /equipment (or none) and a
tle of 0-50 m. Requests started during the first `--warmup` seconds (default 3) are not
counted; those started in the next `--seconds` (default 20) are. Each latency is from the
request's write to the end of its answer's body (perf_counter_ns).

Prints one JSON line: `checks_per_s`, `p50_ms` … `max_ms`, `mean_ms`, `requests`, `errors`
(non-200 answers and broken connections), `statuses`, `verdicts`; `server_cpu_pct` (of one
core, over the window, from /proc/PID/stat), `server_rss_kb` (at the end) and
`server_rss_kb_peak` (VmHWM); `generator_cpu_pct` (all generator processes, of one core) and
`generator_limited` (a generator process used ≥ 90 % of a core: the figures then say as much
about the load generator as about the server); `clients`, `procs`, `tracks`, `measures`,
`load_s`, `cpu_count`, the target and whether it was met.

    .venv/bin/python bench/http_checks.py                      # 10,000 tracks, 32 clients, 20 s
    .venv/bin/python bench/http_checks.py --seconds 5 --tracks 2000 --clients 8   # a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from holdfire.adapters.tables import load_tables
from holdfire.domain.tables import Mobility

ROOT = Path(__file__).resolve().parent.parent
HOLDFIRE_BIN = ROOT / ".venv" / "bin" / "holdfire"
HOST = "127.0.0.1"
CENTRE = (51.4, 35.6)
HALF_SIDE_DEG = (0.9, 1.44)  # about 100 km in latitude and in longitude at 51.4 N
TARGET = {"checks_per_s": 2000, "p99_ms": 20.0}
LIMITED_CORE_SHARE = 0.9
BODIES_PER_CLIENT = 500
CLK_TCK = os.sysconf("SC_CLK_TCK")
# A load generator is one address sending as fast as it can: the server's per-address limits,
# meant for hostile clients (bench/hostile_load.py measures them), are off in the benches that
# measure throughput.
NO_ADDRESS_LIMITS = [
    *("--http-max-per-address", "0", "--http-requests-per-s", "0"),
    *("--cot-max-per-address", "0", "--cot-connects-per-s", "0"),
    *("--cot-bytes-per-s", "0", "--cot-events-per-s", "0"),
]

AFFILIATIONS = {"friend": 0.85, "neutral": 0.05, "unknown": 0.05, "hostile": 0.05}
MOBILITY = {"dismounted": 0.3, "wheeled": 0.3, "tracked": 0.25, "towed": 0.1, "static": 0.05}
STATES = {"fresh": 0.95, "stale": 0.04, "lost": 0.01}
MEASURES = {
    ("NFA", "circle"): 0.40,
    ("NSL", "circle"): 0.25,
    ("RFA", "polygon"): 0.20,
    ("ACA", "polygon"): 0.05,
    ("RFL", "line"): 0.05,
    ("BOUNDARY", "line"): 0.05,
}


def log(msg: str) -> None:
    sys.stderr.write(f"[http_checks {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def draw(rng: random.Random, mix: dict[Any, float]) -> Any:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def point(rng: random.Random) -> tuple[float, float]:
    return (
        CENTRE[0] + rng.uniform(-HALF_SIDE_DEG[0], HALF_SIDE_DEG[0]),
        CENTRE[1] + rng.uniform(-HALF_SIDE_DEG[1], HALF_SIDE_DEG[1]),
    )


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(data: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    cmd = [str(HOLDFIRE_BIN), "serve", "--data", str(data), "--http", f"{HOST}:{port}"]
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [*cmd, "--cot-tcp", "off", "--cot-tls", "off", *NO_ADDRESS_LIMITS],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL after 15 s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/api/v1/health", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def cpu_ticks(pid: int) -> int:
    """utime + stime of the process (all its threads), in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


# --- loading the picture ----------------------------------------------------------------------


def circle(lat: float, lon: float, kind: str, radius: float, name: str) -> dict[str, Any]:
    props: dict[str, Any] = {"kind": kind, "name": name, "radius_m": radius}
    if kind == "NSL":
        props["category"] = "hospital"
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": props}  # fmt: skip


def measure(rng: random.Random, n: int) -> dict[str, Any]:
    kind, shape = draw(rng, MEASURES)
    lat, lon = point(rng)
    name = f"{kind} {n}"
    if shape == "circle":
        return circle(lat, lon, kind, rng.uniform(100, 2000), name)
    if shape == "polygon":
        dlat, dlon = rng.uniform(0.005, 0.03), rng.uniform(0.008, 0.05)
        ring = [[lon - dlon, lat - dlat], [lon + dlon, lat - dlat], [lon + dlon, lat + dlat],
                [lon - dlon, lat + dlat], [lon - dlon, lat - dlat]]  # fmt: skip
        return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"kind": kind, "name": name}}  # fmt: skip
    line = [[lon + 0.05 * i, lat + rng.uniform(-0.02, 0.02)] for i in range(rng.randint(3, 8))]
    props = {"kind": kind, "name": name, "friendly_side": rng.choice(["left", "right"])}
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": line},
            "properties": props}  # fmt: skip


def load_picture(client: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    tables = load_tables()
    now = datetime.now(UTC)
    reports = []
    for n in range(args.tracks):
        lat, lon = point(rng)
        mobility = draw(rng, MOBILITY)
        row = tables.mobility_class(Mobility(mobility))
        state, u = draw(rng, STATES), rng.random()
        if state == "fresh":
            age = u * min(30.0, row.stale_after_s)
        elif state == "stale":
            age = row.stale_after_s + (1.0 - u) * (row.lost_after_s - row.stale_after_s)
        else:
            age = row.lost_after_s * (2.0 - u)
        observed = now - timedelta(seconds=age)
        reports.append({
            "uid": f"u{n:05d}", "callsign": f"U{n}", "lat": lat, "lon": lon,
            "ce_m": rng.uniform(5, 50), "observed_at": observed.isoformat(),
            "affiliation": draw(rng, AFFILIATIONS), "mobility": mobility,
        })  # fmt: skip
    for start in range(0, len(reports), 1000):
        r = client.post("/reports", json=reports[start : start + 1000])
        r.raise_for_status()
        if r.json()["rejected"]:
            raise RuntimeError(f"reports rejected: {r.json()['rejected'][:3]}")
    families = [e["id"] for e in client.get("/equipment").json()["items"]]
    for report in reports[:: max(1, 20)]:
        if report["affiliation"] == "friend":
            unit = {k: report[k] for k in ("callsign", "affiliation", "mobility")}
            unit["equipment"] = rng.sample(families, k=min(2, len(families)))
            client.put(f"/units/{report['uid']}", json=unit).raise_for_status()
    for n in range(args.measures):
        client.post("/measures", json=measure(rng, n)).raise_for_status()
    weapons = [w["id"] for w in client.get("/weapons").json()["items"]]
    return {"weapons": weapons, "types": families}


# --- the load generator (one process) -------------------------------------------------------


def check_bodies(rng: random.Random, weapons: list[str], types: list[str]) -> list[bytes]:
    out = []
    for _ in range(BODIES_PER_CLIENT):
        lat, lon = point(rng)
        body: dict[str, Any] = {"target": {"lat": lat, "lon": lon}, "weapon": rng.choice(weapons),
                                "tle_m": rng.choice([0, 10, 25, 50])}  # fmt: skip
        if rng.random() < 0.7:
            body["target_type"] = rng.choice(types)
        out.append(json.dumps(body, separators=(",", ":")).encode())
    return out


async def one_client(
    port: int, token: str, bodies: list[bytes], t_from: float, t_to: float, out: dict[str, Any]
) -> None:
    """A closed loop on one keep-alive connection until `t_to` (time.monotonic)."""
    head = (
        f"POST /api/v1/checks HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    ).encode()
    requests = [head + b"Content-Length: %d\r\n\r\n" % len(b) + b for b in bodies]
    reader, writer = await asyncio.open_connection(HOST, port)
    latencies, statuses, verdicts = out["latencies"], out["statuses"], out["verdicts"]
    i = 0
    try:
        while True:
            started = time.monotonic()
            if started >= t_to:
                break
            t0 = time.perf_counter_ns()
            writer.write(requests[i % len(requests)])
            i += 1
            header = await reader.readuntil(b"\r\n\r\n")
            status = int(header[9:12])
            length = 0
            for line in header.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            elapsed = time.perf_counter_ns() - t0
            if started < t_from:
                continue
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                verdict = json.loads(body)["verdict"]
                verdicts[verdict] = verdicts.get(verdict, 0) + 1
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        out["broken"].append(repr(exc))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def generator(spec: dict[str, Any], queue: Any) -> None:
    """One generator process: its clients, then its results (and its own CPU over the window)
    on `queue`."""
    rng = random.Random(spec["seed"])
    out: dict[str, Any] = {"latencies": [], "statuses": {}, "verdicts": {}, "broken": []}
    clients = [check_bodies(rng, spec["weapons"], spec["types"]) for _ in range(spec["clients"])]

    async def run() -> float:
        tasks = [
            one_client(spec["port"], spec["token"], b, spec["t_from"], spec["t_to"], out)
            for b in clients
        ]
        gather = asyncio.gather(*tasks)
        await asyncio.sleep(max(0.0, spec["t_from"] - time.monotonic()))
        cpu0 = time.process_time()
        await gather
        return time.process_time() - cpu0

    cpu_s = asyncio.run(run())
    out["cpu_s"] = cpu_s
    queue.put(out)


# --- main -------------------------------------------------------------------------------------


def percentile(sorted_ns: list[int], q: float) -> float:
    if not sorted_ns:
        return float("nan")
    index = min(len(sorted_ns) - 1, max(0, round(q * (len(sorted_ns) - 1))))
    return sorted_ns[index] / 1e6


def check_load(
    port: int,
    token: str,
    tables: dict[str, Any],
    server_pid: int,
    *,
    clients: int,
    procs: int,
    seconds: float,
    warmup: float,
    seed: int,
) -> dict[str, Any]:
    """Closed-loop POST /checks from `procs` generator processes with `clients` connections in
    all, against the server on `port` (process `server_pid`); the figures of the window."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    t_from = time.monotonic() + 2.0 + warmup  # spawning takes about a second
    t_to = t_from + seconds
    shares = [clients // procs + (i < clients % procs) for i in range(procs)]
    workers = [
        ctx.Process(
            target=generator,
            args=(
                {
                    "port": port,
                    "token": token,
                    "clients": n,
                    "seed": seed + i,
                    "t_from": t_from,
                    "t_to": t_to,
                    **tables,
                },
                queue,
            ),
        )
        for i, n in enumerate(shares)
    ]
    for w in workers:
        w.start()
    time.sleep(max(0.0, t_from - time.monotonic()))
    ticks0 = cpu_ticks(server_pid)
    time.sleep(max(0.0, t_to - time.monotonic()))
    ticks1 = cpu_ticks(server_pid)
    memory = rss_kb(server_pid)
    results = [queue.get(timeout=60 + seconds) for _ in workers]
    for w in workers:
        w.join(10)
    latencies = sorted(ns for r in results for ns in r["latencies"])
    statuses: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    for r in results:
        for key, n in r["statuses"].items():
            statuses[str(key)] = statuses.get(str(key), 0) + n
        for key, n in r["verdicts"].items():
            verdicts[key] = verdicts.get(key, 0) + n
    broken = [b for r in results for b in r["broken"]]
    gen_shares = [r["cpu_s"] / seconds for r in results]
    rec: dict[str, Any] = {
        "checks_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p90_ms": round(percentile(latencies, 0.90), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(percentile(latencies, 1.0), 2),
        "mean_ms": round(sum(latencies) / max(1, len(latencies)) / 1e6, 2),
        "requests": len(latencies),
        "errors": sum(n for s, n in statuses.items() if s != "200") + len(broken),
        "statuses": statuses,
        "verdicts": verdicts,
        "server_cpu_pct": round(100 * (ticks1 - ticks0) / CLK_TCK / seconds, 1),
        "server_rss_kb": memory.get("VmRSS"),
        "server_rss_kb_peak": memory.get("VmHWM"),
        "generator_cpu_pct": round(100 * sum(gen_shares), 1),
        "generator_limited": any(share >= LIMITED_CORE_SHARE for share in gen_shares),
    }
    if broken:
        rec["broken_connections"] = broken[:5]
    return rec


@dataclass(frozen=True)
class Served:
    """A fresh server of the bench's own, with the picture loaded."""

    proc: subprocess.Popen[bytes]
    port: int
    base: str
    token: str
    loaded: Any  # what `load` returned
    load_s: float

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@contextlib.contextmanager
def served(scratch: Path, load: Callable[[httpx.Client], Any], what: str) -> Iterator[Served]:
    """Start a server on scratch/data, wait for it, load the picture with `load`; stop it
    after."""
    port = free_port()
    data = scratch / "data"
    proc = start_server(data, port, scratch / "server.log")
    try:
        base = f"http://{HOST}:{port}"
        wait_ready(base, proc)
        token = (data / "admin.token").read_text().strip()
        t_load = time.monotonic()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base + "/api/v1", headers=headers, timeout=60) as client:
            loaded = load(client)
        load_s = time.monotonic() - t_load
        log(f"loaded {what} in {load_s:.1f} s")
        yield Served(proc, port, base, token, loaded, load_s)
    finally:
        stop_server(proc)


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    what = f"{args.tracks} tracks and {args.measures} measures"
    with served(scratch, lambda client: load_picture(client, args), what) as server:
        figures = check_load(
            server.port,
            server.token,
            server.loaded,
            server.proc.pid,
            clients=args.clients,
            procs=args.procs,
            seconds=args.seconds,
            warmup=args.warmup,
            seed=args.seed,
        )
        load_s = server.load_s
    rec: dict[str, Any] = {
        "bench": "http_checks",
        **figures,
        "clients": args.clients,
        "procs": args.procs,
        "tracks": args.tracks,
        "measures": args.measures,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "load_s": round(load_s, 1),
        "cpu_count": os.cpu_count(),
        "target": TARGET,
    }
    rec["target_met"] = (
        rec["checks_per_s"] >= TARGET["checks_per_s"] and rec["p99_ms"] <= TARGET["p99_ms"]
    )
    return rec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window")
    ap.add_argument("--warmup", type=float, default=3.0, help="uncounted seconds first")
    ap.add_argument("--clients", type=int, default=32, help="connections, in all")
    ap.add_argument("--procs", type=int, default=1, help="generator processes")
    ap.add_argument("--tracks", type=int, default=10_000)
    ap.add_argument("--measures", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.seconds <= 0 or a.warmup < 0 or a.clients < 1 or not 1 <= a.procs <= a.clients:
        ap.error("need --seconds > 0, --warmup >= 0 and 1 <= --procs <= --clients")
    if not HOLDFIRE_BIN.exists():
        ap.error(f"no {HOLDFIRE_BIN}: run make install")
    return a


def run_bench(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace, Path], dict[str, Any]],
    prefix: str,
    errors: tuple[type[BaseException], ...] = (),
) -> int:
    """Run a bench in a scratch directory (removed after), print its JSON line; exit 1, with
    the reason on stderr, if it failed."""
    scratch = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    try:
        rec = run(args, scratch)
    except (RuntimeError, OSError, httpx.HTTPError, *errors) as exc:
        log(f"failed: {exc}")
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(rec))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_bench(parse_args(argv), run, "http_checks")


if __name__ == "__main__":
    sys.exit(main())

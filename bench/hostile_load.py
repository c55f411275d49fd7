"""Hostile load: 100 well-behaved TAK clients, quiet and then while 1,000 hostile connections
hammer the server.

Each phase starts a fresh `holdfire serve` (plain TCP CoT on a free port, HTTP for its
counters, every per-address limit at its default unless `--server-arg` says otherwise) through
cot_fanout.py's `launch`, and measures the good clients with the same shared fan-out harness
cot_fanout.py runs (`cot_load.py --clients 100 --rate 1`: real TCP CoT from 127.0.0.1, each
client an SA a second, each receiving everyone's; delivery ratio within 5 s, latency p50/p99):

1. quiet: the harness alone;
2. attack: a separate hostile process (this script with `--hostile`, niced, its own open-file
   limit raised) keeps `--hostile-connections` (1,000) connections going, an equal share per
   class, each class from its own address (127.0.0.2 …):
   - idle: connects, then neither sends nor reads;
   - slowloris: `<event ` and then one byte every 0.5 s, never the frame's end; never reads;
   - oversize: 100 KiB frames (over the 64 KiB frame limit) as fast as the server reads them;
   - garbage: random bytes with no `<`, as fast as the server reads them;
   - churn: connects and closes at once, again and again;
   a connection the server refuses or closes is opened again 1 s later (churn: 0.5 s). The
   harness starts once the attack has run `--ramp` s and the attack stops after it.

Prints one JSON line: `quiet` and `attack` (delivery ratio, p50/p99/max ms, the server's peak
RSS: VmHWM from /proc/PID/status, and its CPU), `p99_ratio` (attack / quiet, target ≤ 2) and
`delivery_ratio_kept`, `refusals` (the server's counters by reason, from GET
/api/v1/admin/counters), `hostile` (what the hostile process did: connections opened, refused
closed by the server within 2 s, i.e. refused, or later, bytes sent), the load
average, and which holdfire was measured.

    .venv/bin/python bench/hostile_load.py                  # 100 good, 1,000 hostile, 20 s each
    .venv/bin/python bench/hostile_load.py --seconds 5 --hostile-connections 200   # a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from cot_fanout import (
    DEFAULT_HARNESS,
    HOLDFIRE_BIN,
    Point,
    Server,
    free_port,
    launch,
    run_load,
    shut,
    source_id,
    start,
    stop,
    stop_all,
    tail,
)
from holdfire.bootstrap import raise_open_file_limit
from http_checks import cpu_ticks, rss_kb

CLASSES = ("idle", "slowloris", "oversize", "garbage", "churn")
TARGET = {"p99_ratio": 2.0, "min_delivery_ratio": 0.99}
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    sys.stderr.write(f"[hostile_load {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


# --- the hostile process ----------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.opened = 0
        self.refused = 0  # closed by the server within 2 s of connecting (its time-outs are longer)
        self.closed = 0  # closed by the server later
        self.failed = 0  # could not even connect
        self.bytes = 0


TCP_ESTABLISHED = 1
GARBAGE = os.urandom(65536).replace(b"<", b"(")  # never the start of a frame
OVERSIZE = b'<event version="2.0" uid="x" type="a-f-G">' + b"x" * 100_000 + b"</event>"


def gone(sock: socket.socket) -> bool:
    """Has the server closed it (FIN or RST)? Asked of the kernel: nothing is read."""
    state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    return state != TCP_ESTABLISHED


async def hostile_slot(kind: str, local: str, port: int, tally: Tally, until: float) -> None:
    loop = asyncio.get_running_loop()
    rng = random.Random()
    while time.monotonic() < until:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.bind((local, 0))
            await asyncio.wait_for(loop.sock_connect(sock, (HOST, port)), 5.0)
        except (OSError, TimeoutError):
            sock.close()
            tally.failed += 1
            await asyncio.sleep(1.0)
            continue
        tally.opened += 1
        opened = time.monotonic()
        try:
            if kind == "churn":
                sock.close()
                await asyncio.sleep(0.5)
                continue
            if kind == "slowloris":
                await loop.sock_sendall(sock, b"<event ")
            while time.monotonic() < until and not gone(sock):
                if kind in ("idle", "slowloris"):
                    await asyncio.sleep(0.5)
                    if kind == "slowloris" and not gone(sock):
                        await loop.sock_sendall(sock, b"a")
                        tally.bytes += 1
                    continue
                chunk = OVERSIZE if kind == "oversize" else GARBAGE
                with contextlib.suppress(TimeoutError):  # blocked while the server reads slowly
                    await asyncio.wait_for(loop.sock_sendall(sock, chunk), 1.0)
                    tally.bytes += len(chunk)
            if time.monotonic() < until:
                if time.monotonic() - opened < 2.0:
                    tally.refused += 1
                else:
                    tally.closed += 1
        except OSError:
            tally.closed += 1
        finally:
            sock.close()
        await asyncio.sleep(1.0 + rng.random() * 0.2)


def hostile_main(args: argparse.Namespace) -> int:
    """The hostile process: `--hostile-connections` slots until `--hostile-seconds` are up (or
    SIGTERM); one JSON line of what it did on stdout."""
    os.nice(19)  # the attack is not to win the CPU from the server by scheduling alone
    raise_open_file_limit()
    until = time.monotonic() + args.hostile_seconds
    tallies = {kind: Tally() for kind in CLASSES}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    async def run() -> None:
        slots = []
        for n in range(args.hostile_connections):
            kind = args.classes[n % len(args.classes)]
            local = f"127.0.0.{2 + CLASSES.index(kind)}"  # an address of its own per class
            slots.append(hostile_slot(kind, local, args.port, tallies[kind], until))
        await asyncio.gather(*slots)

    try:
        asyncio.run(run())
    finally:
        print(json.dumps({kind: vars(t) for kind, t in tallies.items()}), flush=True)
    return 0


# --- a phase ----------------------------------------------------------------------------------


def counters(server: Server, http_port: int) -> dict[str, Any]:
    token = (server.workdir / "data" / "admin.token").read_text().strip()
    r = httpx.get(
        f"http://{HOST}:{http_port}/api/v1/admin/counters",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    r.raise_for_status()
    got: dict[str, Any] = r.json()["cot"]
    return got


def phase(args: argparse.Namespace, scratch: Path, attack: bool) -> dict[str, Any]:
    http_port = free_port()
    extra = ("--http", f"{HOST}:{http_port}", *args.server_arg)
    server = launch(args, "holdfire", scratch, extra=extra)
    hostile: subprocess.Popen[bytes] | None = None
    out_path = scratch / "hostile.out"
    try:
        pid = server.proc.pid
        rec: dict[str, Any] = {"loadavg_1m": float(Path("/proc/loadavg").read_text().split()[0])}
        if attack:
            budget = args.ramp + 60 + args.warmup + args.seconds + 30
            cmd = [sys.executable, __file__, "--hostile", "--port", str(server.port)]
            cmd += ["--hostile-connections", str(args.hostile_connections)]
            cmd += ["--classes", ",".join(args.classes)]
            cmd += ["--hostile-seconds", f"{budget:g}"]
            with open(out_path, "wb") as out:
                hostile = start(cmd, scratch, scratch / "hostile.err", stdout=out.fileno())
            time.sleep(args.ramp)
        ticks0, t0 = cpu_ticks(pid), time.monotonic()
        point = Point(args.clients, 1.0)
        res = run_load(args, server, point, 1, scratch)
        rec["server_cpu_pct"] = round(
            100 * (cpu_ticks(pid) - ticks0) / CLK_TCK / (time.monotonic() - t0), 1
        )
        rec["server_vmhwm_kb"] = rss_kb(pid).get("VmHWM")
        rec["refusals"] = counters(server, http_port)
        alive = server.proc.poll() is None
    finally:
        if hostile is not None:
            stop(hostile, timeout=10.0)
        shut(server)
    if "error" in res:
        raise RuntimeError(f"harness: {res['error']}")
    lat = res.get("latency_ms") or {}
    rec.update(
        connected=res.get("connected"),
        delivery_ratio=res.get("delivery_ratio"),
        p50_ms=lat.get("p50"),
        p99_ms=lat.get("p99"),
        max_ms=lat.get("max"),
        delivered_eps=res.get("delivered_eps"),
        disconnects=res.get("disconnects"),
        generator_limited=res.get("generator_limited"),
        server_alive=alive,
    )
    if hostile is not None:
        lines = [ln for ln in out_path.read_text().splitlines() if ln.strip()]
        if not lines:
            raise RuntimeError(f"the hostile process said nothing: {tail(scratch / 'hostile.err')}")
        rec["hostile"] = json.loads(lines[-1])
    return rec


def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_open_file_limit()
    scratch = Path(tempfile.mkdtemp(prefix="hostile_load-"))
    try:
        version = source_id(args.holdfire_src or Path(__file__).resolve().parent.parent / "src")
        log(f"quiet: {args.clients} TAK clients x 1 Hz, {args.seconds:g} s")
        quiet = phase(args, scratch, attack=False)
        log(f"attack: the same with {args.hostile_connections} hostile connections")
        attack = phase(args, scratch, attack=True)
    finally:
        stop_all()
        shutil.rmtree(scratch, ignore_errors=True)
    ratio = None
    if quiet["p99_ms"] and attack["p99_ms"] is not None:
        ratio = round(attack["p99_ms"] / quiet["p99_ms"], 2)
    kept = attack["delivery_ratio"] is not None and attack["delivery_ratio"] >= min(
        TARGET["min_delivery_ratio"], quiet["delivery_ratio"] or 0.0
    )
    rec = {
        "bench": "hostile_load",
        "clients": args.clients,
        "hostile_connections": args.hostile_connections,
        "classes": args.classes,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "ramp": args.ramp,
        "server_args": args.server_arg,
        "quiet": {k: v for k, v in quiet.items() if k != "refusals"},
        "attack": {k: v for k, v in attack.items() if k not in ("refusals", "hostile")},
        "p99_ratio": ratio,
        "delivery_ratio_kept": kept,
        "refusals": attack["refusals"],
        "hostile": attack.get("hostile"),
        "cpu_count": os.cpu_count(),
        "version": version,
        "target": TARGET,
    }
    rec["target_met"] = bool(kept and ratio is not None and ratio <= TARGET["p99_ratio"])
    return rec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=100, help="well-behaved TAK clients")
    ap.add_argument("--hostile-connections", type=int, default=1000)
    ap.add_argument(
        "--classes",
        type=lambda text: [c for c in text.split(",") if c],
        default=list(CLASSES),
        help=f"hostile classes, comma-separated (default: all of {','.join(CLASSES)})",
    )
    ap.add_argument("--seconds", type=float, default=20.0, help="each phase's window")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--ramp", type=float, default=10.0, help="attack seconds before measuring")
    ap.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for holdfire serve (repeat), e.g. --server-arg=--cot-idle-"
        "timeout --server-arg=10",
    )
    ap.add_argument("--harness", type=Path, default=DEFAULT_HARNESS, help="cot_load.py")
    ap.add_argument("--holdfire-src", type=Path, default=None, help=argparse.SUPPRESS)
    # the hostile process
    ap.add_argument("--hostile", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--hostile-seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.hostile:
        return a
    if not a.classes or any(c not in CLASSES for c in a.classes):
        ap.error(f"--classes: a comma-separated list of {','.join(CLASSES)}")
    if a.clients < 2 or a.hostile_connections < len(CLASSES) or a.seconds <= 0:
        ap.error("need --clients >= 2, --hostile-connections >= 5 and --seconds > 0")
    if not a.harness.is_file():
        ap.error(f"no harness at {a.harness}")
    if not HOLDFIRE_BIN.exists():
        ap.error(f"no {HOLDFIRE_BIN}: run make install")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.hostile:
        return hostile_main(args)
    try:
        rec = run(args)
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        log(f"failed: {exc}")
        return 1
    print(json.dumps(rec))
    return 0


if __name__ == "__main__":
    sys.exit(main())

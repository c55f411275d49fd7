"""CoT fan-out: holdfire against taky, N plain-TCP clients at R events/s on loopback.

For each server and each load point N×R this starts a fresh server process on a free loopback
port and waits until the port accepts, then:

1. records its idle RSS (no client connected);
2. connects N idle clients, each sending one identification SA as ATAK does on connect, waits
   until the server has gone quiet and records the RSS again: memory per connected client is
   (RSS with N idle clients − idle RSS) / N;
3. stops that server and starts another fresh one (so the load run sees a clean server: no
   retained SAs, no disconnect notices of the idle clients), records its idle RSS and runs the
   shared load harness (`cot_load.py`, used as is, as a subprocess) against it with
   `--server-pid` and `--deadline 5`;
4. stops the server (SIGTERM, then SIGKILL after a timeout, by its own process group).

A point *holds* when ≥ 99 % of the expected deliveries arrive within 5 s and p99 ≤ 100 ms (the
criterion taky was measured by); `saturated` is the opposite. The saturation point of a server is
its highest holding point in deliveries/s.

One JSON line per point goes to stderr (progress lines start with "[cot_fanout"); one JSON
line with every point, the saturation points and holdfire/taky in deliveries/s goes to stdout.

    .venv/bin/python bench/cot_fanout.py                    # both servers, 50…300 × 1 Hz, 20 s
    .venv/bin/python bench/cot_fanout.py --quick            # 20 × 1 Hz, 5 s, each server
    .venv/bin/python bench/cot_fanout.py --server holdfire --points 200x1,300x1 --procs 2

One generator process tops out near 40,000 deliveries/s on the 2-core machine: `--procs auto`
(the default) uses two generator processes for points expecting more than 35,000 deliveries/s;
`generator_limited` is copied from the harness. Every subprocess is bounded in time; temporary
directories and the processes started here are removed on exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from http_checks import NO_ADDRESS_LIMITS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HARNESS = ROOT.parent / "shared" / "bench" / "cot_load.py"
DEFAULT_TAKY = Path("/tmp/peers/taky")
HOLDFIRE_BIN = ROOT / ".venv" / "bin" / "holdfire"
HOST = "127.0.0.1"

MIN_RATIO = 0.99  # delivered within the deadline / expected
MAX_P99_MS = 100.0
DEADLINE_S = 5.0
AUTO_PROCS_ABOVE_EPS = 35_000  # expected deliveries/s beyond which --procs auto uses 2

TAKY_CONF = """[taky]
hostname = taky.local
node_id = TAKY
bind_ip = 127.0.0.1
root_dir = .

[cot_server]
port = {port}

[ssl]
enabled = false
"""


def log(msg: str) -> None:
    sys.stderr.write(f"[cot_fanout {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def load_harness(path: Path) -> ModuleType:
    """Import cot_load.py (standard library only) for its event builder and /proc sampler."""
    spec = importlib.util.spec_from_file_location("cot_load", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the harness {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- processes --------------------------------------------------------------------------------

_live: dict[int, subprocess.Popen[bytes]] = {}  # every process started here and not yet reaped


def start(
    cmd: list[str],
    cwd: Path,
    log_path: Path,
    stdout: int | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `cmd` as the leader of its own process group (a terminal's Ctrl-C does not reach
    it; we stop it ourselves), its output into `log_path`."""
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else out,
            stderr=out,
            start_new_session=True,
            env=env,
        )
    _live[proc.pid] = proc
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int | None:
    """SIGTERM the process group we started, then SIGKILL it after `timeout`."""
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"pid {proc.pid} ignored SIGTERM for {timeout:.0f}s; SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # whatever the leader left behind in its group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    finally:
        _live.pop(proc.pid, None)
    return proc.returncode


def stop_all() -> None:
    for proc in list(_live.values()):
        with contextlib.suppress(Exception):
            stop(proc, timeout=5.0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def source_id(src: Path) -> dict[str, Any]:
    """Which holdfire was measured: the commit (read only) and a digest of its Python files,
    which tells a dirty or patched tree apart."""
    digest = hashlib.sha1()
    files = sorted((src / "holdfire").rglob("*.py"))
    for f in files:
        digest.update(str(f.relative_to(src)).encode() + b"\0" + f.read_bytes())
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    return {"src": str(src), "commit": commit or None, "py_sha1": digest.hexdigest()[:12]}


def taky_version(venv: Path) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return (
            subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-c",
                    "import importlib.metadata as m; print(m.version('taky'))",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
            or None
        )
    return None


def tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- servers ----------------------------------------------------------------------------------


@dataclass
class Server:
    kind: str
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    log_path: Path


def launch(
    args: argparse.Namespace,
    kind: str,
    scratch: Path,
    timeout: float = 30.0,
    extra: Sequence[str] = NO_ADDRESS_LIMITS,
) -> Server:
    """A fresh server on a free port, once it accepts connections (two tries); `extra` are
    more arguments for `holdfire serve` (by default: every generated client connects from
    127.0.0.1, so the per-address limits are off)."""
    last = ""
    for _attempt in range(2):
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=scratch))
        log_path = workdir / "server.log"
        env = None
        if kind == "holdfire":
            cmd = [
                str(HOLDFIRE_BIN),
                "serve",
                "--data",
                str(workdir / "data"),
                "--cot-tcp",
                f"{HOST}:{port}",
                "--cot-tls",
                "off",
                *extra,
            ]
            if args.holdfire_src is not None:  # another source tree (a patch to compare)
                env = {**os.environ, "PYTHONPATH": str(args.holdfire_src)}
        else:
            (workdir / "taky.conf").write_text(TAKY_CONF.format(port=port))
            cmd = [str(args.taky_venv / "bin" / "taky"), "-c", "taky.conf", "-l", "warning"]
        proc = start(cmd, workdir, log_path, env=env)
        if wait_port(port, proc, timeout):
            return Server(kind, proc, port, workdir, log_path)
        last = tail(log_path)
        stop(proc)
    raise RuntimeError(f"{kind} did not start listening: {last}")


def shut(server: Server) -> int | None:
    rc = stop(server.proc)
    shutil.rmtree(server.workdir, ignore_errors=True)
    return rc


def rss_kb(harness: ModuleType, pid: int) -> int:
    """VmRSS of the server and its descendants, as the harness samples it."""
    return int(harness.ServerSampler([pid]).sample())


def settle_rss(harness: ModuleType, pid: int, seconds: float = 1.0) -> int:
    time.sleep(seconds)
    return rss_kb(harness, pid)


# --- N idle clients (memory per connected client) ---------------------------------------------


class _Idle(asyncio.Protocol):
    def __init__(self, state: dict[str, float]) -> None:
        self.state = state
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.state["last_rx"] = time.monotonic()
        self.state["bytes"] += len(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state["lost"] += 1


async def _idle_clients(harness: ModuleType, port: int, pid: int, n: int) -> dict[str, Any]:
    state = {"last_rx": time.monotonic(), "bytes": 0.0, "lost": 0.0}
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(50)
    run_id = f"{random.getrandbits(32):08x}"
    clients: list[_Idle] = []

    async def one(idx: int) -> None:
        async with sem:
            proto = _Idle(state)
            try:
                await asyncio.wait_for(loop.create_connection(lambda: proto, HOST, port), 10.0)
            except (OSError, TimeoutError):
                return
            clients.append(proto)
            assert proto.transport is not None
            rnd = random.Random(idx)
            event = harness.make_event(
                run_id,
                idx,
                0,
                0,
                time.time(),
                600.0,
                38.85 + rnd.random() * 0.05,
                -77.05 + rnd.random() * 0.05,
                0.0,
            )
            proto.transport.write(event)

    try:
        with contextlib.suppress(TimeoutError):  # measure with whoever got connected
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 60.0)
        # quiet: nothing received for 1.5 s (at least 2 s, at most 30 s after the last connect)
        t0 = time.monotonic()
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            if now - t0 > 30.0 or (now - t0 > 2.0 and now - state["last_rx"] > 1.5):
                break
        await asyncio.sleep(0.5)
        rss = rss_kb(harness, pid)
        return {
            "connected": len(clients),
            "lost": int(state["lost"]),
            "rss_kb": rss,
            "rx_bytes": int(state["bytes"]),
            "quiet_s": round(time.monotonic() - t0, 2),
        }
    finally:
        for c in clients:
            if c.transport is not None:
                c.transport.abort()


def idle_memory(harness: ModuleType, server: Server, n: int) -> dict[str, Any]:
    rss_idle = settle_rss(harness, server.proc.pid)
    got = asyncio.run(_idle_clients(harness, server.port, server.proc.pid, n))
    connected = got["connected"]
    got["rss_kb_idle"] = rss_idle
    got["mem_per_client_kb"] = (
        round((got["rss_kb"] - rss_idle) / connected, 1) if connected else None
    )
    return got


# --- one load point ---------------------------------------------------------------------------


class CpuLedger:
    """Who used the CPUs between two snapshots: the machine (/proc/stat), the server's process
    tree (/proc) and our reaped children (the generator, via getrusage). What is left over is
    other load on the shared machine, in cores."""

    def __init__(self, harness: ModuleType, pid: int) -> None:
        self.sampler = harness.ServerSampler([pid])
        self.tck = float(os.sysconf("SC_CLK_TCK"))
        self.t0, self.busy0, self.server0, self.children0 = self._snap()

    def _snap(self) -> tuple[float, float, float, float]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        self.sampler.sample()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy = (sum(fields[:8]) - idle) / self.tck  # guest time is already in user
        return time.monotonic(), busy, self.sampler.cpu_total(), ru.ru_utime + ru.ru_stime

    def other_cores(self) -> float:
        t1, busy1, server1, children1 = self._snap()
        other = (busy1 - self.busy0) - (server1 - self.server0) - (children1 - self.children0)
        return round(max(0.0, other) / max(1e-3, t1 - self.t0), 2)


@dataclass(frozen=True)
class Point:
    clients: int
    rate: float

    @property
    def expected_eps(self) -> float:
        return self.clients * self.rate * (self.clients - 1)

    def __str__(self) -> str:
        return f"{self.clients}x{self.rate:g}"


def parse_points(text: str) -> list[Point]:
    points = []
    for part in text.split(","):
        n, sep, r = part.strip().lower().partition("x")
        if not sep or not n.isdigit() or int(n) < 2:
            raise argparse.ArgumentTypeError(f"bad point {part!r}: want CLIENTSxRATE, e.g. 150x1")
        try:
            rate = float(r)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad rate in {part!r}") from None
        if not 0 < rate <= 1000:
            raise argparse.ArgumentTypeError(f"rate out of range in {part!r}")
        points.append(Point(int(n), rate))
    return points


def run_load(
    args: argparse.Namespace, server: Server, point: Point, procs: int, scratch: Path
) -> dict[str, Any]:
    options = {
        "--port": server.port,
        "--clients": point.clients,
        "--rate": f"{point.rate:g}",
        "--seconds": f"{args.seconds:g}",
        "--warmup": f"{args.warmup:g}",
        "--deadline": f"{DEADLINE_S:g}",
        "--procs": procs,
        "--server-pid": server.proc.pid,
        "--max-latency-saturation-ms": f"{MAX_P99_MS:g}",
        "--min-delivery-ratio": f"{MIN_RATIO:g}",
        "--label": f"{server.kind} {point}",
    }
    cmd = [sys.executable, str(args.harness)]
    for flag, value in options.items():
        cmd += [flag, str(value)]
    # the harness stops itself after connect (30) + settle (30) + warm-up + window + deadline
    # + 30 s; this bound is only for a harness that hangs anyway
    limit = 30 + 30 + args.warmup + args.seconds + DEADLINE_S + 30 + 30
    out_path = scratch / f"load-{server.kind}-{point}.out"
    with open(out_path, "wb") as out:
        proc = start(cmd, scratch, scratch / "load.err", stdout=out.fileno())
        # its progress lines go to our stderr once it is done (it writes them to load.err)
        try:
            proc.wait(limit)
        except subprocess.TimeoutExpired:
            log(f"harness over its {limit:.0f}s bound; stopping it")
        finally:
            stop(proc, timeout=5.0)
    err = tail(scratch / "load.err", 1000)
    (scratch / "load.err").unlink(missing_ok=True)
    for line in err.splitlines():
        if line.startswith("[cot_load"):
            sys.stderr.write(line + "\n")
    lines = [ln for ln in out_path.read_text(errors="replace").splitlines() if ln.strip()]
    if not lines:
        raise RuntimeError(f"harness printed nothing (rc {proc.returncode}): {err[-500:]}")
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except ValueError:
        raise RuntimeError(f"harness output is not JSON: {lines[-1][:200]!r}") from None
    return result


def measure_point(
    args: argparse.Namespace, harness: ModuleType, kind: str, point: Point, scratch: Path
) -> dict[str, Any]:
    procs = args.procs
    if procs == "auto":
        procs = 2 if point.expected_eps > AUTO_PROCS_ABOVE_EPS else 1
    procs = int(procs)
    rec: dict[str, Any] = {
        "server": kind,
        "clients": point.clients,
        "rate": point.rate,
        "procs": procs,
        "expected_eps": round(point.expected_eps, 1),
    }
    rec["loadavg_1m"] = float(Path("/proc/loadavg").read_text().split()[0])

    idle: dict[str, Any] | None = None
    if not args.no_idle_memory:
        server = launch(args, kind, scratch)
        try:
            idle = idle_memory(harness, server, point.clients)
        finally:
            shut(server)

    server = launch(args, kind, scratch)
    try:
        rss_idle = settle_rss(harness, server.proc.pid)
        ledger = CpuLedger(harness, server.proc.pid)
        time.sleep(1.0)
        rec["other_load_cores_before"] = ledger.other_cores()  # our server idle, no generator
        ledger = CpuLedger(harness, server.proc.pid)
        res = run_load(args, server, point, procs, scratch)
        rec["other_load_cores_during"] = ledger.other_cores()
        alive = server.proc.poll() is None
        server_log = tail(server.log_path, 3) if not alive else ""
    finally:
        rc = shut(server)

    if "error" in res:
        rec.update(error=res["error"], saturated=True)
        return rec
    lat = res.get("latency_ms") or {}
    srv = res.get("server") or {}
    ratio = res.get("delivery_ratio")
    p99 = lat.get("p99")
    holds = ratio is not None and ratio >= MIN_RATIO and p99 is not None and p99 <= MAX_P99_MS
    rec.update(
        connected=res.get("connected"),
        offered_eps=res.get("offered_eps"),
        delivered_eps=res.get("delivered_eps"),
        delivery_ratio=ratio,
        p50_ms=lat.get("p50"),
        p99_ms=p99,
        max_ms=lat.get("max"),
        rss_kb_peak=srv.get("rss_kb_peak"),
        rss_kb_idle=rss_idle,
        rss_kb_idle_clients=idle["rss_kb"] if idle else None,
        mem_per_client_kb=idle["mem_per_client_kb"] if idle else None,
        idle_clients_connected=idle["connected"] if idle else None,
        server_cpu_pct=srv.get("cpu_pct_window"),
        generator_cpu_pct=(res.get("generator") or {}).get("cpu_pct_window"),
        generator_limited=res.get("generator_limited"),
        disconnects=res.get("disconnects"),
        errors=res.get("errors") or {},
        server_alive=alive,
        server_rc=rc,
        saturated=not holds,
    )
    if server_log:
        rec["server_log_tail"] = server_log
    return rec


def saturation(points: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    holding = [p for p in points if p["server"] == kind and not p["saturated"]]
    if not holding:
        return None
    best = max(holding, key=lambda p: p["delivered_eps"] or 0.0)
    return {
        "clients": best["clients"],
        "rate": best["rate"],
        "delivered_eps": best["delivered_eps"],
        "p99_ms": best["p99_ms"],
        "generator_limited": best["generator_limited"],
    }


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--server", choices=("holdfire", "taky", "both"), default="both")
    ap.add_argument("--points", type=parse_points, default="50x1,100x1,150x1,200x1,300x1")
    ap.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument(
        "--procs",
        choices=("1", "2", "auto"),
        default="auto",
        help="generator processes; auto: 2 above 35,000 expected deliveries/s",
    )
    ap.add_argument(
        "--quick", action="store_true", help="20 × 1 Hz for 5 s per server: a smoke test"
    )
    ap.add_argument(
        "--no-idle-memory",
        action="store_true",
        help="skip the N-idle-clients run (no mem_per_client_kb)",
    )
    ap.add_argument(
        "--holdfire-src",
        type=Path,
        default=None,
        help="run holdfire from this source tree (PYTHONPATH) instead of the installed one",
    )
    ap.add_argument("--harness", type=Path, default=DEFAULT_HARNESS, help="cot_load.py")
    ap.add_argument(
        "--taky-venv",
        type=Path,
        default=DEFAULT_TAKY,
        help="venv with taky 0.10 (../shared/bench/setup_taky.sh makes it)",
    )
    a = ap.parse_args(argv)
    if isinstance(a.points, str):
        a.points = parse_points(a.points)
    if a.quick:
        a.points, a.seconds, a.warmup = [Point(20, 1.0)], 5.0, 2.0
    if not 0 < a.seconds <= 600 or not 0 <= a.warmup <= 120:
        ap.error("--seconds must be in (0, 600], --warmup in [0, 120]")
    if not a.harness.is_file():
        ap.error(f"no harness at {a.harness}")
    if a.server in ("holdfire", "both") and not HOLDFIRE_BIN.exists():
        ap.error(f"no {HOLDFIRE_BIN}: install the project into .venv")
    if a.holdfire_src is not None and not (a.holdfire_src / "holdfire" / "cli.py").is_file():
        ap.error(f"no holdfire/cli.py under {a.holdfire_src}")
    if a.server in ("taky", "both") and not (a.taky_venv / "bin" / "taky").exists():
        ap.error(f"no taky in {a.taky_venv}: run ../shared/bench/setup_taky.sh")
    return a


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    harness = load_harness(args.harness)
    kinds = ["holdfire", "taky"] if args.server == "both" else [args.server]
    scratch = Path(tempfile.mkdtemp(prefix="cot_fanout-"))
    signal.signal(signal.SIGTERM, _on_sigterm)
    # also when started with SIGINT ignored (a background job of a non-interactive shell)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    points: list[dict[str, Any]] = []
    status = 0
    src = args.holdfire_src or ROOT / "src"
    versions: dict[str, Any] = {}
    if "holdfire" in kinds:
        versions["holdfire"] = source_id(src)
    if "taky" in kinds:
        versions["taky"] = taky_version(args.taky_venv)
    try:
        # by point, then server: the two servers are measured close together in time
        for point in args.points:
            for kind in kinds:
                log(f"{kind} {point} ({point.expected_eps:,.0f} deliveries/s expected)")
                try:
                    rec = measure_point(args, harness, kind, point, scratch)
                except (RuntimeError, OSError) as exc:
                    log(f"{kind} {point}: {exc}")
                    rec = {
                        "server": kind,
                        "clients": point.clients,
                        "rate": point.rate,
                        "error": str(exc),
                        "saturated": True,
                    }
                    status = 1
                sys.stderr.write(json.dumps(rec) + "\n")
                sys.stderr.flush()
                points.append(rec)
    except KeyboardInterrupt:
        log("interrupted; stopping what was started")
        status = 130
    finally:
        stop_all()
        shutil.rmtree(scratch, ignore_errors=True)

    if "holdfire" in kinds and source_id(src)["py_sha1"] != versions["holdfire"]["py_sha1"]:
        versions["holdfire"]["changed_during_run"] = True
        log(f"warning: the holdfire sources under {src} changed during the run")
    sat = {kind: saturation(points, kind) for kind in kinds}
    ratio = None
    ours, theirs = sat.get("holdfire"), sat.get("taky")
    if ours is not None and theirs is not None and theirs["delivered_eps"]:
        ratio = round(ours["delivered_eps"] / theirs["delivered_eps"], 3)
    summary = {
        "bench": "cot_fanout",
        "criterion": {
            "min_delivery_ratio": MIN_RATIO,
            "max_p99_ms": MAX_P99_MS,
            "deadline_s": DEADLINE_S,
        },
        "seconds": args.seconds,
        "warmup": args.warmup,
        "cpu_count": os.cpu_count(),
        "versions": versions,
        "points": [{k: v for k, v in p.items() if k != "errors" or v} for p in points],
        "saturation": sat,
        "ratio_deliveries": ratio,
        "interrupted": status == 130,
    }
    print(json.dumps(summary))
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())

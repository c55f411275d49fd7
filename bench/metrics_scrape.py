"""What one scrape of GET /metrics costs the server, with a large picture.

The picture is check_latency.py's (the same generator and seed: `--tracks` tracks, 95 % fresh,
4 % stale, 1 % lost, and `--measures` measures), put straight into a service's picture on a
fake clock at that script's `NOW`; the server's `Metrics` are built on that service as
`holdfire serve` builds them. Each of `--scrapes` scrapes (after 3 untimed ones) is timed alone
with perf_counter_ns: every probe read (the tracks counted by state and affiliation, the
process's figures) and the text rendered. The scrape runs on the server's event loop; the
tracks are counted in slices, with a turn of the loop between two.

Prints one JSON line: `p50_ms`, `max_ms`, `mean_ms` (a whole scrape), `loop_stall_max_ms` (the
longest the event loop went without a turn during any scrape: what a request arriving then
waits), `bytes` (the answer's size), `samples`
(lines that are not comments), `tracks`, `track_states` (as the scrape counted them),
`build_s`, `python`, `cpu_count`.

    .venv/bin/python bench/metrics_scrape.py                  # 100,000 tracks
    .venv/bin/python bench/metrics_scrape.py --tracks 10000   # a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from check_latency import NOW, build, log, make_scenario
from holdfire.adapters.metrics import SCRAPE_TOKEN_FILENAME, Metrics, ScrapeToken
from holdfire.bootstrap import build_service
from holdfire.config import Settings
from holdfire.sim.pace import FakeClock


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--measures", type=int, default=1_000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


class Heartbeat:
    """Takes a turn of the event loop whenever it can; the longest wait between two turns."""

    def __init__(self) -> None:
        self.longest_ns = 0
        self.running = True

    async def run(self) -> None:
        last = time.perf_counter_ns()
        while self.running:
            await asyncio.sleep(0)
            now = time.perf_counter_ns()
            self.longest_ns = max(self.longest_ns, now - last)
            last = now


async def scrape_times(metrics: Metrics, n: int) -> tuple[list[int], list[int], bytes]:
    """Each scrape's time, and the longest the event loop went without a turn during it (what
    a request arriving then would wait)."""
    for _ in range(3):
        await metrics.scrape()
    elapsed: list[int] = []
    stalls: list[int] = []
    text = b""
    for _ in range(n):
        heart = Heartbeat()
        beat = asyncio.create_task(heart.run())
        await asyncio.sleep(0)
        start = time.perf_counter_ns()
        text = await metrics.scrape()
        elapsed.append(time.perf_counter_ns() - start)
        heart.running = False
        await beat
        stalls.append(heart.longest_ns)
    return elapsed, stalls, text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="holdfire-metrics-bench-") as tmp:
        service = build_service(Settings(Path(tmp)), clock=FakeClock(NOW))
        rng = np.random.default_rng(args.seed)
        shares = {"fresh": 0.95, "stale": 0.04, "lost": 0.01}
        log(f"generating {args.tracks} tracks, {args.measures} measures")
        scenario = make_scenario(
            rng, service.picture.tables, args.tracks, args.measures, True, shares
        )
        build_s = build(service.picture, scenario)
        log(f"  built in {build_s:.1f} s; timing {args.scrapes} scrapes")
        metrics = Metrics(service, ScrapeToken(Path(tmp) / SCRAPE_TOKEN_FILENAME))
        elapsed, stalls, text = asyncio.run(scrape_times(metrics, args.scrapes))
    lines = [line for line in text.decode().splitlines() if line and not line.startswith("#")]
    states: dict[str, float] = {}
    for line in lines:
        if line.startswith("holdfire_tracks{"):
            state = line.split('state="', 1)[1].split('"', 1)[0]
            states[state] = states.get(state, 0) + float(line.rsplit(" ", 1)[1])
    ms = [e / 1e6 for e in elapsed]
    result = {
        "p50_ms": round(statistics.median(ms), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "loop_stall_max_ms": round(max(stalls) / 1e6, 2),
        "bytes": len(text),
        "samples": len(lines),
        "tracks": args.tracks,
        "track_states": {k: int(v) for k, v in sorted(states.items())},
        "build_s": round(build_s, 1),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

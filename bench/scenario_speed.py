"""Scenario speed: the battalion scenario in-process, and a live accelerated run's report rate.

Run:  .venv/bin/python bench/scenario_speed.py [--scenario kursk-battalion] [--speed 60]
      [--repeat 3]

Prints one JSON line on stdout (progress goes to stderr):

- `in_process_s`: the best of `--repeat` in-process runs (fresh SQLite store in a temporary
  directory, fake clock, as fast as possible), with the reports, checks and expectations held.
- `live_*`: one run against a server started here (`start_server`: HTTP and CoT TCP on
  ephemeral loopback ports, TLS off, a fresh data directory), positions as CoT SA over TCP, the
  rest over HTTP, `--speed` times faster than real time. `live_reports_per_s` is the simulated
  reports sent divided by the run's wall time; `live_lag_s` is how much longer than
  `duration / speed` the run took (0 when it kept pace). Expectations that depend on the
  server's clock (a silence turning a track stale and lost) do not hold when accelerated, so
  `live_held` is reported, not required.
"""

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from holdfire.bootstrap import Listeners, run_in_process, start_server
from holdfire.config import Settings
from holdfire.sim import locate
from holdfire.sim.live import run_live
from holdfire.sim.model import load_file


async def measure(name: str, speed: float, repeat: int) -> dict[str, Any]:
    scenario = load_file(locate(name))
    runs = []
    for i in range(repeat):
        runs.append(await run_in_process(scenario))
        print(f"in-process run {i + 1}: {runs[-1].wall_s:.2f} s", file=sys.stderr)
    best = min(runs, key=lambda r: r.wall_s)
    with tempfile.TemporaryDirectory(prefix="holdfire-bench-") as tmp:
        running = await start_server(
            Settings(Path(tmp)),
            Listeners(http=("127.0.0.1", 0), cot_tcp=("127.0.0.1", 0), cot_tls=None),
        )
        try:
            assert running.admin_token_file is not None
            host, port = running.bound["http"]
            print(f"live run at x{speed:g} ...", file=sys.stderr)
            live = await run_live(
                scenario,
                f"http://{host}:{port}",
                running.admin_token_file.read_text().strip(),
                running.bound["tcp"],
                speed,
            )
        finally:
            await running.close()
    paced = scenario.duration_s / speed
    return {
        "bench": "scenario_speed",
        "scenario": scenario.name,
        "units": len(scenario.units),
        "scenario_s": scenario.duration_s,
        "in_process_s": round(best.wall_s, 3),
        "in_process_reports": best.reports,
        "in_process_checks": len(best.checks),
        "in_process_held": f"{sum(j.passed for j in best.judged)}/{len(best.judged)}",
        "live_speed": speed,
        "live_wall_s": round(live.wall_s, 3),
        "live_reports": live.reports,
        "live_reports_per_s": round(live.reports / live.wall_s, 1),
        "live_lag_s": round(max(0.0, live.wall_s - paced), 3),
        "live_held": f"{sum(j.passed for j in live.judged)}/{len(live.judged)}",
        "live_errors": len(live.errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="kursk-battalion")
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(measure(args.scenario, args.speed, max(1, args.repeat)))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

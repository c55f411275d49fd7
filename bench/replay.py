"""After-action replay cost: folding the event log into the picture of an instant.

Run:  .venv/bin/python bench/replay.py [--units 1000] [--reports 100] [--checks 1000] [--db URL]

Fills a fresh SQLite database in a temporary directory (or the PostgreSQL database ``--db``,
which must be empty) through the service, with a fake clock one second a round: ``--units``
units, then ``--reports`` rounds of one report per unit, with ``--checks`` checks spread over
the rounds. Then replays the picture at the last instant (`picture_at`, the fold of
``holdfire replay`` and ``GET /picture``) and the picture of the last check (`check_picture`),
while a ticker on the same event loop measures how late it wakes (what a check arriving during
a replay would wait). Prints one JSON line: events in the log, fold seconds and events per
second for both, the ticker's worst lateness in milliseconds, and whether the last check was
reproduced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from holdfire.adapters.catalog import load_catalog
from holdfire.adapters.store.factory import make_store
from holdfire.adapters.tables import load_tables
from holdfire.codecs.json import clearance_to_dict
from holdfire.domain.checks import CheckRequest
from holdfire.domain.identity import Affiliation
from holdfire.domain.reports import PositionReport
from holdfire.domain.tables import Mobility
from holdfire.domain.units import Unit
from holdfire.service.handlers import Service
from holdfire.service.replay import check_picture, picture_at
from holdfire.sim.pace import FakeClock

T0 = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)
T = TypeVar("T")


def position(i: int, round_: int) -> tuple[float, float]:
    return 51.0 + (i % 40) * 0.02 + round_ * 1e-4, 35.0 + (i // 40) * 0.02


async def lag(stop: asyncio.Event, worst: list[float]) -> None:
    """Wake every 5 ms and keep the worst lateness."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.005)
        worst[0] = max(worst[0], time.perf_counter() - start - 0.005)


async def timed_fold(work: Awaitable[T]) -> tuple[T, float, float]:
    stop, worst = asyncio.Event(), [0.0]
    ticker = asyncio.create_task(lag(stop, worst))
    start = time.perf_counter()
    result = await work
    seconds = time.perf_counter() - start
    stop.set()
    await ticker
    return result, seconds, worst[0]


async def run(args: argparse.Namespace, data: Path) -> dict[str, object]:
    clock = FakeClock(T0)
    tables = load_tables(None)
    store = make_store(data, args.db)
    svc = Service(store, tables, clock, lambda: uuid.uuid4().hex, load_catalog(None))
    await svc.start()
    try:
        for i in range(args.units):
            unit = Unit(f"u{i}", f"U-{i}", Affiliation.FRIEND, mobility=Mobility.WHEELED)
            await svc.register_unit(unit, by="bench")
        every = max(1, args.reports * args.units // max(1, args.checks))
        last_check = None
        n = 0
        for r in range(args.reports):
            clock.t = T0 + timedelta(seconds=r + 1)
            batch = []
            for i in range(args.units):
                lat, lon = position(i, r)
                report = PositionReport(
                    uid=f"u{i}", lat=lat, lon=lon, observed_at=clock.t, received_at=clock.t,
                    source="bench", reporter=f"u{i}", authenticated=True, ce_m=10.0,
                )  # fmt: skip
                batch.append(report)
                n += 1
                if n % every == 0:
                    await svc.reports(batch)
                    batch = []
                    request = CheckRequest(lat=lat, lon=lon, weapon="81mm-mortar")
                    last_check = await svc.check(request)
            await svc.reports(batch)
        folded, fold_s, fold_lag = await timed_fold(picture_at(store, tables, clock.t))
        assert last_check is not None
        seen, check_s, check_lag = await timed_fold(check_picture(store, tables, last_check.id))
        stored, again = clearance_to_dict(last_check), clearance_to_dict(seen.replayed)
        events = folded.last_seq  # every event of the log was read
        return {
            "bench": "replay",
            "store": "postgres" if args.db else "sqlite",
            "events": events,
            "tracks": len(list(folded.picture.tracks())),
            "picture_at_s": round(fold_s, 3),
            "picture_at_events_per_s": round(events / fold_s),
            "check_picture_s": round(check_s, 3),
            "worst_loop_lag_ms": round(1000 * max(fold_lag, check_lag), 1),
            "reproduced": (again["verdict"], again["reasons"])
            == (stored["verdict"], stored["reasons"]),
            "python": sys.version.split()[0],
        }
    finally:
        await svc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(run(args, Path(tmp)))))


if __name__ == "__main__":
    main()

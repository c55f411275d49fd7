"""Audit chain cost: appending checks (each linked to the chain) and walking the chain.

Run:  .venv/bin/python bench/audit_chain.py [--checks 20000] [--batch 50] [--db URL]

Appends ``--checks`` check records to a fresh SQLite database in a temporary directory (or to
the PostgreSQL database ``--db``, which must be empty), ``--batch`` callers at a time so the
group commit batches them, then reads the trail and verifies it. Prints one JSON line: checks
appended per second, the time to read and to verify the chain, and the verification's count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from holdfire.adapters.store.factory import make_store
from holdfire.domain.checks import CheckRequest, Clearance, Target, Verdict
from holdfire.domain.events import CheckEvaluated

T0 = datetime(2026, 11, 22, 7, 0, 0, tzinfo=UTC)


def check(i: int) -> CheckEvaluated:
    at = T0 + timedelta(milliseconds=i)
    return CheckEvaluated(
        Clearance(
            id=f"bench-{i:08d}",
            verdict=Verdict.NO_KNOWN_CONFLICT,
            reasons=(),
            target=Target(lat=50.0, lon=30.0, mgrs="36UUA0000000000"),
            weapon="81mm-mortar",
            impact_time=at,
            evaluated_at=at,
            valid_until=at + timedelta(seconds=60),
            picture_version=1,
            request=CheckRequest(lat=50.0, lon=30.0, weapon="81mm-mortar", requester="bench"),
        )
    )


async def run(checks: int, batch: int, data: Path, db: str | None) -> dict[str, object]:
    store = make_store(data, db)
    await store.open()
    try:
        started = time.perf_counter()
        for first in range(0, checks, batch):
            last = min(checks, first + batch)
            await asyncio.gather(*(store.append([check(i)]) for i in range(first, last)))
        appended_s = time.perf_counter() - started
        started = time.perf_counter()
        trail = await store.audit_trail()
        read_s = time.perf_counter() - started
        started = time.perf_counter()
        outcome = trail.check()
        verify_s = time.perf_counter() - started
    finally:
        await store.close()
    return {
        "bench": "audit_chain",
        "store": "sqlite" if db is None else "postgres",
        "checks": checks,
        "batch": batch,
        "appends_per_s": round(checks / appended_s),
        "read_trail_s": round(read_s, 3),
        "verify_s": round(verify_s, 3),
        "verified_records": outcome.records,
        "intact": outcome.intact,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    if args.checks < 1 or args.batch < 1:
        parser.error("--checks and --batch must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args.checks, args.batch, Path(tmp), args.db))
    print(json.dumps(result))
    sys.exit(0 if result["intact"] else 1)


if __name__ == "__main__":
    main()

"""Durability: every append acknowledged before ``kill -9`` is in the store afterwards, on
SQLite and on PostgreSQL.

A child process appends numbered PositionReported events and prints ``<seq> <n>`` right after
each ``append`` returns. The test reads acknowledgements until it has enough, kills the child with
SIGKILL while it is still writing, reopens the database and checks every acknowledged event.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

import holdfire
from holdfire.adapters.store.sqlite import DB_FILENAME
from holdfire.domain.events import PositionReported
from support.stores import BACKENDS, Backend, backend

pytestmark = pytest.mark.integration

ACKS_BEFORE_KILL = 200
TIMEOUT_S = 60.0

CHILD = r"""
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from holdfire.adapters.store.factory import ManagedStore, make_store
from holdfire.domain.events import PositionReported
from holdfire.domain.reports import PositionReport

T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def event(n: int) -> PositionReported:
    at = T0 + timedelta(milliseconds=n)
    return PositionReported(
        PositionReport(
            uid=f"U{n % 50}", lat=50.0 + n * 1e-6, lon=30.0, observed_at=at, received_at=at,
            source="sim", reporter=f"writer-{n}", authenticated=False, ce_m=5.0,
        )
    )


async def writer(store: ManagedStore, start: int, step: int) -> None:
    n = start
    while True:
        seq = await store.append([event(n)])
        sys.stdout.write(f"{seq} {n}\n")
        sys.stdout.flush()
        n += step


async def main() -> None:
    store = make_store(Path(sys.argv[1]), sys.argv[3] or None)
    await store.open()
    tasks = int(sys.argv[2])
    await asyncio.gather(*(writer(store, i, tasks) for i in range(tasks)))


asyncio.run(main())
"""


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as b:
        yield b


@pytest.mark.parametrize("writers", [1, 8], ids=["one-by-one", "group-commit"])
async def test_acknowledged_appends_survive_kill_9(db: Backend, writers: int) -> None:
    src = str(Path(holdfire.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db.data_dir), str(writers), db.db or ""],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    acked: dict[int, int] = {}  # seq -> n
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + TIMEOUT_S
        while len(acked) < ACKS_BEFORE_KILL:
            line = child.stdout.readline()
            if not line:
                _, err = child.communicate(timeout=10)
                pytest.fail(f"child exited early ({child.returncode}): {err}")
            seq, n = map(int, line.split())
            acked[seq] = n
            assert time.monotonic() < deadline, "child too slow"
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: the child is still appending
        rest, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    # lines already in the pipe were acknowledged too
    for line in rest.split("\n")[:-1]:  # a last piece without its newline is not an ack
        seq, n = map(int, line.split())
        acked[seq] = n
    assert len(acked) >= ACKS_BEFORE_KILL

    if db.db is None:
        with closing(sqlite3.connect(db.data_dir / DB_FILENAME)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    store = db.store()
    await store.open()
    try:
        logged = dict(await store.events(after_seq=0, limit=1_000_000))
        missing = sorted(seq for seq in acked if seq not in logged)
        assert not missing, f"acknowledged but lost after kill -9: {missing[:20]}"
        for seq, n in acked.items():
            event = logged[seq]
            assert isinstance(event, PositionReported)
            assert event.report.reporter == f"writer-{n}"
        state = await store.load()
        assert state.last_seq >= max(acked)
        assert state.last_seq == max(logged)
        # current state matches the log: the latest fix per (uid, reporter) is there
        keys = {(r.uid, r.reporter_key) for r in state.reports}
        for seq in acked:
            report = logged[seq]
            assert isinstance(report, PositionReported)
            assert (report.report.uid, report.report.reporter_key) in keys
        # the store still takes writes after the crash
        assert await store.append([logged[min(acked)]]) == state.last_seq + 1
    finally:
        await store.close()

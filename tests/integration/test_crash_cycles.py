"""Crash consistency, a few cycles of bench/crash_cycles.py in the suite: a server under HTTP and
CoT load is killed with SIGKILL at random moments and restarted; nothing it acknowledged is lost,
on SQLite and on PostgreSQL. (`make soak` runs the 100 cycles of the issue.)"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import crash_cycles

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_nothing_acknowledged_is_lost_across_kill_9(kind: str, tmp_path: Path) -> None:
    args = argparse.Namespace(cycles=3, min_s=0.2, max_s=0.8, seed=7)
    with crash_cycles.backend(kind) as db:
        data = tmp_path / "data"
        data.mkdir()
        result = crash_cycles.cycles(data, db, args)
        assert result["lost"] == {"reports": 0, "checks": 0, "messages": 0}, result
        acked = result["acknowledged"]
        assert acked["reports"] > 0 and acked["checks"] > 0 and acked["messages"] > 0, result
        # The count can fail: an acknowledgement the store never saw is counted as lost.
        made_up = {"reports": [], "checks": ["no-such-check"], "messages": ["no-such-message"]}
        lost = asyncio.run(crash_cycles.count_lost(data, db, made_up))
        assert lost == {"reports": 0, "checks": 1, "messages": 1}

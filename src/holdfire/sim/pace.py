"""Scenario time against the clock: a fake clock jumped from event to event, or the wall clock.

Offsets are seconds from the scenario's start. In-process, the service reads a FakeClock that
the pacer sets to `start + offset` (optionally also sleeping, `speed` times faster than real
time, for a person watching). Against a live server the server's own clock runs, so the pacer
sleeps until `offset / speed` real seconds have passed and maps the server's timestamps back to
offsets; `slack_s` is how late (in scenario seconds) something may land and still count as on
time, for the round trips a live run pays.
"""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

LIVE_SLACK_REAL_S = 1.0  # a round trip or two and a poll, in real seconds


class FakeClock:
    """The service's clock in-process: time is what the pacer says it is."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t


class Pacer(Protocol):
    """Waits until an offset and maps datetimes back to offsets."""

    live: bool  # the server's own clock runs: the runner does not tick it
    slack_s: float

    async def wait_until(self, offset_s: float) -> None: ...

    def offset_of(self, at: datetime) -> float: ...


class FakePacer:
    """Sets the fake clock; with a speed, also sleeps so a person can follow."""

    def __init__(self, clock: FakeClock, speed: float | None = None) -> None:
        self.live = False
        self.slack_s = 0.0
        self.clock = clock
        self.start = clock.t
        self.speed = speed
        self._real0 = time.monotonic()

    async def wait_until(self, offset_s: float) -> None:
        if self.speed:
            await asyncio.sleep(max(0.0, self._real0 + offset_s / self.speed - time.monotonic()))
        self.clock.t = self.start + timedelta(seconds=offset_s)

    def offset_of(self, at: datetime) -> float:
        return (at - self.start).total_seconds()


class WallPacer:
    """Real time, `speed` times faster: offset 60 at speed 10 comes 6 s after the start."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be more than 0")
        self.live = True
        self.speed = speed
        self.slack_s = LIVE_SLACK_REAL_S * speed
        self.start = datetime.now(UTC)
        self._real0 = time.monotonic()

    async def wait_until(self, offset_s: float) -> None:
        await asyncio.sleep(max(0.0, self._real0 + offset_s / self.speed - time.monotonic()))

    def offset_of(self, at: datetime) -> float:
        return (at - self.start).total_seconds() * self.speed

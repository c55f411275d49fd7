"""Per-source-address limits, shared by the CoT listeners and the HTTP API.

Each address has a count of open connections (capped), a token bucket for new connections and,
for CoT, token buckets for the bytes and events it sends. A refusal is counted by reason and
logged at most once per address per `log_every_s` (with how many were refused since the last
line), so a flood cannot flood the log too. An address with nothing open and full buckets is
forgotten (`prune`), so the table stays as small as the set of addresses actually connected.
Every address counts, loopback included: 127.0.0.2 is not 127.0.0.1.

A limit of 0 turns that limit off.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


class TokenBucket:
    """`rate` tokens a second, at most `burst` held; starts full. Time is passed in."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float, n: float = 1.0) -> bool:
        """Take `n` tokens if there are that many; False (nothing taken) otherwise."""
        self._refill(now)
        if self.tokens < n:
            return False
        self.tokens -= n
        return True

    def spend(self, now: float, n: float) -> float:
        """Take `n` tokens even into debt; the seconds until the bucket is out of debt (0.0
        when it is not in debt)."""
        self._refill(now)
        self.tokens -= n
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def wait_s(self, now: float, n: float = 1.0) -> float:
        """Seconds until `n` tokens are there."""
        self._refill(now)
        return max(0.0, (n - self.tokens) / self.rate)

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


@dataclass(slots=True)
class Address:
    """What is known of one source address."""

    open: int = 0
    connects: TokenBucket | None = None
    buckets: dict[str, TokenBucket] = field(default_factory=dict)  # CoT: bytes, events
    next_log: float = 0.0
    unlogged: Counter[str] = field(default_factory=Counter)


class AddressBook:
    """The per-address table of one listener family (CoT, or HTTP)."""

    def __init__(
        self,
        name: str,
        *,
        max_open: int,
        connects_per_s: float,
        connect_burst: float,
        log: logging.Logger,
        log_every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.max_open = max_open
        self.connects_per_s = connects_per_s
        self.connect_burst = max(1.0, connect_burst)
        self.log = log
        self.log_every_s = log_every_s
        self.clock = clock
        self.addresses: dict[str, Address] = {}
        self.counters: Counter[str] = Counter()  # refused-<reason> and the like

    def _get(self, host: str) -> Address:
        address = self.addresses.get(host)
        if address is None:
            address = self.addresses[host] = Address()
        return address

    def admit(self, host: str) -> str | None:
        """A new connection from `host`: None if admitted (then counted open until
        `release`), else why it is refused (already counted and logged)."""
        address = self._get(host)
        if self.max_open and address.open >= self.max_open:
            return self.refuse(host, "too-many-connections")
        if self.connects_per_s:
            now = self.clock()
            if address.connects is None:
                address.connects = TokenBucket(self.connects_per_s, self.connect_burst, now)
            if not address.connects.take(now):
                return self.refuse(host, "connection-rate")
        address.open += 1
        return None

    def release(self, host: str) -> None:
        address = self.addresses.get(host)
        if address is not None and address.open > 0:
            address.open -= 1

    def bucket(self, host: str, kind: str, rate: float, burst: float) -> TokenBucket:
        """The address's own bucket of `kind` (made full the first time)."""
        address = self._get(host)
        bucket = address.buckets.get(kind)
        if bucket is None:
            bucket = address.buckets[kind] = TokenBucket(rate, burst, self.clock())
        return bucket

    def refuse(self, host: str, reason: str) -> str:
        """Count a refusal (or a cut-off) of `host` for `reason`; log it unless this address
        was logged less than `log_every_s` ago. Returns `reason`."""
        self.counters[f"refused-{reason}"] += 1
        address = self._get(host)
        now = self.clock()
        if now < address.next_log:
            address.unlogged[reason] += 1
            return reason
        before = ""
        if address.unlogged:
            before = " (since the last report: " + ", ".join(
                f"{n} {why}" for why, n in sorted(address.unlogged.items())
            )
            before += ")"
            address.unlogged.clear()
        self.log.warning("%s %s: %s%s", self.name, host, reason, before)
        address.next_log = now + self.log_every_s
        return reason

    def prune(self) -> None:
        """Forget addresses with nothing open, full buckets and nothing left to log."""
        now = self.clock()
        for host, address in list(self.addresses.items()):
            if address.open or now < address.next_log:
                continue
            buckets = [*address.buckets.values()]
            if address.connects is not None:
                buckets.append(address.connects)
            if all(b.full(now) for b in buckets):
                del self.addresses[host]

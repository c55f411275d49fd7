"""Per-address limits: token buckets, the cap on open connections, and a log line per address
and interval at most (a fake clock drives every case)."""

import logging

import pytest

from holdfire.adapters.net.admission import AddressBook, TokenBucket

LOG = logging.getLogger("holdfire.test-admission")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def book(clock: Clock, **limits: float) -> AddressBook:
    options = {"max_open": 2, "connects_per_s": 0.0, "connect_burst": 2.0, **limits}
    return AddressBook(
        "cot",
        max_open=int(options["max_open"]),
        connects_per_s=options["connects_per_s"],
        connect_burst=options["connect_burst"],
        log=LOG,
        log_every_s=60.0,
        clock=clock,
    )


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=4.0, now=0.0)
    assert all(bucket.take(0.0) for _ in range(4))
    assert not bucket.take(0.0)
    assert bucket.wait_s(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5)
    assert not bucket.full(1.0)
    assert bucket.full(10.0)
    assert bucket.tokens == 4.0  # never more than the burst


def test_spending_into_debt_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=100.0, burst=50.0, now=0.0)
    assert bucket.spend(0.0, 30) == 0.0
    assert bucket.spend(0.0, 70) == pytest.approx(0.5)  # 50 tokens short at 100 a second
    assert bucket.spend(0.5, 0) == 0.0


def test_the_cap_counts_open_connections_per_address() -> None:
    clock = Clock()
    b = book(clock)
    assert b.admit("10.0.0.1") is None
    assert b.admit("10.0.0.1") is None
    assert b.admit("10.0.0.1") == "too-many-connections"
    assert b.admit("10.0.0.2") is None  # another address is not affected
    b.release("10.0.0.1")
    assert b.admit("10.0.0.1") is None
    assert b.counters == {"refused-too-many-connections": 1}


def test_new_connections_are_limited_to_their_rate_after_a_burst() -> None:
    clock = Clock()
    b = book(clock, max_open=0, connects_per_s=1.0, connect_burst=3.0)
    assert [b.admit("10.0.0.1") for _ in range(4)] == [None, None, None, "connection-rate"]
    clock.now += 1.0
    assert b.admit("10.0.0.1") is None
    assert b.admit("10.0.0.1") == "connection-rate"
    assert b.counters == {"refused-connection-rate": 2}


def test_refusals_are_logged_once_per_address_and_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    b = book(clock)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        for _ in range(5):
            b.refuse("10.0.0.1", "idle-timeout")
        b.refuse("10.0.0.1", "slow-frame")
        b.refuse("10.0.0.2", "idle-timeout")
        clock.now += 61.0
        b.refuse("10.0.0.1", "idle-timeout")
    assert [r.getMessage() for r in caplog.records] == [
        "cot 10.0.0.1: idle-timeout",
        "cot 10.0.0.2: idle-timeout",
        "cot 10.0.0.1: idle-timeout (since the last report: 4 idle-timeout, 1 slow-frame)",
    ]
    assert b.counters == {"refused-idle-timeout": 7, "refused-slow-frame": 1}


def test_an_address_with_nothing_open_and_full_buckets_is_forgotten() -> None:
    clock = Clock()
    b = book(clock, connects_per_s=1.0)
    assert b.admit("10.0.0.1") is None
    b.bucket("10.0.0.1", "bytes", 10.0, 10.0).spend(clock(), 5)
    b.prune()
    assert "10.0.0.1" in b.addresses  # still open
    b.release("10.0.0.1")
    b.prune()
    assert "10.0.0.1" in b.addresses  # its buckets are not full yet
    clock.now += 5.0
    b.prune()
    assert b.addresses == {}

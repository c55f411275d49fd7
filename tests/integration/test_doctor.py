"""`holdfire doctor` as a process of its own, against a good set-up and a broken one.

Good: a data directory with its CA, server certificate and a device whose certificate ends in
five days (a warning, not a failure), a migrated PostgreSQL schema, the machine's NATS and
MQTT broker, free ports: exit 0. Broken: a data directory that does not exist, a port some
other socket listens on, PostgreSQL and the broker on closed ports: exit 1, each named with
what to fix.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from holdfire.adapters.certs import CertStore
from holdfire.adapters.store.factory import make_store
from support.process import free_port, holdfire
from support.stores import pg_schema

pytestmark = pytest.mark.integration

NATS = "nats://127.0.0.1:4222"
MQTT = "mqtt://127.0.0.1:1883"


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*holdfire(), "doctor", *args], capture_output=True, text=True, timeout=60, check=False
    )


def lines_of(output: str) -> dict[str, str]:
    """Each check's line by what it checked (`listener http`, `store` …), status first."""
    found = {}
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("OK", "WARN", "FAIL"):
            what, _, detail = rest.strip().partition("  ")
            found[what.strip()] = f"{status} {detail.strip()}"
    return found


def listeners(http: int, tcp: int, tls: int) -> list[str]:
    return [
        "--http",
        f"127.0.0.1:{http}",
        "--cot-tcp",
        f"127.0.0.1:{tcp}",
        "--cot-tls",
        f"127.0.0.1:{tls}",
    ]


def test_a_good_set_up_passes_with_a_warning_for_a_device_ending_soon(tmp_path: Path) -> None:
    data = tmp_path / "data"
    now = datetime.now(UTC)
    certs = CertStore(data / "certs")
    certs.init(now=now)
    # Issued 360 days ago for a year: it ends in five days.
    certs.client("old-radio", "ANDROID-old", now=now - timedelta(days=360), host="127.0.0.1")
    with pg_schema() as (_, url):
        asyncio.run(make_store(data, url).migrate())
        done = doctor(
            "--data", str(data), "--db", url, "--nats", NATS, "--mqtt", MQTT,
            *listeners(free_port(), free_port(), free_port()),
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    found = lines_of(done.stdout)
    for what in (
        "data directory",
        "store",
        "CA certificate",
        "server certificate",
        "revocation list",
        "listener http",
        "listener cot-tcp",
        "listener cot-tls",
        "NATS",
        "MQTT broker",
    ):
        assert found[what].startswith("OK "), (what, done.stdout)
    assert "up to date" in found["store"]
    assert "JetStream on" in found["NATS"]
    assert found["device old-radio"].startswith("WARN ends "), done.stdout
    assert "holdfire certs client old-radio" in done.stdout  # what to do about it
    assert done.stdout.splitlines()[-1].endswith("0 FAIL, 1 WARN")


def test_a_broken_set_up_fails_and_says_what_to_fix(tmp_path: Path) -> None:
    closed_pg, closed_mqtt = free_port(), free_port()  # nothing listens on either
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        done = doctor(
            "--data", str(tmp_path / "missing"),
            "--db", f"postgresql://postgres@127.0.0.1:{closed_pg}/holdfire",
            "--mqtt", f"mqtt://127.0.0.1:{closed_mqtt}",
            *listeners(busy, free_port(), free_port()),
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    found = lines_of(done.stdout)
    assert (
        found["data directory"].startswith("FAIL ") and "does not exist" in found["data directory"]
    )
    assert found["store"].startswith("FAIL ") and str(closed_pg) in found["store"]
    assert found["listener http"] == f"FAIL 127.0.0.1:{busy}: Address already in use"
    assert found["listener cot-tcp"].startswith("OK ")
    assert found["MQTT broker"].startswith("FAIL ")
    fixes = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("fix:")]
    assert len(fixes) == 4, done.stdout  # one for each failure
    assert any("start PostgreSQL" in fix for fix in fixes)
    assert any(f"sport = :{busy}" in fix and "--http" in fix for fix in fixes)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].endswith("4 FAIL, 0 WARN")

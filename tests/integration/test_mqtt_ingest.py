"""MQTT ingest against real Mosquitto brokers: the machine's on 127.0.0.1:1883 (`.ci/run` starts
it), and for the restart test a private one this test starts, kills and starts again.

The service is the real one on a fresh data directory; messages are published with aiomqtt.
Each test uses its own topic prefix so tests never see each other's messages. Every wait is a
condition polled against a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from holdfire.adapters.net.mqtt import MqttIngest, MqttSettings, load_nodes, parse_mqtt_url
from holdfire.bootstrap import build_service
from holdfire.config import settings
from holdfire.domain.reports import PositionReport
from holdfire.domain.tracks import Track
from holdfire.domain.units import Unit
from holdfire.service.handlers import Service

pytestmark = pytest.mark.integration

BROKER = ("127.0.0.1", 1883)
TIMEOUT = 10.0  # the longest any single wait may take


async def eventually(condition: Callable[[], object], what: str) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


async def track(service: Service, uid: str) -> Track:
    await eventually(lambda: service.picture.track(uid) is not None, f"no track for {uid}")
    found = service.picture.track(uid)
    assert found is not None
    return found


async def publish(
    port: int, topic: str, payload: bytes | dict[str, Any] | list[Any], retain: bool = False
) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    async with aiomqtt.Client(BROKER[0], port) as client:
        await client.publish(topic, body, qos=1, retain=retain)


def meshtastic_position(node: int, lat_i: int, lon_i: int, **payload: Any) -> dict[str, Any]:
    return {
        "from": node,
        "to": 4294967295,
        "channel": 0,
        "id": 1234,
        "sender": "!a1b2c3d4",
        "type": "position",
        "timestamp": 1764576005,
        "payload": {"latitude_i": lat_i, "longitude_i": lon_i, "altitude": 180, **payload},
    }


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    data = tmp_path / "data"
    data.mkdir()
    svc = build_service(settings(data))
    await svc.start()
    yield svc
    await svc.close()


@pytest.fixture
def prefix() -> str:
    return f"holdfire-test/{uuid.uuid4().hex}"


@asynccontextmanager
async def ingest(
    service: Service, config: MqttSettings, **kwargs: Any
) -> AsyncIterator[MqttIngest]:
    running = MqttIngest(service, config, **kwargs)
    await running.start()
    try:
        yield running
    finally:
        await running.close()


def from_url(url: str, topics: list[str] | None = None) -> MqttSettings:
    config = parse_mqtt_url(url, topics or [])
    assert config is not None
    return config


def system_broker(prefix: str) -> MqttSettings:
    try:
        socket.create_connection(BROKER, timeout=1.0).close()
    except OSError:
        pytest.fail("no MQTT broker on 127.0.0.1:1883 (.ci/run starts mosquitto)")
    return from_url(
        f"mqtt://{BROKER[0]}:{BROKER[1]}", [f"{prefix}/reports/#", f"{prefix}/msh/+/2/json/#"]
    )


async def test_a_report_and_a_meshtastic_position_land_in_the_picture(
    service: Service, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "data" / "mqtt-nodes.toml").write_text('"!7efeee00" = "btr-82-1"\n')
    nodes = load_nodes(tmp_path / "data")
    async with ingest(service, system_broker(prefix), nodes=nodes) as running:
        assert running.connected
        await publish(
            BROKER[1], f"{prefix}/reports/alpha", {"uid": "a-1", "lat": 51.4, "lon": 35.6}
        )
        gateway_topic = f"{prefix}/msh/EU_868/2/json/LongFast/!a1b2c3d4"
        await publish(
            BROKER[1],
            gateway_topic,
            meshtastic_position(0x7EFEEE00, 513500000, 351000000, time=1764576000),
        )
        await publish(BROKER[1], gateway_topic, meshtastic_position(0xABCD, 513600000, 351000000))

        report = (await track(service, "a-1")).extras[0]
        assert (report.lat, report.lon, report.source) == (51.4, 35.6, "mqtt")
        assert report.reporter == f"{prefix}/reports/alpha"
        assert not report.authenticated

        mapped = (await track(service, "btr-82-1")).extras[0]
        assert (mapped.lat, mapped.lon, mapped.reporter) == (51.35, 35.1, gateway_topic)
        unmapped = await track(service, "!0000abcd")
        assert unmapped.own is None and unmapped.extras[0].lat == 51.36
        await eventually(lambda: running.counters["reports"] == 3, "reports counted")
    # what was applied is durable: a fresh service on the same store sees it
    again = build_service(settings(tmp_path / "data"))
    await again.start()
    try:
        assert again.picture.track("btr-82-1") is not None
    finally:
        await again.close()


async def test_garbage_is_counted_and_the_subscriber_goes_on(service: Service, prefix: str) -> None:
    config = replace(system_broker(prefix), max_payload_bytes=4096)
    async with ingest(service, config) as running:
        topic = f"{prefix}/reports/noisy"
        await publish(BROKER[1], topic, b"\x00\xffnot json at all")
        await publish(BROKER[1], topic, b"[" * 4000)
        await publish(BROKER[1], topic, b" " * 5000)
        await publish(BROKER[1], topic, {**meshtastic_position(1, 1, 1), "type": "telemetry"})
        await publish(
            BROKER[1],
            topic,
            [
                {"uid": "b-1", "lat": 51.4, "lon": 35.6},
                {"uid": "b-2", "lat": 123.0, "lon": 35.6},
                {"uid": "b-3", "grid": "36UXB5303396604"},
            ],
        )
        await track(service, "b-1")
        await track(service, "b-3")
        await eventually(lambda: running.counters["bad-lat"] == 1, "bad item counted")
        assert service.picture.track("b-2") is None
        assert running.counters["not-json"] == 2
        assert running.counters["too-large"] == 1
        assert running.counters["ignored-not-position"] == 1
        assert running.connected
        await publish(BROKER[1], topic, {"uid": "b-4", "lat": 51.5, "lon": 35.6})
        await track(service, "b-4")


async def test_a_retained_report_counts_only_with_its_own_time(
    service: Service, prefix: str
) -> None:
    stamped = f"{prefix}/reports/stamped"
    unstamped = f"{prefix}/reports/unstamped"
    at = "2026-12-01T08:00:00Z"
    await publish(
        BROKER[1], stamped, {"uid": "r-1", "lat": 51.4, "lon": 35.6, "observed_at": at}, retain=True
    )
    await publish(BROKER[1], unstamped, {"uid": "r-2", "lat": 51.4, "lon": 35.6}, retain=True)
    try:
        async with ingest(service, system_broker(prefix)) as running:
            await track(service, "r-1")
            await eventually(
                lambda: running.counters["retained-without-time"] == 1, "unstamped dropped"
            )
            assert service.picture.track("r-2") is None
    finally:
        for topic in (stamped, unstamped):  # an empty retained message clears it
            await publish(BROKER[1], topic, b"", retain=True)


async def test_a_burst_of_messages_all_lands(service: Service, prefix: str) -> None:
    async with ingest(service, system_broker(prefix)) as running:
        async with aiomqtt.Client(*BROKER) as client:
            for i in range(200):
                body = json.dumps({"uid": f"c-{i}", "lat": 51.0 + i / 1000, "lon": 35.6})
                await client.publish(f"{prefix}/reports/many", body, qos=1)
        await eventually(lambda: running.counters["reports"] == 200, "every report applied")
    assert all(service.picture.track(f"c-{i}") is not None for i in range(200))


# --- a private broker, killed and started again ------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def mosquitto_binary() -> str:
    # Debian installs it in sbin, which is not on every user's PATH
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(("/usr/sbin", "/sbin"))
    found = shutil.which("mosquitto", path=path)
    if found is None:
        pytest.skip("mosquitto is not installed")
    return found


class Broker:
    """One mosquitto process on a fixed port; `start` again after `kill` reuses the port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\n"
        )
        self.log = directory / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [mosquitto_binary(), "-c", str(self.config)], stdout=log, stderr=log
            )

    async def accepting(self) -> None:
        async def ready() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            return True

        async with asyncio.timeout(TIMEOUT):
            while not await ready():
                assert self.process is not None and self.process.poll() is None, (
                    self.log.read_text()
                )
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=TIMEOUT)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    own = Broker(tmp_path)
    yield own
    own.kill()


async def test_ingest_waits_for_the_broker_and_resumes_after_a_restart(
    service: Service, broker: Broker
) -> None:
    config = replace(
        from_url(f"mqtt://127.0.0.1:{broker.port}"), backoff_initial_s=0.05, backoff_max_s=0.5
    )
    topic = "holdfire/reports/tracker-1"
    # The broker is down: start() returns after the first failed attempt and keeps trying.
    async with ingest(service, config) as running:
        assert not running.connected
        assert running.counters["connect-failed"] >= 1

        broker.start()
        await broker.accepting()
        await eventually(lambda: running.connected, "connected once the broker is up")
        await publish(broker.port, topic, {"uid": "d-1", "lat": 51.4, "lon": 35.6})
        await track(service, "d-1")

        broker.kill()
        await eventually(lambda: not running.connected, "the loss is noticed")
        assert running.counters["connection-lost"] == 1

        broker.start()
        await broker.accepting()
        await eventually(lambda: running.counters["subscribed"] == 2, "resubscribed")
        await publish(broker.port, topic, {"uid": "d-2", "lat": 51.5, "lon": 35.6})
        await track(service, "d-2")


# --- messages out ----------------------------------------------------------------------------


async def test_a_delivery_for_a_unit_heard_over_mqtt_is_published_to_its_topic(
    service: Service, prefix: str
) -> None:
    tracker, other = f"t-{uuid.uuid4().hex[:8]}", f"o-{uuid.uuid4().hex[:8]}"
    await service.register_unit(Unit(tracker, "TRACKER", language="ko"), by="test")
    await service.register_unit(Unit(other, "OTHER"), by="test")
    got: list[tuple[str, dict[str, Any]]] = []
    async with ingest(service, system_broker(prefix)) as running, aiomqtt.Client(*BROKER) as sub:
        await sub.subscribe(
            [(f"holdfire/messages/{tracker}", 1), (f"holdfire/messages/{other}", 1)]
        )

        async def collect() -> None:
            async for message in sub.messages:
                assert isinstance(message.payload, bytes)
                got.append((str(message.topic), json.loads(message.payload)))

        reader = asyncio.create_task(collect())
        try:
            await publish(
                BROKER[1], f"{prefix}/reports/t", {"uid": tracker, "lat": 51.4, "lon": 35.6}
            )
            await track(service, tracker)
            await service.report(
                PositionReport(
                    uid=other,
                    lat=51.4,
                    lon=35.6,
                    observed_at=service.clock.now(),
                    received_at=service.clock.now(),
                    source="http",
                    reporter="test",
                )
            )
            for uid in (other, tracker):
                await service.send_message("WAIT_FOR_US", {}, uid, sender="planner-1")
            await eventually(lambda: got, "the delivery published")
            await asyncio.sleep(0.3)  # the other one, if it were wrongly published, is there too
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        assert [topic for topic, _ in got] == [f"holdfire/messages/{tracker}"]
        body = got[0][1]
        assert body["to"] == tracker and body["code"] == "WAIT_FOR_US"
        assert body["language"] == "ko" and body["text_en"] == "Wait for us."
        assert body["ack_required"] is True and body["message_id"]
        assert running.counters["published"] == 1


async def test_the_outbox_waits_for_the_broker_and_is_bounded(
    service: Service, broker: Broker
) -> None:
    config = replace(
        from_url(f"mqtt://127.0.0.1:{broker.port}"),
        backoff_initial_s=0.05,
        backoff_max_s=0.5,
        outbox_limit=2,
    )
    now = service.clock.now()
    await service.register_unit(Unit("m-1", "M1"), by="test")
    heard = PositionReport("m-1", 51.4, 35.6, now, now, source="mqtt", reporter="topic")
    await service.report(heard)
    async with ingest(service, config) as running:
        assert not running.connected
        for minutes in (1, 2, 3):
            await service.send_message("MOUNTED", {"pax": minutes}, "m-1", sender="planner-1")
        assert running.counters["outbox-dropped"] == 1  # the oldest of three, past the bound
        broker.start()
        await broker.accepting()
        await eventually(lambda: running.counters["published"] == 2, "the outbox flushed")
        assert running.counters["publish-failed"] == 0

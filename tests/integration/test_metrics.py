"""`GET /metrics` and the JSON log of a real `holdfire serve`, a process of its own.

One server for the module, started with `--log-format json`. The scrape is parsed with
prometheus_client's own parser; reports, a check, a refused request and a malformed CoT
event move the counters they should, the picture's stale and lost units are counted at the
moment of the scrape, and only the scrape token or an admin token may read it. A cluster node
(in-process) cut off from NATS shows for how long, and its outbox growing with what it took.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from paho.mqtt import publish
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from holdfire.adapters.bus.nats import ClusterSettings
from holdfire.bootstrap import Listeners, start_server
from holdfire.config import Settings
from support.cluster import wait_until
from support.process import free_port, holdfire
from support.stores import pg_schema

pytestmark = pytest.mark.integration

TIMEOUT = 10.0
MQTT = "mqtt://127.0.0.1:1883"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Served:
    base: str
    data: Path
    admin: str
    scrape: str
    cot_port: int
    log: Path
    topic: str


def _ready(base: str) -> bool:
    with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2) as reply:
        return bool(json.load(reply)["ready"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("metrics")
    data, log = root / "data", root / "serve.log"
    http, cot = free_port(), free_port()
    args = ["serve", "--data", str(data), "--http", f"127.0.0.1:{http}"]
    args += ["--cot-tcp", f"127.0.0.1:{cot}", "--cot-tls", "off", "--log-format", "json"]
    topic = f"hfm-{uuid.uuid4().hex[:8]}"  # the machine's broker, a topic of this server's own
    args += ["--mqtt", MQTT, "--mqtt-topic", f"{topic}/#"]
    with log.open("wb") as err, (root / "serve.out").open("wb") as out:
        server = subprocess.Popen([*holdfire(), *args], stdout=out, stderr=err)
    try:
        base = f"http://127.0.0.1:{http}"
        wait_until("holdfire serving", lambda: _ready(base), 30)
        admin = (data / "admin.token").read_text().strip()
        scrape = (data / "metrics.token").read_text().strip()
        yield Served(base, data, admin, scrape, cot, log, topic)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(TIMEOUT * 3)


def scrape(served: Served, token: str | None = None) -> Samples:
    return parsed(get_metrics(served, token or served.scrape))


def parsed(reply: httpx.Response) -> Samples:
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def get_metrics(served: Served, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{served.base}/metrics", headers=headers, timeout=TIMEOUT)


def post(served: Served, path: str, body: object, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or served.admin}"}
    return httpx.post(f"{served.base}/api/v1{path}", json=body, headers=headers, timeout=TIMEOUT)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_scrape_parses_and_the_counters_move(served: Served) -> None:
    before = scrape(served)
    now = datetime.now(UTC)
    ago = {n: (now - timedelta(minutes=n)).isoformat() for n in (4, 20)}
    here = {"lat": 51.4, "lon": 35.6, "affiliation": "friend", "mobility": "dismounted"}
    reports = [
        {"uid": "inf-fresh", **here},
        {"uid": "inf-stale", **here, "lat": 51.45, "observed_at": ago[4]},  # stale after 60 s
        {"uid": "inf-lost", **here, "lat": 51.5, "observed_at": ago[20]},  # lost after 600 s
        {"uid": "inf-bad", "lat": 91, "lon": 35.6},  # refused: the rest is taken
    ]
    taken = post(served, "/reports", reports)
    assert taken.status_code == 202 and taken.json()["accepted"] == 3, taken.text
    check = post(served, "/checks", {"target": {"lat": 51.4, "lon": 35.6}, "weapon": "fpv-drone"})
    assert check.status_code == 200 and check.json()["verdict"] == "HOLD", check.text
    assert post(served, "/checks", {"target": {"lat": 51.4, "lon": 35.6}}).status_code == 422
    with socket.create_connection(("127.0.0.1", served.cot_port), timeout=TIMEOUT) as tak:
        tak.sendall(b'<event version="2.0"><detail></event>')  # not well-formed XML
        wait_until(
            "the CoT drop counted",
            lambda: value(
                scrape(served), "holdfire_dropped_total", channel="cot", reason="dropped-xml"
            ),
        )
        after = scrape(served)
        assert value(after, "holdfire_connections", protocol="cot-tcp") == 1

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("holdfire_reports_total", channel="http") == 3
    assert moved("holdfire_checks_total", verdict="HOLD") == 1
    assert moved("holdfire_checks_total", verdict="NO_KNOWN_CONFLICT") == 0
    assert moved("holdfire_check_evaluate_seconds_count") == 1
    assert moved("holdfire_check_evaluate_seconds_sum") > 0
    assert moved("holdfire_http_check_seconds_count") == 1  # the refused one is not timed
    assert moved("holdfire_http_check_seconds_sum") >= moved("holdfire_check_evaluate_seconds_sum")
    assert moved("holdfire_api_refused_total", status="422", kind="invalid") == 1
    assert moved("holdfire_dropped_total", channel="http", reason="report-refused") == 1
    assert moved("holdfire_dropped_total", channel="cot", reason="dropped-xml") == 1
    for state in ("fresh", "stale", "lost"):
        assert value(after, "holdfire_tracks", state=state, affiliation="friend") == 1, state
    assert value(after, "holdfire_ready") == 1
    for queue in ("tak-send", "cot-ingest", "tak-mailbox", "ws-send"):
        assert ("holdfire_queue_depth", (("queue", queue),)) in after, queue
    assert value(after, "holdfire_process_resident_memory_bytes") > 0
    gone = wait_until(
        "the TAK client gone",
        lambda: (s := scrape(served)) and value(s, "holdfire_connections", protocol="cot-tcp") == 0,
    )
    assert gone


def test_mqtt_payloads_that_are_no_report_and_stream_clients_are_counted(served: Served) -> None:
    wait_until(
        "subscribed to the broker",
        lambda: value(scrape(served), "holdfire_connections", protocol="mqtt") == 1,
    )
    publish.single(f"{served.topic}/tracker-1", b"{not json", qos=1, hostname="127.0.0.1")
    wait_until(
        "the MQTT drop counted",
        lambda: (
            value(scrape(served), "holdfire_dropped_total", channel="mqtt", reason="not-json") == 1
        ),
    )
    stream = served.base.replace("http://", "ws://") + f"/api/v1/stream?token={served.admin}"
    with connect(stream, open_timeout=TIMEOUT):
        during = wait_until(
            "the stream client counted",
            lambda: (
                (s := scrape(served))
                and value(s, "holdfire_connections", protocol="websocket") == 1
                and s
            ),
        )
        assert ("holdfire_queue_depth_max", (("queue", "ws-send"),)) in during
    wait_until(
        "the stream client gone",
        lambda: value(scrape(served), "holdfire_connections", protocol="websocket") == 0,
    )


def test_only_the_scrape_token_or_an_admin_reads_the_metrics(served: Served) -> None:
    assert get_metrics(served, None).status_code == 401
    assert get_metrics(served, "hf_" + "x" * 40).status_code == 401
    made = post(served, "/tokens", {"name": "ops-observer", "role": "observer"})
    assert made.status_code == 201, made.text
    observer = made.json()["token"]
    refused = get_metrics(served, observer)
    assert refused.status_code == 403 and "metrics" in refused.json()["error"]
    assert get_metrics(served, served.admin).status_code == 200
    assert get_metrics(served, served.scrape).status_code == 200
    # The scrape token opens nothing else.
    tracks = httpx.get(
        f"{served.base}/api/v1/tracks",
        headers={"Authorization": f"Bearer {served.scrape}"},
        timeout=TIMEOUT,
    )
    assert tracks.status_code == 401
    # Replacing the file changes the token at once.
    token_file = served.data / "metrics.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    old, served.scrape = served.scrape, "hf_" + "r" * 43
    token_file.write_text(served.scrape + "\n")
    assert get_metrics(served, old).status_code == 401
    samples = scrape(served)
    assert value(samples, "holdfire_api_refused_total", status="403", kind="forbidden") >= 1


def test_every_log_line_is_one_json_object(served: Served) -> None:
    httpx.get(f"{served.base}/api/v1/tracks", timeout=TIMEOUT)  # a 401: the log is not empty
    lines = [line for line in served.log.read_text().splitlines() if line.strip()]
    assert lines
    records = [json.loads(line) for line in lines]
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        at = datetime.fromisoformat(record["time"])
        assert record["time"].endswith("Z") and at.tzinfo is not None
        assert record["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        assert "color_message" not in record
    assert any(
        r["logger"] == "holdfire" and r["message"].startswith("wrote the metrics scrape token")
        for r in records
    ), lines
    assert any(r["logger"] == "uvicorn.error" for r in records), lines
    # The scrape token is named by its file, never written out (nor any other token).
    assert not any("hf_" in line for line in lines)


async def test_a_cut_off_node_shows_how_long_and_its_outbox_growing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    nowhere = f"nats://127.0.0.1:{free_port()}"  # nothing listens: the node starts cut off
    cluster = ClusterSettings(nowhere, "solo", f"hfm{uuid.uuid4().hex[:8]}", connect_wait_s=0.3)
    with pg_schema() as (_, url):
        running = await start_server(
            Settings(data, db=url),
            Listeners(http=("127.0.0.1", 0), cot_tcp=None, cot_tls=None, cluster=cluster),
        )
        try:
            host, port = running.bound["http"]
            token = (data / "metrics.token").read_text().strip()
            admin = (data / "admin.token").read_text().strip()
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=TIMEOUT) as c:

                async def samples() -> Samples:
                    return parsed(
                        await c.get("/metrics", headers={"Authorization": f"Bearer {token}"})
                    )

                before = await samples()
                assert value(before, "holdfire_cluster_cut_off_seconds") > 0
                assert value(before, "holdfire_replication_lag_events") == 0
                reports = [
                    {"uid": f"inf-{n}", "lat": 51.4, "lon": 35.6 + n / 100} for n in range(3)
                ]
                taken = await c.post(
                    "/api/v1/reports", json=reports, headers={"Authorization": f"Bearer {admin}"}
                )
                assert taken.status_code == 202, taken.text
                after = await samples()
        finally:
            await running.close()
    outbox = {"queue": "cluster-outbox"}
    waiting = value(after, "holdfire_queue_depth", **outbox) - value(
        before, "holdfire_queue_depth", **outbox
    )
    assert waiting >= 3  # a unit registered and its position, for each: none published
    assert value(after, "holdfire_cluster_cut_off_seconds") > value(
        before, "holdfire_cluster_cut_off_seconds"
    )
    assert value(after, "holdfire_reports_total", channel="http") == 3

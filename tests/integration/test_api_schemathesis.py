"""Property-based tests of the HTTP API with Schemathesis, against the real server.

The server (uvicorn, the SQLite store in a temporary data directory) runs in its own thread
and event loop, as `holdfire serve` runs it; Schemathesis reads /openapi.json from it and
sends generated requests, valid and invalid, to every documented operation with an admin
token. Each response must not be a 5xx and must match what the document says of it (status
code, content type, headers, body schema). Hypothesis is derandomised: the same cases every
run, so a failure is reproducible and the file's time steady (about 30 s). The picture is
seeded first (units, tracks, measures, a check, a pairing, an alert) and path ids are drawn
half the time from what was seeded, so the by-id routes are exercised past their 404; the
server has operator map tiles, and the tile route is asked for one that exists as often.
"""

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from holdfire.adapters.auth import create_token
from holdfire.api.guard import HttpLimits
from holdfire.bootstrap import Listeners, Running, start_server
from holdfire.config import Settings
from holdfire.domain.access import Role
from support.tiles import png, write_mbtiles

pytestmark = pytest.mark.integration

T = TypeVar("T")
EXAMPLES = 25  # per operation: about 30 operations, the whole file well under a minute
AIM = (51.40, 35.60)
TILE = (3, 4, 2)  # z, x, y of the one map tile
# "Schema-valid input must be accepted" cannot hold here: a schema cannot say that a grid is
# valid MGRS, a cursor one this server issued, a geometry a closed ring, or an impact time
# within the last 5 minutes; the server refuses those with a 422 naming the field.
EXCLUDED = [positive_data_acceptance]
# A list of reports is taken item by item: a bad item is listed in `rejected` of a 202.
EXCLUDED_FOR = {"POST /api/v1/reports": [negative_data_rejection]}


class ServerThread:
    """The real server in a thread of its own, so synchronous clients can call it."""

    def __init__(self, data_dir: Path, tiles: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        listeners = Listeners(http=("127.0.0.1", 0), cot_tcp=None, cot_tls=None)
        settings = Settings(data_dir, tiles=tiles)
        # Thousands of requests from one address: the per-address rate would answer 429 to
        # most; it has tests of its own (test_hostile_load.py).
        unlimited = HttpLimits(requests_per_s=0)
        self.running: Running = self.run(start_server(settings, listeners, http_limits=unlimited))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    @property
    def base_url(self) -> str:
        host, port = self.running.bound["http"]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.run(self.running.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


def seed(client: httpx.Client) -> dict[str, list[Any]]:
    """A small picture around AIM; the ids of what was made, by path parameter name."""
    units = [f"unit-{n}" for n in range(4)]
    for n, uid in enumerate(units):
        body = {"callsign": f"U{n}", "affiliation": "friend", "mobility": "tracked"}
        client.put(f"/api/v1/units/{uid}", json={**body, "equipment": ["2s1"]}).raise_for_status()
    now = datetime.now(UTC).isoformat()
    reports = [
        {"uid": uid, "lat": AIM[0] + 0.01 * n, "lon": AIM[1], "ce_m": 10, "observed_at": now}
        for n, uid in enumerate(units)
    ]
    client.post("/api/v1/reports", json=reports).raise_for_status()
    measures = []
    for kind, radius in (("NFA", 500), ("NSL", 100)):
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [AIM[1] + 0.05, AIM[0]]},
            "properties": {"kind": kind, "name": f"seed {kind}", "radius_m": radius},
        }
        response = client.post("/api/v1/measures", json=feature)
        response.raise_for_status()
        measures.append(response.json()["id"])
    check = {"target": {"lat": AIM[0], "lon": AIM[1]}, "weapon": "155mm-howitzer"}
    response = client.post("/api/v1/checks", json=check)
    response.raise_for_status()
    checks = [response.json()["id"]]
    # firing on a HOLD raises an alert for planners
    client.post(f"/api/v1/checks/{checks[0]}/fired", json={}).raise_for_status()
    pairing = {"vehicle": units[0], "dismounts": [units[1]], "max_separation_m": 200}
    client.post("/api/v1/pairings", json=pairing).raise_for_status()
    alerts = [a["id"] for a in client.get("/api/v1/alerts").json()["items"]]
    assert alerts, "the seed should have raised an alert"
    return {
        "uid": units,
        "measure_id": measures,
        "check_id": checks,
        "alert_id": alerts,
        **{name: [value] for name, value in zip("zxy", TILE, strict=True)},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    running = ServerThread(tmp / "data", write_mbtiles(tmp / "ao.mbtiles", {TILE: png(1)}))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def admin_headers(server: ServerThread) -> dict[str, str]:
    """An admin token of its own (not the first-start one, whose name `admin` generated data
    could revoke by chance)."""
    service = server.running.service
    made = server.run(
        create_token(
            service.store, "schemathesis-7f3a", Role.ADMIN, by="test", now=service.clock.now()
        )
    )
    return {"Authorization": f"Bearer {made.secret}"}


@pytest.fixture(scope="module")
def seeded(server: ServerThread, admin_headers: dict[str, str]) -> dict[str, list[Any]]:
    with httpx.Client(base_url=server.base_url, headers=admin_headers, timeout=10) as client:
        return seed(client)


@pytest.fixture(scope="module")
def api_schema(server: ServerThread, admin_headers: dict[str, str]) -> Any:
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    schema.config.update(base_url=server.base_url, headers=admin_headers)
    return schema


def describe(error: BaseException) -> str:
    """Every failure in a (nested) exception group, each with the curl line to reproduce it."""
    notes = "".join(f"\n{note}" for note in getattr(error, "__notes__", ()))
    if isinstance(error, BaseExceptionGroup):
        return "\n".join(describe(inner) for inner in error.exceptions) + notes
    return f"{type(error).__name__}: {error}{notes}"


def cases(operation: Any, mode: GenerationMode, seeded: dict[str, list[Any]]) -> Any:
    """Generated cases; valid ones half the time with a path id that exists."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters if p.name in seeded]
    if mode is not GenerationMode.POSITIVE or not names:
        return generated
    known = st.fixed_dictionaries({name: st.sampled_from(seeded[name]) for name in names})
    existing = known.flatmap(
        lambda ids: operation.as_strategy(generation_mode=mode, path_parameters=ids)
    )
    return st.one_of(generated, existing)


def fuzz(
    operation: Any, mode: GenerationMode, seeded: dict[str, list[Any]], headers: dict[str, str]
) -> str | None:
    """What Schemathesis found wrong with one operation in one mode, or None."""
    excluded = EXCLUDED + EXCLUDED_FOR.get(operation.label, [])

    @given(case=cases(operation, mode, seeded))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def call(case: Any) -> None:
        try:
            case.call_and_validate(headers=headers, excluded_checks=excluded)
        except BaseException as error:
            error.add_note(case.as_curl_command())
            raise

    found: list[str] = []
    try:
        call()
    except* Unsatisfiable:
        # no input violates the schema (a path id is any string): nothing to send
        assert mode is GenerationMode.NEGATIVE, operation.label
    except* Exception as group:
        found.append(f"{operation.label} ({mode.value}): {describe(group)}")
    return found[0] if found else None


def test_api_conforms_to_its_openapi_document(
    api_schema: Any, seeded: dict[str, list[Any]], admin_headers: dict[str, str]
) -> None:
    """Every operation, valid and invalid cases; all failures are reported together, each with
    the curl line that reproduces it."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 25
    failures = [
        found
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if (found := fuzz(operation, mode, seeded, admin_headers)) is not None
    ]
    assert not failures, "\n\n".join(failures)


# -- regressions found by Schemathesis ---------------------------------------------------------


def test_a_body_that_is_not_utf8_is_422_on_every_route(
    server: ServerThread, admin_headers: dict[str, str]
) -> None:
    """FastAPI answered 400 "There was an error parsing the body" for the routes it parses
    itself; the routes that read their body answered 422."""
    headers = {**admin_headers, "Content-Type": "application/json"}
    with httpx.Client(base_url=server.base_url + "/api/v1", headers=headers) as client:
        for method, path in (("POST", "/checks"), ("PUT", "/units/u"), ("POST", "/reports")):
            response = client.request(method, path, content=b'{"uid": "\xff"}')
            assert response.status_code == 422, (path, response.text)
            assert response.json()["field"] == "body"


def test_a_chunked_body_over_the_limit_is_413_on_every_route(
    server: ServerThread, admin_headers: dict[str, str]
) -> None:
    """A body without Content-Length that passed the limit was a 400 on the routes FastAPI
    parses (the limit's exception became "error parsing the body")."""
    limit = server.running.api.max_body_bytes

    def chunks() -> Iterator[bytes]:
        yield b'{"weapon": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    headers = {**admin_headers, "Content-Type": "application/json"}
    with httpx.Client(base_url=server.base_url + "/api/v1", headers=headers) as client:
        for path in ("/checks", "/reports"):
            response = client.post(path, content=chunks())
            assert response.status_code == 413, (path, response.text)
            assert response.json()["field"] == "body"
        assert client.get("/health").status_code == 200  # the connection is still usable

"""HTTP API bodies the server cannot parse, against the real server (uvicorn in its own thread)."""

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from holdfire.adapters.auth import create_token
from holdfire.bootstrap import Listeners, Running, start_server
from holdfire.config import Settings
from holdfire.domain.access import Role

pytestmark = pytest.mark.integration

T = TypeVar("T")


class ServerThread:
    """The real server in a thread of its own, so synchronous clients can call it."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        listeners = Listeners(http=("127.0.0.1", 0), cot_tcp=None, cot_tls=None)
        self.running: Running = self.run(start_server(Settings(data_dir), listeners))

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    running = ServerThread(tmp_path_factory.mktemp("schemathesis") / "data")
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

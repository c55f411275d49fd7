"""The web map's browser tests: a real `holdfire serve` with a scenario, and what a page did.

Every page records each request it makes; a test fails if any left the server's origin (the
map must work with no internet) or if the page threw an error. Screenshots go to
tests/e2e/artifacts/ for people to look at.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from support.process import free_port, holdfire, stop

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCENARIO = "kursk-lookalike-strike"
SCENARIO_UNITS = {"ru-bn-hq", "drone-tm-1", "prk-ad-1"}
ROLES = ("observer", "fires", "planner", "admin")


@dataclass
class Served:
    base: str
    data: Path
    process: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, method: str, path: str, body: Any = None, role: str = "admin") -> Any:
        request = urllib.request.Request(
            f"{self.base}/api/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.tokens[role]}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return json.loads(raw) if raw else None


@contextlib.contextmanager
def serving(data: Path, *args: str) -> Iterator[Served]:
    """`holdfire serve` on `data` (plain HTTP on a free port, no CoT, and `args`), ready, with
    the admin token it wrote; stopped at the end, its log in `data/serve.log`."""
    port = free_port()
    command = [*holdfire(), "serve", "--data", str(data), "--http", f"127.0.0.1:{port}",
               "--cot-tcp", "off", "--cot-tls", "off", *args]  # fmt: skip
    with open(data / "serve.log", "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
        served = Served(f"http://127.0.0.1:{port}", data, process)
        try:
            wait_ready(served, 30)
            served.tokens["admin"] = (data / "admin.token").read_text().strip()
            yield served
        finally:
            stop(process)


def wait_ready(served: Served, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if served.process.poll() is not None:
            raise RuntimeError(f"holdfire serve exited with {served.process.returncode}")
        try:
            with urllib.request.urlopen(f"{served.base}/api/v1/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("holdfire serve did not become ready")


def wait_scenario(served: Served, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        uids = {f["id"] for f in served.api("GET", "/tracks")["features"]}
        if uids >= SCENARIO_UNITS:
            return
        time.sleep(0.3)
    raise RuntimeError(f"the scenario's units did not all report: {sorted(SCENARIO_UNITS)}")


@dataclass
class Watched:
    """A page and what it did: every request URL and every uncaught error."""

    page: Page
    base: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        return [u for u in self.requests if not (u.startswith((self.base + "/", "data:", "blob:")))]

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


def sign_in(seen: Watched, token: str) -> Page:
    page = seen.page
    page.goto(seen.base + "/")
    page.fill("#signin-token", token)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_function("window.holdfire && window.holdfire.metrics.ready !== undefined")
    return page


def on_page(page: Page, lat: float, lon: float) -> tuple[float, float]:
    """Where a point of the map is on the page, for real mouse clicks."""
    x, y = page.evaluate(
        "([lat, lon]) => { const p = window.holdfire.map.latLngToContainerPoint([lat, lon]);"
        " return [p.x, p.y]; }",
        [lat, lon],
    )
    box = page.locator("#map").bounding_box()
    assert box is not None
    return box["x"] + x, box["y"] + y


def click_at(page: Page, lat: float, lon: float) -> None:
    page.mouse.click(*on_page(page, lat, lon))

"""Fixtures for the browser tests: a real `holdfire serve` with a scenario playing, and
Debian's Chromium driven by Playwright. Every page records each request it makes; a test fails
if any left the server's origin (the map must work with no internet) or if the page threw.
Screenshots go to tests/e2e/artifacts/ for people to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROLES,
    SCENARIO,
    Served,
    Watched,
    serving,
    wait_scenario,
)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("e2e-data")
    with serving(data, "--scenario", SCENARIO, "--speed", "20") as served:
        for role in ROLES[:-1]:
            made = served.api("POST", "/tokens", {"name": f"e2e-{role}", "role": role})
            served.tokens[role] = made["token"]
        wait_scenario(served, 60)
        yield served


# Per module: sync Playwright runs an event loop on this thread while it is open, which the
# asyncio tests of other directories must not find running.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def watched(browser: Browser, served: Served) -> Iterator[Watched]:
    # The page's CSP forbids eval, which Playwright's polling uses; requests are recorded instead.
    context = browser.new_context(
        viewport={"width": 1400, "height": 850}, locale="en-GB", bypass_csp=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    seen = Watched(page, served.base)
    page.on("request", lambda r: seen.requests.append(r.url))
    page.on("websocket", lambda ws: seen.requests.append(ws.url.replace("ws://", "http://", 1)))
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    yield seen
    context.close()
    assert seen.requests, "the page made no request at all"
    assert seen.foreign() == [], f"requests left the server's origin: {seen.foreign()}"
    assert seen.errors == [], f"the page threw: {seen.errors}"

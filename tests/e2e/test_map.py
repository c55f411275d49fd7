"""The web map's shell: sign-in, the scenario's units as symbols, roles and languages."""

from __future__ import annotations

import urllib.request

import pytest

from support.browser import SCENARIO_UNITS, Served, Watched, sign_in

pytestmark = pytest.mark.e2e


def test_a_bad_token_is_refused_with_a_message(watched: Watched) -> None:
    page = watched.page
    page.goto(watched.base + "/")
    page.fill("#signin-token", "not-a-token")
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#signin-error:not(:empty)")
    assert "not valid" in page.inner_text("#signin-error")
    assert page.is_hidden("#app")


def test_the_scenario_units_are_drawn_as_symbols(watched: Watched, served: Served) -> None:
    page = sign_in(watched, served.tokens["observer"])
    uids = page.evaluate("[...window.holdfire.tracks.all()].map(t => t.uid)")
    assert set(uids) >= SCENARIO_UNITS
    drawn = page.evaluate("window.holdfire.tracks.layer.screen.map(s => s[2])")
    assert set(drawn) >= SCENARIO_UNITS, "every scenario unit is on screen after the first fit"
    # a click on a symbol opens its panel with what the registry says of it
    x, y = page.evaluate(
        "(() => { const s = window.holdfire.tracks.layer.screen.find(s => s[2] === 'prk-ad-1');"
        " return [s[0], s[1]]; })()"
    )
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x, box["y"] + y)
    panel = page.locator(".unit-panel")
    panel.wait_for()
    text = panel.inner_text()
    assert "CHOLLIMA-AD" in text
    assert "PRK" in text
    assert "ko" in text
    watched.shot("map-units")


def test_the_token_survives_a_reload_in_the_same_session(watched: Watched, served: Served) -> None:
    page = sign_in(watched, served.tokens["observer"])
    page.reload()
    page.wait_for_selector("#app:not([hidden])")
    assert "e2e-observer" in page.inner_text("#who")


def test_korean_switches_every_string(watched: Watched, served: Served) -> None:
    page = sign_in(watched, served.tokens["admin"])
    page.select_option("header select.language", "ko")
    assert page.inner_text("#signout") == "로그아웃"
    assert page.evaluate("document.documentElement.lang") == "ko"
    assert "표적" in page.inner_text("#picture-count")
    watched.shot("map-korean")


def test_the_page_forbids_other_origins_itself(served: Served) -> None:
    with urllib.request.urlopen(served.base + "/") as response:
        policy = response.headers["Content-Security-Policy"]
        assert "text/html" in response.headers["Content-Type"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self'" in policy

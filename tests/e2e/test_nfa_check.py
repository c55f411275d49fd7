"""A planner draws a no-fire area on the map; a later check inside it, asked on the map by a
fires user, is held, naming that area."""

from __future__ import annotations

import uuid

import pytest

from support.browser import Served, Watched, click_at, sign_in

pytestmark = pytest.mark.e2e

# Open ground north-west of the scenario's units, with nothing else drawn there.
CENTRE = (51.44, 34.98)
CORNERS = [(51.446, 34.97), (51.446, 34.99), (51.434, 34.99), (51.434, 34.97)]


def test_an_nfa_drawn_on_the_map_holds_a_later_check_inside_it(
    watched: Watched, served: Served
) -> None:
    name = f"e2e-nfa-{uuid.uuid4().hex[:6]}"
    page = sign_in(watched, served.tokens["planner"])
    page.evaluate("c => window.holdfire.map.setView(c, 14, {animate: false})", list(CENTRE))
    page.click("#tabs button[data-panel=measures]")
    page.select_option("#measure-kind", "NFA")
    page.fill("#measure-name", name)
    page.click("[data-draw=Polygon]")
    for corner in CORNERS:
        click_at(page, *corner)
    click_at(page, *CORNERS[0])
    page.wait_for_selector("#measure-editor[data-state=draft]")
    page.click("#measure-save")
    page.wait_for_selector("#measure-status:has-text('Saved')")
    [nfa] = [
        f["properties"]["id"]
        for f in served.api("GET", "/measures")["features"]
        if f["properties"]["name"] == name
    ]
    try:
        watched.shot("nfa-drawn")
        page.click("#signout")
        page.wait_for_selector("#signin:not([hidden])")
        page = sign_in(watched, served.tokens["fires"])
        page.evaluate("c => window.holdfire.map.setView(c, 14, {animate: false})", list(CENTRE))
        page.click("#tabs button[data-panel=check]")
        click_at(page, *CENTRE)
        page.select_option("#check-weapon", "81mm-mortar")
        page.check("input[name=pid][value=observer]")
        page.click("#check-run")
        banner = page.locator("#check-result .verdict")
        banner.wait_for()
        assert banner.get_attribute("data-verdict") == "HOLD"
        reason = page.locator(f"#check-result .reasons li[data-subject='{nfa}']")
        assert "NO_FIRE_AREA" in reason.inner_text()
        assert f"NFA {name}" in reason.inner_text()  # named, not only its id
        watched.shot("nfa-check-hold")
    finally:
        served.api("DELETE", f"/measures/{nfa}", role="planner")

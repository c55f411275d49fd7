"""The check tool and the audit log in the browser, against the scenario's live picture."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from support.browser import Served, Watched, sign_in

pytestmark = pytest.mark.e2e


def click_on_track(page: Page, uid: str) -> None:
    """Clicks the map where the track's symbol is drawn."""
    page.evaluate(
        "uid => { const t = window.holdfire.tracks.get(uid);"
        " window.holdfire.map.setView([t.lat, t.lon], 14, {animate: false}); }",
        uid,
    )
    page.wait_for_function(
        "uid => window.holdfire.tracks.layer.screen.some(s => s[2] === uid)", arg=uid
    )
    x, y = page.evaluate(
        "uid => { const s = window.holdfire.tracks.layer.screen.find(s => s[2] === uid);"
        " return [s[0], s[1]]; }",
        uid,
    )
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x, box["y"] + y)


def run_check(page: Page, weapon: str, target_type: str) -> str:
    page.select_option("#check-weapon", weapon)
    page.select_option("#check-type", target_type)
    page.check("input[name=pid][value=appearance]")
    page.click("#check-run")
    banner = page.locator("#check-result .verdict")
    banner.wait_for()
    return banner.get_attribute("data-verdict") or ""


def test_a_click_on_a_friend_is_held_naming_it(watched: Watched, served: Served) -> None:
    page = sign_in(watched, served.tokens["fires"])
    click_on_track(page, "drone-tm-1")  # ORLAN-TEAM stays where it is in the scenario
    target = page.input_value("#check-target")
    assert "," in target, "the click put the point's lat, lon in the target field"
    verdict = run_check(page, "fpv-drone", "tor")
    assert verdict == "HOLD", page.inner_text("#check-result")
    banner = page.inner_text("#check-result .verdict")
    assert "HOLD" in banner  # the word, not only the colour
    assert "Do not fire" in banner
    reasons = page.locator("#check-result .reasons li[data-subject='drone-tm-1']")
    assert reasons.count() >= 1
    text = page.inner_text("#check-result .reasons")
    assert "ORLAN-TEAM" in text
    # fresh while the scenario plays; once it has ended the unit goes stale, still a HOLD
    codes = {r.get_attribute("data-code") for r in reasons.all()}
    assert codes & {"FRIENDLY_IN_DANGER_AREA", "STALE_FRIENDLY"}, codes
    assert "(HOLD)" in reasons.first.inner_text()
    # the footprint rings and a line with its distance to the unit are on the map
    rings = page.evaluate(
        "window.holdfire.checkLayer.getLayers().filter(l => l instanceof L.Circle).length"
    )
    assert rings == 2
    label = page.locator(".distance-label", has_text="ORLAN-TEAM")
    assert label.count() == 1
    watched.shot("check-hold")
    # a fires user records what was fired; the API has it
    page.fill("#fired-remarks", "e2e: recorded from the map")
    page.click("#fired-record")
    page.wait_for_selector(".fired-status:not(:empty)")
    latest = served.api("GET", "/checks?limit=1&requester=e2e-fires")["items"][0]
    fired = served.api("GET", f"/checks/{latest['id']}")["fired"]
    assert [f["remarks"] for f in fired] == ["e2e: recorded from the map"]


def test_a_typed_grid_is_checked_and_a_bad_one_named(watched: Watched, served: Served) -> None:
    page = sign_in(watched, served.tokens["fires"])
    page.fill("#check-target", "36U XB 99999")
    page.click("#check-run")
    page.wait_for_selector("#check-error:not(:empty)")
    assert "target.grid" in page.inner_text("#check-error")
    far = "36UXB0000000000"  # far from every unit of the scenario
    page.fill("#check-target", far)
    assert run_check(page, "81mm-mortar", "t-72b") in {"NO_KNOWN_CONFLICT", "COORDINATE"}


def test_the_audit_log_shows_a_chosen_check_on_the_map(watched: Watched, served: Served) -> None:
    made = served.api(
        "POST",
        "/checks",
        {"target": {"lat": 51.33, "lon": 35.18}, "weapon": "120mm-mortar", "pid": ["observer"]},
        role="fires",
    )
    page = sign_in(watched, served.tokens["observer"])
    assert page.locator("#check-form").count() == 0, "an observer sees no check tool"
    page.click("button[data-panel=audit]")
    page.select_option("#audit-verdict", made["verdict"])
    page.fill("#audit-requester", "e2e-fires")
    page.click("#audit-filter button[type=submit]")
    row = page.locator(f"#audit-table tr[data-check='{made['id']}']")
    row.click()
    banner = page.locator("#audit-detail .verdict")
    banner.wait_for()
    assert banner.get_attribute("data-verdict") == made["verdict"]
    target = page.evaluate(
        "(() => { const m = window.holdfire.checkLayer.getLayers()"
        ".find(l => l instanceof L.CircleMarker && !(l instanceof L.Circle));"
        " const p = m.getLatLng(); return [p.lat, p.lng]; })()"
    )
    assert target == pytest.approx([51.33, 35.18], abs=1e-6)
    watched.shot("audit-chosen")

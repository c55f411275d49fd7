"""The alerts and messages panels: acknowledging an alert, composing a catalog message with a
preview that is exactly what the recipient gets, and the deliveries with their acks."""

from __future__ import annotations

import math
import urllib.error
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page

from holdfire.adapters.catalog import load_catalog
from holdfire.domain.catalog import Catalog
from holdfire.domain.errors import DomainError
from support.browser import Served, Watched, sign_in

pytestmark = pytest.mark.e2e

KOREAN_UNIT = "prk-ad-1"  # CHOLLIMA-AD, language ko in the scenario


def security_alert(served: Served, unit: str) -> str:
    """A reporter bound to `unit` asks for a check it may not: the refusal raises a SECURITY
    alert about that unit. Returns the alert's id."""
    name = f"e2e-reporter-{uuid.uuid4().hex[:8]}"
    made = served.api("POST", "/tokens", {"name": name, "role": "reporter", "units": [unit]})
    served.tokens[name] = made["token"]
    check = {"target": {"grid": "36UXB4623990840"}, "weapon": "155mm-howitzer"}
    with pytest.raises(urllib.error.HTTPError) as refused:
        served.api("POST", "/checks", check, role=name)
    assert refused.value.code == 403
    alerts = served.api("GET", "/alerts?kind=SECURITY&unacked=true&limit=1000")["items"]
    ids = [a["id"] for a in alerts if f"'{name}'" in a["detail"]]
    assert len(ids) == 1, alerts
    return str(ids[0])


def open_count(page: Page) -> int:
    badge = page.get_attribute('#tabs button[data-panel="alerts"]', "data-count")
    return int(badge or 0)


def test_an_alert_is_acknowledged_in_the_panel(watched: Watched, served: Served) -> None:
    alert_id = security_alert(served, "drone-tm-1")
    page = sign_in(watched, served.tokens["planner"])
    page.click('#tabs button[data-panel="alerts"]')
    item = page.locator(f'li[data-alert-id="{alert_id}"]')
    item.wait_for()
    assert item.get_attribute("data-state") == "open"
    text = item.inner_text()
    assert "SECURITY" in text
    assert "ORLAN-TEAM" in text, "subjects are shown by callsign"
    assert "OPEN" in text
    assert open_count(page) == page.evaluate("window.holdfire.alerts.openCount()") >= 1

    # a click on the alert pans the map to its subject
    item.locator(".detail").click()
    page.wait_for_function(
        "(() => { const map = window.holdfire.map, t = window.holdfire.tracks.get('drone-tm-1');"
        " return map.latLngToContainerPoint([t.lat, t.lon]).distanceTo(map.getSize().divideBy(2))"
        " < 20; })()"
    )

    item.locator("button.ack").click()
    page.wait_for_selector(f'li[data-alert-id="{alert_id}"][data-state="acked"]')
    assert "Acknowledged by e2e-planner" in item.inner_text()
    assert item.locator("button.ack").count() == 0
    record = served.api("GET", f"/alerts/{alert_id}")
    assert record["acked_by"] == "e2e-planner"
    assert record["acked_at"] is not None
    assert open_count(page) == page.evaluate("window.holdfire.alerts.openCount()")
    acked = page.evaluate(f"window.holdfire.alerts.get('{alert_id}')")
    assert acked["acked_by"] == "e2e-planner"
    ordered = page.evaluate("window.holdfire.alerts.list().map(a => a.acked_at === null)")
    assert ordered == sorted(ordered, reverse=True), "open alerts come first"
    watched.shot("alerts-acknowledged")

    page.check("#alerts-open-only")
    assert item.count() == 0
    assert page.locator('#alerts-list li[data-state="acked"]').count() == 0


def test_an_observer_sees_alerts_and_deliveries_but_no_buttons(
    watched: Watched, served: Served
) -> None:
    page = sign_in(watched, served.tokens["observer"])
    page.click('#tabs button[data-panel="alerts"]')
    page.wait_for_selector("#alerts-list li")
    assert page.locator("#alerts-list button.ack").count() == 0
    page.click('#tabs button[data-panel="messages"]')
    page.wait_for_selector("#deliveries li")
    assert page.locator("#msg-form").count() == 0
    assert page.locator("#deliveries button.ack").count() == 0


def compose(page: Page, to: str, code: str, params: dict[str, str]) -> None:
    page.click('#tabs button[data-panel="messages"]')
    page.select_option("#msg-to", to)
    page.select_option("#msg-code", code)
    for key, value in params.items():
        page.fill(f'[data-param="{key}"]', value)


def sent_id(page: Page) -> str:
    page.wait_for_selector('#msg-status[data-message-id]:not([data-message-id=""])')
    message_id = page.get_attribute("#msg-status", "data-message-id")
    assert message_id
    return message_id


def test_a_message_to_a_korean_unit_is_delivered_exactly_as_previewed(
    watched: Watched, served: Served
) -> None:
    page = sign_in(watched, served.tokens["planner"])
    compose(
        page, KOREAN_UNIT, "WITHDRAWING_IN", {"minutes": "15", "rally_grid": "36u xb 4623 9084"}
    )
    preview = page.locator('#msg-preview .preview-text[data-language="ko"]')
    preview.wait_for()
    expected = load_catalog(served.data).render(
        "WITHDRAWING_IN", {"minutes": 15, "rally_grid": "36u xb 4623 9084"}, "ko"
    )
    assert preview.inner_text() == expected.text == "15분 후 철수. 집결지: 36UXB46239084."
    assert page.inner_text("#msg-preview .preview-text-en") == expected.text_en
    assert "CHOLLIMA-AD" in page.inner_text("#msg-preview .preview-head")
    assert page.locator("#msg-preview .unreviewed").count() == 1, "ko is not reviewed yet"
    watched.shot("message-preview-korean")

    page.click("#msg-send")
    message_id = sent_id(page)
    assert page.inner_text("#msg-error") == "", "the delivered text matched the preview"
    deliveries = served.api("GET", f"/messages?message={message_id}")["items"]
    assert len(deliveries) == 1
    delivery = deliveries[0]
    assert delivery["to"] == KOREAN_UNIT
    assert delivery["language"] == "ko"
    assert delivery["text"] == preview.inner_text()
    assert delivery["text_en"] == expected.text_en

    # the delivery is listed live; a planner acknowledges it for the unit
    item = page.locator(f'li[data-delivery-id="{delivery["id"]}"]')
    item.wait_for()
    assert delivery["text"] in item.inner_text()
    item.locator("button.ack").click()
    page.wait_for_selector(f'li[data-delivery-id="{delivery["id"]}"].acked')
    assert "Acknowledged by e2e-planner" in item.inner_text()
    acked = served.api("GET", f"/messages?message={message_id}")["items"][0]
    assert acked["acked_by"] == "e2e-planner"
    watched.shot("message-delivered-acked")


def test_a_bad_grid_is_named_and_a_group_gets_each_language(
    watched: Watched, served: Served
) -> None:
    # a group of two units without positions (the map stays as it is): one reads Korean, the
    # other a language the catalog lacks, so it gets the English with the id
    for uid, language in (("e2e-liaison-ko", "ko-KR"), ("e2e-liaison-de", "de-AT")):
        unit = {"uid": uid, "callsign": uid.upper(), "language": language, "group": "e2e-mixed"}
        served.api("PUT", f"/units/{uid}", unit)
    page = sign_in(watched, served.tokens["admin"])
    compose(page, "group:e2e-mixed", "DANGER_CLOSE_WARNING", {"distance_m": "350.25"})
    page.fill('[data-param="grid"]', "36UXB4623908")
    grid_error = '.field-error[data-for="params.grid"]'
    assert "odd number of digits" in page.inner_text(grid_error)
    assert page.locator("#msg-preview .preview-text").count() == 0
    page.uncheck("#msg-ack")  # the shared server must not escalate an unacknowledged warning
    page.click("#msg-send")
    page.wait_for_selector("#msg-error:not(:empty)")
    assert "params.grid" in page.inner_text("#msg-error"), "the server's error names the field"
    assert page.get_attribute('[data-param="grid"]', "aria-invalid") == "true"

    page.fill('[data-param="grid"]', "36UXB46239084")
    page.wait_for_selector('#msg-preview .preview-text[data-language="ko"]')
    assert page.inner_text("#msg-error") == "", "a refusal is cleared once the form changes"
    english = page.inner_text('#msg-preview .preview-text[data-language="en"]')
    assert english.startswith("[DANGER_CLOSE_WARNING] Danger close")
    assert "de-AT" in page.inner_text("#msg-preview .warning")
    watched.shot("message-preview-group")
    shown = page.evaluate("window.holdfire.messages.preview()")
    page.click("#msg-send")
    message_id = sent_id(page)
    deliveries = served.api("GET", f"/messages?message={message_id}")["items"]
    previewed = {uid: entry["text"] for entry in shown for uid in entry["recipients"]}
    assert {d["to"]: d["text"] for d in deliveries} == previewed
    assert set(previewed) == {"e2e-liaison-ko", "e2e-liaison-de"}
    assert "350.25" in previewed["e2e-liaison-ko"]
    assert all(not d["ack_required"] for d in deliveries)


# Parameters the page renders exactly as the server does (numbers, grids, enums, free text with
# edges Python strips and JS would not), and ones both refuse; in every language and a fallback.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("DANGER_CLOSE_WARNING", {"distance_m": 800.0, "grid": "36UXB46239084"}),
    ("DANGER_CLOSE_WARNING", {"distance_m": 0.1 + 0.2, "grid": " 36u xb\t4623 9084 "}),
    ("DANGER_CLOSE_WARNING", {"distance_m": 1e21, "grid": "36UXB4690"}),
    ("DANGER_CLOSE_WARNING", {"distance_m": 1e-7, "grid": "36UXB46239084"}),
    ("DANGER_CLOSE_WARNING", {"distance_m": 2.0000005, "grid": "36UXB46239084"}),
    ("DANGER_CLOSE_WARNING", {"distance_m": -1, "grid": "36UXB46239084"}),
    ("DANGER_CLOSE_WARNING", {"distance_m": 5, "grid": "36UXB462390"}),
    ("DANGER_CLOSE_WARNING", {"distance_m": 5, "grid": "61UXB4623"}),
    ("DANGER_CLOSE_WARNING", {"distance_m": 5, "grid": "36UXW4623"}),
    ("MOVING_IN", {"minutes": 5, "bearing_deg": 12.3456789}),
    ("MOVING_IN", {"minutes": 5.0, "grid": "36UXB4623"}),
    ("MOVING_IN", {"minutes": 5.5, "grid": "36UXB4623"}),
    ("MOVING_IN", {"minutes": 5}),
    ("MOVING_IN", {"minutes": 5, "grid": "36UXB4623", "bearing_deg": 10}),
    ("FRIENDLY_FIRES", {"grid": "36UXB4623", "minutes": 3, "weapon": "\x85 2S1 {grid} \x1f"}),
    ("FRIENDLY_FIRES", {"grid": "36UXB4623", "minutes": 3, "weapon": "two\tlines"}),
    ("AMMO_STATUS", {"status": "AMBER"}),
    ("CHECK_FIRE", {}),
    ("CHECK_FIRE", {"unit": " CHOLLIMA-AD "}),
    (
        "MEDEVAC_9LINE",
        {
            "line1": "36UXB4623",
            "line2": "44.1 SEVER",
            "line3": "1A",
            "line4": "hoist",
            "line5": "1L",
            "line7": "smoke",
        },
    ),
    ("ACK", {"ref": "abc def"}),
]
LANGUAGES = ("en", "ru", "uk", "ko", "ko-KR", "de-AT", "")


def server_render(catalog: Catalog, code: str, params: dict[str, Any], tag: str) -> Any:
    try:
        rendered = catalog.render(code, params, tag)
    except DomainError as refused:
        return {"refused": refused.field}
    return [rendered.text, rendered.text_en, rendered.back_translation, rendered.fallback]


def test_the_preview_renders_as_the_server_does(watched: Watched, served: Served) -> None:
    page = sign_in(watched, served.tokens["planner"])
    catalog = load_catalog(served.data)
    for code, params in CASES:
        assert all(not isinstance(v, float) or math.isfinite(v) for v in params.values())
        for tag in LANGUAGES:
            mine = page.evaluate(
                "([code, params, tag]) => { const r = window.holdfire.messages.render(code, params,"
                " tag); return r.errors ? {refused: r.errors[0].field}"
                " : [r.text, r.textEn, r.back, r.fallback]; }",
                [code, params, tag],
            )
            assert mine == server_render(catalog, code, params, tag), (code, params, tag)

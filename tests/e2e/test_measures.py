"""Control measures on the web map: what the API holds is drawn and kept live, a planner draws,
edits and deletes an NFA through the panel and the map, and other roles get no drawing tools.

The server is shared with the other browser tests: every measure here has an id or name that
starts with `e2e-measures-` and is deleted again.
"""

from __future__ import annotations

import urllib.error
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from support.browser import Served, Watched, click_at, on_page, sign_in

pytestmark = pytest.mark.e2e

PREFIX = "e2e-measures-"
# An empty stretch north of the scenario's units, where nothing else is drawn.
DRAW_AT = (51.415, 35.30)
DRAW_ZOOM = 14


def _feature(mid: str, kind: str, geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"id": mid, "kind": kind, **properties},
    }


SEEDS = [
    _feature(
        PREFIX + "nfa",
        "NFA",
        {
            "type": "Polygon",
            "coordinates": [
                [[35.30, 51.36], [35.34, 51.36], [35.34, 51.38], [35.30, 51.38], [35.30, 51.36]]
            ],
        },
        name="NFA 1 (village)",
        establishing_hq="arty-bn-1",
        effective_from="2025-01-10T06:00:00Z",
        effective_to="2099-01-10T18:00:00Z",
    ),
    _feature(
        PREFIX + "nsl",
        "NSL",
        {"type": "Point", "coordinates": [35.20, 51.38]},
        name="district hospital",
        category="hospital",
        radius_m=150,
    ),
    _feature(
        PREFIX + "rfl",
        "RFL",
        {"type": "LineString", "coordinates": [[35.0, 51.46], [35.45, 51.46]]},
        name="BLUE",
        friendly_side="right",
        effective_from="2099-01-01T00:00:00Z",
    ),
]


def _ours(served: Served) -> Iterator[str]:
    for feature in served.api("GET", "/measures")["features"]:
        p = feature["properties"]
        if p["id"].startswith(PREFIX) or (p["name"] or "").startswith(PREFIX):
            yield p["id"]


@pytest.fixture
def clean(served: Served) -> Iterator[None]:
    yield
    for mid in list(_ours(served)):
        served.api("DELETE", f"/measures/{mid}")


def _wait_measure(page: Page, mid: str, present: bool = True) -> None:
    check = "" if present else "!"
    page.wait_for_function(f"{check}window.holdfire.measures.ids().includes({mid!r})")


def _idson_page(page: Page) -> set[str]:
    return set(page.evaluate("window.holdfire.measures.ids()"))


def _api_ids(served: Served) -> set[str]:
    return {f["properties"]["id"] for f in served.api("GET", "/measures")["features"]}


def _open_panel(page: Page) -> None:
    page.click("#tabs button[data-panel=measures]")
    page.wait_for_selector("#panel-measures:not([hidden])")


def _drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*on_page(page, *start))
    page.mouse.down()
    page.mouse.move(*on_page(page, *end), steps=8)
    page.mouse.up()


def test_the_measures_the_api_holds_are_drawn_and_kept_live(
    watched: Watched, served: Served, clean: None
) -> None:
    for feature in SEEDS:
        served.api("POST", "/measures", feature)
    page = sign_in(watched, served.tokens["observer"])
    for feature in SEEDS:
        _wait_measure(page, feature["properties"]["id"])
    assert _idson_page(page) == _api_ids(served)
    # Each is on the map as a shape of its kind, with its label; the NFA is hatched.
    nfa = page.locator(f"path[data-measure-id='{PREFIX}nfa']")
    assert "measure-NFA" in (nfa.get_attribute("class") or "")
    assert nfa.get_attribute("fill") == "url(#hf-hatch-NFA)"
    page.evaluate("window.holdfire.map.setView([51.40, 35.22], 11, {animate: false})")
    labels = page.locator(".measure-label").all_inner_texts()
    assert any("NFA 1 (village)" in text and "10 Jan 2025 06:00Z" in text for text in labels)
    assert any("NSL district hospital" in text and "hospital" in text for text in labels)
    # an RFL carries its code at both ends, and one not yet in force is drawn dimmed
    rfl_ends = [text for text in labels if text.startswith("RFL BLUE")]
    assert len(rfl_ends) == 2
    assert any("not yet in force" in text for text in rfl_ends)
    rfl = page.locator(f"path[data-measure-id='{PREFIX}rfl']")
    assert float(rfl.get_attribute("stroke-opacity") or 1) < 0.5
    # the list in the panel, and a row flies to its measure and opens its popup
    _open_panel(page)
    row = page.locator(f"#measure-list tr[data-measure-id='{PREFIX}nsl']")
    assert "district hospital" in row.inner_text()
    row.click()
    popup = page.locator(f".measure-popup[data-measure-id='{PREFIX}nsl']")
    popup.wait_for()
    assert "hospital" in popup.inner_text()
    assert "150 m" in popup.inner_text()
    page.wait_for_timeout(300)  # the popup fades in
    watched.shot("measures-observer")
    # live: one defined now appears, one cancelled goes, without a reload
    extra = _feature(
        PREFIX + "rfa",
        "RFA",
        {
            "type": "Polygon",
            "coordinates": [
                [[35.22, 51.29], [35.24, 51.29], [35.24, 51.30], [35.22, 51.30], [35.22, 51.29]]
            ],
        },
        name="RFA 2",
    )
    served.api("POST", "/measures", extra)
    _wait_measure(page, PREFIX + "rfa")
    served.api("DELETE", f"/measures/{PREFIX}nfa")
    _wait_measure(page, PREFIX + "nfa", present=False)
    assert page.locator(f"path[data-measure-id='{PREFIX}nfa']").count() == 0
    assert _idson_page(page) == _api_ids(served)


def test_a_planner_draws_edits_and_deletes_an_nfa(
    watched: Watched, served: Served, clean: None
) -> None:
    page = sign_in(watched, served.tokens["planner"])
    # leaflet-geoman is not in the page: it was loaded for this planner at sign-in
    assert "geoman" not in page.request.get(served.base + "/").text()
    assert any(u.endswith("/vendor/geoman/leaflet-geoman.js") for u in watched.requests)
    _open_panel(page)
    name = f"{PREFIX}NFA {uuid.uuid4().hex[:6]}"
    page.select_option("#measure-kind", "NFA")
    page.fill("#measure-name", name)
    page.fill("#measure-hq", "arty-bn-1")
    page.fill("#measure-from", "2025-01-10T06:00")
    page.fill("#measure-to", "2099-01-10T18:00")
    lat, lon = DRAW_AT
    page.evaluate(f"window.holdfire.map.setView([{lat}, {lon}], {DRAW_ZOOM}, {{animate: false}})")
    corners = [(lat, lon), (lat, lon + 0.02), (lat + 0.01, lon + 0.02), (lat + 0.01, lon)]
    page.click("[data-draw=Polygon]")
    assert page.evaluate("window.holdfire.mapTool") == "draw"
    assert page.get_attribute("#measure-editor", "data-state") == "drawing"
    for corner in corners:
        click_at(page, *corner)
    click_at(page, *corners[0])  # the first corner again closes the area
    page.wait_for_selector("#measure-editor[data-state=draft]")
    watched.shot("measures-planner-draft")
    page.click("#measure-save")
    page.wait_for_selector("#measure-status:has-text('Saved')")
    assert page.evaluate("window.holdfire.mapTool") is None
    saved = [
        f for f in served.api("GET", "/measures")["features"] if f["properties"]["name"] == name
    ]
    assert len(saved) == 1
    feature = saved[0]
    mid = feature["properties"]["id"]
    assert feature["properties"]["kind"] == "NFA"
    assert feature["properties"]["establishing_hq"] == "arty-bn-1"
    assert feature["properties"]["effective_from"] == "2025-01-10T06:00:00Z"
    assert feature["properties"]["effective_to"] == "2099-01-10T18:00:00Z"
    assert feature["geometry"]["type"] == "Polygon"
    ring = feature["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    assert len(ring) == 5
    for (got_lon, got_lat), (want_lat, want_lon) in zip(ring, corners, strict=False):
        assert got_lat == pytest.approx(want_lat, abs=1e-4)  # within a pixel at zoom 14
        assert got_lon == pytest.approx(want_lon, abs=1e-4)
    _wait_measure(page, mid)
    assert page.locator(f"path[data-measure-id='{mid}']").count() == 1
    watched.shot("measures-planner-saved")

    # Edit: its name, from the list; the geometry stays as drawn.
    page.click(f"#measure-list button[data-measure-edit='{mid}']")
    assert page.get_attribute("#measure-editor", "data-mode") == "edit"
    assert page.input_value("#measure-name") == name
    renamed = name + " (school)"
    page.fill("#measure-name", renamed)
    page.click("#measure-save")
    page.wait_for_selector(f"#measure-status:has-text('{renamed}')")
    again = served.api("GET", f"/measures/{mid}")
    assert again["properties"]["name"] == renamed
    assert again["geometry"] == feature["geometry"]
    page.wait_for_function(f"window.holdfire.measures.get({mid!r}).properties.name === {renamed!r}")

    # Edit: drag a corner; the saved area has it where it was dropped.
    page.click(f"#measure-list button[data-measure-edit='{mid}']")
    moved_to = (lat + 0.012, lon + 0.024)
    _drag(page, corners[2], moved_to)
    page.click("#measure-save")
    page.wait_for_selector(f"#measure-status:has-text('{renamed}')")
    ring = served.api("GET", f"/measures/{mid}")["geometry"]["coordinates"][0]
    assert ring[2][1] == pytest.approx(moved_to[0], abs=1e-4)
    assert ring[2][0] == pytest.approx(moved_to[1], abs=1e-4)
    assert ring[:2] == feature["geometry"]["coordinates"][0][:2]

    # Delete: two steps, then it is gone from the API and the map.
    page.click(f"#measure-list button[data-measure-edit='{mid}']")
    page.click("#measure-delete")
    page.click("#measure-delete-confirm")
    page.wait_for_selector("#measure-status:has-text('Deleted')")
    with pytest.raises(urllib.error.HTTPError) as gone:
        served.api("GET", f"/measures/{mid}")
    assert gone.value.code == 404
    _wait_measure(page, mid, present=False)
    assert page.locator(f"path[data-measure-id='{mid}']").count() == 0
    assert page.evaluate("window.holdfire.mapTool") is None


def test_an_api_error_is_shown_by_the_field_it_names(
    watched: Watched, served: Served, clean: None
) -> None:
    page = sign_in(watched, served.tokens["planner"])
    _open_panel(page)
    page.select_option("#measure-kind", "NSL")
    page.fill("#measure-name", PREFIX + "school")
    page.fill("#measure-category", "school")
    lat, lon = DRAW_AT
    page.evaluate(f"window.holdfire.map.setView([{lat}, {lon}], {DRAW_ZOOM}, {{animate: false}})")
    page.click("[data-draw=Circle]")
    click_at(page, lat, lon)
    click_at(page, lat, lon + 0.003)
    page.wait_for_selector("#measure-editor[data-state=draft]")
    assert 150 < float(page.input_value("#measure-radius")) < 250
    page.fill("#measure-radius", "-5")
    page.click("#measure-save")
    page.wait_for_selector("#measure-error:not(:empty)")
    assert "radius_m" in page.inner_text("#measure-error")
    assert page.get_attribute("#measure-radius", "aria-invalid") == "true"
    assert list(_ours(served)) == []
    # put right, it saves as a Point with its radius
    page.fill("#measure-radius", "120")
    page.click("#measure-save")
    page.wait_for_selector("#measure-status:has-text('Saved')")
    [mid] = list(_ours(served))
    saved = served.api("GET", f"/measures/{mid}")
    assert saved["geometry"]["type"] == "Point"
    assert saved["properties"]["radius_m"] == 120
    assert saved["properties"]["category"] == "school"


@pytest.mark.parametrize("role", ["observer", "fires"])
def test_other_roles_see_the_list_but_no_drawing_tools(
    watched: Watched, served: Served, role: str
) -> None:
    page = sign_in(watched, served.tokens[role])
    _open_panel(page)
    assert page.is_hidden("#measure-editor")
    assert page.locator("[data-draw]:visible").count() == 0
    assert page.locator("[data-measure-edit]").count() == 0
    assert page.locator("#measure-list tbody tr").count() == len(_api_ids(served))
    assert [u for u in watched.requests if "geoman" in u] == []  # never loaded for them

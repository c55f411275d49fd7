"""The web map's time slider: moved back, the map shows the picture the server rebuilds for
that instant, read-only; "Live" brings the current picture back."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from support.browser import SCENARIO_UNITS, Served, Watched, sign_in

pytestmark = pytest.mark.e2e


def drawn(page: Any) -> dict[str, list[float]]:
    return page.evaluate(  # type: ignore[no-any-return]
        "Object.fromEntries([...window.holdfire.tracks.all()].map(t => [t.uid, [t.lon, t.lat]]))"
    )


def test_the_slider_shows_the_past_read_only_then_live_again(
    watched: Watched, served: Served
) -> None:
    page = sign_in(watched, served.tokens["observer"])
    page.click("#replay-open")
    page.wait_for_selector("#replay-controls:not([hidden])")
    # halfway back along the log
    page.evaluate(
        "(() => { const s = document.getElementById('replay-slider');"
        " s.value = String(Math.floor(Number(s.max) / 2));"
        " s.dispatchEvent(new Event('change')); })()"
    )
    page.wait_for_function("window.holdfire.metrics.replayShown")
    at = page.evaluate("window.holdfire.past")
    expected = served.api("GET", "/picture?at=" + quote(at), role="observer")
    wanted = {
        f["properties"]["uid"]: f["geometry"]["coordinates"][:2]
        for f in expected["tracks"]["features"]
    }
    assert drawn(page) == wanted
    live = {f["id"] for f in served.api("GET", "/tracks", role="observer")["features"]}
    assert set(wanted) <= live
    # the past is read-only: panels take no input, a frozen track does not age
    assert page.evaluate("document.body.classList.contains('past')")
    assert page.evaluate("getComputedStyle(document.getElementById('panels')).pointerEvents") == (
        "none"
    )
    assert "read-only" in page.inner_text("#replay-time")
    radii = "[...window.holdfire.tracks.all()].map(t => window.holdfire.tracks.radiusOf(t))"
    before = page.evaluate(radii)
    page.wait_for_timeout(1500)
    assert page.evaluate(radii) == before
    watched.shot("map-replay")
    # to where the log begins: the scenario's units had not all reported yet
    page.evaluate(
        "(() => { const s = document.getElementById('replay-slider');"
        " s.value = '0'; s.dispatchEvent(new Event('change')); })()"
    )
    page.wait_for_function(f"window.holdfire.past && window.holdfire.past !== {at!r}")
    first = served.api("GET", "/picture?at=" + quote(page.evaluate("window.holdfire.past")))
    assert sorted(drawn(page)) == sorted(f["id"] for f in first["tracks"]["features"])
    assert not set(drawn(page)) >= SCENARIO_UNITS
    page.click("#replay-live")
    page.wait_for_function("window.holdfire.past === null")
    page.wait_for_function(
        "[...window.holdfire.tracks.all()].length > 0"
        " && [...window.holdfire.tracks.all()].every(t => !t.frozen)"
    )
    assert not page.evaluate("document.body.classList.contains('past')")
    assert set(drawn(page)) >= SCENARIO_UNITS
    assert page.is_visible("#replay-open") and page.is_hidden("#replay-controls")

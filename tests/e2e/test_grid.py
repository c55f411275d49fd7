"""The MGRS grid overlay: at each zoom it names the grid zone, the 100 km square and the km lines
where a point is, as the mgrs package reckons them, and it can be turned off and on."""

from __future__ import annotations

import re

import mgrs
import pytest
from playwright.sync_api import Page

from support.browser import Served, Watched, sign_in

pytestmark = pytest.mark.e2e

POINT = (51.35, 35.10)  # Kursk area


def labels(page: Page, kind: str) -> list[str]:
    found: list[str] = page.evaluate(f"window.holdfire.grid.labels({kind!r})")
    return found


def look(page: Page, zoom: int) -> None:
    page.evaluate(
        f"window.holdfire.map.setView([{POINT[0]}, {POINT[1]}], {zoom}, {{animate: false}})"
    )
    lines = page.evaluate("window.holdfire.metrics.gridLines")
    assert 0 < lines < 300, f"zoom {zoom}: {lines} lines"


def test_the_grid_names_zone_square_and_km_lines_where_a_point_is(
    watched: Watched, served: Served
) -> None:
    full = mgrs.MGRS().toMGRS(*POINT, MGRSPrecision=5)
    match = re.fullmatch(r"(\d{1,2}[A-Z])([A-Z]{2})(\d{5})(\d{5})", full)
    assert match, full
    zone, square, easting, northing = match.groups()
    assert mgrs.MGRS().toMGRS(*POINT, MGRSPrecision=0) == zone + square
    page = sign_in(watched, served.tokens["observer"])

    look(page, 8)  # 100 km squares, lettered in their middles
    assert zone in labels(page, "zone")
    assert square in labels(page, "square")
    watched.shot("grid-zoom-8")

    look(page, 11)  # 10 km lines; the square is bigger than the view and named in its corner
    assert f"{zone} {square}" in labels(page, "square")
    assert f"{easting[0]}0" in labels(page, "easting")
    assert f"{northing[0]}0" in labels(page, "northing")
    watched.shot("grid-zoom-11")

    look(page, 14)  # 1 km lines, with their two km digits at the edges as on a printed map
    assert f"{zone} {square}" in labels(page, "square")
    assert easting[:2] in labels(page, "easting")
    assert northing[:2] in labels(page, "northing")
    watched.shot("grid-zoom-14")


def test_the_grid_can_be_turned_off_and_on(watched: Watched, served: Served) -> None:
    page = sign_in(watched, served.tokens["observer"])
    toggle = page.locator(".grid-toggle input")
    assert toggle.is_checked(), "the grid is on by default"
    assert page.locator(".grid-canvas").count() == 1
    toggle.uncheck()
    assert page.locator(".grid-canvas").count() == 0
    assert labels(page, "") == []
    toggle.check()
    assert page.locator(".grid-canvas").count() == 1
    assert labels(page, "zone") or labels(page, "square")
    page.select_option("header select.language", "ru")
    assert page.inner_text(".grid-toggle") == "Сетка MGRS"

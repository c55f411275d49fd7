"""The web map's static files: served with a same-origin policy, a clear 503 when not built."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.applications import Starlette

from holdfire.api.ui import CSP, UiFiles, ui_directory


def client(directory: Path) -> httpx.AsyncClient:
    app = Starlette()
    app.mount("/", UiFiles(directory))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ui")


async def test_the_built_page_and_its_files_carry_the_policy(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>holdfire</title>")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.js").write_text("export {};")
    async with client(tmp_path) as c:
        page = await c.get("/")
        script = await c.get("/app/main.js")
        missing = await c.get("/app/nothing.js")
    assert page.status_code == 200 and "holdfire" in page.text
    for response in (page, script):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "javascript" in script.headers["content-type"]
    assert missing.status_code == 404


async def test_an_unbuilt_map_says_how_to_build_it(tmp_path: Path) -> None:
    async with client(tmp_path / "nothing-here") as c:
        response = await c.get("/")
    assert response.status_code == 503
    assert "make run" in response.text


def test_the_policy_allows_no_other_origin() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    for name in ("default-src", "script-src", "connect-src", "font-src"):
        assert directives[name] == "'self'"
    assert "http" not in CSP and "*" not in CSP


def test_the_package_holds_the_built_map() -> None:
    # `make test` builds web/ into the package before the tests run
    assert (ui_directory() / "index.html").is_file()
    assert (ui_directory() / "data" / "countries.geojson").is_file()

"""GET /catalog's JSON shape: ids, groups, typed params, priorities, renderings per language."""

from __future__ import annotations

import json

import pytest

from holdfire.adapters.catalog import load_catalog
from holdfire.codecs.catalog_json import catalog_to_dict
from holdfire.domain.catalog import Catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_shape_is_plain_json(catalog: Catalog) -> None:
    doc = catalog_to_dict(catalog)
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
    assert doc["languages"] == ["en", "ko", "ru", "uk"]
    assert [m["id"] for m in doc["messages"]] == list(catalog.definitions)
    assert doc["coverage"]["ru"] == {"total": 31, "rendered": 31, "reviewed": 0, "missing": []}


def test_a_message_with_alternatives(catalog: Catalog) -> None:
    doc = {m["id"]: m for m in catalog_to_dict(catalog)["messages"]}
    moving = doc["MOVING_IN"]
    assert {k: moving[k] for k in ("group", "priority", "ack_required")} == {
        "group": "movement",
        "priority": "routine",
        "ack_required": True,
    }
    assert moving["params"] == [
        {"key": "minutes", "type": "minutes", "required": True, "values": None},
        {"key": "grid", "type": "grid", "required": False, "values": None},
        {"key": "bearing_deg", "type": "bearing_deg", "required": False, "values": None},
    ]
    assert moving["one_of"] == {"keys": ["grid", "bearing_deg"], "required": True}
    assert moving["variants"] == ["grid", "bearing_deg"]
    en, ko = moving["renderings"]["en"], moving["renderings"]["ko"]
    assert en["text"]["grid"] == "Moving in {minutes} min to {grid}."
    assert en["back_translation"] is None
    assert ko["back_translation"]["grid"] == "Start moving in {minutes} min. Destination: {grid}."
    assert (ko["reviewed"], ko["reviewed_by"]) == (False, None)


def test_safety_commands_enums_and_protocol(catalog: Catalog) -> None:
    doc = {m["id"]: m for m in catalog_to_dict(catalog)["messages"]}
    check = doc["CHECK_FIRE"]
    assert check["priority"] == "safety"
    assert check["variants"] == ["none", "grid", "unit"]
    assert set(check["renderings"]) == {"en", "ko", "ru", "uk"}
    assert "NOT a truce" in check["renderings"]["en"]["gloss"]
    ammo = doc["AMMO_STATUS"]
    assert ammo["params"][0]["values"] == ["green", "amber", "red", "black"]
    assert ammo["renderings"]["ru"]["labels"]["status"]["black"].startswith("ЧЁРНЫЙ")
    assert doc["ACK"]["ack_required"] is False
    assert doc["WAIT_FOR_US"]["renderings"]["en"]["text"] == {"none": "Wait for us."}

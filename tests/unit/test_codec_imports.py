"""Import files -> ImportBatch (holdfire.codecs.imports): what each shape holds, and errors that
name the file, the row and the field."""

import json
from pathlib import Path

import pytest

from holdfire.codecs.imports import ImportBatch, ImportFileError, parse_import
from holdfire.domain.identity import Affiliation
from holdfire.domain.tables import Mobility
from holdfire.domain.units import UnitStatus

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "kursk"

POINT_FEATURE = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [35.2, 51.38]},
    "properties": {"id": "nsl-1", "kind": "NSL", "radius_m": 150},
}
POLYGON_FEATURE = {
    "type": "Feature",
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[35.3, 51.36], [35.34, 51.36], [35.34, 51.38], [35.3, 51.36]]],
    },
    "properties": {"id": "nfa-1", "kind": "NFA"},
}


def refused(name: str, text: str) -> str:
    with pytest.raises(ImportFileError) as info:
        parse_import(name, text)
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message
    return message


# --- GeoJSON -----------------------------------------------------------------------------------


def test_feature_collection_holds_measures() -> None:
    text = json.dumps({"type": "FeatureCollection", "features": [POINT_FEATURE, POLYGON_FEATURE]})
    batch = parse_import("m.geojson", text)
    assert batch.measures == [POINT_FEATURE, POLYGON_FEATURE]
    assert batch.units == []
    assert batch.reports == []


def test_a_single_feature_is_one_measure() -> None:
    batch = parse_import("m.json", json.dumps(POINT_FEATURE))
    assert batch.measures == [POINT_FEATURE]
    assert batch.units == []
    assert batch.reports == []


def test_feature_collection_without_a_feature_list_is_refused() -> None:
    message = refused("m.geojson", json.dumps({"type": "FeatureCollection", "features": 3}))
    assert "features" in message


def test_a_feature_that_is_not_an_object_is_refused_naming_it() -> None:
    text = json.dumps({"type": "FeatureCollection", "features": [POINT_FEATURE, "x"]})
    assert "feature 2" in refused("m.geojson", text)


def test_the_kursk_measures_example_parses() -> None:
    path = EXAMPLES / "measures.geojson"
    batch = parse_import(path.name, path.read_text(encoding="utf-8"))
    assert [f["properties"]["id"] for f in batch.measures] == ["nsl-hospital-1", "nfa-1"]


# --- JSON documents and lists ------------------------------------------------------------------


def test_json_document_with_units_reports_and_measures() -> None:
    document = {
        "units": [
            {"uid": "a1", "callsign": "ALPHA", "affiliation": "friend", "mobility": "tracked"},
            {"uid": "n1", "affiliation": "neutral", "equipment": ["2s1"]},
        ],
        "reports": [{"uid": "a1", "lat": 51.0, "lon": 35.0, "ce_m": 10}],
        "measures": [POINT_FEATURE],
    }
    batch = parse_import("all.json", json.dumps(document))
    assert [u.uid for u in batch.units] == ["a1", "n1"]
    assert batch.units[0].callsign == "ALPHA"
    assert batch.units[0].mobility is Mobility.TRACKED
    assert batch.units[1].affiliation is Affiliation.NEUTRAL
    assert batch.units[1].callsign == "n1"  # defaults to the uid
    assert batch.units[1].equipment == ("2s1",)
    assert batch.reports == [{"uid": "a1", "lat": 51.0, "lon": 35.0, "ce_m": 10}]
    assert batch.measures == [POINT_FEATURE]


def test_json_document_measures_may_be_a_feature_collection() -> None:
    document = {"measures": {"type": "FeatureCollection", "features": [POLYGON_FEATURE]}}
    assert parse_import("m.json", json.dumps(document)).measures == [POLYGON_FEATURE]


def test_json_list_with_positions_is_reports() -> None:
    rows = [
        {"uid": "a1", "lat": 51.0, "lon": 35.0},
        {"uid": "a2", "grid": "36UXB5685285590", "ce_m": 10},
    ]
    batch = parse_import("reports.json", json.dumps(rows))
    assert batch.reports == rows
    assert batch.units == []


def test_json_list_without_positions_is_units() -> None:
    rows = [{"uid": "a1", "callsign": "ALPHA"}, {"uid": "a2", "affiliation": "assumed-friend"}]
    batch = parse_import("units.json", json.dumps(rows))
    assert [u.uid for u in batch.units] == ["a1", "a2"]
    assert batch.units[1].affiliation is Affiliation.ASSUMED_FRIEND
    assert batch.reports == []


def test_a_list_mixing_units_and_reports_is_refused_naming_the_row() -> None:
    # Read as units, the report row's position would be dropped without a word.
    rows = [{"uid": "a1"}, {"uid": "a2", "lat": 51.0, "lon": 35.0}]
    message = refused("mixed.json", json.dumps(rows))
    assert "row 2" in message
    assert "position" in message


def test_an_empty_list_imports_nothing() -> None:
    assert parse_import("empty.json", "[]") == ImportBatch()


def test_the_kursk_reports_example_parses() -> None:
    path = EXAMPLES / "reports.json"
    batch = parse_import(path.name, path.read_text(encoding="utf-8"))
    assert len(batch.reports) == 5
    assert batch.reports[0]["grid"] == "36UXB5685285590"


def test_a_byte_order_mark_is_ignored() -> None:
    batch = parse_import("u.json", "\ufeff" + json.dumps([{"uid": "a1"}]))
    assert [u.uid for u in batch.units] == ["a1"]


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_units_with_equipment_lists() -> None:
    text = (
        "uid,callsign,affiliation,nation,language,mobility,equipment,parent,group\n"
        "a1,ALPHA,friend,RUS,ru,tracked,2s1;btr-82a,bn-1,fires\n"
        "a2,BRAVO,neutral,PRK,ko,towed, tor | bm-21 ,,\n"
        "a3,CHARLIE,,,,,,,\n"
    )
    batch = parse_import("units.csv", text)
    a1, a2, a3 = batch.units
    assert a1.equipment == ("2s1", "btr-82a")
    assert (a1.nation, a1.language, a1.parent, a1.group) == ("RUS", "ru", "bn-1", "fires")
    assert a1.mobility is Mobility.TRACKED
    assert a2.equipment == ("tor", "bm-21")
    assert a2.affiliation is Affiliation.NEUTRAL
    assert a2.parent is None  # empty cells are absent
    assert a3.affiliation is Affiliation.FRIEND  # the Unit default
    assert a3.equipment == ()
    assert a3.status is UnitStatus.ACTIVE
    assert batch.reports == []


def test_the_kursk_units_example_parses() -> None:
    path = EXAMPLES / "units.csv"
    batch = parse_import(path.name, path.read_text(encoding="utf-8"))
    by_uid = {u.uid: u for u in batch.units}
    assert by_uid["prk-ad-1"].equipment == ("prk-tor-lookalike",)
    assert by_uid["prk-sqd-1"].equipment == ()
    assert by_uid["btry-2s1-1"].callsign == "GVOZDIKA-1"


def test_csv_reports_have_their_numbers_converted() -> None:
    text = (
        "uid,lat,lon,ce_m,hae_m,course_deg,speed_mps,observed_at\n"
        "a1,51.35,35.1,8,210.5,90,3.5,2026-11-22T07:00:00Z\n"
        "a2,51.4,35.2,,,,,\n"
    )
    batch = parse_import("reports.csv", text)
    assert batch.reports == [
        {
            "uid": "a1",
            "lat": 51.35,
            "lon": 35.1,
            "ce_m": 8.0,
            "hae_m": 210.5,
            "course_deg": 90.0,
            "speed_mps": 3.5,
            "observed_at": "2026-11-22T07:00:00Z",
        },
        {"uid": "a2", "lat": 51.4, "lon": 35.2},
    ]
    assert batch.units == []
    assert batch.report_where(1) == "reports row 2 (line 3)"


def test_csv_grid_reports_keep_the_grid_as_text() -> None:
    batch = parse_import("r.csv", "uid,grid,ce_m\nb1,36UXB5685285590,10\n")
    assert batch.reports == [{"uid": "b1", "grid": "36UXB5685285590", "ce_m": 10.0}]


def test_a_csv_number_that_is_not_a_number_names_the_line_and_field() -> None:
    text = "uid,lat,lon,ce_m\na1,51.0,35.0,5\na2,51.0,35.0,abc\n"
    message = refused("reports.csv", text)
    assert "line 3" in message
    assert "ce_m" in message
    assert "'abc'" in message


def test_csv_unit_errors_name_the_row_line_and_field() -> None:
    text = "uid,affiliation\na1,friend\na2,frend\n"
    message = refused("units.csv", text)
    assert "units row 2 (line 3)" in message
    assert "affiliation" in message
    assert "frend" in message


def test_csv_with_a_byte_order_mark_reads_the_first_column() -> None:
    batch = parse_import("units.csv", "\ufeffuid,callsign\na1,ALPHA\n")
    assert batch.units[0].uid == "a1"


def test_an_empty_csv_imports_nothing() -> None:
    assert parse_import("units.csv", "uid,callsign\n") == ImportBatch()


# --- TOML --------------------------------------------------------------------------------------


def test_toml_with_units_and_reports() -> None:
    text = """
[[units]]
uid = "a1"
callsign = "ALPHA"
affiliation = "friend"
mobility = "wheeled"
equipment = ["btr-82a"]

[[units]]
uid = "a2"

[[reports]]
uid = "a1"
lat = 51.42
lon = 35.28
ce_m = 12
observed_at = 2026-11-22T07:00:00Z

[[reports]]
uid = "a2"
grid = "36UXB5685285590"
observed_at = "2026-11-22T07:00:05Z"
"""
    batch = parse_import("picture.toml", text)
    assert [u.uid for u in batch.units] == ["a1", "a2"]
    assert batch.units[0].mobility is Mobility.WHEELED
    assert batch.units[0].equipment == ("btr-82a",)
    assert batch.reports[0] == {
        "uid": "a1",
        "lat": 51.42,
        "lon": 35.28,
        "ce_m": 12,
        "observed_at": "2026-11-22T07:00:00Z",  # a TOML time reads like a JSON string
    }
    assert batch.reports[1]["grid"] == "36UXB5685285590"


def test_toml_measures_are_features() -> None:
    text = """
[[measures]]
type = "Feature"
geometry = { type = "Point", coordinates = [35.2, 51.38] }
properties = { id = "nsl-1", kind = "NSL", radius_m = 150 }
"""
    assert parse_import("m.toml", text).measures == [POINT_FEATURE]


def test_unreadable_toml_names_the_file() -> None:
    assert "not readable" in refused("picture.toml", "[[units]\nuid = ")


def test_toml_units_must_be_an_array_of_tables() -> None:
    message = refused("picture.toml", '[units]\nuid = "a1"\n')
    assert "units must be a list" in message


# --- errors ------------------------------------------------------------------------------------


def test_unreadable_json_names_the_file() -> None:
    message = refused("broken.json", '{"units": [')
    assert "not readable" in message


def test_unknown_top_level_keys_are_refused_and_named() -> None:
    message = refused("x.json", json.dumps({"units": [], "trackz": [], "extra": 1}))
    assert "extra, trackz" in message


def test_an_empty_document_is_refused() -> None:
    assert "nothing" in refused("x.json", "{}")


@pytest.mark.parametrize("text", ["3", '"units"', "null", "true"])
def test_a_document_that_is_not_an_object_or_list_is_refused(text: str) -> None:
    assert "expected a JSON object or list" in refused("x.json", text)


def test_a_units_row_with_a_bad_affiliation_names_the_row_and_field() -> None:
    rows = [{"uid": "a1"}, {"uid": "a2", "affiliation": "ally"}]
    message = refused("units.json", json.dumps(rows))
    assert "units row 2" in message
    assert "affiliation" in message
    assert "'ally'" in message


def test_a_units_row_without_a_uid_names_the_field() -> None:
    message = refused("units.json", json.dumps([{"callsign": "ALPHA"}]))
    assert "units row 1: uid: is required" in message


def test_a_units_row_with_a_bad_sector_names_the_field() -> None:
    unit = {"uid": "a1", "sector": {"type": "Polygon", "coordinates": [[[35.0, 51.0]]]}}
    message = refused("units.json", json.dumps({"units": [unit]}))
    assert "units row 1" in message
    assert "sector" in message


def test_a_reports_row_that_is_not_an_object_names_the_row() -> None:
    message = refused("r.json", json.dumps({"reports": [{"uid": "a1", "lat": 1, "lon": 2}, 5]}))
    assert "reports row 2" in message


def test_a_list_row_that_is_not_an_object_names_the_row() -> None:
    assert "row 2" in refused("r.json", json.dumps([{"uid": "a1"}, [1, 2]]))

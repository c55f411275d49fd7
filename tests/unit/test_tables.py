"""Shipped reference tables and the loader that merges operator overrides over them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from holdfire.adapters.tables import TableError, load_tables
from holdfire.domain.tables import Mobility, Tables

WEAPON_IDS = [
    "60mm-mortar",
    "81mm-mortar",
    "120mm-mortar",
    "105mm-howitzer",
    "122mm-howitzer",
    "152mm-howitzer",
    "155mm-howitzer",
    "mlrs-122mm",
    "naval-5in",
    "bomb-250lb",
    "bomb-500lb",
    "bomb-2000lb",
    "atgm",
    "guided-missile-small",
    "loitering-munition",
    "fpv-drone",
]
GROUND = (Mobility.DISMOUNTED, Mobility.WHEELED, Mobility.TRACKED, Mobility.TOWED, Mobility.STATIC)

WEAPON_155 = """
[weapons.155mm-howitzer]
name = "155 mm howitzer, battery firing tables"
red10_m = 130
red01_m = 500
danger_close_m = 600
cep_m = 100
time_of_flight_s = 160
max_range_m = 32000
provenance = { mark = "R", source = "our battery" }
"""


@pytest.fixture(scope="module")
def tables() -> Tables:
    return load_tables()


def write_override(data_dir: Path, name: str, text: str) -> Path:
    path = data_dir / "tables" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- shipped weapons


@pytest.mark.parametrize("weapon_id", WEAPON_IDS)
def test_every_weapon_exists_with_sane_values(tables: Tables, weapon_id: str) -> None:
    w = tables.weapons[weapon_id]
    assert w.id == weapon_id
    assert w.name
    assert 0 < w.red10_m <= w.red01_m
    assert w.danger_close_m > 0
    assert w.cep_m > 0
    assert w.time_of_flight_s > 0
    assert w.max_range_m > 0
    assert w.provenance.mark in ("V", "R", "E")
    assert w.provenance.source.strip()


def test_verified_values_are_exactly_the_public_ones(tables: Tables) -> None:
    w = tables.weapons
    assert (w["60mm-mortar"].red10_m, w["60mm-mortar"].red01_m) == (65, 175)
    assert (w["155mm-howitzer"].red10_m, w["155mm-howitzer"].red01_m) == (125, 450)
    assert (w["bomb-500lb"].red10_m, w["bomb-500lb"].red01_m) == (250, 425)
    assert w["bomb-500lb"].cep_m == 94.5
    assert w["155mm-howitzer"].cep_m == 115


def test_recalled_and_estimated_red_values(tables: Tables) -> None:
    w = tables.weapons
    assert (w["81mm-mortar"].red10_m, w["81mm-mortar"].red01_m) == (80, 230)
    assert (w["120mm-mortar"].red10_m, w["120mm-mortar"].red01_m) == (100, 400)
    assert (w["105mm-howitzer"].red10_m, w["105mm-howitzer"].red01_m) == (90, 275)
    for soviet in ("122mm-howitzer", "152mm-howitzer"):  # the 155 mm row, [E]
        assert (w[soviet].red10_m, w[soviet].red01_m) == (125, 450)


@pytest.mark.parametrize(
    ("weapon_id", "red01"),
    [
        ("mlrs-122mm", 1000),
        ("naval-5in", 750),
        ("bomb-250lb", 350),
        ("bomb-2000lb", 750),
        ("atgm", 200),
        ("guided-missile-small", 200),
        ("loitering-munition", 150),
        ("fpv-drone", 100),
    ],
)
def test_no_public_10pct_figure_fails_closed(tables: Tables, weapon_id: str, red01: float) -> None:
    w = tables.weapons[weapon_id]
    assert w.red01_m == red01
    assert w.red10_m == w.red01_m
    assert "red10 = red01" in w.provenance.source


def test_danger_close_distances(tables: Tables) -> None:
    for weapon_id in WEAPON_IDS:
        w = tables.weapons[weapon_id]
        if "mortar" in weapon_id or "howitzer" in weapon_id:
            assert w.danger_close_m == 600, weapon_id
        elif weapon_id == "naval-5in":
            assert w.danger_close_m == 750
        else:
            assert w.danger_close_m == w.red01_m, weapon_id


def test_unguided_bombs_use_the_gichd_cep(tables: Tables) -> None:
    for weapon_id in ("bomb-250lb", "bomb-500lb", "bomb-2000lb"):
        assert tables.weapons[weapon_id].cep_m == 94.5


# --------------------------------------------------------------------------- shipped equipment


@pytest.mark.parametrize("family", ["tor", "2s1", "btr-80", "t-72", "bm-21"])
def test_lookalike_families_exist(tables: Tables, family: str) -> None:
    members = list(tables.family_members(family))
    assert members
    for e in members:
        assert e.fielded_by
        assert all(len(n) == 3 and n.isupper() for n in e.fielded_by)
        assert e.provenance.source.strip()
    assert tables.equipment_family(family) == family  # a family name maps to itself


def test_tor_family_holds_the_north_korean_lookalike(tables: Tables) -> None:
    tor = {e.id: e for e in tables.family_members("tor")}
    assert any("PRK" in e.fielded_by for e in tor.values())
    nk = tor["prk-tor-lookalike"]
    assert nk.provenance.mark == "V"
    assert "trailer" in nk.notes.lower()
    nations = {n for e in tor.values() for n in e.fielded_by}
    assert {"RUS", "IRN", "BLR", "CHN", "PRK", "UKR"} <= nations


def test_equipment_family_lookup(tables: Tables) -> None:
    assert tables.equipment_family("btr-82a") == "btr-80"
    assert tables.equipment_family("BTR-82A ") == "btr-80"
    assert tables.equipment_family("btr-80") == "btr-80"
    assert tables.equipment_family("tor-m2") == "tor"
    assert tables.equipment_family("2s1") == "2s1"
    assert tables.equipment_family("no-such-thing") is None
    assert "UKR" in tables.equipment["btr-82a"].fielded_by  # captured examples in use


# --------------------------------------------------------------------------- shipped mobility


def test_every_mobility_class_has_a_row(tables: Tables) -> None:
    assert set(tables.mobility) == set(Mobility)
    for row in tables.mobility.values():
        assert row.v_max_mps > 0
        assert 0 < row.stale_after_s <= row.lost_after_s
        assert row.r_cap_m == 2000
        assert row.provenance.source.strip()


def test_mobility_values_from_the_domain(tables: Tables) -> None:
    m = tables.mobility
    kmh = 3.6
    assert math.isclose(m[Mobility.DISMOUNTED].v_max_mps * kmh, 8, abs_tol=0.05)
    assert math.isclose(m[Mobility.WHEELED].v_max_mps * kmh, 100, abs_tol=0.05)
    assert math.isclose(m[Mobility.TRACKED].v_max_mps * kmh, 65, abs_tol=0.05)
    assert (m[Mobility.DISMOUNTED].stale_after_s, m[Mobility.DISMOUNTED].lost_after_s) == (60, 600)
    for vehicle in (Mobility.WHEELED, Mobility.TRACKED, Mobility.TOWED):
        assert (m[vehicle].stale_after_s, m[vehicle].lost_after_s) == (30, 300)
    assert m[Mobility.STATIC].v_max_mps > 0  # things get moved
    # speeds are rounded up, never down
    assert m[Mobility.DISMOUNTED].v_max_mps >= 8 / kmh
    assert m[Mobility.WHEELED].v_max_mps >= 100 / kmh


def test_unknown_mobility_is_the_worst_case(tables: Tables) -> None:
    unknown = tables.mobility_class(Mobility.UNKNOWN)
    others = [row for m, row in tables.mobility.items() if m is not Mobility.UNKNOWN]
    assert unknown.v_max_mps == max(tables.mobility[m].v_max_mps for m in GROUND)
    assert unknown.stale_after_s == min(r.stale_after_s for r in others)
    assert unknown.lost_after_s == min(r.lost_after_s for r in others)
    assert unknown.default_ce_m == max(r.default_ce_m for r in [*others, unknown])
    assert unknown.default_ce_m > tables.mobility[Mobility.DISMOUNTED].default_ce_m


# --------------------------------------------------------------------------- overrides


def test_no_override_directory_gives_the_shipped_tables(tmp_path: Path) -> None:
    assert load_tables(tmp_path) == load_tables()
    assert load_tables(None) == load_tables()


def test_override_replaces_a_row_whole_and_adds_one(tmp_path: Path) -> None:
    write_override(
        tmp_path,
        "weapons",
        WEAPON_155
        + """
[weapons.Mortar-82MM]
name = "82 mm mortar (2B14)"
red10_m = 80
red01_m = 230
danger_close_m = 600
cep_m = 85
time_of_flight_s = 55
max_range_m = 4100
provenance = { mark = "E", source = "as 81 mm" }
""",
    )
    tables = load_tables(tmp_path)
    w = tables.weapons["155mm-howitzer"]
    assert (w.red10_m, w.red01_m, w.cep_m, w.max_range_m) == (130, 500, 100, 32000)
    assert w.provenance.source == "our battery"
    assert "mortar-82mm" in tables.weapons  # ids are lower-cased
    assert tables.weapons["mortar-82mm"].id == "mortar-82mm"
    assert tables.weapons["60mm-mortar"] == load_tables().weapons["60mm-mortar"]
    assert len(tables.weapons) == len(WEAPON_IDS) + 1


def test_equipment_and_mobility_overrides(tmp_path: Path) -> None:
    write_override(
        tmp_path,
        "equipment",
        """
[equipment.bm-21]
name = "BM-21 Grad"
family = "bm-21"
fielded_by = ["rus", "UKR", "CZE", "RUS"]
provenance = { mark = "R", source = "theatre intelligence" }

[equipment.rm-70]
name = "RM-70"
family = "bm-21"
fielded_by = ["CZE", "UKR"]
provenance = { mark = "R", source = "theatre intelligence" }
""",
    )
    write_override(
        tmp_path,
        "mobility",
        """
[mobility.dismounted]
v_max_mps = 3.0
stale_after_s = 45
lost_after_s = 300
r_cap_m = 1500
default_ce_m = 50
provenance = { mark = "E", source = "brigade SOP" }
""",
    )
    tables = load_tables(tmp_path)
    assert tables.equipment["bm-21"].fielded_by == ("RUS", "UKR", "CZE")
    assert tables.equipment["bm-21"].notes == ""
    assert tables.equipment_family("rm-70") == "bm-21"
    dismounted = tables.mobility_class(Mobility.DISMOUNTED)
    assert (dismounted.v_max_mps, dismounted.stale_after_s) == (3.0, 45)


def assert_names(err: TableError, *parts: str) -> None:
    text = str(err)
    for part in parts:
        assert part in text, (part, text)


def test_negative_value_names_file_row_and_field(tmp_path: Path) -> None:
    write_override(tmp_path, "weapons", WEAPON_155.replace("red01_m = 500", "red01_m = -1"))
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(
        info.value,
        "tables/weapons.toml",
        "weapons.155mm-howitzer.red01_m: must be a finite number >= 0, got -1",
    )
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("red01_m = 500", "red01_m = nan", "red01_m"),
        ("red01_m = 500", 'red01_m = "500"', "red01_m"),
        ("cep_m = 100", "cep_m = true", "cep_m"),
        ("red10_m = 130", "red10_m = 600", "red10_m"),  # red10 must not exceed red01
        ('name = "155 mm howitzer, battery firing tables"', "", "name"),  # required
        ('mark = "R"', 'mark = "X"', "provenance.mark"),
        ('source = "our battery"', 'source = ""', "provenance.source"),
    ],
)
def test_bad_weapon_values_are_refused(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in WEAPON_155
    write_override(tmp_path, "weapons", WEAPON_155.replace(old, new))
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(info.value, "tables/weapons.toml", f"weapons.155mm-howitzer.{field}")


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    write_override(tmp_path, "weapons", WEAPON_155 + "red_01m = 450\n")
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(info.value, "tables/weapons.toml", "weapons.155mm-howitzer.red_01m", "unknown key")


def test_unknown_top_level_table_is_refused(tmp_path: Path) -> None:
    write_override(tmp_path, "weapons", WEAPON_155.replace("[weapons.", "[weapon."))
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(info.value, "tables/weapons.toml", "weapon", "unknown table")


def test_unknown_mobility_class_is_refused(tmp_path: Path) -> None:
    write_override(
        tmp_path,
        "mobility",
        """
[mobility.hovercraft]
v_max_mps = 20
stale_after_s = 30
lost_after_s = 300
r_cap_m = 2000
default_ce_m = 100
provenance = { mark = "E", source = "x" }
""",
    )
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(info.value, "tables/mobility.toml", "mobility.hovercraft", "not a mobility class")


def test_bad_equipment_rows_are_refused(tmp_path: Path) -> None:
    row = """
[equipment.t-90m]
name = "T-90M"
family = "t-90"
fielded_by = {nations}
provenance = {{ mark = "R", source = "x" }}
"""
    write_override(tmp_path, "equipment", row.format(nations='["RUS"]') + 'colour = "green"\n')
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(info.value, "tables/equipment.toml", "equipment.t-90m.colour")

    write_override(tmp_path, "equipment", row.format(nations='["Russia"]'))
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(info.value, "tables/equipment.toml", "equipment.t-90m.fielded_by")


def test_an_id_that_is_a_family_must_belong_to_it(tmp_path: Path) -> None:
    write_override(
        tmp_path,
        "equipment",
        """
[equipment.tor]
name = "9K330 Tor"
family = "sa-15"
fielded_by = ["RUS"]
provenance = { mark = "R", source = "x" }
""",
    )
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(info.value, "tables/equipment.toml", "equipment.tor.family")


def test_ids_differing_only_by_case_are_refused(tmp_path: Path) -> None:
    write_override(tmp_path, "weapons", WEAPON_155 + WEAPON_155.replace("155mm", "155MM"))
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(info.value, "tables/weapons.toml", "weapons.155mm-howitzer", "duplicate")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    write_override(tmp_path, "weapons", "[weapons.155mm-howitzer\nname = ")
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(info.value, "tables/weapons.toml", "not valid TOML")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        # a ground class faster than unknown
        ("[mobility.wheeled]\nv_max_mps = 40\nstale_after_s = 30\nlost_after_s = 300", "v_max_mps"),
        # unknown itself made lenient
        ("[mobility.unknown]\nv_max_mps = 27.78\nstale_after_s = 60\nlost_after_s = 60", "stale"),
        ("[mobility.unknown]\nv_max_mps = 27.78\nstale_after_s = 10\nlost_after_s = 600", "lost"),
        ("[mobility.air]\nv_max_mps = 80\nstale_after_s = 5\nlost_after_s = 60", "stale_after_s"),
    ],
)
def test_override_that_breaks_unknown_worst_case_is_refused(
    tmp_path: Path, row: str, field: str
) -> None:
    tail = '\nr_cap_m = 2000\ndefault_ce_m = 100\nprovenance = { mark = "E", source = "x" }\n'
    write_override(tmp_path, "mobility", row + tail)
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(info.value, "tables/mobility.toml", "mobility.unknown.", field, "worst case")


def test_unknown_default_ce_must_stay_the_largest(tmp_path: Path) -> None:
    write_override(
        tmp_path,
        "mobility",
        """
[mobility.air]
v_max_mps = 80
stale_after_s = 10
lost_after_s = 60
r_cap_m = 2000
default_ce_m = 900
provenance = { mark = "E", source = "x" }
""",
    )
    with pytest.raises(TableError) as info:
        load_tables(tmp_path)
    assert_names(info.value, "mobility.unknown.default_ce_m", "worst case")


def test_air_may_outrun_unknown(tmp_path: Path) -> None:
    """unknown takes the fastest GROUND class's speed; a faster air class is allowed."""
    write_override(
        tmp_path,
        "mobility",
        """
[mobility.air]
v_max_mps = 250
stale_after_s = 10
lost_after_s = 60
r_cap_m = 2000
default_ce_m = 300
provenance = { mark = "E", source = "fast jets" }
""",
    )
    assert load_tables(tmp_path).mobility_class(Mobility.AIR).v_max_mps == 250

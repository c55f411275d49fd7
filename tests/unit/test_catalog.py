"""The shipped message catalog (domain.md §7) and its pure model: contract, renderings, params."""

from __future__ import annotations

import re

import mgrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from holdfire.adapters.catalog import load_catalog
from holdfire.domain.catalog import (
    ENGLISH,
    MISSING_VALUE,
    NO_ALTERNATIVE,
    Catalog,
    Group,
    MessageDef,
    OneOf,
    ParamDef,
    ParamType,
    ParamValue,
    Priority,
    Rendering,
    check_rendering,
    format_number,
    lookup_language,
    template_fields,
)
from holdfire.domain.errors import DomainError
from holdfire.geo import GeoError, parse_mgrs

# The contract table of domain.md §7: id -> parameter keys, in order.
CONTRACT: dict[str, tuple[str, ...]] = {
    "DISMOUNT_COMPLETE": ("grid", "pax"),
    "MOUNT_NOW": (),
    "MOUNTED": ("pax",),
    "MOVING_IN": ("minutes", "grid", "bearing_deg"),
    "WITHDRAWING_IN": ("minutes", "rally_grid"),
    "WAIT_FOR_US": (),
    "RALLY_POINT": ("grid",),
    "LOST_CONTACT_WITH": ("unit",),
    "REQUEST_COVERING_FIRE": ("grid", "bearing_deg", "minutes"),
    "COVERING_FIRE_START": (),
    "COVERING_FIRE_STOP": (),
    "FRIENDLY_AT": ("grid",),
    "WE_ARE_FRIENDLY": (),
    "DANGER_CLOSE_WARNING": ("distance_m", "grid"),
    "FRIENDLY_FIRES": ("grid", "minutes", "weapon"),
    "CHECK_FIRE": ("grid", "unit"),
    "CANCEL_CHECK_FIRE": ("grid", "unit"),
    "CEASE_FIRE": ("grid", "unit"),
    "CEASE_LOADING": ("grid", "unit"),
    "HOLD_FIRE": ("grid", "unit"),
    "MEDEVAC_9LINE": tuple(f"line{i}" for i in range(1, 10)),
    "CONTACT_SALUTE": ("size", "activity", "location", "unit", "time", "equipment"),
    "AMMO_STATUS": ("status",),
    "LACE": ("liquids", "ammunition", "casualties", "equipment"),
    "ACK": ("ref",),
    "WILCO": ("ref",),
    "UNABLE": ("ref", "code"),
    "SAY_AGAIN": ("ref",),
}
# Beyond the contract (which allows more ids): the prompts holdfire itself sends.
OWN_PROMPTS: dict[str, tuple[str, ...]] = {
    "SEPARATION_WARNING": ("unit", "distance_m"),
    "LOOKALIKE_ARRIVAL": ("unit", "family", "grid"),
    "ACK_OVERDUE": ("unit", "ref"),
}
ALL_IDS = {**CONTRACT, **OWN_PROMPTS}
STOP_COMMANDS = ("CHECK_FIRE", "CANCEL_CHECK_FIRE", "CEASE_FIRE", "CEASE_LOADING", "HOLD_FIRE")
SAFETY = {
    *STOP_COMMANDS,
    *("DANGER_CLOSE_WARNING", "FRIENDLY_FIRES", "WE_ARE_FRIENDLY", "FRIENDLY_AT"),
}
PROTOCOL = {"ACK", "WILCO", "UNABLE", "SAY_AGAIN"}
LANGUAGES = ("en", "ko", "ru", "uk")
GRID = "36UXB5303396604"  # domain.md §6


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def sample_params(definition: MessageDef, variant: str) -> dict[str, ParamValue]:
    """Valid params for one variant; every optional parameter given."""
    samples: dict[ParamType, ParamValue] = {
        ParamType.GRID: GRID,
        ParamType.MINUTES: 15,
        ParamType.DISTANCE_M: 450,
        ParamType.COUNT: 4,
        ParamType.BEARING_DEG: 275,
        ParamType.UNIT: "BRAVO-2",
        ParamType.TEXT: "ZSU-23 at the tree line",
        ParamType.REF: "msg-0001",
    }
    params: dict[str, ParamValue] = {}
    for p in definition.params:
        if p.key in definition.alternatives and p.key != variant:
            continue
        params[p.key] = p.values[0] if p.type is ParamType.ENUM else samples[p.type]
    return params


# --------------------------------------------------------------------------- the contract


def test_every_contract_id_and_parameter_key_exists(catalog: Catalog) -> None:
    assert list(catalog.definitions) == list(ALL_IDS)
    for code, keys in ALL_IDS.items():
        assert tuple(p.key for p in catalog.definition(code).params) == keys, code


def test_groups_priorities_and_acks(catalog: Catalog) -> None:
    for code, definition in catalog.definitions.items():
        assert (definition.priority is Priority.SAFETY) == (code in SAFETY), code
        assert definition.ack_required == (code not in PROTOCOL), code
        assert (definition.group is Group.PROTOCOL) == (code in PROTOCOL), code
    assert catalog.definition("MEDEVAC_9LINE").group is Group.CASUALTY
    assert catalog.definition("CONTACT_SALUTE").group is Group.CONTACT
    assert catalog.definition("LACE").group is Group.LOGISTICS
    assert catalog.definition("RALLY_POINT").group is Group.MOVEMENT
    assert Priority.SAFETY.rank < Priority.URGENT.rank < Priority.ROUTINE.rank
    # a reply must not wait behind routine traffic
    assert all(catalog.definition(c).priority is Priority.URGENT for c in PROTOCOL)


def test_parameter_types(catalog: Catalog) -> None:
    def types(code: str) -> dict[str, ParamType]:
        return {p.key: p.type for p in catalog.definition(code).params}

    assert types("MOVING_IN") == {
        "minutes": ParamType.MINUTES,
        "grid": ParamType.GRID,
        "bearing_deg": ParamType.BEARING_DEG,
    }
    assert types("DANGER_CLOSE_WARNING")["distance_m"] is ParamType.DISTANCE_M
    assert types("DISMOUNT_COMPLETE")["pax"] is ParamType.COUNT
    assert types("LOST_CONTACT_WITH")["unit"] is ParamType.UNIT
    assert types("CONTACT_SALUTE")["unit"] is ParamType.TEXT  # the enemy's unit or uniform
    assert types("CONTACT_SALUTE")["location"] is ParamType.GRID
    assert types("ACK")["ref"] is ParamType.REF
    assert catalog.definition("AMMO_STATUS").params[0].values == ("green", "amber", "red", "black")
    medevac = catalog.definition("MEDEVAC_9LINE")
    assert [p.required for p in medevac.params] == [True] * 5 + [False] * 4
    assert medevac.param("line6") == ParamDef(
        "line6", ParamType.ENUM, required=False, values=("N", "P", "E", "X")
    )
    for code in ("MOVING_IN", "REQUEST_COVERING_FIRE"):
        assert catalog.definition(code).one_of == OneOf(("grid", "bearing_deg"), required=True)
    for code in STOP_COMMANDS:
        assert catalog.definition(code).one_of == OneOf(("grid", "unit"), required=False)


# --------------------------------------------------------------------------- coverage


def test_coverage_table_all_four_languages_complete(catalog: Catalog) -> None:
    coverage = catalog.coverage()
    table = "\n".join(
        f"{c.language:<4} {c.rendered:>3}/{c.total:<3} reviewed {c.reviewed:>3}  missing "
        f"{', '.join(c.missing) or '-'}"
        for c in coverage.values()
    )
    print("\nmessage catalog coverage\n" + table)
    assert catalog.languages == LANGUAGES
    for language in LANGUAGES:
        c = coverage[language]
        assert (c.total, c.rendered, c.missing) == (len(ALL_IDS), len(ALL_IDS), ())
        assert c.complete


def test_nothing_shipped_claims_a_review(catalog: Catalog) -> None:
    """No named native reviewer has seen these renderings yet."""
    for language in LANGUAGES:
        assert catalog.coverage()[language].reviewed == 0
        for rendering in catalog.renderings[language].values():
            assert (rendering.reviewed, rendering.reviewed_by) == (False, "")


def test_every_non_english_rendering_has_a_back_translation(catalog: Catalog) -> None:
    for language in LANGUAGES:
        for code, rendering in catalog.renderings[language].items():
            definition = catalog.definition(code)
            if language == ENGLISH:
                assert not rendering.back_translation
            else:
                assert set(rendering.back_translation) == set(definition.variants), (language, code)
                assert rendering.back_translation[definition.variants[0]].isascii()
            assert rendering.gloss.strip()


# --------------------------------------------------------------------------- stop commands


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("variant", [NO_ALTERNATIVE, "grid", "unit"])
def test_stop_commands_are_never_confused(catalog: Catalog, language: str, variant: str) -> None:
    rendered = {
        code: catalog.render(code, sample_params(catalog.definition(code), variant), language)
        for code in STOP_COMMANDS
    }
    texts = [r.text for r in rendered.values()]
    glosses = [r.gloss for r in rendered.values()]
    assert len(set(texts)) == len(STOP_COMMANDS), texts
    assert len(set(glosses)) == len(STOP_COMMANDS), glosses
    # the words in the reader's own language differ too, not only the English anchor word
    native = [re.sub(r"\([A-Z ]+\)", "", t) for t in texts]
    assert len(set(native)) == len(STOP_COMMANDS), native
    # each opens with its own command word: no rendering starts like another one, except that
    # CANCEL CHECK FIRE contains CHECK FIRE (a cancel that loses its first word reads as a stop)
    heads = {
        code: re.sub(r" at \S+$", "", re.split(r"[(!.,:]", r.text)[0]).strip()
        for code, r in rendered.items()
    }
    assert len(set(heads.values())) == len(STOP_COMMANDS), heads
    for code, head in heads.items():
        for other, text in rendered.items():
            if other not in (code, "CANCEL_CHECK_FIRE"):
                assert not text.text.startswith(head + " "), (code, other)
    for r in rendered.values():
        assert not r.fallback
        assert r.language_used == language


@pytest.mark.parametrize("language", ["ru", "uk", "ko"])
def test_cease_fire_gloss_says_it_is_not_a_truce(catalog: Catalog, language: str) -> None:
    gloss = catalog.renderings[language]["CEASE_FIRE"].gloss
    truce = {"ru": "перемирие", "uk": "перемир’я", "ko": "휴전"}[language]
    assert truce in gloss
    assert "НЕ" in gloss or "아니" in gloss


def test_english_glosses_say_what_stop_commands_are_not(catalog: Catalog) -> None:
    en = catalog.renderings[ENGLISH]
    assert "NOT a truce" in en["CEASE_FIRE"].gloss
    assert "CANCEL CHECK FIRE" in en["CHECK_FIRE"].gloss
    assert "already loaded may still be fired" in en["CEASE_LOADING"].gloss
    assert "missiles already in flight" in en["HOLD_FIRE"].gloss


# --------------------------------------------------------------------------- verbatim values


def _readable(grid: str) -> bool:
    try:
        parse_mgrs(grid)
    except GeoError:
        return False
    return True


def grids() -> st.SearchStrategy[str]:
    converter = mgrs.MGRS()
    # The library writes a few references near band edges that it cannot read back (31MAA60:
    # "Northing Error"); the catalog rightly refuses those, so only readable ones are drawn.
    return st.builds(
        lambda lat, lon, precision: converter.toMGRS(lat, lon, MGRSPrecision=precision),
        st.floats(-79.9, 83.9),
        st.floats(-179.9, 179.9),
        st.integers(1, 5),
    ).filter(_readable)


CALLSIGNS = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ ", min_size=1, max_size=16
).filter(lambda s: s.strip() == s and s.strip() != "")


@settings(max_examples=60, deadline=None)
@given(grid=grids(), callsign=CALLSIGNS, minutes=st.integers(0, 10_000))
def test_grids_callsigns_and_numbers_are_verbatim_in_every_language(
    catalog: Catalog, grid: str, callsign: str, minutes: int
) -> None:
    cases: list[tuple[str, dict[str, object]]] = [
        ("WITHDRAWING_IN", {"minutes": minutes, "rally_grid": grid}),
        ("MOVING_IN", {"minutes": minutes, "grid": grid}),
        ("FRIENDLY_FIRES", {"grid": grid, "minutes": minutes, "weapon": "155mm-howitzer"}),
        ("LOST_CONTACT_WITH", {"unit": callsign}),
        ("CHECK_FIRE", {"unit": callsign}),
        ("CHECK_FIRE", {"grid": grid}),
        ("DANGER_CLOSE_WARNING", {"distance_m": minutes, "grid": grid}),
        ("DISMOUNT_COMPLETE", {"grid": grid, "pax": minutes}),
    ]
    for language in LANGUAGES:
        for code, params in cases:
            r = catalog.render(code, params, language)
            for value in params.values():
                assert str(value) in r.text, (language, code, r.text)
                assert str(value) in r.text_en
                assert str(value) in r.back_translation


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_renders_every_variant_with_its_values(
    catalog: Catalog, language: str
) -> None:
    for code, definition in catalog.definitions.items():
        for variant in definition.variants:
            params = sample_params(definition, variant)
            r = catalog.render(code, params, language)
            assert "{" not in r.text and "}" not in r.text
            for key, value in params.items():
                param = definition.param(key)
                assert param is not None
                if param.type is not ParamType.ENUM:
                    shown = value if isinstance(value, str) else format_number(value)
                    assert shown in r.text, (language, code, key)
            assert r.text_en == catalog.render(code, params, "en").text


def test_grid_is_normalised_but_not_reencoded(catalog: Catalog) -> None:
    r = catalog.render("RALLY_POINT", {"grid": " 36u xb 530 966 "}, "ru")
    assert r.text == "Пункт сбора: 36UXB530966."


def test_numbers_are_written_without_locale(catalog: Catalog) -> None:
    assert format_number(800.0) == "800"
    assert format_number(12.5) == "12.5"
    assert format_number(1_000_000) == "1000000"
    assert format_number(0.000001) == "0.000001"
    for language in LANGUAGES:
        r = catalog.render("DANGER_CLOSE_WARNING", {"distance_m": 1250.5, "grid": GRID}, language)
        assert "1250.5" in r.text and "1,250" not in r.text and "1250,5" not in r.text
        r = catalog.render("MOVING_IN", {"minutes": 5.0, "bearing_deg": 45}, language)
        assert " 45°" in r.text and "5" in r.text


def test_enum_labels_and_missing_optional_values(catalog: Catalog) -> None:
    r = catalog.render("AMMO_STATUS", {"status": "AMBER"}, "ko")
    assert r.text == "탄약 상태: 황색 (AMBER, 70–84%)."
    assert r.text_en == "Ammunition status: AMBER (70-84 %)."
    params = {"line1": GRID, "line2": "39.50 DUSTOFF 6", "line3": "1A", "line4": "hoist"}
    r = catalog.render("MEDEVAC_9LINE", {**params, "line5": "L1"}, "en")
    assert "Line 4 special equipment: B hoist." in r.text
    assert f"Line 6 site security: {MISSING_VALUE}." in r.text
    assert "39.50 DUSTOFF 6" in r.text
    r = catalog.render("MEDEVAC_9LINE", {**params, "line5": "L1", "line6": "x"}, "ru")
    assert "X противник в районе, нужен вооружённый эскорт" in r.text
    assert "X enemy troops in area, armed escort required" in r.back_translation


def test_user_text_is_never_expanded_as_a_template(catalog: Catalog) -> None:
    r = catalog.render("FRIENDLY_FIRES", {"grid": GRID, "minutes": 3, "weapon": "{grid}"}, "uk")
    assert "{grid}" in r.text


# --------------------------------------------------------------------------- fallback


def test_unknown_language_falls_back_to_english_with_the_id(catalog: Catalog) -> None:
    r = catalog.render("WAIT_FOR_US", {}, "fr-FR")
    assert r.text == "[WAIT_FOR_US] Wait for us."
    assert r.text_en == "Wait for us."
    assert (r.fallback, r.language_used, r.reviewed) == (True, "en", False)
    assert r.gloss == catalog.renderings["en"]["WAIT_FOR_US"].gloss


def test_english_itself_is_no_fallback(catalog: Catalog) -> None:
    r = catalog.render("WAIT_FOR_US", {}, "en-GB")
    assert (r.text, r.fallback, r.language_used) == ("Wait for us.", False, "en")


def test_missing_rendering_falls_back_to_english(catalog: Catalog) -> None:
    partial = Catalog(
        definitions=catalog.definitions,
        renderings={
            **catalog.renderings,
            "ko": {c: r for c, r in catalog.renderings["ko"].items() if c != "MOUNT_NOW"},
        },
    )
    assert partial.coverage()["ko"].missing == ("MOUNT_NOW",)
    r = partial.render("MOUNT_NOW", {}, "ko")
    assert (r.text, r.fallback, r.language_used) == ("[MOUNT_NOW] Mount now.", True, "en")
    assert not partial.render("MOUNTED", {"pax": 3}, "ko").fallback


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("ko-KR", "ko"),
        ("KO", "ko"),
        ("ru_RU", "ru"),
        ("uk-UA", "uk"),
        ("zh-Hant-TW", "zh-hant"),
        ("zh-x-private", "zh"),
        ("fr", None),
        ("", None),
        ("ua", None),  # a country code, not the Ukrainian language
    ],
)
def test_language_lookup(tag: str, expected: str | None) -> None:
    assert lookup_language(tag, frozenset({"en", "ko", "ru", "uk", "zh", "zh-hant"})) == expected


def test_korean_tag_with_region(catalog: Catalog) -> None:
    r = catalog.render("WITHDRAWING_IN", {"minutes": 5, "rally_grid": GRID}, "ko-KR")
    assert (r.text, r.language_used, r.fallback) == (f"5분 후 철수. 집결지: {GRID}.", "ko", False)
    assert r.back_translation == f"Withdrawal in 5 min. Rally point: {GRID}."
    assert r.text_en == f"Withdrawing in 5 min. Rally at {GRID}."


# --------------------------------------------------------------------------- params


@pytest.mark.parametrize(
    ("code", "params", "field", "message"),
    [
        ("WITHDRAWING_IN", {"minutes": -1, "rally_grid": GRID}, "params.minutes", "whole number"),
        ("WITHDRAWING_IN", {"minutes": 2.5, "rally_grid": GRID}, "params.minutes", ">= 0"),
        ("WITHDRAWING_IN", {"minutes": True, "rally_grid": GRID}, "params.minutes", "whole"),
        ("WITHDRAWING_IN", {"minutes": "5", "rally_grid": GRID}, "params.minutes", "whole"),
        ("WITHDRAWING_IN", {"minutes": 5}, "params.rally_grid", "is required"),
        ("WITHDRAWING_IN", {"minutes": 5, "rally_grid": "36UXB"}, "params.rally_grid", "100 km"),
        ("WITHDRAWING_IN", {"minutes": 5, "rally_grid": 36}, "params.rally_grid", "MGRS"),
        ("WAIT_FOR_US", {"minutes": 5}, "params.minutes", "unknown parameter"),
        ("MOVING_IN", {"minutes": 5}, "params", "grid or bearing_deg is required"),
        ("MOVING_IN", {"minutes": 5, "grid": GRID, "bearing_deg": 9}, "params", "not both"),
        ("MOVING_IN", {"minutes": 5, "bearing_deg": 400}, "params.bearing_deg", "not mils"),
        ("MOVING_IN", {"minutes": 5, "bearing_deg": float("nan")}, "params.bearing_deg", "finite"),
        ("CHECK_FIRE", {"grid": GRID, "unit": "A1"}, "params", "grid or unit, not both"),
        ("CHECK_FIRE", {"unit": "   "}, "params.unit", "non-empty"),
        ("DANGER_CLOSE_WARNING", {"distance_m": -3, "grid": GRID}, "params.distance_m", ">= 0"),
        ("DANGER_CLOSE_WARNING", {"distance_m": "far", "grid": GRID}, "params.distance_m", "num"),
        ("AMMO_STATUS", {"status": "yellow"}, "params.status", "green, amber, red, black"),
        ("ACK", {"ref": "two words"}, "params.ref", "without spaces"),
        ("FRIENDLY_FIRES", {"grid": GRID, "minutes": 1, "weapon": "x" * 501}, "params.weapon", "5"),
        ("FRIENDLY_FIRES", {"grid": GRID, "minutes": 1, "weapon": "a\nb"}, "params.weapon", "one"),
        ("NO_SUCH", {}, "code", "unknown message id"),
    ],
)
def test_param_errors_name_the_field(
    catalog: Catalog, code: str, params: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(DomainError) as info:
        catalog.validate_params(code, params)
    assert info.value.field == field
    assert message in info.value.message
    assert str(info.value).startswith(f"{field}: ")


def test_minutes_message_reads_as_the_contract(catalog: Catalog) -> None:
    with pytest.raises(DomainError, match=r"^params\.minutes: must be a whole number >= 0"):
        catalog.validate_params("WITHDRAWING_IN", {"minutes": -1, "rally_grid": GRID})


def test_params_are_normalised(catalog: Catalog) -> None:
    given = {"minutes": 5.0, "rally_grid": "36u xb 53"}
    assert catalog.validate_params("WITHDRAWING_IN", given) == {
        "minutes": 5,
        "rally_grid": "36UXB53",
    }
    assert catalog.validate_params("CHECK_FIRE", {}) == {}
    assert catalog.validate_params("CHECK_FIRE", {"grid": None, "unit": " ALPHA 1 "}) == {
        "unit": "ALPHA 1"
    }
    assert catalog.validate_params("AMMO_STATUS", {"status": " Black "}) == {"status": "black"}
    assert catalog.validate_params("MEDEVAC_9LINE", {
        "line1": GRID, "line2": "f", "line3": "1A", "line4": "NONE", "line5": "L1", "line6": "p",
    }) == {
        "line1": GRID, "line2": "f", "line3": "1A", "line4": "none", "line5": "L1", "line6": "P",
    }  # fmt: skip
    values = catalog.validate_params("DANGER_CLOSE_WARNING", {"distance_m": 612.5, "grid": GRID})
    assert values["distance_m"] == 612.5


# --------------------------------------------------------------------------- templates


def test_template_fields_accept_only_bare_names() -> None:
    assert template_fields("In {minutes} min to {grid}; {{literal}}") == ["minutes", "grid"]
    for bad in ("{minutes:>3}", "{grid!r}", "{0}", "{a.b}", "{x[0]}", "{unclosed"):
        with pytest.raises(DomainError):
            template_fields(bad)


WITHDRAW = MessageDef(
    code="WITHDRAWING_IN",
    group=Group.MOVEMENT,
    priority=Priority.ROUTINE,
    ack_required=True,
    params=(ParamDef("minutes", ParamType.MINUTES), ParamDef("rally_grid", ParamType.GRID)),
)
MOVING = MessageDef(
    code="MOVING_IN",
    group=Group.MOVEMENT,
    priority=Priority.ROUTINE,
    ack_required=True,
    params=(
        ParamDef("minutes", ParamType.MINUTES),
        ParamDef("grid", ParamType.GRID),
        ParamDef("bearing_deg", ParamType.BEARING_DEG),
    ),
    one_of=OneOf(("grid", "bearing_deg"), required=True),
)


@pytest.mark.parametrize(
    ("definition", "text", "field", "message"),
    [
        (WITHDRAW, {"none": "In {minutes} min to {rally}."}, "text", "{rally} is not a parameter"),
        (WITHDRAW, {"none": "In {minutes} min."}, "text", "{rally_grid} is missing"),
        (MOVING, {"grid": "{minutes} {grid}"}, "text.bearing_deg", "is required"),
        (
            MOVING,
            {"grid": "{minutes} {grid}", "bearing_deg": "{minutes} {grid}"},
            "text.bearing_deg",
            "{grid} is not a parameter of this variant",
        ),
        (MOVING, {"none": "x", "grid": "{minutes}{grid}"}, "text.none", "no such variant"),
    ],
)
def test_templates_must_use_exactly_their_placeholders(
    definition: MessageDef, text: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(DomainError) as info:
        check_rendering(definition, Rendering(text=text, gloss="g"), english=True)
    assert info.value.field == field
    assert message in info.value.message


def test_rendering_rules() -> None:
    with pytest.raises(DomainError, match="reviewed_by"):
        Rendering(text={"none": "x"}, gloss="g", reviewed=True)
    with pytest.raises(DomainError, match="gloss"):
        Rendering(text={"none": "x"}, gloss=" ")
    ok = Rendering(text={"none": "{minutes} {rally_grid}"}, gloss="g")
    with pytest.raises(DomainError, match="back_translation"):
        check_rendering(WITHDRAW, ok, english=False)
    labelled = Rendering(text={"none": "{minutes} {rally_grid}"}, gloss="g", labels={"minutes": {}})
    with pytest.raises(DomainError, match="no enum parameter"):
        check_rendering(WITHDRAW, labelled, english=True)


def test_catalog_needs_english_for_every_message() -> None:
    with pytest.raises(DomainError, match="English is the fallback"):
        Catalog(definitions={"WITHDRAWING_IN": WITHDRAW}, renderings={})


def test_definition_rules() -> None:
    with pytest.raises(DomainError, match="code"):
        MessageDef("withdraw", Group.MOVEMENT, Priority.ROUTINE, True)
    with pytest.raises(DomainError, match="not a parameter"):
        MessageDef("X", Group.FIRE, Priority.SAFETY, True, (), OneOf(("grid", "unit"), False))
    with pytest.raises(DomainError, match="an enum needs"):
        ParamDef("status", ParamType.ENUM)
    with pytest.raises(DomainError, match="only an enum"):
        ParamDef("pax", ParamType.COUNT, values=("1",))
    with pytest.raises(DomainError):
        ParamDef("none", ParamType.TEXT)  # the name of the no-alternative variant

"""Loading the message catalog: shipped files, operator overrides, errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from holdfire.adapters.catalog import CatalogError, load_catalog

GRID = "36UXB5303396604"

REVIEWED_KO = """
[messages.WITHDRAWING_IN]
text = "{minutes}분 후 철수한다. 집결지: {rally_grid}."
back_translation = "We withdraw in {minutes} min. Rally point: {rally_grid}."
gloss = "검토된 설명."
reviewed = true
reviewed_by = "Kim Min-jun"
"""

GERMAN = """
[messages.WAIT_FOR_US]
text = "Wartet auf uns!"
back_translation = "Wait for us!"
gloss = "Nicht abfahren: ein Teil eures Trupps ist noch nicht bei euch."
reviewed = false
reviewed_by = ""

[messages.CHECK_FIRE]
text.none = "FEUER HALT! (CHECK FIRE)"
text.grid = "FEUER HALT! (CHECK FIRE) Raum {grid}."
text.unit = "FEUER HALT! (CHECK FIRE) {unit}."
back_translation.none = "FIRE HALT! (CHECK FIRE)"
back_translation.grid = "FIRE HALT! (CHECK FIRE) Area {grid}."
back_translation.unit = "FIRE HALT! (CHECK FIRE) {unit}."
gloss = "Sofort jedes Feuer einstellen."
reviewed = false
reviewed_by = ""
"""


def write(data_dir: Path, name: str, text: str) -> Path:
    path = data_dir / "catalog" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def refused(data_dir: Path, *parts: str) -> CatalogError:
    with pytest.raises(CatalogError) as info:
        load_catalog(data_dir)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))
    assert isinstance(info.value, ValueError)
    return info.value


def test_no_override_directory_gives_the_shipped_catalog(tmp_path: Path) -> None:
    assert load_catalog(tmp_path) == load_catalog()
    assert load_catalog(None) == load_catalog()


def test_a_reviewed_override_replaces_one_rendering_whole(tmp_path: Path) -> None:
    write(tmp_path, "ko.toml", REVIEWED_KO)
    shipped, catalog = load_catalog(), load_catalog(tmp_path)
    rendering = catalog.renderings["ko"]["WITHDRAWING_IN"]
    assert (rendering.reviewed, rendering.reviewed_by) == (True, "Kim Min-jun")
    assert catalog.coverage()["ko"].reviewed == 1
    r = catalog.render("WITHDRAWING_IN", {"minutes": 5, "rally_grid": GRID}, "ko-KR")
    assert r.text == f"5분 후 철수한다. 집결지: {GRID}."
    assert r.reviewed
    assert catalog.renderings["ko"]["MOUNT_NOW"] == shipped.renderings["ko"]["MOUNT_NOW"]
    assert catalog.renderings["ru"] == shipped.renderings["ru"]


def test_an_override_adds_a_language(tmp_path: Path) -> None:
    write(tmp_path, "de.toml", GERMAN)
    catalog = load_catalog(tmp_path)
    assert catalog.languages == ("en", "de", "ko", "ru", "uk")
    coverage = catalog.coverage()["de"]
    assert (coverage.rendered, coverage.complete) == (2, False)
    assert "MOUNT_NOW" in coverage.missing
    assert catalog.render("CHECK_FIRE", {"unit": "ALPHA 1"}, "de-AT").text == (
        "FEUER HALT! (CHECK FIRE) ALPHA 1."
    )
    fallback = catalog.render("MOUNT_NOW", {}, "de")
    assert (fallback.text, fallback.fallback) == ("[MOUNT_NOW] Mount now.", True)


def test_file_names_are_lower_cased_language_tags(tmp_path: Path) -> None:
    write(tmp_path, "DE.toml", GERMAN)
    assert "de" in load_catalog(tmp_path).languages


def test_a_bad_placeholder_names_file_id_and_placeholder(tmp_path: Path) -> None:
    write(tmp_path, "ko.toml", REVIEWED_KO.replace("{rally_grid}.", "{rally}.", 1))
    refused(tmp_path, "catalog/ko.toml", "messages.WITHDRAWING_IN.text", "{rally}")


def test_a_dropped_placeholder_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "ko.toml", REVIEWED_KO.replace(" 집결지: {rally_grid}.", "", 1))
    refused(tmp_path, "catalog/ko.toml", "messages.WITHDRAWING_IN.text", "{rally_grid} is missing")


def test_a_back_translation_must_match_its_text(tmp_path: Path) -> None:
    write(tmp_path, "ko.toml", REVIEWED_KO.replace("Rally point: {rally_grid}", "Rally point"))
    refused(tmp_path, "messages.WITHDRAWING_IN.back_translation", "{rally_grid}")


def test_a_missing_variant_names_it(tmp_path: Path) -> None:
    without_unit = GERMAN.replace('text.unit = "FEUER HALT! (CHECK FIRE) {unit}."\n', "")
    write(tmp_path, "de.toml", without_unit)
    refused(tmp_path, "catalog/de.toml", "messages.CHECK_FIRE.text.unit", "is required")


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("reviewed = true", 'reviewed = "yes"', "messages.WITHDRAWING_IN.reviewed", "true or"),
        ('reviewed_by = "Kim Min-jun"', 'reviewed_by = ""', "reviewed_by", "name of who"),
        ('gloss = "검토된 설명."', "", "messages.WITHDRAWING_IN.gloss", "is required"),
        ('gloss = "검토된 설명."', 'gloss = ""', "messages.WITHDRAWING_IN.gloss", "empty"),
        ('gloss = "검토된 설명."', 'glos = "x"', "messages.WITHDRAWING_IN.glos", "unknown key"),
        ("back_translation =", "#", "back_translation", "is required"),
        ("[messages.WITHDRAWING_IN]", "[messages.WITHDRAWING]", "messages.WITHDRAWING", "not a"),
        ("[messages.WITHDRAWING_IN]", "[message.WITHDRAWING_IN]", "message", "unknown table"),
        ("text = ", "text = 5 #", "messages.WITHDRAWING_IN.text", "must be a string"),
        ("{minutes}분 후", "{minutes:>3}분 후", "messages.WITHDRAWING_IN.text", "bare {name}"),
    ],
)
def test_malformed_entries_name_file_and_key(
    tmp_path: Path, old: str, new: str, where: str, message: str
) -> None:
    assert old in REVIEWED_KO
    write(tmp_path, "ko.toml", REVIEWED_KO.replace(old, new, 1))
    refused(tmp_path, "catalog/ko.toml", where, message)


def test_labels_are_checked(tmp_path: Path) -> None:
    entry = """
[messages.AMMO_STATUS]
text = "Munition: {status}."
back_translation = "Ammunition: {status}."
gloss = "Anteil der Grundausstattung."
reviewed = false
reviewed_by = ""
labels.status = { green = "GRÜN", purple = "LILA" }
"""
    write(tmp_path, "de.toml", entry)
    refused(tmp_path, "catalog/de.toml", "messages.AMMO_STATUS.labels.status.purple", "not a value")
    write(tmp_path, "de.toml", entry.replace(', purple = "LILA"', ""))
    catalog = load_catalog(tmp_path)
    assert catalog.render("AMMO_STATUS", {"status": "green"}, "de").text == "Munition: GRÜN."
    assert catalog.render("AMMO_STATUS", {"status": "red"}, "de").text == "Munition: red."


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, "ru.toml", "[messages.MOUNT_NOW\ntext = ")
    refused(tmp_path, "catalog/ru.toml", "not valid TOML")


def test_a_file_name_that_is_no_language_tag_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "korean.toml", REVIEWED_KO)
    refused(tmp_path, "catalog/korean.toml", "BCP 47")


def test_the_definitions_cannot_be_overridden(tmp_path: Path) -> None:
    write(tmp_path, "messages.toml", "[messages.NEW]\n")
    refused(tmp_path, "catalog/messages.toml", "cannot be overridden")


def test_english_needs_no_back_translation(tmp_path: Path) -> None:
    write(
        tmp_path,
        "en.toml",
        '[messages.MOUNT_NOW]\ntext = "Mount up now."\nback_translation = "x"\n'
        'gloss = "Get in."\nreviewed = true\nreviewed_by = "J. Smith"\n',
    )
    refused(tmp_path, "catalog/en.toml", "messages.MOUNT_NOW.back_translation", "English needs no")

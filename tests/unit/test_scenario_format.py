"""The scenario format: what a malformed file is told (line and field), and how values read."""

from __future__ import annotations

import textwrap

import pytest

from holdfire.sim import bundled
from holdfire.sim.model import ScenarioError, load_file, load_text

GOOD = """\
name: tiny
start: 2025-01-10T08:00:00Z
area: {center: "51.35, 35.10"}
places:
  hill: 36UXB4625790880
units:
  - uid: a
    affiliation: friend
    mobility: dismounted
    report: {every: 1m, ce_m: 5}
    route:
      - {at: 0, pos: hill}
      - {at: 2m, pos: {from: hill, bearing_deg: 90, distance_m: 1200}}
events:
  - at: 1m30s
    check: {name: c1, target: hill, weapon: fpv-drone}
expect:
  - check: c1
    verdict: HOLD
"""


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_text(textwrap.dedent(text), "bad.yaml")
    return str(caught.value)


def test_a_good_file_reads_into_a_plan() -> None:
    scenario = load_text(GOOD, "good.yaml")
    (unit,) = scenario.units
    assert [t for t, _ in unit.route] == [0.0, 120.0]
    assert list(unit.report_times(scenario.duration_s)) == [0.0, 60.0, 120.0]
    halfway = unit.position(60.0)
    start, end = unit.route[0][1], unit.route[1][1]
    assert start.lon < halfway.lon < end.lon
    assert start.grid == "36UXB4625790880" and start.cell_m > 0  # a grid keeps its cell
    (check,) = scenario.actions
    assert check.at_s == 90.0 and check.data["target"] == {"grid": "36UXB4625790880"}
    assert scenario.duration_s == 150.0  # last item + 30 s


def test_yaml_syntax_errors_name_the_line() -> None:
    message = error_of(GOOD.replace("  - uid: a\n", "  - uid: [a\n"))
    assert message.startswith("bad.yaml:") and "not valid YAML" in message
    assert int(message.split(":")[1]) in range(6, 9)


def test_an_unknown_field_names_its_line_and_path() -> None:
    message = error_of(GOOD.replace("    mobility: dismounted\n", "    mobilty: dismounted\n"))
    assert message.startswith("bad.yaml:9: units[0].mobilty:"), message


def test_a_bad_value_deep_in_a_route_names_it() -> None:
    message = error_of(GOOD.replace("{at: 2m, pos:", "{at: two minutes, pos:"))
    assert message.startswith("bad.yaml:13: units[0].route[1].at:"), message


def test_an_unknown_place_names_the_field() -> None:
    message = error_of(GOOD.replace("target: hill", "target: valley"))
    assert message.startswith("bad.yaml:16: events[0].check.target:"), message
    assert "'valley'" in message


def test_an_expectation_about_a_check_that_is_never_asked() -> None:
    message = error_of(GOOD.replace("  - check: c1\n", "  - check: c2\n"))
    assert message.startswith("bad.yaml:18: expect[0].check:"), message
    assert "no check is named 'c2'" in message


def test_waypoints_out_of_order_and_acks_of_unknown_messages() -> None:
    assert "waypoints must be in time order" in error_of(
        GOOD.replace("{at: 2m, pos:", "{at: 0s, pos:").replace(
            "{at: 0, pos: hill}", "{at: 5m, pos: hill}"
        )
    )
    message = error_of(
        GOOD.replace("events:\n", "events:\n  - {at: 1s, ack: {message: m9, by: a}}\n")
    )
    assert message.startswith("bad.yaml:15: events[0].ack.message:"), message


def test_a_wrong_verdict_is_refused_by_the_schema() -> None:
    message = error_of(GOOD.replace("verdict: HOLD", "verdict: SAFE"))
    assert message.startswith("bad.yaml:19: expect[0].verdict:"), message
    assert "'SAFE' is not one of" in message


@pytest.mark.parametrize("name", sorted(bundled()))
def test_every_bundled_scenario_reads_and_names_its_public_source(name: str) -> None:
    path = bundled()[name]
    scenario = load_file(path)
    assert scenario.name == name
    first_comment = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_comment.startswith("# Follows")
    for unit in scenario.units:  # Kursk region: MGRS zones 36U and 37U
        for _, point in unit.route:
            assert 50.5 < point.lat < 52.5 and 33.0 < point.lon < 38.5, (unit.uid, point)


@pytest.mark.parametrize(
    "text", ["[" * 999 + "]" * 999, "".join(f"{' ' * i}k:\n" for i in range(100))]
)
def test_a_document_nested_past_any_scenario_is_refused_not_a_crash(text: str) -> None:
    """999 levels of nesting overflowed the stack (RecursionError) while the schema error was
    written; anything deeper than the format's own depth is refused, naming the line."""
    with pytest.raises(ScenarioError, match="nested deeper than 64 levels"):
        load_text(text)


def test_keys_that_are_not_text_next_to_an_unknown_field_are_refused_not_a_crash() -> None:
    """Found by fuzzing: YAML reads `yes:` as a boolean key, and sorting it with the text keys
    to name the unknown field raised TypeError."""
    message = error_of(GOOD + "yes: 1\nextra: 2\n")
    assert "is not a field of the scenario format" in message

"""The `holdfire` command line, run as a real subprocess against a temporary data directory.

Exit codes (design.md §5): 0 NO_KNOWN_CONFLICT, 3 COORDINATE or DANGER_CLOSE, 4 HOLD, 2 usage
error, 1 runtime error. Distances for the danger-close case are computed from the shipped weapon
and mobility tables and pyproj.Geod, independently of holdfire.geo.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyproj import Geod

from holdfire.adapters.store.sqlite import SQLiteStore
from holdfire.domain.checks import Verdict
from support.tiles import png, write_mbtiles, write_xyz

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KURSK = ROOT / "examples" / "kursk"
KURSK_FILES = [KURSK / "units.csv", KURSK / "reports.json", KURSK / "measures.geojson"]
DATA_TABLES = ROOT / "src" / "holdfire" / "data"
GEOD = Geod(ellps="WGS84")

BATTERY_GRID = "36UXB5685285590"  # btry-2s1-1 in examples/kursk/reports.json
# About 18 km from every unit and measure of the Kursk example.
FAR = "51.5, 35.0"
# About 10 km from every unit and measure of the Kursk example (nearest: btr-sec-1, ~12 km).
AWAY = "51.45, 35.45"

CLEARANCE_KEYS = {
    "id",
    "verdict",
    "reasons",
    "target",
    "weapon",
    "impact_time",
    "evaluated_at",
    "valid_until",
    "picture_version",
}
REASON_KEYS = {"code", "verdict", "note", "subject", "distance_m", "threshold_m", "detail"}
SEVERITY = {v.value: v.severity for v in Verdict}


def _command() -> list[str]:
    script = Path(sys.executable).with_name("holdfire")
    return [str(script)] if script.exists() else [sys.executable, "-m", "holdfire.cli"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLDFIRE_")}
    for key in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        env.pop(key, None)
    return env


def holdfire(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_command(), *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=60,
        check=False,
    )


def check_json(data: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = holdfire("check", *args, "--data", data, "--json")
    assert result.returncode in (0, 3, 4), result.stderr
    return result.returncode, json.loads(result.stdout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("holdfire: ")
    for needle in needles:
        assert needle in lines[0]


def import_ok(data: Path, *files: Path) -> str:
    result = holdfire("import", "--data", data, *files)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def kursk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("kursk") / "data"
    out = import_ok(data, *KURSK_FILES)
    assert "5 units, 5 reports, 2 measures" in out
    return data


# --- verdicts and exit codes -------------------------------------------------------------------


def test_aiming_at_a_friendly_battery_is_hold(kursk: Path) -> None:
    code, clearance = check_json(kursk, BATTERY_GRID, "--weapon", "guided-missile-small")
    assert code == 4
    assert clearance["verdict"] == "HOLD"
    first = clearance["reasons"][0]
    # Fresh right after the import; stale if this module ran slowly. HOLD either way.
    assert first["code"] in ("FRIENDLY_IN_DANGER_AREA", "STALE_FRIENDLY")
    assert first["subject"] == "btry-2s1-1"
    assert first["distance_m"] < 5.0
    assert clearance["target"]["mgrs"] == BATTERY_GRID


def test_json_output_has_the_clearance_shape_with_reasons_strictest_first(kursk: Path) -> None:
    _, clearance = check_json(kursk, BATTERY_GRID, "--weapon", "guided-missile-small")
    assert clearance.keys() >= CLEARANCE_KEYS
    assert clearance["target"].keys() >= {"lat", "lon", "mgrs"}
    assert clearance["weapon"] == "guided-missile-small"
    assert isinstance(clearance["picture_version"], int)
    for key in ("impact_time", "evaluated_at", "valid_until"):
        assert clearance[key].endswith("Z")
    reasons = clearance["reasons"]
    assert len(reasons) >= 2  # the friendly, and LOOKALIKE for a target of no stated type
    for reason in reasons:
        assert reason.keys() >= REASON_KEYS
    severities = [SEVERITY[r["verdict"]] for r in reasons]
    assert severities == sorted(severities, reverse=True)
    assert {r["verdict"] for r in reasons} >= {"HOLD", "COORDINATE"}


def test_a_lookalike_far_from_everyone_is_coordinate(kursk: Path) -> None:
    code, clearance = check_json(kursk, AWAY, "--weapon", "155mm-howitzer", "--type", "tor")
    assert code == 3
    assert clearance["verdict"] == "COORDINATE"
    assert [r["code"] for r in clearance["reasons"]] == ["LOOKALIKE"]
    lookalike = clearance["reasons"][0]
    assert lookalike["subject"] == "prk-ad-1"  # the North Korean trailer-mounted "Tor"
    assert lookalike["distance_m"] > 5000


def test_a_confirmed_type_far_from_everyone_is_no_known_conflict(kursk: Path) -> None:
    # No unit of the example fields a T-72, but Russia (a friendly nation here) does: a note.
    code, clearance = check_json(
        kursk,
        FAR,
        "--weapon",
        "155mm-howitzer",
        "--type",
        "t-72",
        "--pid",
        "observer",
        "--pid-detail",
        "FO BRAVO-2 confirms hostile markings",
    )
    assert code == 0
    assert clearance["verdict"] == "NO_KNOWN_CONFLICT"
    assert clearance["reasons"], "the lookalike is kept as a note"
    assert all(r["note"] for r in clearance["reasons"])
    assert "FO BRAVO-2" in clearance["reasons"][0]["detail"]


def test_pid_basis_is_case_insensitive(kursk: Path) -> None:
    result = holdfire(
        "check", FAR, "--weapon", "155mm-howitzer", "--type", "t-72", "--pid", "Observer",
        "--pid-detail", "FO", "--data", kursk,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_an_unknown_weapon_is_a_hold_verdict_not_an_error(kursk: Path) -> None:
    code, clearance = check_json(kursk, FAR, "--weapon", "trebuchet")
    assert code == 4
    assert clearance["verdict"] == "HOLD"
    assert clearance["reasons"][0]["code"] == "UNKNOWN_WEAPON"
    assert clearance["reasons"][0]["subject"] == "trebuchet"


def _weapon(weapon_id: str) -> dict[str, Any]:
    with (DATA_TABLES / "weapons.toml").open("rb") as f:
        row: dict[str, Any] = tomllib.load(f)["weapons"][weapon_id]
    return row


def _mobility(name: str) -> dict[str, Any]:
    with (DATA_TABLES / "mobility.toml").open("rb") as f:
        row: dict[str, Any] = tomllib.load(f)["mobility"][name]
    return row


def test_a_friend_between_red10_and_danger_close_is_danger_close(tmp_path: Path) -> None:
    weapon, static = _weapon("155mm-howitzer"), _mobility("static")
    ce_m, slack_s = 10.0, 20.0  # the report's error; seconds the test may take to run
    error_m = weapon["cep_m"]  # + TLE 0, cell 0 (lat/lon target), datum error 0 (WGS 84)
    # d - r < limit + E, with r = ce + v_max * age (age from 0 to slack_s while the test runs)
    hold_below = weapon["red10_m"] + error_m + ce_m + static["v_max_mps"] * slack_s
    close_below = max(weapon["red01_m"], weapon["danger_close_m"]) + error_m + ce_m
    assert close_below - hold_below > 300, "tables changed: pick another weapon"
    distance = (hold_below + close_below) / 2
    assert static["stale_after_s"] > slack_s  # still fresh when checked

    unit_lat, unit_lon = 51.60, 35.60
    lon, lat, _ = GEOD.fwd(unit_lon, unit_lat, 45.0, distance)
    picture = {
        "units": [
            {"uid": "obs-1", "callsign": "OBSERVER-1", "affiliation": "friend",
             "nation": "UKR", "mobility": "static"},
        ],
        "reports": [{"uid": "obs-1", "lat": unit_lat, "lon": unit_lon, "ce_m": ce_m}],
    }  # fmt: skip
    path = tmp_path / "observer.json"
    path.write_text(json.dumps(picture), encoding="utf-8")
    data = tmp_path / "data"
    import_ok(data, path)

    code, clearance = check_json(data, f"{lat:.7f}, {lon:.7f}", "--weapon", "155mm-howitzer")
    assert code == 3
    assert clearance["verdict"] == "DANGER_CLOSE"
    first = clearance["reasons"][0]
    assert (first["code"], first["subject"]) == ("DANGER_CLOSE", "obs-1")
    assert first["distance_m"] == pytest.approx(distance, abs=0.5)
    assert first["threshold_m"] >= close_below


# --- usage errors ------------------------------------------------------------------------------


def test_a_grid_with_odd_digits_is_a_one_line_usage_error(kursk: Path) -> None:
    result = holdfire("check", "36UXB530396604", "--weapon", "155mm-howitzer", "--data", kursk)
    assert_one_line_error(result, "36UXB530396604", "odd number of digits")
    assert result.stdout == ""


@pytest.mark.parametrize("target", ["not a place", "91, 35", "36UXB", ""])
def test_unparseable_targets_are_usage_errors(kursk: Path, target: str) -> None:
    result = holdfire("check", target, "--weapon", "155mm-howitzer", "--data", kursk)
    assert_one_line_error(result, "target")


def test_a_missing_data_directory_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = holdfire("check", FAR, "--weapon", "155mm-howitzer", "--data", missing)
    assert_one_line_error(result, str(missing), "does not exist")
    assert not missing.exists()  # a check never creates it


def test_an_empty_data_directory_is_a_usage_error(tmp_path: Path) -> None:
    # An empty picture would answer NO_KNOWN_CONFLICT for want of data.
    result = holdfire("check", FAR, "--weapon", "155mm-howitzer", "--data", tmp_path)
    assert_one_line_error(result, "holdfire.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("time", "needle"),
    [
        ("yesterday", "--time"),
        ("2026-11-22T07:00:00", "time zone"),
        ("2020-01-01T00:00:00Z", "past"),
    ],
)
def test_a_bad_impact_time_is_a_usage_error(kursk: Path, time: str, needle: str) -> None:
    result = holdfire("check", FAR, "--weapon", "atgm", "--time", time, "--data", kursk)
    assert_one_line_error(result, needle)


@pytest.mark.parametrize(("tle", "needle"), [("-5", "--tle"), ("nan", "--tle")])
def test_a_bad_target_location_error_is_a_usage_error(kursk: Path, tle: str, needle: str) -> None:
    result = holdfire("check", FAR, "--weapon", "atgm", "--tle", tle, "--data", kursk)
    assert_one_line_error(result, needle)


def test_an_unknown_datum_is_a_usage_error(kursk: Path) -> None:
    result = holdfire("check", FAR, "--weapon", "atgm", "--datum", "NAD27", "--data", kursk)
    assert_one_line_error(result, "--datum", "NAD27")


def test_an_unknown_pid_basis_is_a_usage_error(kursk: Path) -> None:
    result = holdfire("check", FAR, "--weapon", "atgm", "--pid", "hunch", "--data", kursk)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_a_missing_weapon_is_a_usage_error(kursk: Path) -> None:
    result = holdfire("check", FAR, "--data", kursk)
    assert result.returncode == 2
    assert "--weapon" in result.stderr


def test_check_help_works() -> None:
    result = holdfire("check", "--help")
    assert result.returncode == 0
    for option in ("--weapon", "--type", "--pid", "--pid-detail", "--firing-unit", "--time"):
        assert option in result.stdout
    assert "--tle" in result.stdout
    assert "--json" in result.stdout


def test_top_level_help_lists_the_commands() -> None:
    result = holdfire("--help")
    assert result.returncode == 0
    assert "check" in result.stdout
    assert "import" in result.stdout


# --- readable output ---------------------------------------------------------------------------


def test_readable_output_is_unwrapped_plain_text_when_piped(kursk: Path) -> None:
    result = holdfire("check", BATTERY_GRID, "--weapon", "guided-missile-small", "--data", kursk)
    assert result.returncode == 4
    assert "\x1b[" not in result.stdout  # no colour codes into a pipe
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "HOLD",
        "target",
        BATTERY_GRID,
        *lines[0].split()[3:5],
        "weapon",
        "guided-missile-small",
    ]
    assert "btry-2s1-1" in lines[2]
    # Each reason's detail is a whole line, however long.
    detail = lines[3]
    assert detail.startswith("    ")
    assert "GVOZDIKA-1" in detail
    assert "position radius" in detail
    assert len(detail) > 80


def test_user_text_prints_as_is_and_never_breaks_the_output(kursk: Path) -> None:
    # Rich markup in a weapon name once crashed the printer after the check was stored.
    result = holdfire("check", FAR, "--weapon", "x[/]", "--type", "[bold]t", "--data", kursk)
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    assert "weapon x[/]" in result.stdout.splitlines()[0]
    assert "'[bold]t'" in result.stdout


# --- import ------------------------------------------------------------------------------------


def test_importing_a_malformed_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"units": [', encoding="utf-8")
    data = tmp_path / "data"
    result = holdfire("import", "--data", data, KURSK / "units.csv", bad)
    assert_one_line_error(result, "broken.json", "not readable")
    assert not data.exists()  # nothing imported, not even the units file before it


def test_a_bad_report_row_imports_nothing_and_names_the_row(tmp_path: Path) -> None:
    bad = tmp_path / "reports.csv"
    bad.write_text("uid,lat,lon\na1,51.0,35.0\na2,95.0,35.0\n", encoding="utf-8")
    data = tmp_path / "data"
    result = holdfire("import", "--data", data, KURSK / "units.csv", bad)
    assert_one_line_error(result, "reports.csv", "row 2", "line 3", "lat")
    check = holdfire("check", FAR, "--weapon", "atgm", "--data", data)
    assert check.returncode == 2  # no database was written


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("units.csv", "uid,affiliation\na1,frend\n", "affiliation"),
        ("x.json", '{"unitz": []}', "unitz"),
        ("m.geojson", json.dumps({"type": "Feature", "properties": {"kind": "NOPE"}}), "kind"),
    ],
)
def test_import_errors_name_the_file_and_field(
    tmp_path: Path, name: str, content: str, needle: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = holdfire("import", "--data", tmp_path / "data", path)
    assert_one_line_error(result, name, needle)


def test_importing_a_missing_or_binary_file_is_a_usage_error(tmp_path: Path) -> None:
    assert_one_line_error(
        holdfire("import", "--data", tmp_path / "d", tmp_path / "none.json"), "none.json"
    )
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_line_error(holdfire("import", "--data", tmp_path / "d", binary), "bin.json")


def test_a_report_older_than_the_one_kept_is_named_and_not_counted(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    data = tmp_path / "data"
    path = tmp_path / "fixes.json"
    for minutes_ago in (1, 3):  # the second import sends an older fix from the same file name
        observed = (now - timedelta(minutes=minutes_ago)).isoformat()
        path.write_text(
            json.dumps([{"uid": "a1", "lat": 51.6, "lon": 35.6, "observed_at": observed}]),
            encoding="utf-8",
        )
        result = holdfire("import", "--data", data, path)
        assert result.returncode == 0, result.stderr
    assert "0 reports" in result.stdout
    assert "fixes.json: reports row 1: not applied: older" in result.stderr


def test_the_data_directory_keeps_the_picture_across_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    import_ok(data, KURSK / "units.csv")  # run 1: the registry
    import_ok(data, KURSK / "reports.json")  # run 2: positions only
    import_ok(data, KURSK / "measures.geojson")  # run 3: measures
    _, clearance = check_json(data, BATTERY_GRID, "--weapon", "guided-missile-small")
    battery = next(r for r in clearance["reasons"] if r["subject"] == "btry-2s1-1")
    assert battery["verdict"] == "HOLD"
    # The callsign comes from run 1: a report alone would have registered the uid as its name.
    assert "GVOZDIKA-1" in battery["detail"]
    # And the measures from run 3: aiming at the hospital is a protected-site HOLD.
    _, clearance = check_json(data, "51.38, 35.20", "--weapon", "60mm-mortar")
    assert "PROTECTED_SITE" in {r["code"] for r in clearance["reasons"]}


def test_the_default_data_directory_is_holdfire_data_in_the_working_directory(
    tmp_path: Path,
) -> None:
    result = holdfire("import", KURSK / "units.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "holdfire-data" / "holdfire.db").is_file()
    # Units without positions, a target of no stated type: LOOKALIKE, COORDINATE.
    assert holdfire("check", FAR, "--weapon", "atgm", cwd=tmp_path).returncode == 3


# --- audit -------------------------------------------------------------------------------------


async def test_every_check_is_stored_with_who_asked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    import_ok(data, *KURSK_FILES)
    _, hold = check_json(data, BATTERY_GRID, "--weapon", "guided-missile-small")
    _, coordinate = check_json(data, AWAY, "--weapon", "155mm-howitzer", "--type", "tor")

    store = SQLiteStore(data / "holdfire.db")
    await store.open()
    try:
        checks, _ = await store.list_checks()
    finally:
        await store.close()
    stored = {c.id: c for c in checks}
    assert set(stored) == {hold["id"], coordinate["id"]}
    assert stored[hold["id"]].verdict is Verdict.HOLD
    assert stored[coordinate["id"]].verdict is Verdict.COORDINATE
    for clearance in stored.values():
        assert clearance.request.requester == f"cli:{getpass.getuser()}"
    assert stored[coordinate["id"]].request.target_type == "tor"


def test_a_bad_catalog_override_stops_serve_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "catalog").mkdir(parents=True)
    (data / "catalog" / "ko.toml").write_text(
        '[messages.WAIT_FOR_US]\ntext = "{nonsense}"\ngloss = "x"\nback_translation = "x"\n'
        'reviewed = false\nreviewed_by = ""\n',
        encoding="utf-8",
    )
    result = holdfire(
        "serve", "--data", data, "--http", "off", "--cot-tcp", "off", "--cot-tls", "off"
    )
    assert result.returncode == 1
    assert "ko.toml" in result.stderr and "nonsense" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_tiles_that_cannot_be_served_is_a_usage_error(tmp_path: Path) -> None:
    data, missing, garbage = tmp_path / "data", tmp_path / "nowhere", tmp_path / "ao.mbtiles"
    garbage.write_bytes(b"not a tile archive")
    off = ("--cot-tcp", "off", "--cot-tls", "off", "--http", "127.0.0.1:0")
    result = holdfire("serve", "--data", data, "--tiles", missing, *off)
    assert_one_line_error(result, f"--tiles {missing}: no such file or folder")
    result = holdfire("serve", "--data", data, "--tiles", garbage, *off)
    assert_one_line_error(result, "neither an XYZ tile folder, an MBTiles file nor a PMTiles")
    assert not data.exists()  # refused before anything was written
    folder = write_xyz(tmp_path / "ao", {(3, 4, 2): png(1)})
    result = holdfire("serve", "--data", data, "--tiles", folder, *off[:4], "--http", "off")
    assert_one_line_error(result, "--tiles needs the HTTP listener")


def test_serve_names_the_tiles_it_serves(tmp_path: Path) -> None:
    tiles = write_mbtiles(tmp_path / "ao.mbtiles", {(3, 4, 2): png(1)}, {"name": "Kursk AO"})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["serve", "--data", str(tmp_path / "data"), "--http", f"127.0.0.1:{port}"]
    args += ["--cot-tcp", "off", "--cot-tls", "off", "--tiles", str(tiles)]
    proc = subprocess.Popen(
        [*_command(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # up to the admin token, printed after the listeners
            lines.append(line)
            if "admin token" in line:
                break
        r = httpx.get(f"http://127.0.0.1:{port}/tiles/3/4/2", timeout=10)
        assert (r.status_code, r.content) == (200, png(1))
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    expected = (
        f"map tiles http://127.0.0.1:{port}/tiles/{{z}}/{{x}}/{{y}}: Kursk AO (png, zoom 3-3)"
    )
    announced = [line for line in lines if "map tiles" in line]
    assert len(announced) == 1 and expected in announced[0], "".join(lines) + out
    assert str(tiles) in announced[0]
    assert proc.returncode == 0, out

"""Scenarios end to end: every bundled one passes in-process on a fake clock; the seed ones also
pass against a live server (CoT over TCP and HTTP, accelerated); a wrong expectation fails,
naming itself, from the runner and from the command line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from holdfire.bootstrap import Listeners, Running, run_in_process, start_server
from holdfire.cli import DEMO, app
from holdfire.config import Settings
from holdfire.sim import bundled
from holdfire.sim.live import run_live
from holdfire.sim.model import load_file, load_text
from holdfire.sim.runner import RunResult

pytestmark = pytest.mark.integration

LIVE_SPEED = 60.0  # the seed scenarios last 4 to 8 minutes: a few seconds each


def failures(result: RunResult) -> str:
    lines = [f"{j.expectation.where} {j.expectation.label}: {j.detail}" for j in result.judged]
    return "\n".join([*result.errors, *lines])


@pytest.mark.parametrize("name", sorted(bundled()))
async def test_every_bundled_scenario_passes_in_process(name: str) -> None:
    result = await run_in_process(load_file(bundled()[name]))
    assert result.passed, failures(result)
    assert result.judged and result.reports > 0


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Running]:
    running = await start_server(
        Settings(tmp_path / "data"),
        Listeners(http=("127.0.0.1", 0), cot_tcp=("127.0.0.1", 0), cot_tls=None),
    )
    try:
        yield running
    finally:
        await running.close()


@pytest.mark.parametrize("name", DEMO)
async def test_the_seed_scenarios_pass_against_a_live_server(server: Running, name: str) -> None:
    assert server.admin_token_file is not None
    host, port = server.bound["http"]
    result = await run_live(
        load_file(bundled()[name]),
        f"http://{host}:{port}",
        server.admin_token_file.read_text().strip(),
        server.bound["tcp"],
        LIVE_SPEED,
    )
    assert result.passed, failures(result)
    # The positions went over CoT: the server's picture holds every unit that reported.
    reported = {u.uid for u in result.scenario.units if u.route}
    assert reported <= {t.uid for t in server.service.picture.tracks()}


def wrong(name: str) -> str:
    """A bundled scenario whose first check expectation asks for the wrong verdict."""
    text = bundled()[name].read_text(encoding="utf-8")
    return text.replace("    verdict: HOLD\n", "    verdict: NO_KNOWN_CONFLICT\n", 1)


async def test_a_wrong_expectation_fails_naming_it() -> None:
    result = await run_in_process(load_text(wrong("kursk-2s1-missile"), "wrong.yaml"))
    assert not result.passed
    (failed,) = [j for j in result.judged if not j.passed]
    assert failed.expectation.where == "expect[0]"
    assert "check missile-on-the-2s1" in failed.expectation.label
    assert "verdict was HOLD, expected NO_KNOWN_CONFLICT" in failed.detail


async def test_a_never_that_happens_fails() -> None:
    text = bundled()["kalinovka-withdrawal"].read_text(encoding="utf-8")
    text = text.replace("  - alert: SEPARATION\n", "  - alert: SEPARATION\n    never: true\n", 1)
    result = await run_in_process(load_text(text, "never.yaml"))
    (failed,) = [j for j in result.judged if not j.passed]
    assert failed.expectation.label.startswith("no alert SEPARATION about sqd-1")
    assert failed.detail.startswith("but ")


def test_the_command_line_exit_code_and_table_name_the_failed_expectation(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(wrong("kursk-2s1-missile"), encoding="utf-8")
    runner = CliRunner()
    failed = runner.invoke(app, ["scenario", "run", str(path), "--no-reports"])
    assert failed.exit_code == 1, failed.output
    assert "FAIL" in failed.output and "missile-on-the-2s1" in failed.output
    passed = runner.invoke(app, ["scenario", "run", "kursk-2s1-missile", "--json"])
    assert passed.exit_code == 0, passed.output
    assert '"passed": true' in passed.output


def test_a_malformed_file_is_a_usage_error_naming_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    text = bundled()["kalinovka-withdrawal"].read_text(encoding="utf-8")
    path.write_text(text.replace("mobility: dismounted", "mobility: walking", 1), encoding="utf-8")
    result = CliRunner().invoke(app, ["scenario", "run", str(path)])
    assert result.exit_code == 2
    line = next(i + 1 for i, row in enumerate(path.read_text().splitlines()) if "walking" in row)
    assert f"bad.yaml:{line}: units[1].mobility: 'walking' is not one of" in result.output


def test_demo_replays_the_seed_incidents() -> None:
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    for name in DEMO:
        assert f"pass  {name}" in result.output

"""The import rule (design.md §2): imports point inward, and the pure core does no I/O.

geo <- domain <- engine <- service <- {codecs, adapters, api, sim} <- bootstrap <- cli (cli.py and
the commands_*.py modules of its commands).
geo, domain and engine import no framework, no I/O module and read no clock.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "holdfire"
RINGS = ["geo", "domain", "engine", "service", "outer", "bootstrap", "cli"]
OUTER = {"codecs", "adapters", "api", "sim", "data"}
PURE = {"geo", "domain", "engine"}
FORBIDDEN_IN_PURE = {
    # frameworks and drivers
    "fastapi", "starlette", "pydantic", "uvicorn", "sqlite3", "psycopg", "nats", "aiomqtt",
    "lxml", "defusedxml", "takproto", "pytak", "typer", "rich", "httpx",
    # I/O, processes, the clock
    "os", "io", "sys", "socket", "asyncio", "pathlib", "subprocess", "shutil", "tempfile",
    "time", "urllib", "http", "logging", "threading", "random", "uuid", "importlib",
}  # fmt: skip
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def ring_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    top = parts[0].removesuffix(".py")
    if top in OUTER:
        return "outer"
    if top.startswith("commands"):  # commands_*.py: more of the command line, beside cli.py
        return "cli"
    return top if top in RINGS else "bootstrap"  # config.py sits with bootstrap


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_inward(path: Path) -> None:
    own = RINGS.index(ring_of(path))
    for name in imported(ast.parse(path.read_text())):
        if not name.startswith("holdfire."):
            continue
        target = PACKAGE.joinpath(*name.split(".")[1:])
        target_path = target.with_suffix(".py") if target.with_suffix(".py").exists() else target
        other = RINGS.index(ring_of(target_path))
        assert other <= own, f"{path.name} ({RINGS[own]}) imports outward: {name}"


@pytest.mark.parametrize(
    "path",
    [p for p in modules() if ring_of(p) in PURE],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_pure_core_does_no_io_and_reads_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for name in imported(tree):
        assert name.split(".")[0] not in FORBIDDEN_IN_PURE, f"{path.name} imports {name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id not in {"open", "print", "input"}, f"{path.name} calls {func.id}"
            if isinstance(func, ast.Attribute):
                assert func.attr not in CLOCK_CALLS, f"{path.name} reads the clock: .{func.attr}()"


def test_the_rule_sees_a_violation(tmp_path: Path) -> None:
    bad = ast.parse("import sqlite3\nfrom datetime import datetime\nx = datetime.now()\n")
    assert "sqlite3" in imported(bad)
    calls = [n.func.attr for n in ast.walk(bad) if isinstance(n, ast.Call)]  # type: ignore[attr-defined]
    assert "now" in calls

"""The modules setup.py compiles with mypyc are what the tests and the server run: each one is
imported from its extension module, built from its current source, and no extension is left
over from a module taken off the list (an extension module shadows its source)."""

import importlib
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPILED = re.findall(r'^\s*"(src/holdfire/.*\.py)",$', (ROOT / "setup.py").read_text(), re.M)
PURE = bool(os.environ.get("HOLDFIRE_PURE_PYTHON"))


def _module_name(path: str) -> str:
    return path.removeprefix("src/").removesuffix(".py").replace("/", ".")


def test_the_check_path_is_on_the_list() -> None:
    for path in ("src/holdfire/engine/clearance.py", "src/holdfire/engine/spatial.py"):
        assert path in COMPILED


def test_each_listed_module_runs_from_a_build_of_its_current_source() -> None:
    for path in COMPILED:
        loaded = Path(str(importlib.import_module(_module_name(path)).__file__))
        if PURE:
            assert loaded.suffix == ".py", (
                f"{loaded} is compiled although HOLDFIRE_PURE_PYTHON is set"
            )
            continue
        assert loaded.suffix == ".so", f"{path} runs uncompiled: run `make install`"
        source = ROOT / path
        assert loaded.stat().st_mtime >= source.stat().st_mtime, (
            f"{loaded.name} was built before {path} last changed: run `make install`"
        )


def test_no_extension_outlives_its_place_on_the_list() -> None:
    listed = {ROOT / path for path in COMPILED}
    for built in (ROOT / "src").rglob("*.so"):
        if "__mypyc" in built.name:  # the runtime library every compiled module shares
            continue
        source = built.parent / f"{built.name.split('.')[0]}.py"
        assert source in listed, f"{built} is not on setup.py's list: run `make install`"

"""Scenarios: replay situations against holdfire and check what it answers (design.md §2).

`model` reads the YAML format, `runner` replays a scenario through a `drivers.Driver` (a Service
in this process, or a live server over CoT and HTTP: `live`), paced by `pace`; `render` prints
the timeline and the expectations. Bundled scenarios live in `scenarios/`.
"""

from importlib import resources
from pathlib import Path

from holdfire.sim.model import ScenarioError

SUFFIX = ".yaml"


def bundled() -> dict[str, Path]:
    """The scenarios shipped in the package, by name."""
    folder = resources.files("holdfire.sim").joinpath("scenarios")
    return {
        entry.name.removesuffix(SUFFIX): Path(str(entry))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name.removesuffix(SUFFIX))
        if entry.name.endswith(SUFFIX)
    }


def locate(name_or_path: str) -> Path:
    """A bundled scenario's name, or a file."""
    shipped = bundled()
    if name_or_path in shipped:
        return shipped[name_or_path]
    path = Path(name_or_path)
    if path.is_file():
        return path
    names = ", ".join(shipped) or "none"
    raise ScenarioError(f"{name_or_path}: no such file, nor a bundled scenario (bundled: {names})")

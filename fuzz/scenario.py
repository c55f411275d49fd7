"""Fuzz target: scenario files (YAML, checked against the schema, read into a plan).

Properties: ``load_text`` returns a scenario or raises ``ScenarioError`` (invalid UTF-8 is
refused before, as ``load_file`` does).
"""

import contextlib

from harness import fuzz, instrumented, seed_files

with instrumented():
    from holdfire.sim.model import ScenarioError, load_text


def test_one(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    with contextlib.suppress(ScenarioError):
        load_text(text)


if __name__ == "__main__":
    fuzz(test_one, seed_files("src/holdfire/sim/scenarios/*.yaml"), max_len=64 * 1024)

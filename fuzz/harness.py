"""Shared harness of the atheris targets in this folder: seeds, limits and the libFuzzer run.

Every target is a script, runnable alone::

    python fuzz/cot_xml.py [libFuzzer flags] [corpus directory]

A target imports holdfire inside :func:`instrumented`, so atheris instruments holdfire's code
(and nothing else) for coverage, and hands its one-input function and seeds to :func:`fuzz`.
The function raises nothing for input the code under test refuses with its documented error
type; any other exception, a failed property check or a hang is a crash, and libFuzzer writes
the input to ``<artifact_prefix>crash-…`` (or ``timeout-…``, ``oom-…``).

Limits, unless the command line sets them: inputs up to ``MAX_LEN`` bytes, 10 s per input (a
hang), ``RSS_LIMIT_MB`` of resident memory (unbounded allocation). The seeds are written into
the first corpus directory given, or into a fresh temporary one. Given a file instead, libFuzzer
runs just that input: ``python fuzz/cot_xml.py build/fuzz/artifacts/cot_xml-crash-…``.
"""

import itertools
import random
import sys
import tempfile
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NoReturn

import atheris

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "corpus"
MAX_LEN = 16 * 1024
RSS_LIMIT_MB = 1024
TIMEOUT_S = 10


def instrumented() -> AbstractContextManager[None]:
    """Import holdfire inside this block to have its code instrumented for coverage."""
    return atheris.instrument_imports(include=["holdfire"])  # type: ignore[no-any-return]


def seed_files(*patterns: str) -> list[bytes]:
    """The contents of the files matching each glob pattern, relative to the repository root."""
    return [path.read_bytes() for p in patterns for path in sorted(ROOT.glob(p)) if path.is_file()]


def reads(size: int, pattern: int) -> list[tuple[int, int]]:
    """One way a peer's reads may cut a stream of `size` bytes: (start, stop) of each read.

    `pattern` (a byte of the input, so the fuzzer steers it) seeds where: up to 8 cuts at
    random places, and one stretch of up to 16 bytes (longer than any token) arriving a byte
    at a time (a token cut at every point of it). Cheaper than reading the whole input in
    small steps, a call per step, for the same property: more inputs tested per second.
    """
    rng = random.Random(pattern)
    cuts = {rng.randrange(size + 1) for _ in range(rng.randint(1, 8))} if size else set()
    start = rng.randrange(size + 1) if size else 0
    cuts.update(range(start, min(size, start + rng.randint(1, 16))))
    points = sorted({0, size, *cuts})
    return list(itertools.pairwise(points))


def fuzz(
    test_one: Callable[[bytes], None], seeds: Iterable[bytes], max_len: int = MAX_LEN
) -> NoReturn:
    args = sys.argv[1:]
    flags = [a for a in args if a.startswith("-")]
    dirs = [a for a in args if not a.startswith("-")] or [tempfile.mkdtemp(prefix="fuzz-corpus-")]
    first = Path(dirs[0])
    if not first.is_file():  # a file given is an input to run once (reproducing a crash)
        first.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds):
            (first / f"seed-{i:03d}").write_bytes(seed)
    given = {flag.split("=", 1)[0] for flag in flags}
    defaults = {
        "-max_len": max_len,
        "-rss_limit_mb": RSS_LIMIT_MB,
        "-timeout": TIMEOUT_S,
        "-print_final_stats": 1,
    }
    flags += [f"{name}={value}" for name, value in defaults.items() if name not in given]
    atheris.Setup([sys.argv[0], *flags, *dirs], test_one)
    atheris.Fuzz()
    raise SystemExit(0)  # not reached: libFuzzer exits the process itself

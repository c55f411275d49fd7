"""Run every fuzz target (or those named) for a set time and print one JSON line per target.

    python fuzz/run.py [--seconds N] [--runs N] [--out DIR] [TARGET...]
    python fuzz/run.py --props [--examples N] [TEST...]

Each target runs in its own process for ``--seconds`` (default ``$FUZZ_SECONDS``, else 60) or
until ``--runs`` inputs, whichever comes first, keeping its corpus in ``DIR/corpus/TARGET`` so
later runs start where earlier ones stopped. Crashing inputs are written to ``DIR/artifacts``.
The line reports inputs executed, inputs per second, crashes (0, or 1: libFuzzer stops at the
first), slow units (inputs kept for running over 10 s; not crashes), coverage (edges and
features of holdfire's code), corpus size and peak RSS. The exit code is 1 if any target
crashed.

``--props`` runs the hypothesis property tests instead (``tests/unit/test_fuzz_properties.py``,
or those named), each in a process of its own with ``--examples`` examples (default
``$FUZZ_EXAMPLES``, else 100,000), and prints one line per test: passed or not, the time taken,
examples per second and the peak RSS of its process.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGETS = ("cot_stream", "cot_xml", "tak_proto", "imports", "geojson", "coords", "scenario")
PROPERTIES = ROOT / "tests" / "unit" / "test_fuzz_properties.py"
_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.MULTILINE)
_STATUS = re.compile(r"cov: (\d+) ft: (\d+) corp: (\d+)/")


def run(target: str, seconds: int, runs: int | None, out: Path) -> dict[str, object]:
    corpus = out / "corpus" / target
    artifacts = out / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    before = set(artifacts.glob(f"{target}-*"))
    command = [
        sys.executable,
        str(HERE / f"{target}.py"),
        f"-max_total_time={seconds}",
        f"-artifact_prefix={artifacts}/{target}-",
        str(corpus),
    ]
    if runs is not None:
        command.insert(2, f"-runs={runs}")
    started = time.monotonic()
    # Generous: libFuzzer stops itself; this only guards against a harness that never starts.
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 600)
    elapsed = time.monotonic() - started
    stats = {name: int(value) for name, value in _STAT.findall(done.stderr)}
    status = _STATUS.findall(done.stderr)
    found = sorted(str(p.name) for p in set(artifacts.glob(f"{target}-*")) - before)
    # libFuzzer also keeps an input that ran long (-report_slow_units, 10 s): not a crash, and
    # an input of a fuzzer that was paused (SIGSTOP) counts as slow. Rerun it to time it.
    slow = [name for name in found if name.startswith(f"{target}-slow-unit-")]
    found = [name for name in found if name not in slow]
    inputs = stats.get("number_of_executed_units", 0)
    return {
        "target": target,
        "seconds": round(elapsed, 1),
        "inputs": inputs,
        "inputs_per_s": round(inputs / elapsed) if elapsed else 0,
        "crashes": len(found),
        "artifacts": found,
        "slow_units": slow,
        "coverage": int(status[-1][0]) if status else None,
        "features": int(status[-1][1]) if status else None,
        "corpus": int(status[-1][2]) if status else None,
        "peak_rss_mb": stats.get("peak_rss_mb"),
        "exit_code": done.returncode,
    }


def properties() -> list[str]:
    """The node ids of the property tests, as pytest collects them."""
    command = [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider"]
    done = subprocess.run([*command, str(PROPERTIES)], capture_output=True, text=True, cwd=ROOT)
    return [line for line in done.stdout.splitlines() if "::test_" in line]


def props(test: str, examples: int) -> dict[str, object]:
    """One property test in a process of its own: its time and peak resident memory."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    env = {**os.environ, "FUZZ_EXAMPLES": str(examples)}
    started = time.monotonic()
    child = subprocess.Popen([*command, test], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)  # reaped here, for its own resource usage
    child.returncode = code = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    if code:
        sys.stderr.write(out)
    return {
        "target": test.rsplit("::", 1)[-1],
        "examples": examples,
        "passed": code == 0,
        "seconds": round(elapsed, 1),
        "examples_per_s": round(examples / elapsed) if elapsed else 0,
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "exit_code": code,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "60")))
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=HERE.parent / "build" / "fuzz")
    parser.add_argument("--props", action="store_true", help="run the hypothesis tests instead")
    parser.add_argument(
        "--examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", "100000"))
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=", ".join(TARGETS))
    options = parser.parse_args()
    unknown = set(options.targets) - set(TARGETS)
    if unknown and not options.props:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    failed = False
    if options.props:
        for test in properties():
            if options.targets and test.rsplit("::", 1)[-1] not in options.targets:
                continue
            line = props(test, options.examples)
            failed |= line["exit_code"] != 0
            print(json.dumps(line), flush=True)
        return 1 if failed else 0
    for target in options.targets or TARGETS:
        line = run(target, options.seconds, options.runs, options.out)
        failed |= bool(line["crashes"]) or line["exit_code"] != 0
        print(json.dumps(line), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

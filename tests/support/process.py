"""Starting `holdfire` as a process of its own, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def holdfire() -> list[str]:
    script = Path(sys.executable).with_name("holdfire")
    return [str(script)] if script.exists() else [sys.executable, "-m", "holdfire.cli"]


def run_holdfire(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`holdfire ARGS` to its end, with none of this environment's HOLDFIRE_* settings unless
    `env` gives them; its exit code, stdout and stderr."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOLDFIRE_")}
    return subprocess.run(
        [*holdfire(), *map(str, args)],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=timeout,
        check=False,
    )

"""Starting `holdfire` as a process of its own, on a free loopback port."""

from __future__ import annotations

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


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not ended 10 s later."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()

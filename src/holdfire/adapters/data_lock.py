"""Who holds a data directory: a running `holdfire serve`, or a restore writing it.

The holder keeps an exclusive ``flock`` on ``DATA/holdfire.lock`` for as long as it runs; the
kernel releases it when the process ends, however it ends (``kill -9`` included), so a lock is
never left behind. A second server on the same directory, or a restore into a directory a
server is using, is refused instead of corrupting it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Final

LOCK_FILENAME: Final = "holdfire.lock"


class DataDirInUse(OSError):
    """Another process holds the data directory."""


class DataLock:
    """An exclusive hold on one data directory (see the module); release it with close()."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_FILENAME
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUse(
                f"the data directory {data_dir} is in use by another holdfire process "
                "(a running server, or a restore); stop it first"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

"""A storage fault (a full disk, a read-only file system) said once, not once per write.

While the disk holding the data directory is full, every write fails the same way; a server
under load would log hundreds of identical errors a second and bury what the operator needs
to read. :class:`Outage` logs the first refused write (what is wrong, where, what to do), stays
silent while the fault lasts, and logs once more when a write succeeds again, with how many
writes were refused meanwhile.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from holdfire.service.ports import StoreNotWritable

# Less free space than this, for a write that failed with an I/O error, is a full disk: SQLite
# reports ENOSPC as SQLITE_FULL only for the database itself, as an I/O error elsewhere (its
# -wal and -shm files).
_ALMOST_NOTHING = 64 * 1024


def disk_full(directory: Path) -> bool:
    """Whether the file system holding `directory` has (almost) no space left for us."""
    try:
        stats = os.statvfs(directory)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < _ALMOST_NOTHING


class Outage:
    """The state of one store's (or spool's) writes, for its log."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self.refused = 0  # writes refused since the fault began (0: no fault)
        self._fault = ""

    def refused_write(self, error: StoreNotWritable, *, counted: bool = True) -> None:
        """A write failed on the fault; `counted` False for work of the server's own (a
        background flush), which no client was refused."""
        fault = str(error)
        if fault != self._fault:
            self._log.error(
                "%s: %s; every write is refused (HTTP 503, retryable) until this is fixed; "
                "reads and the live picture go on",
                self._what,
                fault,
            )
            self._fault = fault
        self.refused += counted

    def wrote(self) -> None:
        if self._fault:
            self._log.warning(
                "%s: writes succeed again (%d refused meanwhile, none acknowledged)",
                self._what,
                self.refused,
            )
            self.refused = 0
            self._fault = ""

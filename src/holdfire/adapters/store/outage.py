"""A storage fault (a full disk, a read-only file system) said once, not once per write.

While the disk holding the data directory is full, every write fails the same way; a server
under load would log hundreds of identical errors a second and bury what the operator needs
to read. :class:`Outage` logs the first refused write (what is wrong, where, what to do), stays
silent while the fault lasts, and logs once more when a write succeeds again, with how many
writes were refused meanwhile.
"""

from __future__ import annotations

import logging

from holdfire.service.ports import StoreNotWritable


class Outage:
    """The state of one store's (or spool's) writes, for its log."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self.refused = 0  # writes refused since the fault began (0: no fault)
        self._fault = ""

    def refused_write(self, error: StoreNotWritable) -> None:
        fault = str(error)
        if not self.refused or fault != self._fault:
            self._log.error(
                "%s: %s; every write is refused (HTTP 503, retryable) until this is fixed; "
                "reads and the live picture go on",
                self._what,
                fault,
            )
            self._fault = fault
        self.refused += 1

    def wrote(self) -> None:
        if self.refused:
            self._log.warning(
                "%s: writes succeed again (%d refused meanwhile, none acknowledged)",
                self._what,
                self.refused,
            )
            self.refused = 0
            self._fault = ""

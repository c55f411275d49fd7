"""psycopg errors translated into the Store port's errors, and a PostgreSQL URL named safely.

A connection that cannot be made or was lost (refused, server shut down or restarting, the
backend terminated, a pool that found no connection in time) is
:class:`~holdfire.service.ports.StoreUnavailable`; everything else is
:class:`~holdfire.service.ports.StoreError`. Every message names the server and database and
never holds the URL's password (it is cut out of any driver text too).
"""

from __future__ import annotations

from typing import Final

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from holdfire.service.ports import StoreError, StoreUnavailable

# SQLSTATE classes and codes that mean "the server is not there just now".
_UNAVAILABLE_CLASSES: Final = ("08",)  # connection exception
_UNAVAILABLE_CODES: Final = frozenset({"57P01", "57P02", "57P03", "53300"})


class PgTarget:
    """Where a PostgreSQL URL points, for messages: host, port, database, user; no password."""

    def __init__(self, url: str) -> None:
        try:
            parts = conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise StoreError(
                f"not a PostgreSQL URL: {_cut(' '.join(str(error).split()), url)}"
            ) from None
        self._secret = str(parts.get("password") or "")
        host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
        port = str(parts.get("port") or "5432")
        self.address = f"{host}:{port}"
        self.database = str(parts.get("dbname") or parts.get("user") or "")
        user = parts.get("user")
        self.description = f"PostgreSQL database {self.database!r} at {self.address}" + (
            f" (user {user})" if user else ""
        )

    def clean(self, text: str) -> str:
        """Driver text with the password cut out."""
        return text.replace(self._secret, "***") if self._secret else text

    def translate(self, error: Exception, action: str) -> StoreError:
        """A psycopg or pool error as a StoreError a person can act on."""
        detail = self.clean(" ".join(str(error).split()))
        if is_unavailable(error):
            if isinstance(error, PoolTimeout):
                detail = f"no connection could be made in time ({detail})"
            return StoreUnavailable(
                f"store {action} failed: cannot reach the {self.description}: {detail} "
                "(is the server running and reachable? nothing was recorded; retry later)"
            )
        sqlstate = getattr(error, "sqlstate", None) or ""
        if isinstance(error, errors.IntegrityError) or sqlstate.startswith("23"):
            hint = f"a record was refused by a constraint of the {self.description}"
        elif isinstance(error, errors.InsufficientPrivilege):
            hint = f"the user may not do this on the {self.description} (grant it the rights)"
        elif isinstance(error, errors.InvalidCatalogName):
            hint = f"the {self.description} does not exist (create it, or fix --db)"
        elif isinstance(error, errors.DiskFull):
            hint = f"the disk of the {self.description} is full"
        elif isinstance(error, errors.ReadOnlySqlTransaction):
            hint = f"the {self.description} is read-only (a standby?)"
        else:
            hint = f"a database error occurred on the {self.description}"
        code = f"{sqlstate}: " if sqlstate else ""
        return StoreError(f"store {action} failed: {hint} ({code}{detail})")


def is_unavailable(error: BaseException) -> bool:
    """Whether an error means the server cannot be reached or the connection was lost."""
    if isinstance(error, PoolTimeout):
        return True
    if isinstance(error, psycopg.InterfaceError) and "closed" in str(error):
        return True  # a connection the server already dropped
    if not isinstance(error, psycopg.OperationalError):
        return False
    sqlstate = error.sqlstate
    if sqlstate is None:  # libpq: refused, reset, timed out, server closed the connection
        return True
    return sqlstate.startswith(_UNAVAILABLE_CLASSES) or sqlstate in _UNAVAILABLE_CODES


def _cut(text: str, url: str) -> str:
    """Text about an unparsable URL: whatever sits between ':' and '@' is a password."""
    if "@" in url and "://" in url:
        creds = url.split("://", 1)[1].split("@", 1)[0]
        if ":" in creds:
            text = text.replace(creds.split(":", 1)[1], "***")
    return text

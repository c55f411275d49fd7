"""The one place that picks the store: SQLite in the data directory, or PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from holdfire.adapters.store.audit import AuditTrail
from holdfire.adapters.store.migrations import Migration, SchemaStatus
from holdfire.adapters.store.postgres import PostgresStore
from holdfire.adapters.store.sqlite import DB_FILENAME, SQLiteStore
from holdfire.service.ports import Store, StoreError

POSTGRES_SCHEMES = ("postgresql", "postgres")


class DbUrlError(ValueError):
    """A ``--db`` value holdfire cannot use (a usage error)."""


class ManagedStore(Store, Protocol):
    """A store whose schema can be inspected and migrated (``holdfire migrate``) and whose
    audit chain can be read (``holdfire audit``)."""

    @property
    def where(self) -> str:
        """The database, for people: a file path or a server and database (no password)."""
        ...

    async def schema_status(self) -> SchemaStatus: ...

    async def migrate(self) -> tuple[Migration, ...]: ...

    async def audit_trail(self) -> AuditTrail: ...


def _is_postgres(db: str | None) -> bool:
    return db is not None and db.partition("://")[0].lower() in POSTGRES_SCHEMES


def make_store(data_dir: Path, db: str | None, *, must_write: bool = False) -> ManagedStore:
    """``db`` None: the SQLite file in the data directory; a ``postgresql://`` or
    ``postgres://`` URL: that PostgreSQL database. Anything else raises DbUrlError.
    ``must_write``: a SQLite file that can only be read is refused at open (the service's
    store), instead of opened for reading (audit and token listings)."""
    if db is None:
        return SQLiteStore(data_dir / DB_FILENAME, must_write=must_write)
    if not _is_postgres(db):
        scheme = db.partition("://")[0] if "://" in db else ""
        shown = f"a {scheme}:// URL" if scheme else "a value that is not a URL"
        raise DbUrlError(
            f"--db must be a postgresql:// or postgres:// URL, got {shown} "
            "(leave --db out for SQLite in the data directory)"
        )
    try:
        return PostgresStore(db)
    except StoreError as error:
        raise DbUrlError(f"--db: {error}") from None

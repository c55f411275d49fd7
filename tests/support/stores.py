"""The two store backends for tests: SQLite in a temporary directory, PostgreSQL in a fresh
schema of the test server (``HOLDFIRE_TEST_PG``, default the local server as user postgres).

Each PostgreSQL test gets its own schema with a unique name (selected through the URL's
``options=-csearch_path=...``), dropped afterwards, so several test runs can share one server.
A server that cannot be reached fails the test with a message; it is never skipped.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from holdfire.adapters.store.factory import ManagedStore, make_store
from holdfire.adapters.store.sqlite import DB_FILENAME

PG_URL = os.environ.get("HOLDFIRE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgres")


def _admin() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(
            f"the PostgreSQL server for the tests is not reachable at {PG_URL} ({error}); "
            "start it (.ci/run does) or point HOLDFIRE_TEST_PG at one"
        )


def with_schema(url: str, schema: str) -> str:
    """The URL with every connection's search_path (and application name) set to ``schema``."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}&application_name={schema}"


@contextmanager
def pg_schema() -> Iterator[tuple[str, str]]:
    """A fresh, empty schema: yields (its name, a URL that uses it); dropped afterwards."""
    name = f"hf_test_{uuid.uuid4().hex[:16]}"
    with _admin() as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name, with_schema(PG_URL, name)
    finally:
        with _admin() as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@dataclass
class Backend:
    """One database of one backend, and raw access to it (what holdfire never does)."""

    name: str
    data_dir: Path
    db: str | None  # the --db URL; None for SQLite in data_dir
    schema: str | None = None

    def store(self) -> ManagedStore:
        """A new, unopened store on this database."""
        return make_store(self.data_dir, self.db)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.db is None:
            with closing(sqlite3.connect(self.data_dir / DB_FILENAME)) as conn:
                return conn.execute(sql).fetchall()
        with psycopg.connect(self.db, autocommit=True) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]

    def execute(self, sql: str) -> None:
        """One statement outside holdfire; the backend's own error if it is refused."""
        if self.db is None:
            with closing(sqlite3.connect(self.data_dir / DB_FILENAME, isolation_level=None)) as c:
                c.execute(sql)
            return
        with psycopg.connect(self.db, autocommit=True) as conn:
            conn.execute(sql)


@contextmanager
def backend(name: str, tmp_path: Path) -> Iterator[Backend]:
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    if name == "sqlite":
        yield Backend(name, data_dir, None)
        return
    with pg_schema() as (schema, url):
        yield Backend(name, data_dir, url, schema)

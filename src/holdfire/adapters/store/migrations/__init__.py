"""Versioned schema migrations, one SQL file per step and backend.

Layout: ``migrations/<backend>/NNNN_name.sql`` (backend ``sqlite`` or ``postgres``). ``NNNN`` is
the version; a database records each version it has applied in ``schema_migrations``.

The start-up rule. When a store opens (``holdfire serve``, ``check``, ``import``, ``token``…):

- an empty database gets every migration: there is nothing to break;
- otherwise pending migrations are applied only if every one of them is marked additive with
  a line ``-- holdfire: safe-at-start`` (new tables, new indexes: an older holdfire still
  running on the same database is not disturbed by them); any other pending migration makes
  the open fail with :class:`MigrationRequired`, naming ``holdfire migrate``, and the command
  exits with code 2 without touching the database;
- a database with a version newer than this holdfire knows is refused
  (:class:`SchemaTooNew`): upgrade holdfire instead.

``holdfire migrate`` applies every pending migration; ``holdfire migrate --status`` lists the
applied and pending ones. The decision lives here; each store does its own I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from typing import Final, Literal

from holdfire.service.ports import StoreError

Backend = Literal["sqlite", "postgres"]

SAFE_AT_START: Final = "-- holdfire: safe-at-start"
_FILE: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SchemaTooNew(StoreError):
    """The database was migrated by a newer holdfire than this one."""


class MigrationRequired(StoreError):
    """The database needs a migration that is not applied at start: run ``holdfire migrate``."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    safe_at_start: bool

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True, slots=True)
class Applied:
    version: int
    name: str
    applied_at: str


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """What a database has applied and what this holdfire would still apply."""

    where: str
    applied: tuple[Applied, ...]
    pending: tuple[Migration, ...]


def available(backend: Backend) -> tuple[Migration, ...]:
    """The migrations shipped for a backend, by version."""
    found: list[Migration] = []
    for entry in resources.files(__package__).joinpath(backend).iterdir():
        match = _FILE.match(entry.name)
        if match is None:
            continue
        sql = entry.read_text(encoding="utf-8")
        safe = any(line.strip() == SAFE_AT_START for line in sql.splitlines())
        found.append(Migration(int(match[1]), match[2], sql, safe))
    found.sort(key=lambda m: m.version)
    return tuple(found)


def pending(
    where: str,
    applied: Collection[int],
    shipped: tuple[Migration, ...],
    *,
    at_start: bool,
    fresh: bool,
) -> tuple[Migration, ...]:
    """The migrations to apply now, or the reason none may be (see the module docstring)."""
    latest = max((m.version for m in shipped), default=0)
    newest = max(applied, default=0)
    if newest > latest:
        raise SchemaTooNew(
            f"{where} has schema version {newest}, newer than this holdfire supports "
            f"({latest}); upgrade holdfire"
        )
    todo = tuple(m for m in shipped if m.version not in applied)
    if at_start and not fresh:
        blocked = [m.label for m in todo if not m.safe_at_start]
        if blocked:
            raise MigrationRequired(
                f"{where} needs schema migrations that are not applied at start "
                f"({', '.join(blocked)}); stop every holdfire using it, back it up, then run "
                "`holdfire migrate` with the same --data/--db"
            )
    return todo

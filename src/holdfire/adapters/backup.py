"""Backups of a node, taken while it runs, and bringing one back.

A node is its store and its data directory. A backup is a directory of its own::

    manifest.json   when it was taken, the store, the last event sequence number, the audit
                    chain's length and last hash, the schema version, every file's SHA-256
    data/           the data directory: holdfire.db and spool.db through SQLite's online backup
                    API, every other file as it is (certificates and keys, admin.token,
                    audit-signing.key, groups.toml, mqtt-nodes.toml, tables/, catalog/)
    postgres.dump   with a PostgreSQL store: pg_dump's archive of holdfire's schema

Consistency. SQLite's backup API copies the database in one step inside one read transaction:
the copy is the database as some commit left it, while the server goes on writing (WAL readers
do not block the writer). The manifest's figures are read from the copy itself. For PostgreSQL
a REPEATABLE READ transaction exports its snapshot, the figures are read in it and ``pg_dump
--snapshot`` dumps exactly that snapshot. Either way every write acknowledged before the backup
started is in it, and the manifest says where the copy ends.

What a restore needs. The store holds the log, the picture, tokens (as hashes) and the audit
chain; the check spool holds checks answered while the store was unreachable; the CA and server
keys keep every device's certificate trusted (and the revocation list keeps revoked ones out);
the signing key keeps exported audit bundles signed by the same key; admin.token and the
operator's files are the rest. Files are copied with their modes (keys stay owner-only) and the
backup directory is owner-only.

Restoring refuses a data directory a server holds (``holdfire.lock``, see
:mod:`holdfire.adapters.data_lock`) and, unless forced, one that is not empty (forced, its
contents are moved aside, never deleted) or a database that already holds holdfire tables
(forced, pg_restore drops and recreates them). Every file is checked against the manifest
first, and the restored store is checked against it afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Final, Protocol

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from holdfire.adapters.data_lock import LOCK_FILENAME, DataLock
from holdfire.adapters.store.audit import CHAIN_TAIL
from holdfire.adapters.store.pg_errors import PgTarget
from holdfire.adapters.store.spool import SPOOL_FILENAME
from holdfire.adapters.store.sqlite import DB_FILENAME
from holdfire.codecs.json import format_time, parse_time

MANIFEST: Final = "manifest.json"
FORMAT: Final = "holdfire-backup/1"
DATA: Final = "data"
PG_DUMP: Final = "postgres.dump"
# Not copied as files: the databases (their online copies are) and their companions, the lock.
_SKIPPED: Final = frozenset(
    {LOCK_FILENAME}
    | {
        name + suffix
        for name in (DB_FILENAME, SPOOL_FILENAME)
        for suffix in ("", "-wal", "-shm", "-journal")
    }
)
_VERSION: Final = re.compile(r"\(PostgreSQL\) (\d+)")


class BackupError(Exception):
    """A backup or restore that cannot be done, and why."""


class Executes(Protocol):
    """A DB-API connection of either driver (both take ``?``-free SQL here)."""

    def execute(self, sql: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class Figures:
    """What a store holds, in a few numbers that identify it."""

    last_seq: int
    events: int
    audit_records: int
    audit_last_hash: str | None
    schema_version: int


def figures(conn: Executes) -> Figures:
    seq, events = conn.execute("SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM events").fetchone()
    tail = conn.execute(CHAIN_TAIL).fetchone()
    (version,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return Figures(
        last_seq=int(seq),
        events=int(events),
        audit_records=int(tail[0]) if tail else 0,
        audit_last_hash=str(tail[1]) if tail else None,
        schema_version=int(version),
    )


@dataclass(frozen=True, slots=True)
class Manifest:
    taken_at: datetime
    store: str  # "sqlite" or "postgresql"
    source: str  # the store it was taken from, for people (never a password)
    figures: Figures
    files: dict[str, tuple[int, str]]  # path in the backup -> (bytes, SHA-256)
    postgres: dict[str, str] = field(default_factory=dict)  # schema, server and pg_dump versions
    holdfire: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "taken_at": format_time(self.taken_at),
            "holdfire": self.holdfire,
            "store": self.store,
            "source": self.source,
            **asdict(self.figures),
            "postgres": self.postgres or None,
            "files": {p: {"bytes": n, "sha256": h} for p, (n, h) in sorted(self.files.items())},
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Manifest:
        if raw.get("format") != FORMAT:
            raise BackupError(f"not a holdfire backup manifest (format {raw.get('format')!r})")
        try:
            return cls(
                taken_at=parse_time(raw["taken_at"]),
                store=str(raw["store"]),
                source=str(raw["source"]),
                figures=Figures(
                    last_seq=int(raw["last_seq"]),
                    events=int(raw["events"]),
                    audit_records=int(raw["audit_records"]),
                    audit_last_hash=raw["audit_last_hash"],
                    schema_version=int(raw["schema_version"]),
                ),
                files={
                    str(p): (int(f["bytes"]), str(f["sha256"])) for p, f in raw["files"].items()
                },
                postgres={str(k): str(v) for k, v in (raw.get("postgres") or {}).items()},
                holdfire=str(raw.get("holdfire", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackupError(f"the manifest is incomplete or damaged ({exc!r})") from None

    def describe(self) -> str:
        f = self.figures
        chain = (
            f"audit chain of {f.audit_records} records ending {f.audit_last_hash}"
            if f.audit_last_hash
            else "no audit records"
        )
        return (
            f"taken {format_time(self.taken_at)} from the {self.source}: {f.events} events up to "
            f"seq {f.last_seq}, {chain}, schema version {f.schema_version}"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _holdfire_version() -> str:
    try:
        return metadata.version("holdfire")
    except metadata.PackageNotFoundError:
        return "unknown"


# -- taking a backup ------------------------------------------------------------------------


def take_backup(data_dir: Path, db: str | None, dest: Path, now: datetime) -> Manifest:
    """Write a backup of the node (``data_dir``, and ``db`` if it is on PostgreSQL) to ``dest``,
    which must not exist or be empty. On failure nothing is left at ``dest``."""
    data_dir = data_dir.absolute()
    dest = dest.absolute()
    if not data_dir.is_dir():
        raise BackupError(f"the data directory {data_dir} does not exist")
    if dest == data_dir or data_dir in dest.parents:
        raise BackupError(f"the backup {dest} must not be inside the data directory {data_dir}")
    if db is None and not (data_dir / DB_FILENAME).is_file():
        raise BackupError(f"the data directory {data_dir} holds no {DB_FILENAME}: no store")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty directory")
    made = not dest.exists()
    try:
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(dest, 0o700)
        (dest / DATA).mkdir(mode=0o700)
        pg: dict[str, str] = {}
        if db is None:
            store_figures = _sqlite_copy(data_dir / DB_FILENAME, dest / DATA / DB_FILENAME)
            store, source = "sqlite", f"SQLite database {data_dir / DB_FILENAME}"
        else:
            store_figures, pg = _pg_dump(db, dest / PG_DUMP)
            store, source = "postgresql", PgTarget(db).description
        if (data_dir / SPOOL_FILENAME).is_file():
            _sqlite_copy(data_dir / SPOOL_FILENAME, dest / DATA / SPOOL_FILENAME, store=False)
        _copy_files(data_dir, dest / DATA)
        files = {
            str(path.relative_to(dest)): (path.stat().st_size, _sha256(path))
            for path in sorted(dest.rglob("*"))
            if path.is_file()
        }
        manifest = Manifest(now, store, source, store_figures, files, pg, _holdfire_version())
        _write_json(dest / MANIFEST, manifest.to_json())
    except BaseException:
        if made:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in dest.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    return manifest


def _write_json(path: Path, value: dict[str, Any]) -> None:
    with path.open("w", encoding="utf-8") as out:
        json.dump(value, out, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())


def _sqlite_copy(source: Path, target: Path, *, store: bool = True) -> Figures:
    """One-step online copy (see the module); the copy's figures when it is the store."""
    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=30)) as src,
            contextlib.closing(sqlite3.connect(target, isolation_level=None)) as dst,
        ):
            src.execute("PRAGMA query_only = ON")
            src.backup(dst)  # pages=-1: all of it in one step, one read transaction
            dst.execute("PRAGMA journal_mode = DELETE")  # the copy stands alone: no -wal
            return figures(dst) if store else Figures(0, 0, 0, None, 0)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy {source}: {exc}") from None


def _copy_files(data_dir: Path, target: Path) -> None:
    for root, dirs, names in os.walk(data_dir):
        here = Path(root)
        into = target / here.relative_to(data_dir)
        into.mkdir(mode=0o700, exist_ok=True)
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
        for name in names:
            path = here / name
            if here == data_dir and name in _SKIPPED:
                continue
            if path.is_symlink() or not path.is_file():
                continue  # sockets, fifos, links: not the node's data
            shutil.copy2(path, into / name)


def _split_password(url: str) -> tuple[str, dict[str, str]]:
    """libpq conninfo without the password, and the environment that carries it (so it never
    shows in a process list)."""
    parts = conninfo_to_dict(url)
    password = parts.pop("password", None)
    env = {**os.environ}
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in parts.items() if v is not None}), env


def _tool(name: str) -> tuple[str, int]:
    """A PostgreSQL client program on PATH and its major version."""
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (PostgreSQL's client programs are needed)")
    out = subprocess.run([found, "--version"], capture_output=True, text=True, check=False)
    match = _VERSION.search(out.stdout)
    if out.returncode != 0 or match is None:
        raise BackupError(f"{found} --version answered {out.stdout.strip() or out.stderr!r}")
    return found, int(match[1])


def _run_tool(args: list[str], env: dict[str, str], target: PgTarget, what: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        detail = target.clean(" ".join(done.stderr.split()))
        raise BackupError(f"{what} failed (exit {done.returncode}): {detail}")
    return done.stdout


@contextlib.contextmanager
def _connected(url: str, action: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection (autocommit: transactions are begun explicitly); driver errors, here or in
    the block, as BackupError naming the database without its password."""
    target = PgTarget(url)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            yield conn
    except psycopg.Error as exc:
        raise BackupError(str(target.translate(exc, action))) from None


def _server_major(conn: psycopg.Connection[Any]) -> int:
    return int(conn.info.server_version) // 10000


def _pg_dump(url: str, out: Path) -> tuple[Figures, dict[str, str]]:
    target = PgTarget(url)
    with _connected(url, "backup") as conn:
        server = _server_major(conn)
        pg_dump, version = _tool("pg_dump")
        if version < server:
            raise BackupError(
                f"{pg_dump} is version {version}, the server {server}: pg_dump must be at least "
                "the server's version (install that version's client programs)"
            )
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        (snapshot,) = conn.execute("SELECT pg_export_snapshot()").fetchone() or ("",)
        (schema,) = conn.execute("SELECT current_schema()").fetchone() or (None,)
        if schema is None:
            raise BackupError(f"the {target.description} has no schema on its search_path")
        try:
            store_figures = figures(conn)
        except psycopg.Error as exc:
            raise BackupError(
                f"the {target.description} holds no holdfire store in schema {schema!r} "
                f"({target.clean(str(exc).splitlines()[0])})"
            ) from None
        conninfo, env = _split_password(url)
        _run_tool(
            [pg_dump, "--format=custom", f"--snapshot={snapshot}", f'--schema="{schema}"',
             "--no-owner", "--no-privileges", f"--file={out}", f"--dbname={conninfo}"],
            env, target, "pg_dump",
        )  # fmt: skip
        conn.execute("ROLLBACK")  # the snapshot was held until the dump had read it
    pg = {"schema": str(schema), "server_version": str(server), "pg_dump_version": str(version)}
    return store_figures, pg


# -- restoring ------------------------------------------------------------------------------


def read_backup(src: Path) -> Manifest:
    """The backup's manifest, once every file it lists is present and intact."""
    try:
        raw = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{src} holds no {MANIFEST}: not a holdfire backup") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{src / MANIFEST} cannot be read: {exc}") from None
    manifest = Manifest.from_json(raw)
    for name, (size, digest) in manifest.files.items():
        path = src / name
        if not path.is_file():
            raise BackupError(f"the backup lacks {name}, which its manifest lists")
        if path.stat().st_size != size or _sha256(path) != digest:
            raise BackupError(f"{name} in the backup is not the file it was (checksum differs)")
    return manifest


@dataclass(frozen=True, slots=True)
class Restored:
    manifest: Manifest
    data_dir: Path
    moved_aside: Path | None  # where the directory's previous contents went (forced)
    replaced_tables: bool  # a forced PostgreSQL restore over existing holdfire tables


def restore_backup(
    src: Path, data_dir: Path, db: str | None, *, force: bool, now: datetime
) -> Restored:
    """Bring the backup at ``src`` back into ``data_dir`` (and the database ``db``)."""
    manifest = read_backup(src)
    if manifest.store == "sqlite" and db is not None:
        raise BackupError(
            "this backup is of a SQLite store: restore it without --db (it is not converted "
            "from one database to another)"
        )
    if manifest.store == "postgresql" and db is None:
        raise BackupError(
            f"this backup is of a PostgreSQL store (schema {manifest.postgres.get('schema')}): "
            "give --db URL of the database to restore it into"
        )
    data_dir = data_dir.absolute()
    with _holding(data_dir):
        busy = sorted(p.name for p in data_dir.iterdir() if p.name != LOCK_FILENAME)
        if busy and not force:
            raise BackupError(
                f"the data directory {data_dir} is not empty ({', '.join(busy[:5])}"
                f"{', ...' if len(busy) > 5 else ''}); restore into an empty one, or "
                "--force to move its contents aside"
            )
        replaced = _pg_check_target(db, manifest, force) if db is not None else False
        moved = None
        if busy:
            moved = data_dir.with_name(f"{data_dir.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
            moved.mkdir(mode=0o700)
            for name in busy:
                (data_dir / name).rename(moved / name)
        _copy_back(src / DATA, data_dir)
        if db is not None:
            _pg_restore(src / PG_DUMP, db, manifest, replace=replaced)
        _check_restored(data_dir, db, manifest)
    return Restored(manifest, data_dir, moved, replaced)


@contextlib.contextmanager
def _holding(data_dir: Path) -> Iterator[None]:
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create {data_dir}: {exc.strerror or exc}") from None
    lock = DataLock(data_dir)
    try:
        yield
    finally:
        lock.close()


def _copy_back(source: Path, data_dir: Path) -> None:
    for path in sorted(source.rglob("*")):
        into = data_dir / path.relative_to(source)
        if path.is_dir():
            into.mkdir(mode=0o700, exist_ok=True)
        else:
            shutil.copy2(path, into)
            with open(into, "rb+") as handle:
                os.fsync(handle.fileno())


def _target_schema(conn: psycopg.Connection[Any]) -> str:
    """The schema holdfire would use on this connection: the first of its search_path."""
    existing = conn.execute("SELECT current_schemas(false)").fetchone()
    if existing and existing[0]:
        return str(existing[0][0])
    (path,) = conn.execute("SHOW search_path").fetchone() or ("",)
    names = [n.strip().strip('"') for n in str(path).split(",") if n.strip() != '"$user"']
    return names[0] if names else "public"


def _pg_check_target(url: str, manifest: Manifest, force: bool) -> bool:
    """Whether the target already holds holdfire tables (then only ``force`` goes on)."""
    target = PgTarget(url)
    schema = manifest.postgres.get("schema", "public")
    with _connected(url, "restore") as conn:
        chosen = _target_schema(conn)
        if chosen != schema:
            raise BackupError(
                f"the backup holds schema {schema!r} but this URL selects {chosen!r}: the "
                f"server would not find it (add ?options=-csearch_path%3D{schema} to the URL)"
            )
        (others,) = conn.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone() or (0,)
        if others:
            raise BackupError(
                f"{others} other connection(s) use the {target.description}; stop every "
                "holdfire using it before restoring into it"
            )
        (present,) = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = %s "
            "AND tablename = 'events')",
            (schema,),
        ).fetchone() or (False,)
    if present and not force:
        raise BackupError(
            f"the {target.description} already holds holdfire tables in schema {schema!r}; "
            "restore into a new database, or --force to replace them"
        )
    return bool(present)


def _pg_restore(dump: Path, url: str, manifest: Manifest, *, replace: bool) -> None:
    target = PgTarget(url)
    pg_restore, version = _tool("pg_restore")
    made_by = int(manifest.postgres.get("pg_dump_version", "0"))
    if version < made_by:
        raise BackupError(
            f"{pg_restore} is version {version}; the dump was made by pg_dump {made_by}: "
            "use pg_restore of at least that version"
        )
    conninfo, env = _split_password(url)
    schema = manifest.postgres.get("schema", "public")
    with _connected(url, "restore") as conn:
        (exists,) = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (schema,)
        ).fetchone() or (False,)
    listing = _run_tool([pg_restore, "--list", str(dump)], env, target, "pg_restore --list")
    # An existing schema (public, or one made for holdfire) is kept: only what is in it comes
    # from the dump.
    kept = [line for line in listing.splitlines() if not (exists and " SCHEMA - " in line)]
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as entries:
        entries.write("\n".join(kept) + "\n")
        entries.flush()
        _run_tool(
            [pg_restore, "--no-owner", "--no-privileges", "--single-transaction",
             "--exit-on-error", *(["--clean", "--if-exists"] if replace else []),
             f"--use-list={entries.name}", f"--dbname={conninfo}", str(dump)],
            env, target, "pg_restore",
        )  # fmt: skip


def _check_restored(data_dir: Path, db: str | None, manifest: Manifest) -> None:
    """BackupError unless the restored store's figures are the manifest's."""
    if db is None:
        with contextlib.closing(sqlite3.connect(data_dir / DB_FILENAME)) as lite:
            got = figures(lite)
    else:
        with _connected(db, "restore") as conn:
            got = figures(conn)
    if got != manifest.figures:
        raise BackupError(
            f"the restored store does not match its backup: {got} != {manifest.figures}"
        )

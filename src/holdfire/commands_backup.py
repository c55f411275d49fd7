"""`holdfire backup` and `holdfire restore`: a consistent copy of a node while it runs, and
bringing one back (see :mod:`holdfire.adapters.backup` for what a backup holds).

Exit codes: 0 done, 1 it could not be done (the message says why; nothing half-done is left),
2 a usage error. `restore` checks the restored store against the manifest and walks its audit
chain before it says it is done.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from holdfire.adapters.backup import BackupError, Restored, read_backup, restore_backup, take_backup
from holdfire.adapters.data_lock import DataDirInUse
from holdfire.adapters.store.audit import ChainCheck
from holdfire.adapters.store.factory import DbUrlError, make_store
from holdfire.cli import DataOption, DbOption, _error, _usage, app
from holdfire.config import settings
from holdfire.service.ports import StoreError


@app.command()
def backup(
    dest: Annotated[
        Path, typer.Argument(metavar="DEST", help="A new (or empty) directory to write it to.")
    ],
    data: DataOption = None,
    db: DbOption = None,
) -> None:
    """Back up the node while it runs: the store (SQLite's backup API, or pg_dump), the check
    spool, certificates, keys and the data directory's files, with a manifest."""
    config = settings(data, db=db)
    _known_db(config.db)
    try:
        manifest = take_backup(config.data_dir, config.db, dest, datetime.now(UTC))
    except BackupError as exc:
        raise _error(str(exc), 1) from None
    except OSError as exc:
        raise _error(f"{exc.filename or dest}: {exc.strerror or exc}", 1) from None
    print(f"backup written to {dest}")
    print(f"  {manifest.describe()}")
    print(f"  {len(manifest.files)} files; holdfire restore {dest} brings it back")


@app.command()
def restore(
    src: Annotated[
        Path, typer.Argument(metavar="SRC", help="A backup directory written by holdfire backup.")
    ],
    data: DataOption = None,
    db: DbOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Restore into a data directory that is not empty (its contents are moved to "
            "DATA.before-restore-TIME) or a database holding holdfire tables (they are "
            "replaced). Never into one a running server holds.",
        ),
    ] = False,
) -> None:
    """Bring a backup back into a stopped node's data directory (and --db database), then check
    it: the manifest's last event, and the audit chain."""
    config = settings(data, db=db)
    _known_db(config.db)
    try:
        done = restore_backup(src, config.data_dir, config.db, force=force, now=datetime.now(UTC))
    except (BackupError, DataDirInUse) as exc:
        raise _error(str(exc), 1) from None
    except OSError as exc:
        raise _error(f"{exc.filename or src}: {exc.strerror or exc}", 1) from None
    chain = _chain(config.data_dir, config.db)
    _report(done, chain, config.db)
    if not chain.intact:
        raise typer.Exit(1)


@app.command("backup-info")
def backup_info(
    src: Annotated[Path, typer.Argument(metavar="SRC", help="A backup directory.")],
) -> None:
    """Say what a backup holds, once every file in it is checked against its manifest."""
    try:
        manifest = read_backup(src)
    except BackupError as exc:
        raise _error(str(exc), 1) from None
    print(f"backup {src} intact ({len(manifest.files)} files)")
    print(f"  {manifest.describe()}")


def _known_db(db: str | None) -> None:
    try:
        make_store(Path("."), db)  # only checks the URL's form; opens nothing
    except DbUrlError as exc:
        raise _usage(str(exc)) from None


def _chain(data_dir: Path, db: str | None) -> ChainCheck:
    async def walk() -> ChainCheck:
        store = make_store(data_dir, db)
        await store.open()
        try:
            return (await store.audit_trail()).check()
        finally:
            await store.close()

    try:
        return asyncio.run(walk())
    except StoreError as exc:
        raise _error(f"restored, but the store cannot be opened: {exc}", 1) from None


def _report(done: Restored, chain: ChainCheck, db: str | None) -> None:
    where = f"{done.data_dir}" + (
        "" if db is None else f" and the {make_store(done.data_dir, db).where}"
    )
    print(f"restored into {where}")
    print(f"  backup {done.manifest.describe()}")
    if done.moved_aside is not None:
        print(f"  the directory's previous contents were moved to {done.moved_aside}")
    if done.replaced_tables:
        print("  the database's holdfire tables were replaced")
    print(f"  the store matches the manifest; {chain}")

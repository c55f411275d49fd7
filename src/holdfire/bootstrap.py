"""The one composition root: settings -> adapters -> service."""

import uuid

from holdfire.adapters.clock import SystemClock
from holdfire.adapters.store.sqlite import SQLiteStore
from holdfire.adapters.tables import load_tables
from holdfire.config import Settings
from holdfire.service.handlers import Service


def new_id() -> str:
    return uuid.uuid4().hex


def build_service(settings: Settings) -> Service:
    """Wire the embedded SQLite store, the tables (shipped, overridden from the data directory)
    and the system clock. The caller starts and closes the service."""
    return Service(
        store=SQLiteStore(settings.database),
        tables=load_tables(settings.data_dir),
        clock=SystemClock(),
        new_id=new_id,
    )

"""Typed settings: a command-line flag wins over the environment (HOLDFIRE_*), which wins over
the default."""

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("holdfire-data")


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    tiles: Path | None = None  # operator map tiles: an XYZ folder, MBTiles or PMTiles
    db: str | None = None  # a PostgreSQL URL; None: SQLite in the data directory


def settings(
    data_dir: Path | None = None, tiles: Path | None = None, db: str | None = None
) -> Settings:
    env = os.environ.get("HOLDFIRE_DATA")
    return Settings(
        data_dir=data_dir or (Path(env) if env else DEFAULT_DATA_DIR),
        tiles=tiles,
        db=db or os.environ.get("HOLDFIRE_DB") or None,
    )

"""The error of a data file an operator may edit (a table, a catalog): file, where, what."""

from collections.abc import Mapping
from typing import Any


class DataFileError(ValueError):
    """A file or an entry in it that must be refused; the message names file, key and problem."""

    def __init__(self, file: str, where: str, message: str) -> None:
        super().__init__(f"{file}: {where}: {message}" if where else f"{file}: {message}")
        self.file = file
        self.where = where
        self.message = message


class EntryContext:
    """Where an entry came from (file, dotted path), to build errors that name both."""

    def __init__(
        self, file: str, path: str, error_type: type[DataFileError] = DataFileError
    ) -> None:
        self.file = file
        self.path = path
        self.error_type = error_type

    def error(self, key: str | None, message: str) -> DataFileError:
        return self.error_type(self.file, f"{self.path}.{key}" if key else self.path, message)

    def text(self, row: Mapping[str, Any], key: str, *, empty: bool = False) -> str:
        """A string field, stripped; blank only where `empty` allows it."""
        value = row[key]
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {type(value).__name__}")
        if not empty and not value.strip():
            raise self.error(key, "must not be empty")
        return value.strip()

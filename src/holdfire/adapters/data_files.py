"""The error of a data file an operator may edit (a table, a catalog): file, where, what."""


class DataFileError(ValueError):
    """A file or an entry in it that must be refused; the message names file, key and problem."""

    def __init__(self, file: str, where: str, message: str) -> None:
        super().__init__(f"{file}: {where}: {message}" if where else f"{file}: {message}")
        self.file = file
        self.where = where
        self.message = message

"""Domain errors: raised for input that must be refused, translated to 422 / exit 2 at the edges."""


class DomainError(ValueError):
    """A value that breaks a domain rule; the message names the field and what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(LookupError):
    """Something asked for by id does not exist (404 at the API)."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} does not exist")
        self.what = what
        self.key = key


class NotAllowed(PermissionError):
    """A rule about who may do it refuses the request (403 at the API)."""

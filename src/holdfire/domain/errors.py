"""Domain errors: raised for input that must be refused, translated to 422 / exit 2 at the edges."""


class DomainError(ValueError):
    """A value that breaks a domain rule; the message names the field and what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

"""Tactical messages and their deliveries: one message, one delivery per recipient unit.

A message is a catalog id with typed parameters, sent to a unit, a group (`group:NAME`) or a
pairing (`pairing:ID`). Each recipient gets its own delivery, rendered in the recipient's
language with the English text beside it, and, if the message needs it, tracked until that
recipient acknowledges it. Prompts that holdfire itself sends (a separation warning, a check
fire notice) are deliveries too, linked to the alert or measure that caused them.
"""

from dataclasses import dataclass
from datetime import datetime

from holdfire.domain.errors import DomainError
from holdfire.domain.numbers import require_instant

ParamValue = str | int | float

GROUP_PREFIX = "group:"
# How an acknowledgement from a channel bound to no identity is recorded (`acked_by`).
UNAUTHENTICATED = "unauthenticated:"
PAIRING_PREFIX = "pairing:"


def check_address(to: str) -> str:
    """A uid, `group:NAME` or `pairing:ID`; refuses an empty one."""
    text = to.strip()
    if not text or text in (GROUP_PREFIX, PAIRING_PREFIX):
        raise DomainError("to", "is required: a unit uid, group:NAME or pairing:ID")
    return text


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    code: str  # catalog id, e.g. WITHDRAWING_IN
    params: dict[str, ParamValue]
    to: str
    sender: str  # who sent it: a token name, a uid over TAK, or holdfire itself
    created_at: datetime
    ack_required: bool = True
    sender_uid: str | None = None  # the unit it speaks for, when the channel is bound to one
    attachment: str | None = None  # free text, never translated
    cause: str | None = None  # alert, measure or check id that made holdfire send it

    def __post_init__(self) -> None:
        check_address(self.to)
        require_instant("created_at", self.created_at)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    message_id: str
    code: str
    recipient: str  # uid
    language: str  # the language the text is in
    text: str  # the rendering the recipient reads
    text_en: str  # the English text, always beside it
    sent_at: datetime
    ack_required: bool = True
    fallback: bool = False  # no rendering in the recipient's language: English + id
    acked_at: datetime | None = None
    acked_by: str | None = None
    attempts: int = 1
    escalated_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.ack_required and self.acked_at is None

    @property
    def acked_by_someone_known(self) -> bool:
        """Acknowledged over a channel bound to an identity (a certificate or a token)."""
        return self.acked_at is not None and not (self.acked_by or "").startswith(UNAUTHENTICATED)

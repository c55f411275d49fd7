"""Who may do what: the roles of design.md §5 and the actions they grant.

Every role may read. `reporter` writes only for the units bound to its token (reports, messages
and acks) and may call a check fire, since anyone who sees an unsafe act may. `fires` asks
checks, records what was fired and the human decisions on a check, and may give the stop
commands. `planner` keeps the registry, the measures and the pairings, sends messages,
acknowledges for any recipient and may cancel anyone's check fire. `admin` may do
everything, tokens included.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from holdfire.domain.errors import DomainError


class Role(StrEnum):
    OBSERVER = "observer"
    REPORTER = "reporter"
    FIRES = "fires"
    PLANNER = "planner"
    ADMIN = "admin"


class Action(StrEnum):
    READ = "read"
    REPORT = "report"  # POST /reports (a reporter only for its bound units)
    CHECK = "check"  # POST /checks
    FIRED = "fired"  # POST /checks/{id}/fired
    DECIDE = "decide"  # POST /checks/{id}/decisions
    CHECK_FIRE = "check-fire"  # POST /checkfire
    CANCEL_ANY_CHECK_FIRE = "cancel-any-check-fire"  # DELETE /checkfire/{id} not one's own
    UNITS = "units"  # PUT /units/{uid}
    MEASURES = "measures"  # POST|DELETE /measures
    PAIRINGS = "pairings"  # POST /pairings
    ACK_ALERT = "ack-alert"  # POST /alerts/{id}/ack (a reporter only for its bound units)
    MESSAGE = "message"  # POST /messages (a reporter only as its bound unit)
    ACK_FOR_OTHERS = "ack-for-others"  # POST /messages/{id}/ack for any recipient
    TOKENS = "tokens"  # token administration
    CLUSTER = "cluster"  # GET /cluster: the nodes and how far behind they are
    CLIENTS = "clients"  # GET /clients, DELETE /clients/{id}: who is connected, cut one off
    METRICS = "metrics"  # GET /metrics (also open to the scrape token, DATA/metrics.token)
    # GET /picture?at=, GET /checks/{id}/picture: the past rebuilt from the log. Not for
    # reporters: their tokens sit on field devices, and every replay walks the whole log.
    REPLAY = "replay"


_GRANTS: dict[Role, frozenset[Action]] = {
    Role.OBSERVER: frozenset({Action.READ, Action.REPLAY}),
    Role.REPORTER: frozenset(
        {Action.READ, Action.REPORT, Action.CHECK_FIRE, Action.ACK_ALERT, Action.MESSAGE}
    ),
    Role.FIRES: frozenset(
        {
            Action.READ,
            Action.CHECK,
            Action.FIRED,
            Action.DECIDE,
            Action.CHECK_FIRE,
            Action.ACK_ALERT,
            Action.REPLAY,
        }
    ),
    Role.PLANNER: frozenset(
        {
            Action.READ,
            Action.REPORT,
            Action.DECIDE,
            Action.CHECK_FIRE,
            Action.CANCEL_ANY_CHECK_FIRE,
            Action.UNITS,
            Action.MEASURES,
            Action.PAIRINGS,
            Action.ACK_ALERT,
            Action.MESSAGE,
            Action.ACK_FOR_OTHERS,
            Action.REPLAY,
        }
    ),
    Role.ADMIN: frozenset(Action),
}


def may(role: Role, action: Action) -> bool:
    return action in _GRANTS[role]


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token as the store keeps it: never the secret, only its hash."""

    id: str
    name: str  # who holds it; recorded as the requester of everything it does
    role: Role
    secret_hash: str
    created_at: datetime
    units: tuple[str, ...] = ()  # uids it speaks for (a reporter's own reports)
    created_by: str = ""
    revoked_at: datetime | None = None
    expires_at: datetime | None = None  # None: until revoked

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise DomainError("name", "is required")
        if not self.secret_hash:
            raise DomainError("secret_hash", "is required")

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def usable(self, now: datetime) -> bool:
        """Not revoked and not expired: what every request and open stream needs."""
        return self.active and not self.expired(now)

    def bound_to(self, uid: str) -> bool:
        return uid in self.units

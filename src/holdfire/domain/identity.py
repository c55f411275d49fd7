"""Standard identities (MIL-STD-2525 / APP-6) and which of them a check must protect."""

from enum import StrEnum


class Affiliation(StrEnum):
    FRIEND = "friend"
    ASSUMED_FRIEND = "assumed-friend"
    NEUTRAL = "neutral"
    UNKNOWN = "unknown"
    PENDING = "pending"
    SUSPECT = "suspect"
    HOSTILE = "hostile"

    @property
    def friendly(self) -> bool:
        return self in (Affiliation.FRIEND, Affiliation.ASSUMED_FRIEND)

    @property
    def protected(self) -> bool:
        """Every identity but suspect and hostile is protected."""
        return self not in (Affiliation.SUSPECT, Affiliation.HOSTILE)

    @property
    def unidentified(self) -> bool:
        return self in (Affiliation.UNKNOWN, Affiliation.PENDING)


# How much protection an identity earns; a report may raise a unit's rank, never lower it.
# Friend and neutral rank alike: neither may be turned into the other by a report.
_PROTECTION_RANK = {
    Affiliation.HOSTILE: 0,
    Affiliation.SUSPECT: 1,
    Affiliation.UNKNOWN: 2,
    Affiliation.PENDING: 2,
    Affiliation.ASSUMED_FRIEND: 3,
    Affiliation.FRIEND: 4,
    Affiliation.NEUTRAL: 4,
}

# CoT type second field -> identity; `o`, `x`, a missing or garbled letter count as unknown.
_COT_LETTERS = {
    "p": Affiliation.PENDING,
    "u": Affiliation.UNKNOWN,
    "a": Affiliation.ASSUMED_FRIEND,
    "f": Affiliation.FRIEND,
    "n": Affiliation.NEUTRAL,
    "s": Affiliation.SUSPECT,
    "h": Affiliation.HOSTILE,
    "j": Affiliation.SUSPECT,  # joker: exercise suspect
    "k": Affiliation.HOSTILE,  # faker: exercise hostile
}


def parse_affiliation(text: str | None) -> Affiliation:
    """Read an identity name; anything missing or unrecognised is unknown (still protected)."""
    if not text:
        return Affiliation.UNKNOWN
    try:
        return Affiliation(text.strip().lower())
    except ValueError:
        return Affiliation.UNKNOWN


def affiliation_from_cot_letter(letter: str | None) -> Affiliation:
    return _COT_LETTERS.get((letter or "").strip(), Affiliation.UNKNOWN)


def more_protected(registered: Affiliation, reported: Affiliation | None) -> Affiliation:
    """The registry's identity wins unless the report earns the unit more protection."""
    if reported is None:
        return registered
    if _PROTECTION_RANK[reported] > _PROTECTION_RANK[registered]:
        return reported
    return registered

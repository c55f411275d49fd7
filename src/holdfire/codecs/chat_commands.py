"""Commands sent to holdfire as GeoChat text, and the replies (sans-I/O).

    CHECK <grid or lat,lon> <weapon> [target type] [PID basis ["detail"]]
    HELP

The target is an MGRS reference, with or without spaces (`36UXB5303396604`,
`36U XB 53033 96604`), or decimal degrees `lat,lon` (`51.35,35.10`, `51.35, 35.10` or
`51.35 35.10`); any other form (degrees-minutes-seconds, …) is given in quotes
(`"51 21 00N 35 06 00E"`). Words are case-insensitive; a quoted detail may contain spaces.
Replies start with the English verdict word so every crew can read the essential part whatever
their language.
"""

import re
import shlex
from dataclasses import dataclass

from holdfire.domain.checks import Clearance, PidBasis

HELP_TEXT = (
    'holdfire commands: CHECK <grid | lat,lon> <weapon> [target type] [pid basis "detail"]'
    ' - e.g. CHECK 36UXB5303396604 fpv-drone tor observer "FO 3 confirms crew". HELP - this.'
    " PID bases: appearance observer hostile-act sigint cooperative-id other."
)
# ATAK keyboards may put no-break or other Unicode spaces between words.
_SPACES = re.compile(r"[\s\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_ZONE_BAND = re.compile(r"\d{1,2}[C-HJ-NP-X]", re.IGNORECASE)
_ZONE_BAND_SQUARE = re.compile(r"\d{1,2}[C-HJ-NP-X][A-HJ-NP-Z]{2}", re.IGNORECASE)
_SQUARE = re.compile(r"[A-HJ-NP-Z]{2}", re.IGNORECASE)
_DIGITS = re.compile(r"\d{1,5}")
_DEGREES = re.compile(r"[+-]?\d{1,3}(\.\d+)?")


@dataclass(frozen=True, slots=True)
class HelpCommand:
    pass


@dataclass(frozen=True, slots=True)
class CheckCommand:
    target: str
    weapon: str
    target_type: str | None = None
    pid: tuple[PidBasis, ...] = ()
    pid_detail: str | None = None


@dataclass(frozen=True, slots=True)
class BadCommand:
    message: str


Command = HelpCommand | CheckCommand | BadCommand


def parse_command(text: str) -> Command:
    try:
        words = shlex.split(_SPACES.sub(" ", text).strip())
    except ValueError as exc:  # an unbalanced quote
        return BadCommand(f"cannot read the command: {exc}. {HELP_TEXT}")
    if not words:
        return BadCommand(HELP_TEXT)
    verb = words[0].upper()
    if verb == "HELP":
        return HelpCommand()
    if verb != "CHECK":
        return BadCommand(f"unknown command {words[0]!r}. {HELP_TEXT}")
    if len(words) < 3:
        return BadCommand(f"CHECK needs a target and a weapon. {HELP_TEXT}")
    target, used = _target(words[1:])
    if len(words) < 2 + used:
        return BadCommand(f"CHECK needs a target and a weapon. {HELP_TEXT}")
    weapon, rest = words[1 + used].lower(), words[2 + used :]
    target_type = None
    pid: list[PidBasis] = []
    detail: list[str] = []
    for word in rest:
        basis = _pid(word)
        if basis is not None:
            pid.append(basis)
        elif pid:
            detail.append(word)
        elif target_type is None:
            target_type = word.lower()
        else:
            return BadCommand(f"unexpected {word!r}. {HELP_TEXT}")
    return CheckCommand(target, weapon, target_type, tuple(pid), " ".join(detail) or None)


def _target(words: list[str]) -> tuple[str, int]:
    """The target and how many words it takes: an MGRS reference or a decimal pair may be
    written over several words (`36U XB 53033 96604`, `51.35, 35.10`, `51.35 35.10`)."""
    first = words[0]
    parts: list[str] | None = None
    if _ZONE_BAND_SQUARE.fullmatch(first):
        parts = [first]
    elif len(words) > 1 and _ZONE_BAND.fullmatch(first) and _SQUARE.fullmatch(words[1]):
        parts = [first, words[1]]
    if parts is not None:
        easting = len(parts)
        if (
            len(words) > easting + 1
            and _DIGITS.fullmatch(words[easting])
            and _DIGITS.fullmatch(words[easting + 1])
            and len(words[easting]) == len(words[easting + 1])
        ):
            parts += words[easting : easting + 2]
        return " ".join(parts), len(parts)
    if len(words) > 1 and _DEGREES.fullmatch(words[1]):
        if first.endswith(",") and _DEGREES.fullmatch(first[:-1]):
            return f"{first}{words[1]}", 2
        if _DEGREES.fullmatch(first):
            return f"{first},{words[1]}", 2
    return first, 1


def _pid(word: str) -> PidBasis | None:
    try:
        return PidBasis(word.lower())
    except ValueError:
        return None


def format_reply(clearance: Clearance, *, top: int = 3) -> str:
    """One chat message: verdict, target, then the strictest reasons."""
    head = f"{clearance.verdict.value} {clearance.target.mgrs} {clearance.weapon}"
    lines = [head]
    for reason in clearance.reasons[:top]:
        label = "note" if reason.note else reason.verdict.value
        lines.append(f"{label} {reason.code.value}: {reason.detail}")
    more = len(clearance.reasons) - top
    if more > 0:
        lines.append(f"(+{more} more reasons; check {clearance.id[:8]})")
    lines.append(f"valid until {clearance.valid_until:%H:%M:%SZ}; check {clearance.id[:8]}")
    return "\n".join(lines)

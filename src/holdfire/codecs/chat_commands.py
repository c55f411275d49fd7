"""Commands sent to holdfire as GeoChat text, and the replies (sans-I/O).

    CHECK <grid or lat,lon> <weapon> [target type] [PID basis ["detail"]]
    HELP

The target is one MGRS token (`36UXB5303396604`, spaces inside a grid are not accepted here)
or `lat,lon` without spaces (`51.35,35.10`). Words are case-insensitive; a quoted detail may
contain spaces. Replies start with the English verdict word so every crew can read the essential
part whatever their language.
"""

import shlex
from dataclasses import dataclass

from holdfire.domain.checks import Clearance, PidBasis

HELP_TEXT = (
    'holdfire commands: CHECK <grid | lat,lon> <weapon> [target type] [pid basis "detail"]'
    ' - e.g. CHECK 36UXB5303396604 fpv-drone tor observer "FO 3 confirms crew". HELP - this.'
    " PID bases: appearance observer hostile-act sigint cooperative-id other."
)


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
        words = shlex.split(text.strip())
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
    target, weapon, rest = words[1], words[2].lower(), words[3:]
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

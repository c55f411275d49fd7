"""Commands sent to holdfire as GeoChat text, the replies, and messages as chat (sans-I/O).

    CHECK <grid or lat,lon> <weapon> [target type] [PID basis ["detail"]]
    MSG <uid | callsign | group:NAME | pairing:ID> <ID> [key=value ...] ["free text"]
    ACK <ref>     WILCO <ref>
    HELP

The target is an MGRS reference, with or without spaces (`36UXB5303396604`,
`36U XB 53033 96604`), or decimal degrees `lat,lon` (`51.35,35.10`, `51.35, 35.10` or
`51.35 35.10`); any other form (degrees-minutes-seconds, …) is given in quotes
(`"51 21 00N 35 06 00E"`). Words are case-insensitive; a quoted detail may contain spaces.
Replies start with the English verdict word so every crew can read the essential part whatever
their language.

Decisions for `MSG`, `ACK` and `WILCO`:

- `MSG` is read with double quotes only: an apostrophe is a letter in Ukrainian (`м'ясо`) and
  in free text, so it quotes nothing. Typographic quotes (`“…”`, as iOS keyboards type them)
  count as straight ones. A value with spaces is quoted (`unit="ALPHA 2"`); a grid is written
  without spaces (`grid=36UXB5303396604`) or quoted. The free-text attachment is the one
  argument that is quoted as a whole; any other word that is not `key=value` is refused, so a
  forgotten `=` or quote is said instead of guessed.
- Values stay text until the catalog says what a parameter is (`message_params`): a number
  only where the parameter is numeric (minutes, counts, distances, bearings), so a callsign
  `2` or an all-digit reference stays the string it was.
- Bounds: at most `MAX_PARAMS` parameters, each value and the attachment at most
  `MAX_TEXT` characters, a reference or address at most `MAX_REF`; numbers longer than 15
  digits are not numbers. Anything a reply quotes back is cut to 40 characters.
- `ACK` and `WILCO` take exactly one reference (the message or delivery id, or its first 8
  characters, as `[ack: ACK 1a2b3c4d]` shows it); square brackets around it are ignored.
"""

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from holdfire.domain.catalog import ENGLISH, MAX_REF, MAX_TEXT, MessageDef, ParamType, ParamValue
from holdfire.domain.checks import Clearance, PidBasis
from holdfire.domain.messages import Delivery

HELP_TEXT = (
    'holdfire commands: CHECK <grid | lat,lon> <weapon> [target type] [pid basis "detail"]'
    ' - e.g. CHECK 36UXB5303396604 fpv-drone tor observer "FO 3 confirms crew".'
    ' MSG <uid | callsign | group:NAME | pairing:ID> <message id> [key=value ...] ["free text"]'
    " - e.g. MSG BRAVO WITHDRAWING_IN minutes=5 rally_grid=36UXB5303396604 (grids without"
    " spaces; quote values with spaces). ACK <ref> or WILCO <ref> - acknowledge a message."
    " HELP - this. PID bases: appearance observer hostile-act sigint cooperative-id other."
)
MAX_PARAMS = 32
# ATAK keyboards may put no-break or other Unicode spaces between words.
_SPACES = re.compile(r"[\s\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_CURLY_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"'})
_MSG_TOKEN = re.compile(r'(?:[^\s"]+|"[^"]*")+')
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_PARAM_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_INT = re.compile(r"[+-]?\d{1,15}")
_FLOAT = re.compile(r"[+-]?(\d{1,15}\.\d{0,15}|\.\d{1,15})")
_NUMERIC = frozenset(
    {ParamType.MINUTES, ParamType.COUNT, ParamType.DISTANCE_M, ParamType.BEARING_DEG}
)
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
class MessageCommand:
    """`MSG`: a catalog message; parameter values as written (see `message_params`)."""

    to: str
    code: str
    params: tuple[tuple[str, str], ...] = ()
    attachment: str | None = None


@dataclass(frozen=True, slots=True)
class AckCommand:
    verb: str  # ACK or WILCO
    ref: str


@dataclass(frozen=True, slots=True)
class BadCommand:
    message: str


Command = HelpCommand | CheckCommand | MessageCommand | AckCommand | BadCommand


def parse_command(text: str) -> Command:
    clean = _SPACES.sub(" ", text.translate(_CURLY_QUOTES)).strip()
    verb = clean.split(" ", 1)[0].upper()
    if verb == "MSG":
        return _message(clean)
    try:
        words = shlex.split(clean)
    except ValueError as exc:  # an unbalanced quote
        return BadCommand(f"cannot read the command: {exc}. {HELP_TEXT}")
    if not words:
        return BadCommand(HELP_TEXT)
    verb = words[0].upper()
    if verb == "HELP":
        return HelpCommand()
    if verb in ("ACK", "WILCO"):
        return _ack(verb, words[1:])
    if verb != "CHECK":
        return BadCommand(f"unknown command {_shown(words[0])}. {HELP_TEXT}")
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
            return BadCommand(f"unexpected {_shown(word)}. {HELP_TEXT}")
    return CheckCommand(target, weapon, target_type, tuple(pid), " ".join(detail) or None)


_MSG_USAGE = 'MSG <uid | callsign | group:NAME | pairing:ID> <message id> [key=value ...] ["text"]'


def _message(text: str) -> Command:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return BadCommand("MSG: control characters are not allowed")
    if text.count('"') % 2:
        return BadCommand(f'cannot read the command: a " is not closed. {_MSG_USAGE}')
    tokens = [(t.replace('"', ""), _quoted_whole(t)) for t in _MSG_TOKEN.findall(text)]
    if len(tokens) < 3:
        return BadCommand(f"MSG needs a recipient and a message id. {_MSG_USAGE}")
    (to, _), (code, _) = tokens[1], tokens[2]
    to, code = to.strip(), code.upper()
    if not to or len(to) > MAX_REF:
        return BadCommand(f"MSG: the recipient must be 1-{MAX_REF} characters. {_MSG_USAGE}")
    if not _CODE.fullmatch(code):
        return BadCommand(f"MSG: {_shown(code)} is not a message id (e.g. WAIT_FOR_US)")
    params: dict[str, str] = {}
    attachment: str | None = None
    for word, quoted in tokens[3:]:
        if quoted:
            if attachment is not None:
                return BadCommand("MSG takes one quoted free text: one pair of quotes")
            if len(word) > MAX_TEXT:
                return BadCommand(f"MSG: the free text is over {MAX_TEXT} characters")
            attachment = word.strip() or None
            continue
        key, eq, value = word.partition("=")
        key = key.lower()
        if not eq or not _PARAM_KEY.fullmatch(key):
            return BadCommand(
                f"MSG: unexpected {_shown(word)}: parameters are key=value, free text goes in "
                f'"quotes". {_MSG_USAGE}'
            )
        if key in params:
            return BadCommand(f"MSG: {key} is given twice")
        if len(value) > MAX_TEXT:
            return BadCommand(f"MSG: the value of {key} is over {MAX_TEXT} characters")
        params[key] = value
        if len(params) > MAX_PARAMS:
            return BadCommand(f"MSG: more than {MAX_PARAMS} parameters")
    return MessageCommand(to, code, tuple(params.items()), attachment)


def _quoted_whole(token: str) -> bool:
    return token.startswith('"') and token.endswith('"') and token.count('"') == 2


def _ack(verb: str, words: list[str]) -> Command:
    usage = f"{verb} <ref>: the message reference, e.g. {verb} 1a2b3c4d"
    if len(words) != 1:
        return BadCommand(f"{verb} takes one reference. {usage}")
    ref = words[0].strip("[]")
    if not ref or len(ref) > MAX_REF:
        return BadCommand(f"{verb}: the reference must be 1-{MAX_REF} characters. {usage}")
    return AckCommand(verb, ref)


def _shown(word: str, limit: int = 40) -> str:
    """A word a reply quotes back, cut short (a reply must not echo a 60 KB token)."""
    return repr(word if len(word) <= limit else word[:limit] + "…")


def message_params(
    definition: MessageDef, params: Iterable[tuple[str, str]]
) -> dict[str, ParamValue]:
    """Values typed as the catalog defines them: numbers where the parameter is numeric, the
    rest as written. What is not a number stays text, for the catalog to refuse in its words."""
    typed: dict[str, ParamValue] = {}
    for key, raw in params:
        param = definition.param(key)
        value: ParamValue = raw
        if param is not None and param.type in _NUMERIC:
            if _INT.fullmatch(raw):
                value = int(raw)
            elif _FLOAT.fullmatch(raw):
                value = float(raw)
        typed[key] = value
    return typed


def format_delivery(delivery: Delivery, sender: str | None = None) -> str:
    """A delivery as chat: the recipient's rendering, the English text (when the rendering is
    in another language), then a line naming the sender (None: holdfire itself), a re-send, and
    the reference to acknowledge with."""
    lines = [delivery.text]
    if delivery.language != ENGLISH and delivery.text_en != delivery.text:
        lines.append(delivery.text_en)
    notes = []
    if sender is not None:
        notes.append(f"from {sender}")
    if delivery.attempts > 1:
        notes.append(f"sent {delivery.attempts} times")
    if delivery.ack_required:
        notes.append(f"ack: ACK {delivery.message_id[:8]}")
    if notes:
        lines.append(f"[{'; '.join(notes)}]")
    return "\n".join(lines)


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

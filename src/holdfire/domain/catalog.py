"""The multilingual tactical message catalog (domain.md §7): ids, typed parameters, renderings.

A message is an id (``WITHDRAWING_IN``) plus typed parameters (``minutes``, ``rally_grid``); the
words a reader sees come from a per-language template. Nothing here reads files: the loader
(``holdfire.adapters.catalog``) builds a :class:`Catalog` from TOML.

Decisions written down here:

- **Alternatives.** A message may have one "one of" group (``MOVING_IN``: ``grid`` or
  ``bearing_deg``; the stop commands: ``grid`` or ``unit``, optional). At most one of its keys may
  be given: a check fire for a grid *and* a unit would be ambiguous, so both is refused. Because
  the sentence differs with the choice, a rendering has one template per *variant*: the key that
  was given, or ``none`` (:data:`NO_ALTERNATIVE`) when none was (also the only variant of a
  message without alternatives).
- **Templates are strict.** Each variant's template must use exactly the placeholders of that
  variant: every parameter outside the group, plus the chosen key. A template that silently drops
  ``{rally_grid}`` would lose the one thing the reader needs, so leaving one out is an error just
  like naming an unknown one. Placeholders are bare ``{name}``: no format spec, no conversion,
  no index. A back-translation must use the same placeholders as its text.
- **Values are inserted verbatim.** Grids, unit uids/callsigns, references and free text are never
  translated and never re-parsed as templates. A grid is kept as given after removing spaces and
  upper-casing (``36U XB 53033 96604`` -> ``36UXB5303396604``); it is validated with
  :func:`holdfire.geo.parse_mgrs` but not re-encoded, so its precision is the sender's. Numbers are
  written without locale: ``800`` (a whole float too), ``12.5``, never a thousands separator or a
  decimal comma, never an exponent. An enum value shows the language's label when it has one
  (``AMBER (70–84 %)``), else the value itself. An optional parameter left out shows ``—``.
- **Fallback.** A language tag is BCP 47 and matched case-insensitively by RFC 4647 lookup
  (``ko-KR`` -> ``ko``, ``zh-Hant-TW`` -> ``zh-hant`` -> ``zh``). With no rendering in that
  language the English one is used, prefixed with the id (``[WAIT_FOR_US] Wait for us.``) and
  ``fallback`` set, so the reader and the audit both see that it is not their language. English
  must therefore render every message.
- **Review.** ``reviewed`` is false until a *named* person has reviewed the rendering, so
  ``reviewed = true`` needs ``reviewed_by``.
- **Priority.** ``safety`` (the stop commands, their cancel, danger close, friendly fires and the
  two friendly-position messages) pre-empts all other traffic; ``urgent`` (casualties, contact,
  lost contact, covering fire, protocol replies, the pairing watch's prompt) goes before
  ``routine``. ``CANCEL_CHECK_FIRE`` is ``safety`` too: at equal priority delivery stays in order,
  so a cancel can never overtake the check fire it cancels. Replies are ``urgent`` because a reply
  stuck behind routine traffic makes its sender re-send and escalate.
- **Acknowledgements.** Every message needs an ACK by default except the protocol replies (ACK,
  WILCO, UNABLE, SAY_AGAIN), which would otherwise be acknowledged forever.
- JSON ``null`` for a parameter means "not given".
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from holdfire.domain.errors import DomainError
from holdfire.geo import GeoError, parse_mgrs

__all__ = [
    "ENGLISH",
    "MISSING_VALUE",
    "NO_ALTERNATIVE",
    "Catalog",
    "Group",
    "LanguageCoverage",
    "MessageDef",
    "OneOf",
    "ParamDef",
    "ParamType",
    "ParamValue",
    "Priority",
    "RenderedMessage",
    "Rendering",
    "check_rendering",
    "format_number",
    "lookup_language",
    "template_fields",
]

ENGLISH: Final = "en"
NO_ALTERNATIVE: Final = "none"
MISSING_VALUE: Final = "—"  # an optional parameter that was not given
MAX_TEXT: Final = 500  # characters in a free-text attachment
MAX_REF: Final = 128  # characters in a message reference

ParamValue = str | int | float

_CODE = re.compile(r"[A-Z][A-Z0-9_]*")
_KEY = re.compile(r"[a-z][a-z0-9_]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*")


class ParamType(StrEnum):
    GRID = "grid"  # MGRS reference
    MINUTES = "minutes"  # whole minutes >= 0
    DISTANCE_M = "distance_m"  # metres, finite >= 0
    COUNT = "count"  # whole number >= 0
    BEARING_DEG = "bearing_deg"  # degrees 0..360 (not mils)
    UNIT = "unit"  # a unit uid or callsign
    ENUM = "enum"  # one of the allowed values
    TEXT = "text"  # free-text attachment, never translated
    REF = "ref"  # a message id


class Group(StrEnum):
    MOVEMENT = "movement"
    FIRE = "fire"
    CASUALTY = "casualty"
    CONTACT = "contact"
    LOGISTICS = "logistics"
    PROTOCOL = "protocol"
    COORDINATION = "coordination"  # holdfire's own prompts (separation, lookalike, overdue)


class Priority(StrEnum):
    SAFETY = "safety"
    URGENT = "urgent"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        """0 goes first: sort a queue by (rank, time queued)."""
        return _PRIORITY_ORDER.index(self)


_PRIORITY_ORDER: Final = (Priority.SAFETY, Priority.URGENT, Priority.ROUTINE)


@dataclass(frozen=True, slots=True)
class ParamDef:
    key: str
    type: ParamType
    required: bool = True  # ignored for keys of the one-of group, which decides for them
    values: tuple[str, ...] = ()  # the allowed values of an enum, nothing else

    def __post_init__(self) -> None:
        if not _KEY.fullmatch(self.key) or self.key == NO_ALTERNATIVE:
            raise DomainError(
                f"params.{self.key}", f"a key is a-z, 0-9 and '_' and not {NO_ALTERNATIVE!r}"
            )
        if self.type is ParamType.ENUM:
            if not self.values:
                raise DomainError(f"params.{self.key}.values", "an enum needs allowed values")
            folded = [v.casefold() for v in self.values]
            if len(set(folded)) != len(folded) or not all(v.strip() for v in self.values):
                raise DomainError(
                    f"params.{self.key}.values", "must be distinct non-empty values (any case)"
                )
        elif self.values:
            raise DomainError(f"params.{self.key}.values", "only an enum has values")


@dataclass(frozen=True, slots=True)
class OneOf:
    """Alternative keys: at most one may be given; with ``required`` exactly one."""

    keys: tuple[str, ...]
    required: bool

    @property
    def wording(self) -> str:
        return " or ".join(self.keys)


@dataclass(frozen=True, slots=True)
class MessageDef:
    code: str
    group: Group
    priority: Priority
    ack_required: bool
    params: tuple[ParamDef, ...] = ()
    one_of: OneOf | None = None

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code):
            raise DomainError("code", f"must be A-Z, 0-9 and '_', got {self.code!r}")
        keys = [p.key for p in self.params]
        if len(set(keys)) != len(keys):
            raise DomainError(f"{self.code}.params", "a key appears twice")
        if self.one_of is not None:
            if len(self.one_of.keys) < 2 or len(set(self.one_of.keys)) != len(self.one_of.keys):
                raise DomainError(f"{self.code}.one_of", "needs two or more distinct keys")
            for key in self.one_of.keys:
                if key not in keys:
                    raise DomainError(f"{self.code}.one_of", f"{key!r} is not a parameter")

    def param(self, key: str) -> ParamDef | None:
        return next((p for p in self.params if p.key == key), None)

    @property
    def alternatives(self) -> tuple[str, ...]:
        return self.one_of.keys if self.one_of is not None else ()

    @property
    def variants(self) -> tuple[str, ...]:
        """The template variants a rendering must give, in a stable order."""
        if self.one_of is None:
            return (NO_ALTERNATIVE,)
        return self.one_of.keys if self.one_of.required else (NO_ALTERNATIVE, *self.one_of.keys)

    def placeholders(self, variant: str) -> frozenset[str]:
        """Exactly the placeholders the template of `variant` must use."""
        if variant not in self.variants:
            raise DomainError("variant", f"{self.code} has no variant {variant!r}")
        common = {p.key for p in self.params if p.key not in self.alternatives}
        return frozenset(common | ({variant} if variant != NO_ALTERNATIVE else set()))

    def variant_of(self, params: Mapping[str, ParamValue]) -> str:
        """Which variant validated `params` select."""
        return next((k for k in self.alternatives if k in params), NO_ALTERNATIVE)


@dataclass(frozen=True, slots=True)
class Rendering:
    """One message in one language. Templates and back-translations are keyed by variant."""

    text: Mapping[str, str]
    gloss: str
    back_translation: Mapping[str, str] = field(default_factory=dict)  # empty for English
    reviewed: bool = False
    reviewed_by: str = ""
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # enum key -> value

    def __post_init__(self) -> None:
        if not self.gloss.strip():
            raise DomainError("gloss", "must not be empty")
        if self.reviewed and not self.reviewed_by.strip():
            raise DomainError("reviewed_by", "reviewed = true needs the name of who reviewed it")


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    code: str
    text: str  # what the reader sees
    text_en: str  # the English text, always carried beside the rendering
    back_translation: str  # the rendering back in English (the English text itself for en)
    language_used: str
    fallback: bool  # True: the requested language had no rendering, English was used
    gloss: str
    reviewed: bool


@dataclass(frozen=True, slots=True)
class LanguageCoverage:
    language: str
    total: int
    rendered: int
    reviewed: int
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


# --------------------------------------------------------------------------- templates


def template_fields(template: str) -> list[str]:
    """The placeholder names of `template`; refuses anything but bare ``{name}`` fields."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        message = f"is not a valid template ({exc}); write {{{{ for a literal brace"
        raise DomainError("template", message) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not _KEY.fullmatch(name) or spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise DomainError("template", f"placeholder {{{shown}}} must be a bare {{name}}")
        names.append(name)
    return names


def check_rendering(definition: MessageDef, rendering: Rendering, *, english: bool) -> None:
    """A rendering fits its definition: variants, placeholders, labels. Fields name the problem."""
    _check_variants("text", definition, rendering.text)
    if english:
        if rendering.back_translation:
            raise DomainError("back_translation", "English needs no back-translation")
    else:
        _check_variants("back_translation", definition, rendering.back_translation)
    for key, labels in rendering.labels.items():
        param = definition.param(key)
        if param is None or param.type is not ParamType.ENUM:
            raise DomainError(f"labels.{key}", f"{definition.code} has no enum parameter {key!r}")
        for value, label in labels.items():
            if value not in param.values:
                raise DomainError(
                    f"labels.{key}.{value}", f"not a value of {key} ({', '.join(param.values)})"
                )
            if not label.strip():
                raise DomainError(f"labels.{key}.{value}", "must not be empty")


def _check_variants(name: str, definition: MessageDef, templates: Mapping[str, str]) -> None:
    wanted = definition.variants
    for variant in templates:
        if variant not in wanted:
            raise DomainError(
                f"{name}.{variant}", f"{definition.code} has no such variant ({', '.join(wanted)})"
            )
    for variant in wanted:
        where = name if wanted == (NO_ALTERNATIVE,) else f"{name}.{variant}"
        template = templates.get(variant)
        if template is None or not template.strip():
            raise DomainError(where, "is required" + _variant_hint(definition, variant))
        try:
            used = template_fields(template)
        except DomainError as exc:
            raise DomainError(where, exc.message) from None
        expected = definition.placeholders(variant)
        for placeholder in used:
            if placeholder not in expected:
                scope = definition.code if definition.one_of is None else "this variant"
                raise DomainError(
                    where,
                    f"placeholder {{{placeholder}}} is not a parameter of {scope} "
                    f"(expected {_braced(expected)})",
                )
        for placeholder in sorted(expected - set(used)):
            raise DomainError(where, f"placeholder {{{placeholder}}} is missing; it must be shown")


def _variant_hint(definition: MessageDef, variant: str) -> str:
    if definition.one_of is None:
        return ""
    if variant == NO_ALTERNATIVE:
        return f" (the sentence when neither {definition.one_of.wording} is given)"
    return f" (the sentence when {variant} is given)"


def _braced(keys: frozenset[str]) -> str:
    return ", ".join(f"{{{k}}}" for k in sorted(keys)) or "none"


# --------------------------------------------------------------------------- values


def format_number(value: int | float) -> str:
    """Locale-free: ``800``, ``800`` for 800.0, ``12.5``; no separators, no exponent."""
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _validate_value(param: ParamDef, raw: object) -> ParamValue:
    where = f"params.{param.key}"
    match param.type:
        case ParamType.GRID:
            if not isinstance(raw, str):
                raise DomainError(where, "must be an MGRS grid as a string")
            try:
                parse_mgrs(raw)
            except GeoError as exc:
                raise DomainError(where, str(exc)) from None
            return re.sub(r"\s+", "", raw).upper()
        case ParamType.MINUTES | ParamType.COUNT:
            return _whole(where, raw)
        case ParamType.DISTANCE_M:
            number = _number(where, raw)
            if number < 0:
                raise DomainError(where, f"must be a finite number >= 0, got {raw!r}")
            return number
        case ParamType.BEARING_DEG:
            number = _number(where, raw)
            if not 0 <= number <= 360:
                raise DomainError(where, f"must be in degrees 0..360 (not mils), got {raw!r}")
            return number
        case ParamType.ENUM:
            if isinstance(raw, str):
                folded = raw.strip().casefold()
                for value in param.values:
                    if value.casefold() == folded:
                        return value
            raise DomainError(where, f"must be one of {', '.join(param.values)}, got {raw!r}")
        case ParamType.UNIT | ParamType.REF:
            limit = MAX_REF
            what = "a unit uid or callsign" if param.type is ParamType.UNIT else "a message id"
            return _text(where, raw, what, limit, one_word=param.type is ParamType.REF)
        case ParamType.TEXT:
            return _text(where, raw, "text", MAX_TEXT, one_word=False)


def _whole(where: str, raw: object) -> int:
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise DomainError(where, f"must be a whole number >= 0, got {raw!r}")
    return raw


def _number(where: str, raw: object) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise DomainError(where, f"must be a number, got {type(raw).__name__}")
    try:
        finite = math.isfinite(raw)
    except OverflowError:
        finite = False
    if not finite:
        raise DomainError(where, f"must be a finite number, got {raw!r}")
    return raw


def _text(where: str, raw: object, what: str, limit: int, *, one_word: bool) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise DomainError(where, f"must be {what} (a non-empty string)")
    value = raw.strip()
    if len(value) > limit:
        raise DomainError(where, f"must be at most {limit} characters, got {len(value)}")
    if one_word and any(c.isspace() for c in value):
        raise DomainError(where, f"must be {what} without spaces")
    if any(c in value for c in "\r\n\t\x00"):
        raise DomainError(where, "must be one line (no control characters)")
    return value


def _display(param: ParamDef, value: ParamValue | None, rendering: Rendering) -> str:
    if value is None:
        return MISSING_VALUE
    if param.type is ParamType.ENUM:
        return rendering.labels.get(param.key, {}).get(str(value), str(value))
    if isinstance(value, str):
        return value
    return format_number(value)


# --------------------------------------------------------------------------- languages


def lookup_language(tag: str, available: frozenset[str]) -> str | None:
    """RFC 4647 lookup of a BCP 47 tag among `available` (lower-case tags); None if no match."""
    subtags = tag.strip().replace("_", "-").lower().split("-")
    while subtags and subtags[0]:
        candidate = "-".join(subtags)
        if candidate in available:
            return candidate
        subtags.pop()
        if len(subtags) >= 2 and len(subtags[-1]) == 1:  # drop a singleton left dangling
            subtags.pop()
    return None


# --------------------------------------------------------------------------- the catalog


@dataclass(frozen=True, slots=True)
class Catalog:
    """Definitions by id and renderings by language tag (lower-case) then id."""

    definitions: Mapping[str, MessageDef]
    renderings: Mapping[str, Mapping[str, Rendering]]

    def __post_init__(self) -> None:
        if not self.definitions:
            raise DomainError("definitions", "the catalog defines no message")
        for code, definition in self.definitions.items():
            if code != definition.code:
                raise DomainError(f"definitions.{code}", f"is keyed as {definition.code!r}")
        english = self.renderings.get(ENGLISH, {})
        missing = [code for code in self.definitions if code not in english]
        if missing:
            raise DomainError(ENGLISH, f"English is the fallback and must render {missing}")
        for language, by_code in self.renderings.items():
            if not _LANGUAGE.fullmatch(language):
                raise DomainError(language, "must be a lower-case BCP 47 tag, e.g. ko or zh-hant")
            for code, rendering in by_code.items():
                if code not in self.definitions:
                    raise DomainError(f"{language}.{code}", "renders a message not defined")
                try:
                    check_rendering(self.definitions[code], rendering, english=language == ENGLISH)
                except DomainError as exc:
                    raise DomainError(f"{language}.{code}.{exc.field}", exc.message) from None

    @property
    def languages(self) -> tuple[str, ...]:
        """English first, then the others in alphabetical order."""
        return (ENGLISH, *sorted(lang for lang in self.renderings if lang != ENGLISH))

    def definition(self, code: str) -> MessageDef:
        definition = self.definitions.get(code)
        if definition is None:
            raise DomainError("code", f"unknown message id {code!r}")
        return definition

    def coverage(self) -> dict[str, LanguageCoverage]:
        total = len(self.definitions)
        result: dict[str, LanguageCoverage] = {}
        for language in self.languages:
            by_code = self.renderings[language]
            result[language] = LanguageCoverage(
                language=language,
                total=total,
                rendered=sum(1 for code in self.definitions if code in by_code),
                reviewed=sum(1 for r in by_code.values() if r.reviewed),
                missing=tuple(code for code in self.definitions if code not in by_code),
            )
        return result

    def validate_params(self, code: str, params: Mapping[str, object]) -> dict[str, ParamValue]:
        """Typed, normalised parameters, or a DomainError naming ``params.<key>``."""
        definition = self.definition(code)
        for key in params:
            if definition.param(key) is None:
                accepted = ", ".join(p.key for p in definition.params) or "no parameters"
                raise DomainError(f"params.{key}", f"unknown parameter ({code} takes {accepted})")
        result: dict[str, ParamValue] = {}
        for param in definition.params:
            raw = params.get(param.key)
            if raw is None:
                if param.required and param.key not in definition.alternatives:
                    raise DomainError(f"params.{param.key}", "is required")
                continue
            result[param.key] = _validate_value(param, raw)
        if definition.one_of is not None:
            given = [k for k in definition.one_of.keys if k in result]
            if len(given) > 1:
                raise DomainError("params", f"give {definition.one_of.wording}, not both")
            if not given and definition.one_of.required:
                raise DomainError("params", f"{definition.one_of.wording} is required")
        return result

    def render(self, code: str, params: Mapping[str, object], language: str) -> RenderedMessage:
        """The message in `language`, or English prefixed with ``[ID]`` when it has none."""
        definition = self.definition(code)
        values = self.validate_params(code, params)
        variant = definition.variant_of(values)
        english = self.renderings[ENGLISH][code]
        text_en = _fill(english.text[variant], definition, values, english)

        matched = lookup_language(language, frozenset(self.renderings))
        rendering = self.renderings[matched].get(code) if matched is not None else None
        if matched is None or matched == ENGLISH or rendering is None:
            fallback = matched != ENGLISH  # English renders every message (checked above)
            return RenderedMessage(
                code=code,
                text=f"[{code}] {text_en}" if fallback else text_en,
                text_en=text_en,
                back_translation=text_en,
                language_used=ENGLISH,
                fallback=fallback,
                gloss=english.gloss,
                reviewed=english.reviewed,
            )
        return RenderedMessage(
            code=code,
            text=_fill(rendering.text[variant], definition, values, rendering),
            text_en=text_en,
            back_translation=_fill(
                rendering.back_translation[variant], definition, values, english
            ),
            language_used=matched,
            fallback=False,
            gloss=rendering.gloss,
            reviewed=rendering.reviewed,
        )


def _fill(
    template: str, definition: MessageDef, values: Mapping[str, ParamValue], rendering: Rendering
) -> str:
    shown = {p.key: _display(p, values.get(p.key), rendering) for p in definition.params}
    return template.format_map(shown)

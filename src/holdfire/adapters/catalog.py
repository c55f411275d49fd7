"""Load the message catalog (domain.md §7) from TOML into a domain `Catalog`.

Shipped files live in the `holdfire.data` package under ``catalog/``: ``messages.toml`` (the
definitions: ids, groups, priorities, typed parameters) and one ``<lang>.toml`` per language (the
renderings); the file formats are described at the top of ``messages.toml`` and ``en.toml``.

An operator overrides renderings per data directory with ``<data dir>/catalog/<lang>.toml``, in the
same shape as the shipped language file: to add a language, or to replace renderings (for example
once a native speaker has reviewed them: ``reviewed = true``, ``reviewed_by = "name"``).

Decisions written down here:

- Merge rule: a message in an override replaces the shipped rendering of that message whole (text,
  gloss, back-translation, review and labels); other messages keep theirs. Nothing is removed.
- The file name is the language tag (BCP 47, lower-cased: ``ko.toml``, ``pt-br.toml``).
- The definitions are not overridable: ids and parameter keys are a contract the API, the stored
  messages and every other node share, so a data directory must not change them.
- English is required for every message (it is the fallback); other languages may be partial and
  :meth:`Catalog.coverage` says what is missing.
- Validation fails closed, with a `CatalogError` naming the file, the key and the problem:
  unknown keys, wrong types, unknown ids and templates whose placeholders are not exactly those
  of their message (the error names the placeholder) are all refused.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from holdfire.adapters.data_files import DataFileError, EntryContext
from holdfire.domain.catalog import (
    ENGLISH,
    NO_ALTERNATIVE,
    Catalog,
    Group,
    MessageDef,
    OneOf,
    ParamDef,
    ParamType,
    Priority,
    Rendering,
    check_rendering,
)
from holdfire.domain.errors import DomainError

__all__ = ["CATALOG_DIR", "DEFINITIONS", "CatalogError", "load_catalog"]

CATALOG_DIR: Final = "catalog"
DEFINITIONS: Final = "messages.toml"
_SHIPPED_LABEL: Final = "holdfire/data/catalog/{name} (shipped)"

_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*")
_DEF_KEYS: Final = frozenset(("group", "priority", "ack_required", "params", "one_of"))
_DEF_REQUIRED: Final = frozenset(("group", "priority", "ack_required"))
_PARAM_KEYS: Final = frozenset(("type", "required", "values"))
_RENDERING_KEYS: Final = frozenset(
    ("text", "gloss", "back_translation", "reviewed", "reviewed_by", "labels")
)
_RENDERING_REQUIRED: Final = frozenset(("text", "gloss", "reviewed", "reviewed_by"))


class CatalogError(DataFileError):
    """A catalog file or entry that must be refused."""


def _at(file: str, path: str) -> EntryContext:
    return EntryContext(file, path, CatalogError)


# --------------------------------------------------------------------------- public entry point


def load_catalog(data_dir: Path | None = None) -> Catalog:
    """The shipped catalog, with ``data_dir / "catalog" / "<lang>.toml"`` merged over it."""
    shipped = resources.files("holdfire.data").joinpath(CATALOG_DIR)
    definitions = _parse_definitions(
        _SHIPPED_LABEL.format(name=DEFINITIONS), _read(shipped / DEFINITIONS, DEFINITIONS)
    )

    renderings: dict[str, dict[str, Rendering]] = {}
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml") and entry.name != DEFINITIONS:
            label = _SHIPPED_LABEL.format(name=entry.name)
            language = _language_of(label, entry.name)
            doc = _read(entry, label)
            renderings[language] = _parse_language(label, language, doc, definitions)

    if data_dir is not None and (data_dir / CATALOG_DIR).is_dir():
        for path in sorted((data_dir / CATALOG_DIR).glob("*.toml")):
            if path.name == DEFINITIONS:
                raise CatalogError(
                    str(path), "", "the definitions (ids, parameters) cannot be overridden"
                )
            language = _language_of(str(path), path.name)
            override = _parse_language(str(path), language, _read(path, str(path)), definitions)
            renderings.setdefault(language, {}).update(override)

    english = renderings.get(ENGLISH, {})
    for code in definitions:
        if code not in english:
            raise CatalogError(
                _SHIPPED_LABEL.format(name="en.toml"),
                f"messages.{code}",
                "English is the fallback and must render every message",
            )
    try:
        return Catalog(
            definitions=MappingProxyType(definitions),
            renderings=MappingProxyType(
                {lang: MappingProxyType(by_code) for lang, by_code in renderings.items()}
            ),
        )
    except DomainError as exc:  # checked above entry by entry; this is the last line of defence
        raise CatalogError(CATALOG_DIR, exc.field, exc.message) from exc


# --------------------------------------------------------------------------- files


def _read(source: Traversable | Path, label: str) -> dict[str, Any]:
    try:
        text = source.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(label, "", f"cannot read: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(label, "", f"not valid TOML: {exc}") from exc


def _language_of(label: str, name: str) -> str:
    language = name.removesuffix(".toml").lower()
    if not _LANGUAGE.fullmatch(language):
        raise CatalogError(
            label, "", "the file name must be a BCP 47 language tag, e.g. ko.toml or pt-br.toml"
        )
    return language


def _messages_table(file: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    for key in doc:
        if key != "messages":
            raise CatalogError(file, key, "unknown table; this file holds only [messages.<ID>]")
    table = doc.get("messages", {})
    if not isinstance(table, dict):
        raise CatalogError(file, "messages", "must be a table of [messages.<ID>]")
    return table


def _table(ctx: EntryContext, value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.error(None, f"must be a table ({what})")
    return value


def _check_keys(
    ctx: EntryContext, row: Mapping[str, Any], allowed: frozenset[str], required: frozenset[str]
) -> None:
    for key in row:
        if key not in allowed:
            raise ctx.error(key, f"unknown key (expected one of {', '.join(sorted(allowed))})")
    for key in sorted(required):
        if key not in row:
            raise ctx.error(key, "is required")


def _bool(ctx: EntryContext, row: Mapping[str, Any], key: str) -> bool:
    value = row[key]
    if not isinstance(value, bool):
        raise ctx.error(key, f"must be true or false, got {value!r}")
    return value


# --------------------------------------------------------------------------- definitions


def _parse_definitions(file: str, doc: Mapping[str, Any]) -> dict[str, MessageDef]:
    table = _messages_table(file, doc)
    if not table:
        raise CatalogError(file, "messages", "defines no message")
    return {
        code: _parse_definition(_at(file, f"messages.{code}"), code, row)
        for code, row in table.items()
    }


def _parse_definition(ctx: EntryContext, code: str, raw: object) -> MessageDef:
    row = _table(ctx, raw, f"[{ctx.path}]")
    _check_keys(ctx, row, _DEF_KEYS, _DEF_REQUIRED)
    try:
        group = Group(ctx.text(row, "group"))
    except ValueError:
        raise ctx.error("group", f"must be one of {', '.join(Group)}") from None
    try:
        priority = Priority(ctx.text(row, "priority"))
    except ValueError:
        raise ctx.error("priority", f"must be one of {', '.join(Priority)}") from None
    params_table = _table(_at(ctx.file, f"{ctx.path}.params"), row.get("params", {}), "key = {}")
    params = tuple(
        _parse_param(_at(ctx.file, f"{ctx.path}.params.{key}"), key, value)
        for key, value in params_table.items()
    )
    one_of = None
    if "one_of" in row:
        one_of = _parse_one_of(_at(ctx.file, f"{ctx.path}.one_of"), row["one_of"])
    try:
        return MessageDef(
            code=code,
            group=group,
            priority=priority,
            ack_required=_bool(ctx, row, "ack_required"),
            params=params,
            one_of=one_of,
        )
    except DomainError as exc:
        raise ctx.error(None, str(exc)) from exc


def _parse_param(ctx: EntryContext, key: str, raw: object) -> ParamDef:
    row = _table(ctx, raw, '{ type = "..." }')
    _check_keys(ctx, row, _PARAM_KEYS, frozenset(("type",)))
    try:
        kind = ParamType(ctx.text(row, "type"))
    except ValueError:
        raise ctx.error("type", f"must be one of {', '.join(ParamType)}") from None
    values = row.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ctx.error("values", "must be a list of strings")
    try:
        return ParamDef(
            key=key,
            type=kind,
            required=_bool(ctx, row, "required") if "required" in row else True,
            values=tuple(v.strip() for v in values),
        )
    except DomainError as exc:
        raise ctx.error(None, exc.message) from exc


def _parse_one_of(ctx: EntryContext, raw: object) -> OneOf:
    row = _table(ctx, raw, '{ keys = ["a", "b"], required = true }')
    _check_keys(ctx, row, frozenset(("keys", "required")), frozenset(("keys", "required")))
    keys = row["keys"]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ctx.error("keys", "must be a list of parameter keys")
    return OneOf(keys=tuple(keys), required=_bool(ctx, row, "required"))


# --------------------------------------------------------------------------- renderings


def _parse_language(
    file: str, language: str, doc: Mapping[str, Any], definitions: Mapping[str, MessageDef]
) -> dict[str, Rendering]:
    result: dict[str, Rendering] = {}
    for code, raw in _messages_table(file, doc).items():
        ctx = _at(file, f"messages.{code}")
        definition = definitions.get(code)
        if definition is None:
            raise ctx.error(None, "not a message id of the catalog (ids are case-sensitive)")
        result[code] = _parse_rendering(ctx, definition, raw, english=language == ENGLISH)
    return result


def _parse_rendering(
    ctx: EntryContext, definition: MessageDef, raw: object, *, english: bool
) -> Rendering:
    row = _table(ctx, raw, f"[{ctx.path}]")
    required = _RENDERING_REQUIRED if english else _RENDERING_REQUIRED | {"back_translation"}
    _check_keys(ctx, row, _RENDERING_KEYS, required)
    labels_table = _table(_at(ctx.file, f"{ctx.path}.labels"), row.get("labels", {}), "key = {}")
    labels: dict[str, dict[str, str]] = {}
    for key, value in labels_table.items():
        sub = _at(ctx.file, f"{ctx.path}.labels.{key}")
        table = _table(sub, value, "value = label")
        labels[key] = {v: sub.text(table, v) for v in table}
    try:
        rendering = Rendering(
            text=_templates(ctx, row, "text"),
            gloss=ctx.text(row, "gloss"),
            back_translation=_templates(ctx, row, "back_translation"),
            reviewed=_bool(ctx, row, "reviewed"),
            reviewed_by=ctx.text(row, "reviewed_by", empty=True),
            labels=labels,
        )
        check_rendering(definition, rendering, english=english)
    except DomainError as exc:
        raise ctx.error(exc.field, exc.message) from exc
    return rendering


def _templates(ctx: EntryContext, row: Mapping[str, Any], key: str) -> dict[str, str]:
    """A plain string is the ``none`` variant; a table gives one template per variant."""
    value = row.get(key)
    if value is None:
        return {}
    if isinstance(value, str):
        return {NO_ALTERNATIVE: value}
    if isinstance(value, dict):
        sub = _at(ctx.file, f"{ctx.path}.{key}")
        return {variant: sub.text(value, variant) for variant in value}
    raise ctx.error(key, "must be a string, or a table with one string per variant")

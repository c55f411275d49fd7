"""JSON shape of the message catalog for ``GET /catalog`` (design.md §5): plain dicts, no I/O.

``catalog_to_dict(catalog)`` returns only JSON types::

    {"languages": ["en", "ko", "ru", "uk"],
     "coverage": {"ko": {"total": 28, "rendered": 28, "reviewed": 0, "missing": []}, ...},
     "messages": [
       {"id": "MOVING_IN", "group": "movement", "priority": "routine", "ack_required": true,
        "params": [{"key": "minutes", "type": "minutes", "required": true, "values": null}, ...],
        "one_of": {"keys": ["grid", "bearing_deg"], "required": true},
        "variants": ["grid", "bearing_deg"],
        "renderings": {
          "en": {"text": {"grid": "Moving in {minutes} min to {grid}.", ...}, "gloss": "...",
                 "back_translation": null, "reviewed": false, "reviewed_by": null, "labels": {}},
          "ru": {..., "back_translation": {"grid": "We start moving ...", ...}}}}]}

Decisions written down here:

- Messages are listed in catalog order (the order of the definitions file), languages English
  first; a language without a rendering of a message is simply absent from its ``renderings``.
- ``text`` and ``back_translation`` are always objects keyed by variant (``none`` for a message
  without alternatives), so a client never has to tell a string from an object.
- ``required`` of a key in a one-of group is false: the group's own ``required`` decides.
- Empty strings become ``null`` (``reviewed_by`` until reviewed; English ``back_translation``).
"""

from __future__ import annotations

from typing import Any

from holdfire.domain.catalog import Catalog, MessageDef, Rendering

__all__ = ["catalog_to_dict"]


def catalog_to_dict(catalog: Catalog) -> dict[str, Any]:
    return {
        "languages": list(catalog.languages),
        "coverage": {
            language: {
                "total": cov.total,
                "rendered": cov.rendered,
                "reviewed": cov.reviewed,
                "missing": list(cov.missing),
            }
            for language, cov in catalog.coverage().items()
        },
        "messages": [_message(catalog, d) for d in catalog.definitions.values()],
    }


def _message(catalog: Catalog, definition: MessageDef) -> dict[str, Any]:
    alternatives = definition.alternatives
    return {
        "id": definition.code,
        "group": definition.group.value,
        "priority": definition.priority.value,
        "ack_required": definition.ack_required,
        "params": [
            {
                "key": p.key,
                "type": p.type.value,
                "required": p.required and p.key not in alternatives,
                "values": list(p.values) if p.values else None,
            }
            for p in definition.params
        ],
        "one_of": (
            {"keys": list(definition.one_of.keys), "required": definition.one_of.required}
            if definition.one_of is not None
            else None
        ),
        "variants": list(definition.variants),
        "renderings": {
            language: _rendering(catalog.renderings[language][definition.code])
            for language in catalog.languages
            if definition.code in catalog.renderings[language]
        },
    }


def _rendering(rendering: Rendering) -> dict[str, Any]:
    return {
        "text": dict(rendering.text),
        "gloss": rendering.gloss,
        "back_translation": dict(rendering.back_translation) or None,
        "reviewed": rendering.reviewed,
        "reviewed_by": rendering.reviewed_by or None,
        "labels": {key: dict(values) for key, values in rendering.labels.items()},
    }

"""Files an operator imports: GeoJSON measures; units and reports as JSON, CSV or TOML.

Sans-I/O: the caller reads the file and hands over its name and text. What a file holds is told
by its shape: a GeoJSON Feature or FeatureCollection holds measures; a JSON or TOML document may
hold `units`, `reports` and `measures` lists; a JSON list or a CSV holds reports when its rows
carry a position (`lat`/`lon` or `grid`), units otherwise. CSV lists (`equipment`) are
separated by `;` or `|`. Every error names the file, the row and the field.
"""

import csv
import io
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from holdfire.codecs.json import CodecError, unit_from_dict
from holdfire.domain.units import Unit

JSONDict = dict[str, Any]

_CSV_NUMBERS = ("lat", "lon", "ce_m", "hae_m", "course_deg", "speed_mps")
_POSITION_KEYS = ("lat", "lon", "grid")


class ImportFileError(ValueError):
    """A file that cannot be imported; the message names file, row and field."""


@dataclass(slots=True)
class ImportBatch:
    units: list[Unit] = field(default_factory=list)
    reports: list[JSONDict] = field(default_factory=list)  # public report shape, read later
    measures: list[JSONDict] = field(default_factory=list)  # GeoJSON Features


def parse_import(name: str, text: str) -> ImportBatch:
    lower = name.lower()
    try:
        if lower.endswith(".csv"):
            return _from_rows(name, _csv_rows(text))
        if lower.endswith(".toml"):
            return _from_document(name, tomllib.loads(text))
        document = json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, csv.Error) as exc:
        raise ImportFileError(f"{name}: not readable: {exc}") from None
    if isinstance(document, list):
        return _from_rows(name, document)
    if isinstance(document, Mapping):
        return _from_document(name, document)
    raise ImportFileError(f"{name}: expected a JSON object or list, got {type(document).__name__}")


def _from_document(name: str, document: Mapping[str, Any]) -> ImportBatch:
    kind = document.get("type")
    if kind == "FeatureCollection":
        return ImportBatch(measures=_features(name, document.get("features")))
    if kind == "Feature":
        return ImportBatch(measures=[dict(document)])
    known = {"units", "reports", "measures"}
    unknown = sorted(set(document) - known)
    if unknown or not document:
        raise ImportFileError(
            f"{name}: expected a GeoJSON Feature/FeatureCollection or the keys "
            f"units, reports, measures; got {', '.join(unknown) or 'nothing'}"
        )
    batch = ImportBatch()
    batch.units = _units(name, _list(name, document, "units"))
    batch.reports = _reports(name, _list(name, document, "reports"))
    measures = document.get("measures")
    if isinstance(measures, Mapping):
        batch.measures = _features(name, measures.get("features"))
    elif measures is not None:
        batch.measures = _features(name, measures)
    return batch


def _from_rows(name: str, rows: list[Any]) -> ImportBatch:
    if rows and all(isinstance(r, Mapping) for r in rows):
        if any(key in rows[0] for key in _POSITION_KEYS):
            return ImportBatch(reports=_reports(name, rows))
        return ImportBatch(units=_units(name, rows))
    if not rows:
        return ImportBatch()
    raise ImportFileError(f"{name}: every row must be an object with named fields")


def _list(name: str, document: Mapping[str, Any], key: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise ImportFileError(f"{name}: {key} must be a list")
    return value


def _units(name: str, rows: list[Any]) -> list[Unit]:
    units = []
    for i, row in enumerate(rows):
        try:
            units.append(unit_from_dict(row))
        except CodecError as exc:
            raise ImportFileError(
                f"{name}: units row {i + 1}: {exc.field}: {exc.message}"
            ) from None
    return units


def _reports(name: str, rows: list[Any]) -> list[JSONDict]:
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ImportFileError(f"{name}: reports row {i + 1}: must be an object")
    return [dict(row) for row in rows]


def _features(name: str, features: Any) -> list[JSONDict]:
    if not isinstance(features, list) or not all(isinstance(f, Mapping) for f in features):
        raise ImportFileError(f"{name}: features must be a list of GeoJSON Features")
    return [dict(f) for f in features]


def _csv_rows(text: str) -> list[JSONDict]:
    rows: list[JSONDict] = []
    for line, raw in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        row: JSONDict = {k.strip(): v.strip() for k, v in raw.items() if k and v and v.strip()}
        for key in _CSV_NUMBERS:
            if key in row:
                try:
                    row[key] = float(row[key])
                except ValueError:
                    raise csv.Error(f"line {line}: {key} is not a number: {row[key]!r}") from None
        if "equipment" in row:
            row["equipment"] = [e.strip() for e in row["equipment"].replace("|", ";").split(";")]
        rows.append(row)
    return rows

"""Files an operator imports: GeoJSON measures; units and reports as JSON, CSV or TOML.

Sans-I/O: the caller reads the file and hands over its name and text. What a file holds is told
by its shape: a GeoJSON Feature or FeatureCollection holds measures; a JSON or TOML document may
hold `units`, `reports` and `measures` lists; a JSON list or a CSV holds reports when its rows
carry a position (`lat`/`lon` or `grid`), units when none does (a list that mixes both is
refused). CSV lists (`equipment`) are separated by `;` or `|`; CSV numbers (`lat`, `lon`,
`ce_m`, `hae_m`, `course_deg`, `speed_mps`) must be numbers; empty cells are absent. Every error
names the file, the row (for CSV the line) and the field.

Decisions written down here:

- A leading byte-order mark (spreadsheets write one) is ignored.
- TOML dates and times (`observed_at = 2026-11-22T07:00:00Z`) are turned into RFC 3339 text, so
  they read like JSON strings; a TOML time without a zone stays zone-less and is refused later.
"""

import csv
import io
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from holdfire.codecs.json import CodecError, format_time, type_name, unit_from_dict
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
    report_lines: list[int] = field(default_factory=list)  # CSV line of each report, if CSV

    def report_where(self, index: int) -> str:
        """Where report `index` (0-based) sits in its file, for error messages."""
        where = f"reports row {index + 1}"
        if index < len(self.report_lines):
            where += f" (line {self.report_lines[index]})"
        return where


@dataclass(frozen=True, slots=True)
class _Row:
    data: JSONDict
    line: int | None  # CSV line number


def parse_import(name: str, text: str) -> ImportBatch:
    lower = name.lower()
    text = text.removeprefix("\ufeff")
    try:
        document: Any
        if lower.endswith(".csv"):
            document = _csv_rows(text)
        elif lower.endswith(".toml"):
            document = _plain(tomllib.loads(text))
        else:
            document = json.loads(text)
    except (ValueError, csv.Error) as exc:  # JSON and TOML errors, huge integers
        raise ImportFileError(f"{name}: not readable: {_first_line(exc)}") from None
    except RecursionError:
        raise ImportFileError(f"{name}: not readable: nested too deeply") from None
    if lower.endswith(".csv"):
        return _from_rows(name, document)
    if isinstance(document, list):
        return _from_rows(name, [_Row(row, None) for row in document])
    if isinstance(document, Mapping):
        return _from_document(name, document)
    raise ImportFileError(
        f"{name}: expected a JSON object or list, got {type_name(document)} "
        "(JSON, GeoJSON, CSV and TOML files can be imported)"
    )


def _from_document(name: str, document: Mapping[str, Any]) -> ImportBatch:
    kind = document.get("type")
    if kind == "FeatureCollection":
        return ImportBatch(measures=_features(name, document.get("features")))
    if kind == "Feature":
        return ImportBatch(measures=[dict(document)])
    known = {"units", "reports", "measures"}
    unknown = sorted(str(key) for key in set(document) - known)
    if unknown or not document:
        raise ImportFileError(
            f"{name}: expected a GeoJSON Feature/FeatureCollection or the keys "
            f"units, reports, measures; got {', '.join(unknown) or 'nothing'}"
        )
    batch = ImportBatch()
    batch.units = _units(name, [_Row(r, None) for r in _list(name, document, "units")])
    batch.reports = _reports(name, [_Row(r, None) for r in _list(name, document, "reports")])
    measures = document.get("measures")
    if isinstance(measures, Mapping):
        if measures.get("type") == "Feature":
            batch.measures = [dict(measures)]
        else:
            batch.measures = _features(name, measures.get("features"))
    elif measures is not None:
        batch.measures = _features(name, measures)
    return batch


def _from_rows(name: str, rows: list[_Row]) -> ImportBatch:
    if not rows:
        return ImportBatch()
    for i, row in enumerate(rows):
        if not isinstance(row.data, Mapping):
            raise ImportFileError(
                f"{name}: {_where('row', i, row)}: must be an object with named fields, "
                f"got {type_name(row.data)}"
            )
    positioned = [any(key in row.data for key in _POSITION_KEYS) for row in rows]
    if all(positioned):
        batch = ImportBatch(reports=_reports(name, rows))
        if all(row.line is not None for row in rows):
            batch.report_lines = [row.line for row in rows if row.line is not None]
        return batch
    if not any(positioned):
        return ImportBatch(units=_units(name, rows))
    first = positioned.index(not positioned[0])
    raise ImportFileError(
        f"{name}: {_where('row', first, rows[first])}: "
        f"{'has' if positioned[first] else 'has no'} position (lat/lon or grid) unlike row 1; "
        "a list holds either reports (every row with a position) or units (none)"
    )


def _list(name: str, document: Mapping[str, Any], key: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise ImportFileError(f"{name}: {key} must be a list, got {type_name(value)}")
    return value


def _where(kind: str, index: int, row: _Row) -> str:
    where = f"{kind} row {index + 1}"
    return where if row.line is None else f"{where} (line {row.line})"


def _units(name: str, rows: list[_Row]) -> list[Unit]:
    units = []
    for i, row in enumerate(rows):
        try:
            units.append(unit_from_dict(row.data))
        except CodecError as exc:
            raise ImportFileError(
                f"{name}: {_where('units', i, row)}: {exc.field}: {exc.message}"
            ) from None
        except OverflowError:  # an integer too large for a float, deep in a geometry
            raise ImportFileError(
                f"{name}: {_where('units', i, row)}: a number is too large"
            ) from None
    return units


def _reports(name: str, rows: list[_Row]) -> list[JSONDict]:
    for i, row in enumerate(rows):
        if not isinstance(row.data, Mapping):
            raise ImportFileError(
                f"{name}: {_where('reports', i, row)}: must be an object, got {type_name(row.data)}"
            )
    return [dict(row.data) for row in rows]


def _features(name: str, features: Any) -> list[JSONDict]:
    if not isinstance(features, list):
        raise ImportFileError(f"{name}: features must be a list of GeoJSON Features")
    for i, feature in enumerate(features):
        if not isinstance(feature, Mapping):
            raise ImportFileError(
                f"{name}: feature {i + 1}: must be a GeoJSON Feature object, "
                f"got {type_name(feature)}"
            )
    return [dict(f) for f in features]


def _csv_rows(text: str) -> list[_Row]:
    rows: list[_Row] = []
    reader = csv.DictReader(io.StringIO(text))
    for raw in reader:
        line = reader.line_num  # the last physical line of this record
        row: JSONDict = {}
        for key, value in raw.items():
            if not key or not isinstance(value, str) or not value.strip():
                continue  # surplus cells (key None), missing cells (None) and empty cells
            row[key.strip()] = value.strip()
        for key in _CSV_NUMBERS:
            if key in row:
                try:
                    row[key] = float(row[key])
                except ValueError:
                    raise csv.Error(f"line {line}: {key} is not a number: {row[key]!r}") from None
        if "equipment" in row:
            items = row["equipment"].replace("|", ";").split(";")
            row["equipment"] = [e.strip() for e in items if e.strip()]
        rows.append(_Row(row, line))
    return rows


def _plain(value: Any) -> Any:
    """TOML values as JSON would give them: dates and times become RFC 3339 text."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return format_time(value)
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__

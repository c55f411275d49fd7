"""Load the reference tables (weapons, mobility, equipment) from TOML into domain `Tables`.

The shipped tables live in the `holdfire.data` package. An operator overrides them per data
directory with `<data dir>/tables/<name>.toml` (`weapons.toml`, `mobility.toml`,
`equipment.toml`), in the same shape as the shipped file:

    [weapons.155mm-howitzer]
    name = "155 mm howitzer"
    red10_m = 125
    ...
    provenance = { mark = "E", source = "our battery's firing tables" }

Merge rule: a row whose id (lower-cased) matches a shipped row replaces it whole (every field must
be given again); a new id is added. Nothing is ever removed.

Validation fails closed, with a `TableError` naming the file, the row and the field:
- every field is required (except equipment `notes`), unknown keys are errors, so a typo never
  passes silently; distances and times must be finite numbers >= 0; `provenance` needs exactly
  `mark` (V, R or E) and `source`;
- ids are lower-cased and must be made of a-z, 0-9, `-`, `_` and `.`; two rows that differ only
  by case are an error; mobility rows must name a class of `Mobility`;
- after merging, `unknown` must still be the worst mobility class (v_max >= every ground class's,
  stale_after and lost_after <= every class's, default_ce >= every class's), and an equipment id
  that is also a family name must belong to that family (else `equipment_family` would hide it).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

from holdfire.adapters.data_files import DataFileError, EntryContext
from holdfire.domain.errors import DomainError
from holdfire.domain.numbers import require_distance
from holdfire.domain.tables import Equipment, Mobility, MobilityClass, Provenance, Tables, Weapon

__all__ = ["SHIPPED_PACKAGE", "TABLE_NAMES", "TableError", "load_tables"]

SHIPPED_PACKAGE: Final = "holdfire.data"
TABLE_NAMES: Final = ("weapons", "mobility", "equipment")

_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")
_NATION = re.compile(r"[A-Z]{3}")
_GROUND: Final = (
    Mobility.DISMOUNTED,
    Mobility.WHEELED,
    Mobility.TRACKED,
    Mobility.TOWED,
    Mobility.STATIC,
)

_WEAPON_NUMBERS: Final = (
    "red10_m",
    "red01_m",
    "danger_close_m",
    "cep_m",
    "time_of_flight_s",
    "max_range_m",
)
_MOBILITY_NUMBERS: Final = (
    "v_max_mps",
    "stale_after_s",
    "lost_after_s",
    "r_cap_m",
    "default_ce_m",
)
_WEAPON_KEYS: Final = frozenset(("name", "provenance", *_WEAPON_NUMBERS))
_MOBILITY_KEYS: Final = frozenset(("provenance", *_MOBILITY_NUMBERS))
_EQUIPMENT_KEYS: Final = frozenset(("name", "family", "fielded_by", "provenance", "notes"))
_EQUIPMENT_OPTIONAL: Final = frozenset(("notes",))

_T = TypeVar("_T")


class TableError(DataFileError):
    """A table file or row that must be refused."""


class _RowContext(EntryContext):
    """Where a row came from, to build errors that name the file, row and field."""

    def __init__(self, file: str, table: str, row_id: str) -> None:
        super().__init__(file, f"{table}.{row_id}", TableError)
        self.row_id = row_id

    def from_domain(self, exc: DomainError) -> DataFileError:
        # Domain fields look like "weapon 155mm-howitzer.red10_m": keep the last part.
        return self.error(exc.field.rsplit(".", 1)[-1], exc.message)


# --------------------------------------------------------------------------- public entry point


def load_tables(data_dir: Path | None = None) -> Tables:
    """The shipped tables, with `data_dir / "tables" / "<name>.toml"` merged over them."""
    weapons = _load("weapons", data_dir, _parse_weapon)
    mobility_rows = _load("mobility", data_dir, _parse_mobility)
    equipment = _load("equipment", data_dir, _parse_equipment)

    mobility = {row.mobility: row for row in mobility_rows.values()}
    mobility_file = _file_label("mobility", data_dir)
    missing = [m.value for m in Mobility if m not in mobility]
    if missing:
        raise TableError(mobility_file, "mobility", f"every class needs a row; missing {missing}")
    _check_unknown_is_worst(mobility_file, mobility)
    _check_family_ids(_file_label("equipment", data_dir), equipment)

    try:
        return Tables(
            weapons=MappingProxyType(weapons),
            mobility=MappingProxyType(mobility),
            equipment=MappingProxyType(equipment),
        )
    except DomainError as exc:
        raise TableError(_file_label(exc.field.split(".")[0], data_dir), "", str(exc)) from exc


# --------------------------------------------------------------------------- files


def _override_path(name: str, data_dir: Path | None) -> Path | None:
    if data_dir is None:
        return None
    path = data_dir / "tables" / f"{name}.toml"
    return path if path.exists() else None


def _file_label(name: str, data_dir: Path | None) -> str:
    """The file that has the last word on table `name`: the override if present, else shipped."""
    override = _override_path(name, data_dir)
    return str(override) if override is not None else _shipped_label(name)


def _shipped_label(name: str) -> str:
    return f"{SHIPPED_PACKAGE.replace('.', '/')}/{name}.toml (shipped)"


def _load(
    name: str, data_dir: Path | None, parse: Callable[[_RowContext, dict[str, Any]], _T]
) -> dict[str, _T]:
    shipped_label = _shipped_label(name)
    try:
        shipped_text = resources.files(SHIPPED_PACKAGE).joinpath(f"{name}.toml").read_text("utf-8")
    except OSError as exc:
        raise TableError(shipped_label, "", f"cannot read the shipped table: {exc}") from exc
    rows = _parse_file(shipped_label, name, shipped_text, parse, required=True)

    override = _override_path(name, data_dir)
    if override is not None:
        try:
            text = override.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TableError(str(override), "", f"cannot read: {exc}") from exc
        rows.update(_parse_file(str(override), name, text, parse, required=False))
    return rows


def _parse_file(
    file: str,
    name: str,
    text: str,
    parse: Callable[[_RowContext, dict[str, Any]], _T],
    *,
    required: bool,
) -> dict[str, _T]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TableError(file, "", f"not valid TOML: {exc}") from exc
    for key in doc:
        if key != name:
            raise TableError(file, key, f"unknown table; this file holds only [{name}.<id>] rows")
    table = doc.get(name)
    if table is None:
        if required:
            raise TableError(file, name, "the table is missing")
        return {}
    if not isinstance(table, dict):
        raise TableError(file, name, f"must be a table of rows [{name}.<id>]")

    rows: dict[str, _T] = {}
    for raw_id, raw_row in table.items():
        row_id = raw_id.strip().lower()
        ctx = _RowContext(file, name, row_id)
        if not _ID.fullmatch(row_id):
            raise ctx.error(None, "id must be made of a-z, 0-9, '-', '_' and '.'")
        if row_id in rows:
            raise ctx.error(None, "duplicate id (ids are compared lower-cased)")
        if not isinstance(raw_row, dict):
            raise ctx.error(None, f"must be a table [{name}.{row_id}]")
        rows[row_id] = parse(ctx, raw_row)
    return rows


# --------------------------------------------------------------------------- rows


def _check_keys(
    ctx: _RowContext,
    row: Mapping[str, Any],
    allowed: frozenset[str],
    optional: frozenset[str] = frozenset(),
) -> None:
    for key in row:
        if key not in allowed:
            raise ctx.error(key, f"unknown key (expected one of {', '.join(sorted(allowed))})")
    for key in sorted(allowed - optional):
        if key not in row:
            raise ctx.error(key, "is required")


def _number(ctx: _RowContext, row: Mapping[str, Any], key: str) -> float:
    value = row[key]
    try:
        require_distance(key, value)
    except DomainError as exc:
        raise ctx.error(key, exc.message) from exc
    return float(value)


def _provenance(ctx: _RowContext, row: Mapping[str, Any]) -> Provenance:
    value = row["provenance"]
    if not isinstance(value, dict):
        raise ctx.error("provenance", 'must be a table { mark = "V"|"R"|"E", source = "..." }')
    for key in value:
        if key not in ("mark", "source"):
            raise ctx.error(f"provenance.{key}", "unknown key (expected mark, source)")
    for key in ("mark", "source"):
        if key not in value:
            raise ctx.error(f"provenance.{key}", "is required")
        if not isinstance(value[key], str) or not value[key].strip():
            raise ctx.error(f"provenance.{key}", "must be a non-empty string")
    mark = value["mark"].strip().upper()
    if mark not in ("V", "R", "E"):
        raise ctx.error("provenance.mark", f"must be V, R or E, got {value['mark']!r}")
    return Provenance(mark=mark, source=value["source"].strip())


def _parse_weapon(ctx: _RowContext, row: dict[str, Any]) -> Weapon:
    _check_keys(ctx, row, _WEAPON_KEYS)
    name = ctx.text(row, "name")
    numbers = {key: _number(ctx, row, key) for key in _WEAPON_NUMBERS}
    provenance = _provenance(ctx, row)
    try:
        return Weapon(id=ctx.row_id, name=name, provenance=provenance, **numbers)
    except DomainError as exc:
        raise ctx.from_domain(exc) from exc


def _parse_mobility(ctx: _RowContext, row: dict[str, Any]) -> MobilityClass:
    try:
        mobility = Mobility(ctx.row_id)
    except ValueError:
        classes = ", ".join(m.value for m in Mobility)
        raise ctx.error(None, f"not a mobility class (expected one of {classes})") from None
    _check_keys(ctx, row, _MOBILITY_KEYS)
    numbers = {key: _number(ctx, row, key) for key in _MOBILITY_NUMBERS}
    provenance = _provenance(ctx, row)
    try:
        return MobilityClass(mobility=mobility, provenance=provenance, **numbers)
    except DomainError as exc:
        raise ctx.from_domain(exc) from exc


def _parse_equipment(ctx: _RowContext, row: dict[str, Any]) -> Equipment:
    _check_keys(ctx, row, _EQUIPMENT_KEYS, _EQUIPMENT_OPTIONAL)
    name = ctx.text(row, "name")
    family = ctx.text(row, "family").lower()
    if not _ID.fullmatch(family):
        raise ctx.error("family", "must be made of a-z, 0-9, '-', '_' and '.'")
    raw_nations = row["fielded_by"]
    if not isinstance(raw_nations, list):
        raise ctx.error("fielded_by", 'must be a list of ISO alpha-3 codes, e.g. ["RUS", "UKR"]')
    nations: list[str] = []
    for item in raw_nations:
        code = item.strip().upper() if isinstance(item, str) else None
        if code is None or not _NATION.fullmatch(code):
            raise ctx.error("fielded_by", f"must hold ISO alpha-3 codes, got {item!r}")
        if code not in nations:
            nations.append(code)
    notes = ctx.text(row, "notes", empty=True) if "notes" in row else ""
    provenance = _provenance(ctx, row)
    return Equipment(
        id=ctx.row_id,
        name=name,
        family=family,
        fielded_by=tuple(nations),
        provenance=provenance,
        notes=notes,
    )


# --------------------------------------------------------------------------- cross-row checks


def _check_unknown_is_worst(file: str, mobility: Mapping[Mobility, MobilityClass]) -> None:
    """`unknown` is what a unit of unknown class gets: it must never be the lenient choice."""
    unknown = mobility[Mobility.UNKNOWN]
    others = [row for m, row in mobility.items() if m is not Mobility.UNKNOWN]

    def refuse(field: str, value: float, relation: str, other: MobilityClass) -> TableError:
        bound = getattr(other, field)
        return TableError(
            file,
            f"mobility.unknown.{field}",
            f"unknown must stay the worst case: {value:g} is not {relation} "
            f"{other.mobility.value}'s {bound:g}",
        )

    for row in others:
        if row.mobility in _GROUND and unknown.v_max_mps < row.v_max_mps:
            raise refuse("v_max_mps", unknown.v_max_mps, ">=", row)
        if unknown.stale_after_s > row.stale_after_s:
            raise refuse("stale_after_s", unknown.stale_after_s, "<=", row)
        if unknown.lost_after_s > row.lost_after_s:
            raise refuse("lost_after_s", unknown.lost_after_s, "<=", row)
        if unknown.default_ce_m < row.default_ce_m:
            raise refuse("default_ce_m", unknown.default_ce_m, ">=", row)


def _check_family_ids(file: str, equipment: Mapping[str, Equipment]) -> None:
    """An id that is also a family name must be in that family, or the family would vanish."""
    families = {e.family for e in equipment.values()}
    for row in equipment.values():
        if row.id in families and row.family != row.id:
            raise TableError(
                file,
                f"equipment.{row.id}.family",
                f"the id {row.id!r} is also a family name, so it must be in that family "
                f"(got {row.family!r})",
            )

"""The `holdfire` command line (typer).

Exit codes of `holdfire check`: 0 NO_KNOWN_CONFLICT, 3 COORDINATE or DANGER_CLOSE, 4 HOLD,
2 a usage error (unparseable target, missing data directory), 1 a runtime error.
"""

import asyncio
import getpass
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from holdfire.adapters.tables import TableError
from holdfire.bootstrap import build_service
from holdfire.codecs.imports import ImportBatch, ImportFileError, parse_import
from holdfire.codecs.json import CodecError, clearance_to_dict, measure_from_feature, parse_time
from holdfire.codecs.reports import Channel, report_from_input
from holdfire.config import settings
from holdfire.domain.checks import CheckRequest, Clearance, PidBasis, Verdict
from holdfire.domain.errors import DomainError
from holdfire.geo import DATUM_ERROR_M, GeoError, parse_datum, parse_location
from holdfire.service.ports import StoreError

T = TypeVar("T")

app = typer.Typer(
    help="holdfire: is it safe to fire here? A friendly-fire check and coordination server.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()

EXIT_CODES = {
    Verdict.NO_KNOWN_CONFLICT: 0,
    Verdict.COORDINATE: 3,
    Verdict.DANGER_CLOSE: 3,
    Verdict.HOLD: 4,
}
_STYLE = {
    Verdict.HOLD: "bold white on red",
    Verdict.DANGER_CLOSE: "bold black on yellow",
    Verdict.COORDINATE: "bold black on cyan",
    Verdict.NO_KNOWN_CONFLICT: "bold",
}

DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="Data directory [env HOLDFIRE_DATA; default ./holdfire-data]."),
]


def _usage(message: str) -> typer.Exit:
    print(f"holdfire: {message}", file=sys.stderr)
    return typer.Exit(2)


@app.command()
def check(
    target: Annotated[str, typer.Argument(help="MGRS grid, or 'lat, lon' (decimal or DMS).")],
    weapon: Annotated[str, typer.Option(help="Weapon id, see the weapon table.")],
    target_type: Annotated[
        str | None, typer.Option("--type", help="Equipment id or family seen at the target.")
    ] = None,
    pid: Annotated[
        list[PidBasis] | None, typer.Option(help="Basis of positive identification (repeat).")
    ] = None,
    pid_detail: Annotated[str | None, typer.Option(help="Who or what confirmed it.")] = None,
    firing_unit: Annotated[str | None, typer.Option(help="uid of the unit that will fire.")] = None,
    time: Annotated[str | None, typer.Option(help="Impact time, RFC 3339 (default: now).")] = None,
    tle: Annotated[float, typer.Option("--tle", help="Target location error, metres.")] = 0.0,
    datum: Annotated[str, typer.Option(help="Datum of a lat/lon target: WGS84 or SK42.")] = "WGS84",
    data: DataOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Clearance as JSON.")] = False,
) -> None:
    """Check whether fires at TARGET would endanger anyone known; exit 0/3/4 by verdict."""
    config = settings(data)
    if not config.data_dir.is_dir():
        raise _usage(
            f"data directory {config.data_dir} does not exist (holdfire import creates it)"
        )
    try:
        datum_value = parse_datum(datum)
        location = parse_location(target, datum_value)
        impact = parse_time(time) if time else None
    except (GeoError, CodecError) as exc:
        raise _usage(f"{exc}") from None
    if tle < 0 or tle != tle or tle == float("inf"):
        raise _usage(f"--tle must be a finite number >= 0, got {tle}")
    request = CheckRequest(
        lat=location.lat,
        lon=location.lon,
        weapon=weapon,
        time=impact,
        tle_m=tle,
        cell_m=location.cell_m,
        datum=datum_value.value if location.cell_m == 0 else "WGS84",
        datum_error_m=DATUM_ERROR_M[datum_value] if location.cell_m == 0 else 0.0,
        target_type=target_type,
        pid=tuple(pid or ()),
        pid_detail=pid_detail,
        firing_unit=firing_unit,
        requester=f"cli:{getpass.getuser()}",
    )
    clearance = _run(_check(config.data_dir, request))
    if as_json:
        out.print_json(json.dumps(clearance_to_dict(clearance)))
    else:
        _print_clearance(clearance)
    raise typer.Exit(EXIT_CODES[clearance.verdict])


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="GeoJSON, JSON, CSV or TOML files.")],
    data: DataOption = None,
) -> None:
    """Import measures (GeoJSON), units and reports (JSON, CSV, TOML) into the data directory."""
    config = settings(data)
    batches = []
    for path in files:
        try:
            batches.append((path.name, parse_import(path.name, path.read_text(encoding="utf-8"))))
        except OSError as exc:
            raise _usage(f"{path}: {exc.strerror or exc}") from None
        except ImportFileError as exc:
            raise _usage(str(exc)) from None
    config.data_dir.mkdir(parents=True, exist_ok=True)
    counts = _run(_import(config.data_dir, batches))
    out.print(
        f"imported {counts[0]} units, {counts[1]} reports, {counts[2]} measures "
        f"into {config.data_dir}"
    )


async def _check(data_dir: Path, request: CheckRequest) -> Clearance:
    service = build_service(settings(data_dir))
    await service.start()
    try:
        return await service.check(request)
    finally:
        await service.close()


async def _import(data_dir: Path, batches: list[tuple[str, ImportBatch]]) -> tuple[int, int, int]:
    service = build_service(settings(data_dir))
    await service.start()
    units = reports = measures = 0
    try:
        for name, batch in batches:
            who = f"import:{name}"
            for unit in batch.units:
                await service.register_unit(unit, by=who)
            units += len(batch.units)
            channel = Channel(source="import", reporter=name, authenticated=False)
            received = service.clock.now()
            parsed = []
            for i, row in enumerate(batch.reports):
                try:
                    parsed.append(report_from_input(row, channel, received))
                except CodecError as exc:
                    raise ImportFileError(f"{name}: reports row {i + 1}: {exc}") from None
            await service.reports(parsed)
            reports += len(parsed)
            for i, feature in enumerate(batch.measures):
                has_id = "id" in feature or "id" in (feature.get("properties") or {})
                try:
                    measure = measure_from_feature(
                        feature, measure_id=None if has_id else service.new_id()
                    )
                except CodecError as exc:
                    raise ImportFileError(f"{name}: feature {i + 1}: {exc}") from None
                await service.define_measure(measure, by=who)
            measures += len(batch.measures)
    finally:
        await service.close()
    return units, reports, measures


def _run(work: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(work)
    except (ImportFileError, DomainError, CodecError) as exc:
        raise _usage(str(exc)) from None
    except TableError as exc:
        print(f"holdfire: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    except StoreError as exc:
        print(f"holdfire: store: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None


def _print_clearance(clearance: Clearance) -> None:
    target = clearance.target
    out.print(
        f"[{_STYLE[clearance.verdict]}] {clearance.verdict.value} [/]  "
        f"target {target.mgrs} ({target.lat:.5f}, {target.lon:.5f})  weapon {clearance.weapon}",
        highlight=False,
    )
    out.print(
        f"evaluated {clearance.evaluated_at:%Y-%m-%dT%H:%M:%SZ}, re-check after "
        f"{clearance.valid_until:%H:%M:%SZ}, picture version {clearance.picture_version}, "
        f"check {clearance.id}",
        style="dim",
        highlight=False,
    )
    if not clearance.reasons:
        out.print("no known conflict: nothing in the picture is near this target")
    for reason in clearance.reasons:
        label = "note" if reason.note else reason.verdict.value
        where = ""
        if reason.distance_m is not None:
            where = f"  {reason.distance_m:.0f} m"
            if reason.threshold_m is not None:
                where += f" (limit {reason.threshold_m:.0f} m)"
        style = "dim" if reason.note else _STYLE[reason.verdict]
        out.print(
            f"[{style}]{label:<17}[/] {reason.code.value}  {reason.subject or ''}{where}",
            highlight=False,
        )
        out.print(f"    {reason.detail}", markup=False, highlight=False)


def main() -> None:
    app()

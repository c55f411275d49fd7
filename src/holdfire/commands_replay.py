"""`holdfire replay --at TIME`: the picture as it stood at an instant, rebuilt from the log.

Reads the store (SQLite in the data directory, or PostgreSQL with ``--db``) and writes
nothing, so it may run beside ``holdfire serve``. An event counts if it was recorded by TIME:
a report by its arrival, not its observation time (see :mod:`holdfire.engine.replay`).
Exit 0 with the picture printed, 2 for a usage error (an unreadable or future TIME, a data
directory holding no database), 1 for a runtime error.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from holdfire.adapters.store.factory import ManagedStore
from holdfire.adapters.tables import load_tables
from holdfire.cli import DataOption, DbOption, _console, _open_store, _run, _usage, _with_store, app
from holdfire.codecs.json import CodecError, format_time, parse_time
from holdfire.codecs.replay import replay_to_dict
from holdfire.config import settings
from holdfire.domain.tracks import radius_m, state_at
from holdfire.engine.replay import Replay, measures_at
from holdfire.service.replay import picture_at


@app.command()
def replay(
    at: Annotated[
        str, typer.Option("--at", metavar="TIME", help="The instant, RFC 3339 with a zone.")
    ],
    data: DataOption = None,
    db: DbOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the picture as JSON (as GET /picture?at=).")
    ] = False,
) -> None:
    """Show the picture as it stood at TIME: tracks with state, radius and age, the measures
    not cancelled by then (and whether in force), the units."""
    try:
        instant = parse_time(at)
    except CodecError as exc:
        raise _usage(f"--at: {exc.message}") from None
    if instant > datetime.now(UTC):
        raise _usage(f"--at {at} is in the future: a replay shows the past")
    folded = _run(_replay(_open_store(data, db), settings(data, db=db).data_dir, instant))
    if as_json:
        print(json.dumps(replay_to_dict(folded), indent=2, allow_nan=False, ensure_ascii=False))
    else:
        _print(folded)


async def _replay(store: ManagedStore, data_dir: Path, at: datetime) -> Replay:
    tables = load_tables(data_dir)  # the data directory's own tables, as serve uses
    return await _with_store(store, lambda s: picture_at(s, tables, at))


def _print(folded: Replay) -> None:
    """Tables built from Text cells, never markup: uids and names come from users."""
    out, picture, at = _console(), folded.picture, folded.at
    since = format_time(folded.first_at) if folded.first_at is not None else "-"
    out.print(
        Text(f"picture at {format_time(at)}: {folded.applied} events (log since {since})"),
    )
    tracks = Table("uid", "callsign", "affiliation", "state", "radius m", "age", "position")
    for track in sorted(picture.tracks(), key=lambda t: t.uid):
        report, mobility = track.latest, picture.mobility_of(track.uid)
        unit = picture.unit(track.uid)
        age_s = max(0.0, (at - report.observed_at).total_seconds())
        tracks.add_row(
            Text(track.uid),
            Text(unit.callsign if unit is not None else report.callsign or track.uid),
            Text(picture.affiliation_of(track.uid).value),
            Text(state_at(report, mobility, at).value),
            Text(f"{radius_m(report, mobility, at):.0f}"),
            Text(_age(age_s)),
            Text(f"{report.lat:.5f},{report.lon:.5f}"),
        )
    out.print(Text(f"tracks: {len(tracks.rows)}", style="bold"))
    out.print(tracks)
    measures = Table("id", "kind", "name", "in force")
    for item in measures_at(picture, at):
        m = item.measure
        in_force = Text("yes" if item.in_force else "no")
        measures.add_row(Text(m.id), Text(m.kind.value), Text(m.name), in_force)
    out.print(Text(f"measures: {len(measures.rows)}", style="bold"))
    out.print(measures)
    units = Table("uid", "callsign", "affiliation", "mobility", "status")
    for unit in sorted(picture.units(), key=lambda u: u.uid):
        units.add_row(
            Text(unit.uid),
            Text(unit.callsign),
            Text(unit.affiliation.value),
            Text(unit.mobility.value),
            Text(unit.status.value),
        )
    out.print(Text(f"units: {len(units.rows)}", style="bold"))
    out.print(units)


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

"""The `holdfire` command line (typer).

Exit codes of `holdfire check`: 0 NO_KNOWN_CONFLICT, 3 COORDINATE or DANGER_CLOSE, 4 HOLD,
2 a usage error (unparseable target, missing data directory), 1 a runtime error.

Decisions written down here:

- User errors print one line, `holdfire: <what was wrong>`, on stderr and never a traceback.
- `check` refuses (exit 2) a data directory that does not exist or holds no database yet: an empty
  picture would answer NO_KNOWN_CONFLICT for want of data, not for want of conflicts.
- An impact time more than 5 minutes in the past is a usage error (the API answers 422).
- `import` reads and checks every file before it writes anything, so a bad file imports nothing.
- When stdout is not a terminal the readable output is not wrapped (one record per line);
  `--json` always prints plain JSON.
"""

import asyncio
import getpass
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.text import Text

from holdfire import commands_certs, commands_clients
from holdfire.adapters.audit_bundle import BundleError, load_key, read_bundle, write_bundle
from holdfire.adapters.auth import TokenError, create_token, revoke_token
from holdfire.adapters.bus.nats import ClusterSettings, without_password
from holdfire.adapters.certs import CertStore, CertStoreError
from holdfire.adapters.data_files import DataFileError
from holdfire.adapters.data_lock import DataDirInUse
from holdfire.adapters.net.cot_connection import CotConfig
from holdfire.adapters.net.groups import GroupsError
from holdfire.adapters.net.mqtt import MqttConfigError, parse_mqtt_url
from holdfire.adapters.store.factory import DbUrlError, ManagedStore, make_store
from holdfire.adapters.store.migrations import MigrationRequired, SchemaTooNew
from holdfire.adapters.store.sqlite import DB_FILENAME
from holdfire.adapters.tiles import TileError
from holdfire.api.guard import HttpLimits
from holdfire.bootstrap import (
    Address,
    DataDirError,
    Listeners,
    Running,
    build_service,
    play_on_server,
    raise_open_file_limit,
    run_in_process,
    serve_until_stopped,
)
from holdfire.codecs.imports import ImportBatch, ImportFileError, parse_import
from holdfire.codecs.json import CodecError, clearance_to_dict, measure_from_feature, parse_time
from holdfire.codecs.reports import Channel, report_from_input
from holdfire.commands_doctor import doctor
from holdfire.config import Settings, settings
from holdfire.domain.access import Role
from holdfire.domain.checks import CheckRequest, Clearance, PidBasis, Verdict
from holdfire.domain.errors import DomainError
from holdfire.domain.measures import Measure
from holdfire.domain.reports import PositionReport
from holdfire.domain.units import Unit
from holdfire.engine.clearance import MAX_PAST
from holdfire.geo import DATUM_ERROR_M, GeoError, parse_datum, parse_location
from holdfire.logs import LogFormat
from holdfire.logs import configure as configure_logging
from holdfire.service.ports import StoreError
from holdfire.settings_file import CONTEXT_SETTINGS, ConfigOption
from holdfire.sim import bundled, locate
from holdfire.sim.live import run_live
from holdfire.sim.model import Scenario, ScenarioError, load_file
from holdfire.sim.render import TimelinePrinter, print_header, print_result
from holdfire.sim.runner import ActionRefused, RunResult

T = TypeVar("T")

app = typer.Typer(
    help="holdfire: friendly-fire prevention. Would fires here endanger anyone known? Checks, "
    "imports and coordination.",
    no_args_is_help=True,
    add_completion=False,
)

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
    typer.Option("--data", help="Data directory (env HOLDFIRE_DATA; default ./holdfire-data)."),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        help="PostgreSQL database, postgresql://user[:password]@host[:port]/dbname (env "
        "HOLDFIRE_DB; default: SQLite holdfire.db in the data directory).",
    ),
]
_COT = CotConfig()
_HTTP = HttpLimits()
_LIMITS = "Limits per source address (0 turns one off)"

# Errors that mean the command was pointed at the wrong database, or one not ready for it.
_STORE_USAGE = (DbUrlError, MigrationRequired, SchemaTooNew)


def _console() -> Console:
    """Rich output on a terminal; unwrapped lines when piped or captured."""
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, soft_wrap=True)


def _error(message: str, code: int) -> typer.Exit:
    one_line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f"holdfire: {one_line}", file=sys.stderr)
    return typer.Exit(code)


def _usage(message: str) -> typer.Exit:
    return _error(message, 2)


def _requester() -> str:
    """Who asked, for the audit trail: the login name, else the numeric user id."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no LOGNAME/USER and no passwd entry (some containers)
        return f"cli:uid-{os.getuid()}" if hasattr(os, "getuid") else "cli:unknown"


@app.command()
def check(
    target: Annotated[
        str, typer.Argument(metavar="TARGET", help="MGRS grid, or 'lat, lon' (decimal or DMS).")
    ],
    weapon: Annotated[str, typer.Option(help="Weapon id, see the weapon table.")],
    target_type: Annotated[
        str | None, typer.Option("--type", help="Equipment id or family seen at the target.")
    ] = None,
    pid: Annotated[
        list[PidBasis] | None,
        typer.Option(
            metavar="BASIS",
            help="Basis of positive identification (repeat): appearance, observer, "
            "hostile-act, sigint, cooperative-id, other.",
            case_sensitive=False,
        ),
    ] = None,
    pid_detail: Annotated[str | None, typer.Option(help="Who or what confirmed it.")] = None,
    firing_unit: Annotated[str | None, typer.Option(help="uid of the unit that will fire.")] = None,
    time: Annotated[str | None, typer.Option(help="Impact time, RFC 3339 (default: now).")] = None,
    tle: Annotated[float, typer.Option("--tle", help="Target location error, metres.")] = 0.0,
    datum: Annotated[str, typer.Option(help="Datum of a lat/lon target: WGS84 or SK42.")] = "WGS84",
    data: DataOption = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Clearance as JSON.")] = False,
) -> None:
    """Check whether fires at TARGET would endanger anyone known; exit 0/3/4 by verdict."""
    config = settings(data, db=db)
    if not config.data_dir.is_dir():
        what = "is not a directory" if config.data_dir.exists() else "does not exist"
        raise _usage(f"data directory {config.data_dir} {what} (holdfire import creates it)")
    _require_store(config)
    try:
        datum_value = parse_datum(datum)
    except GeoError as exc:
        raise _usage(f"--datum: {exc}") from None
    try:
        location = parse_location(target, datum_value)
    except GeoError as exc:
        raise _usage(f"target: {exc}") from None
    try:
        impact = parse_time(time) if time is not None else None
    except CodecError as exc:
        raise _usage(f"--time: {exc.message}") from None
    if impact is not None and impact < datetime.now(UTC) - MAX_PAST:
        raise _usage(f"--time {time} is more than 5 minutes in the past")
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
        requester=_requester(),
    )
    clearance = _run(_check(config, request))
    if as_json:
        print(json.dumps(clearance_to_dict(clearance), indent=2, allow_nan=False))
    else:
        _print_clearance(clearance)
    raise typer.Exit(EXIT_CODES[clearance.verdict])


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="GeoJSON, JSON, CSV or TOML files.")],
    data: DataOption = None,
    db: DbOption = None,
) -> None:
    """Import measures (GeoJSON), units and reports (JSON, CSV, TOML) into the store."""
    config = settings(data, db=db)
    batches = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise _usage(f"{path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise _usage(f"{path}: not UTF-8 text") from None
        try:
            batches.append((path.name, parse_import(path.name, text)))
        except ImportFileError as exc:
            raise _usage(str(exc)) from None
    counts = _run(_import(config, batches))
    into = config.data_dir if config.db is None else _store(config).where
    _console().print(
        f"imported {counts[0]} units, {counts[1]} reports, {counts[2]} measures into {into}",
        markup=False,
    )


async def _check(config: Settings, request: CheckRequest) -> Clearance:
    service = build_service(config)
    await service.start()
    try:
        return await service.check(request)
    finally:
        await service.close()


@dataclass(frozen=True, slots=True)
class _Ready:
    """One file, read into domain objects, not yet written."""

    name: str
    batch: ImportBatch
    units: list[Unit]
    reports: list[PositionReport]
    measures: list[Measure]


def _prepare(
    name: str, batch: ImportBatch, received: datetime, new_id: Callable[[], str]
) -> _Ready:
    channel = Channel(source="import", reporter=name, authenticated=False)
    reports = []
    for i, row in enumerate(batch.reports):
        try:
            reports.append(report_from_input(row, channel, received))
        except CodecError as exc:
            raise ImportFileError(f"{name}: {batch.report_where(i)}: {exc}") from None
    measures = []
    for i, feature in enumerate(batch.measures):
        properties = feature.get("properties")
        has_id = feature.get("id") is not None or (
            isinstance(properties, dict) and properties.get("id") is not None
        )
        try:
            measures.append(measure_from_feature(feature, measure_id=None if has_id else new_id()))
        except CodecError as exc:
            raise ImportFileError(f"{name}: feature {i + 1}: {exc}") from None
        except OverflowError:  # an integer too large for a float in its coordinates
            raise ImportFileError(f"{name}: feature {i + 1}: a number is too large") from None
    return _Ready(name, batch, batch.units, reports, measures)


async def _import(config: Settings, batches: list[tuple[str, ImportBatch]]) -> tuple[int, int, int]:
    data_dir = config.data_dir
    service = build_service(config)
    received = service.clock.now()
    # Every file is read whole before anything is written (or the data directory created):
    # a bad row imports nothing.
    ready = [_prepare(name, batch, received, service.new_id) for name, batch in batches]
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImportFileError(f"data directory {data_dir}: {exc.strerror or exc}") from None
    await service.start()
    units = reports = measures = 0
    try:
        for item in ready:
            who = f"import:{item.name}"
            for unit in item.units:
                await service.register_unit(unit, by=who)
            results = await service.reports(item.reports)
            for i, result in enumerate(results):
                if result.accepted:
                    reports += 1
                else:
                    where = item.batch.report_where(i)
                    print(
                        f"holdfire: {item.name}: {where}: not applied: {result.detail}",
                        file=sys.stderr,
                    )
            for measure in item.measures:
                await service.define_measure(measure, by=who)
            units += len(item.units)
            measures += len(item.measures)
    finally:
        await service.close()
    return units, reports, measures


def _run(work: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(work)
    except (ImportFileError, DomainError, CodecError, ScenarioError, *_STORE_USAGE) as exc:
        raise _usage(str(exc)) from None
    except (DataFileError, ActionRefused) as exc:
        raise _error(str(exc), 1) from None
    except StoreError as exc:
        raise _error(f"store: {exc}", 1) from None
    except OSError as exc:
        raise _error(f"{exc.filename or 'I/O'}: {exc.strerror or exc}", 1) from None


def _print_clearance(clearance: Clearance) -> None:
    """The readable form. Built from Text pieces, never markup: weapon names, uids and details
    come from users and must print as they are."""
    out = _console()
    target = clearance.target
    where = f"{target.mgrs} " if target.mgrs else ""
    out.print(
        Text.assemble(
            (f" {clearance.verdict.value} ", _STYLE[clearance.verdict]),
            f"  target {where}({target.lat:.5f}, {target.lon:.5f})  weapon {clearance.weapon}",
        )
    )
    out.print(
        Text(
            f"evaluated {clearance.evaluated_at:%Y-%m-%dT%H:%M:%SZ}, re-check after "
            f"{clearance.valid_until:%H:%M:%SZ}, picture version {clearance.picture_version}, "
            f"check {clearance.id}",
            style="dim",
        )
    )
    if not clearance.reasons:
        out.print(Text("no known conflict: nothing in the picture is near this target"))
    for reason in clearance.reasons:
        label = "note" if reason.note else reason.verdict.value
        distance = ""
        if reason.distance_m is not None:
            distance = f"  {reason.distance_m:.0f} m"
            if reason.threshold_m is not None:
                distance += f" (limit {reason.threshold_m:.0f} m)"
        style = "dim" if reason.note else _STYLE[reason.verdict]
        out.print(
            Text.assemble(
                (f"{label:<17}", style),
                f" {reason.code.value}{f'  {reason.subject}' if reason.subject else ''}{distance}",
            )
        )
        out.print(Text(f"    {reason.detail}"))


def _address(text: str, flag: str) -> Address | None:
    """HOST:PORT, or `off`."""
    if text.strip().lower() == "off":
        return None
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise _usage(f"{flag} must be HOST:PORT or off, got {text!r}")
    return (host.strip("[]"), int(port))


@app.command(context_settings=CONTEXT_SETTINGS)
def serve(
    config_file: ConfigOption = None,  # read by its callback, before every other option
    data: DataOption = None,
    db: DbOption = None,
    http: Annotated[
        str, typer.Option(help="HTTP API and WebSocket stream, HOST:PORT or off.")
    ] = "127.0.0.1:8080",
    cot_tcp: Annotated[
        str,
        typer.Option(
            help="Plain TCP CoT listener, HOST:PORT or off (reports from it are unauthenticated)."
        ),
    ] = "127.0.0.1:8087",
    cot_tls: Annotated[
        str, typer.Option(help="TLS CoT listener with client certificates, HOST:PORT or off.")
    ] = "0.0.0.0:8089",
    cot_udp: Annotated[str, typer.Option(help="UDP SA input, HOST:PORT or off.")] = "off",
    cot_multicast: Annotated[
        str, typer.Option(help="Multicast SA input, GROUP:PORT (ATAK: 239.2.3.1:6969) or off.")
    ] = "off",
    multicast_interface: Annotated[
        str, typer.Option(help="Address of the interface to join the multicast group on.")
    ] = "0.0.0.0",
    mqtt: Annotated[
        str,
        typer.Option(
            help="MQTT broker for tracker reports: mqtt://[user:password@]host[:port], "
            "mqtts://... (TLS), or off (reports from it are unauthenticated)."
        ),
    ] = "off",
    mqtt_topic: Annotated[
        list[str] | None,
        typer.Option(
            "--mqtt-topic",
            metavar="PATTERN",
            help="Topic filter to subscribe to (repeat; wildcards + and #); replaces the "
            "defaults holdfire/reports/# and msh/+/2/json/#.",
        ),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            metavar="NAME|FILE",
            help="Play a scenario into the server once it listens (see holdfire scenario list).",
        ),
    ] = None,
    speed: Annotated[
        float, typer.Option(min=0.01, help="How many times faster than real time it plays.")
    ] = 10.0,
    tiles: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR|FILE",
            help="Operator map tiles for the web map, served at /tiles/{z}/{x}/{y} without a "
            "token: an XYZ folder {z}/{x}/{y}.png|.jpg|.webp|.pbf, an MBTiles or a PMTiles file.",
        ),
    ] = None,
    nats: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Join a cluster through NATS JetStream (nats://host:4222): every node sees "
            "every event. The nodes share one PostgreSQL database (--db).",
        ),
    ] = None,
    node: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="This node's name in the cluster (letters, digits, - and _; default: the "
            "host name).",
        ),
    ] = None,
    cluster: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="The cluster's name, which names its NATS streams and subjects (several "
            "clusters can share one NATS server).",
        ),
    ] = "holdfire",
    log_format: Annotated[
        LogFormat,
        typer.Option(help="Log lines on stderr as text, or as one JSON object per line."),
    ] = LogFormat.TEXT,
    cot_max_per_address: Annotated[
        int,
        typer.Option(
            min=0,
            rich_help_panel=_LIMITS,
            help="CoT (TCP and TLS) connections open at once from one address.",
        ),
    ] = _COT.max_per_address,
    cot_connects_per_s: Annotated[
        float,
        typer.Option(
            min=0,
            rich_help_panel=_LIMITS,
            help="New CoT connections a second from one address, after a burst of "
            "--cot-max-per-address.",
        ),
    ] = _COT.connects_per_s,
    cot_bytes_per_s: Annotated[
        float,
        typer.Option(
            min=0,
            rich_help_panel=_LIMITS,
            help="CoT bytes a second read from one address (after a burst of 16 s of it); "
            "beyond it the address is read more slowly, nothing is dropped.",
        ),
    ] = _COT.bytes_per_s,
    cot_events_per_s: Annotated[
        float,
        typer.Option(
            min=0,
            rich_help_panel=_LIMITS,
            help="CoT events a second read from one address (after a burst of 25 s of it); "
            "beyond it the address is read more slowly.",
        ),
    ] = _COT.events_per_s,
    cot_idle_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            rich_help_panel=_LIMITS,
            help="Close a CoT connection that sent no complete event for this long (TAK "
            "clients send SA and pings far more often).",
        ),
    ] = _COT.idle_timeout_s,
    cot_frame_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            rich_help_panel=_LIMITS,
            help="Close a CoT connection that leaves an event unfinished for this long "
            "(slowloris).",
        ),
    ] = _COT.frame_timeout_s,
    cot_handshake_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            rich_help_panel=_LIMITS,
            help="Close a TLS connection whose handshake is not done after this long.",
        ),
    ] = _COT.handshake_timeout_s,
    http_max_per_address: Annotated[
        int,
        typer.Option(
            min=0,
            rich_help_panel=_LIMITS,
            help="HTTP connections (WebSocket streams included) open at once from one address.",
        ),
    ] = _HTTP.max_per_address,
    http_requests_per_s: Annotated[
        float,
        typer.Option(
            min=0,
            rich_help_panel=_LIMITS,
            help="HTTP requests a second from one address, after a burst of 10 s of it; "
            "beyond it 429 with Retry-After.",
        ),
    ] = _HTTP.requests_per_s,
    http_keep_alive: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="SECONDS",
            rich_help_panel=_LIMITS,
            help="Close an idle keep-alive HTTP connection after this long.",
        ),
    ] = _HTTP.keep_alive_s,
    http_header_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            rich_help_panel=_LIMITS,
            help="Close an HTTP connection whose request headers are not complete this long "
            "after it opened or the request began.",
        ),
    ] = _HTTP.header_timeout_s,
    http_body_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            rich_help_panel=_LIMITS,
            help="Close an HTTP connection whose request body is not complete this long after "
            "its headers.",
        ),
    ] = _HTTP.body_timeout_s,
) -> None:
    """Run the server: the HTTP API and CoT over TCP, TLS and UDP, on the data directory's
    store. The first start writes an admin token to DATA/admin.token. Every option can be set
    in a --config file and by HOLDFIRE_<OPTION>; the command line wins, then the environment."""
    config = settings(data, tiles, db)
    store_where = _store(config).where  # a --db that is not a PostgreSQL URL stops here
    played = _load_scenario(scenario) if scenario is not None else None
    try:
        mqtt_settings = parse_mqtt_url(mqtt, mqtt_topic or [])
    except MqttConfigError as exc:
        raise _usage(str(exc)) from None
    if mqtt_settings is None and mqtt_topic:
        raise _usage("--mqtt-topic needs --mqtt URL")
    if nats is not None and config.db is None:
        raise _usage(
            "--nats needs --db postgresql://...: the nodes of a cluster share one database "
            "(each node's own SQLite file would not hold what the others took)"
        )
    listeners = Listeners(
        cluster=_cluster(nats, node, cluster),
        http=_address(http, "--http"),
        cot_tcp=_address(cot_tcp, "--cot-tcp"),
        cot_tls=_address(cot_tls, "--cot-tls"),
        cot_udp=_address(cot_udp, "--cot-udp"),
        cot_multicast=_address(cot_multicast, "--cot-multicast"),
        multicast_interface=multicast_interface,
        mqtt=mqtt_settings,
    )
    if tiles is not None and listeners.http is None:
        raise _usage("--tiles needs the HTTP listener (--http is off)")
    cot_config = CotConfig(
        max_per_address=cot_max_per_address,
        connects_per_s=cot_connects_per_s,
        bytes_per_s=cot_bytes_per_s,
        events_per_s=cot_events_per_s,
        idle_timeout_s=cot_idle_timeout,
        frame_timeout_s=cot_frame_timeout,
        handshake_timeout_s=cot_handshake_timeout,
    )
    http_limits = HttpLimits(
        max_per_address=http_max_per_address,
        requests_per_s=http_requests_per_s,
        keep_alive_s=http_keep_alive,
        header_timeout_s=http_header_timeout,
        body_timeout_s=http_body_timeout,
    )
    configure_logging(log_format)
    soft, hard = raise_open_file_limit()  # every connection is a file

    def announce(running: Running) -> None:
        # logged once started: a start that fails says only why, in one line
        logging.getLogger("holdfire").info("open files: up to %d (hard limit %d)", soft, hard)
        print(f"holdfire serving data directory {config.data_dir}", flush=True)
        print(f"  store: {store_where}", flush=True)
        for name, (host, port) in sorted(running.bound.items()):
            label = name if name == "http" else f"cot-{name}"
            print(f"  {label}: {host}:{port}", flush=True)
            if name == "http":
                base = f"http://{host}:{port}"
                print(f"    web map {base}/ (sign in with a token)", flush=True)
                print(
                    f"    API {base}/api/v1  OpenAPI {base}/openapi.json  docs {base}/docs",
                    flush=True,
                )
                if running.api.tiles is not None:
                    meta = running.api.tiles.meta()
                    print(
                        f"    map tiles {base}/tiles/{{z}}/{{x}}/{{y}}: {meta.name} "
                        f"({meta.format}, zoom {meta.minzoom}-{meta.maxzoom}) from {config.tiles}",
                        flush=True,
                    )
        if running.cluster is not None:
            link = running.cluster
            cut = link.cut_off_since()
            state = "in step" if cut is None else "cut off, retrying"
            print(f"  cluster: node {link.node} through {link.url} ({state})", flush=True)
        if running.mqtt is not None:
            state = "subscribed" if running.mqtt.connected else "not connected yet, retrying"
            print(f"  mqtt: {running.mqtt.settings.address} ({state})", flush=True)
        if running.admin_token_file is not None:
            print(
                f"  admin token written to {running.admin_token_file} (readable only by you; "
                "holdfire token create makes tokens for others)",
                flush=True,
            )
        if running.certs is not None:
            print(
                f"  certificates: {running.certs.directory} (holdfire certs client NAME "
                "--uid UID --host HOST makes a device's data package)",
                flush=True,
            )
        for line in commands_certs.phone_hint(running):
            print(line, flush=True)

    async def play(running: Running) -> None:
        assert played is not None
        console = _console()
        print_header(console, played, f"playing live at x{speed:g}")
        result = await play_on_server(
            running, played, speed=speed, on_entry=TimelinePrinter(console, reports=False)
        )
        print_result(console, result)
        console.print(
            "scenario finished; still serving (Ctrl-C stops). The server's own clock runs in "
            "real time: expectations about silences (stale, lost) and re-sends hold only at "
            "--speed 1.",
            markup=False,
        )

    try:
        _event_loop_runner(
            serve_until_stopped(
                config,
                listeners,
                announce,
                play if played is not None else None,
                cot_config,
                http_limits,
            )
        )
    except DataDirInUse as exc:
        raise _error(str(exc), 1) from None
    except OSError as exc:
        raise _error(f"cannot listen: {exc.strerror or exc}", 1) from None
    except _STORE_USAGE as exc:
        raise _usage(str(exc)) from None
    except (
        StoreError,
        DataFileError,
        DataDirError,
        CertStoreError,
        GroupsError,
        MqttConfigError,
    ) as exc:
        raise _error(str(exc), 1) from None
    except TileError as exc:
        raise _usage(f"--tiles {exc}") from None


NODE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _cluster(url: str | None, node: str | None, cluster: str) -> ClusterSettings | None:
    if url is None:
        if node is not None or cluster != "holdfire":
            raise _usage("--node and --cluster need --nats URL")
        return None
    if not url.startswith(("nats://", "tls://")):
        raise _usage(f"--nats must be a nats:// or tls:// URL, got {without_password(url)!r}")
    name = node if node is not None else socket.gethostname().split(".")[0]
    if not NODE_NAME.fullmatch(name):
        raise _usage(f"--node {name!r}: use 1-64 letters, digits, - and _")
    if not NODE_NAME.fullmatch(cluster):
        raise _usage(f"--cluster {cluster!r}: use 1-64 letters, digits, - and _")
    return ClusterSettings(url=url, node=name, cluster=cluster)


def _event_loop_runner(work: Coroutine[Any, Any, None]) -> None:
    """uvloop where installed (it is with uvicorn[standard]), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(work)
    else:
        uvloop.run(work)


certs_app = typer.Typer(help="Certificates: the CA, the server's, and one per TAK device.")
app.add_typer(certs_app, name="certs")


@certs_app.command("init")
def certs_init(
    data: DataOption = None,
    name: Annotated[
        list[str] | None, typer.Option(help="Server name or address to certify (repeat).")
    ] = None,
) -> None:
    """Create the CA and the server certificate (does nothing if they exist)."""
    config = settings(data)
    store = CertStore(config.data_dir / "certs")
    try:
        result = store.init(tuple(name or ("localhost", "127.0.0.1")), now=datetime.now(UTC))
    except CertStoreError as exc:
        raise _error(str(exc), 1) from None
    what = "created" if result.created else "already present"
    print(f"CA and server certificate {what} in {store.directory}")


@certs_app.command("client")
def certs_client(
    name: Annotated[str, typer.Argument(help="Device or user name (file-name safe).")],
    uid: Annotated[str, typer.Option(help="The device's CoT uid, bound into the certificate.")],
    host: Annotated[str, typer.Option(help="Address the device connects to.")],
    port: Annotated[int, typer.Option(help="TLS port.")] = 8089,
    replace: Annotated[
        bool,
        typer.Option(
            help="Re-issue an existing client (the old certificate stays valid until revoked)."
        ),
    ] = False,
    data: DataOption = None,
    qr: Annotated[
        bool,
        typer.Option(help="Print a QR code (and write a PNG) that downloads the package once."),
    ] = True,
    download_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="The server's HTTP listener as the phone reaches it (default http://HOST:8080).",
        ),
    ] = None,
    itak: Annotated[
        bool, typer.Option("--itak", help="A QR code for iTAK: the plain link, for the camera.")
    ] = False,
) -> None:
    """Make a client certificate (.p12) and an ATAK/iTAK data package; prints the password once,
    and a QR code a phone scans to download the package (once, within 15 minutes)."""
    if qr and download_url is not None and not download_url.startswith(("http://", "https://")):
        raise _usage(f"--download-url must start with http:// or https://, got {download_url!r}")
    config = settings(data)
    store = CertStore(config.data_dir / "certs")
    try:
        if not store.exists():
            store.init(now=datetime.now(UTC))
        bundle = store.client(
            name, uid, now=datetime.now(UTC), host=host, port=port, replace=replace
        )
    except (CertStoreError, ValueError) as exc:
        raise _usage(str(exc)) from None
    print(f"data package: {bundle.package_path}")
    print(f"certificate:  {bundle.p12_path} (uid {bundle.uid})")
    print(f"valid until:  {bundle.not_after:%Y-%m-%d}")
    print(f"password:     {bundle.password}")
    print("the password is shown once; the data package carries it for the device")
    if qr:
        try:
            commands_certs.print_offer(
                store, name, download_url or f"http://{host}:8080", for_itak=itak
            )
        except (CertStoreError, ValueError) as exc:
            raise _usage(str(exc)) from None


@certs_app.command("revoke")
def certs_revoke(
    name: Annotated[str, typer.Argument(help="The client's name, as given to `certs client`.")],
    data: DataOption = None,
) -> None:
    """Revoke a client certificate: a running server cuts its connections off within a second
    and refuses it from then on."""
    config = settings(data)
    store = CertStore(config.data_dir / "certs")
    try:
        result = store.revoke(name, now=datetime.now(UTC))
    except (CertStoreError, ValueError) as exc:
        raise _usage(str(exc)) from None
    what = "was already revoked" if result.already else "revoked"
    print(f"{name} (serial {result.serial:x}) {what}; revocation list {store.crl_path}")


certs_app.command("list")(commands_certs.certs_list)


token_app = typer.Typer(help="API tokens: create, list and revoke (only a hash is stored).")
app.add_typer(token_app, name="token")


def _store(config: Settings) -> ManagedStore:
    try:
        return make_store(config.data_dir, config.db)
    except DbUrlError as exc:
        raise _usage(str(exc)) from None


def _require_store(config: Settings) -> None:
    """Refuse (exit 2) a store nothing was ever written to: an empty picture would answer for
    want of data. SQLite: the file must exist; PostgreSQL: its schema must."""
    if config.db is None:
        if not (config.data_dir / DB_FILENAME).is_file():
            raise _usage(
                f"data directory {config.data_dir} holds no {DB_FILENAME}: nothing has been "
                "imported there (holdfire serve or holdfire import creates it)"
            )
        return
    store = _store(config)
    status = _run(store.schema_status())
    if not status.applied:
        raise _usage(
            f"the {store.where} holds no holdfire data yet (holdfire serve, import or "
            "migrate --db creates it)"
        )


def _open_store(data: Path | None, db: str | None) -> ManagedStore:
    config = settings(data, db=db)
    _require_store(config)
    return _store(config)


async def _with_store(
    store: ManagedStore, work: Callable[[ManagedStore], Coroutine[Any, Any, T]]
) -> T:
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="observer, reporter, fires, planner or admin.")],
    name: Annotated[
        str | None, typer.Option(help="Who holds it (default: ROLE-N); recorded on all it does.")
    ] = None,
    unit: Annotated[
        list[str] | None,
        typer.Option(help="uid of a unit the token speaks for (repeat); a reporter needs one."),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            help="When it stops working: a duration (90s, 30m, 12h, 7d) or an RFC 3339 time."
        ),
    ] = None,
    data: DataOption = None,
    db: DbOption = None,
) -> None:
    """Create a token and print it (only the token, on stdout); it works at once."""
    units = tuple(unit or ())
    if role is Role.REPORTER and not units:
        raise _usage("a reporter token needs --unit UID (the units it reports for)")
    now = datetime.now(UTC)
    expires_at = None if expires is None else _expiry(expires, now)
    store = _open_store(data, db)

    async def work(store: ManagedStore) -> str:
        label = name or f"{role.value}-{len(await store.list_tokens()) + 1}"
        made = await create_token(
            store, label, role, units=units, by=_requester(), now=now, expires_at=expires_at
        )
        return made.secret

    try:
        secret = _run(_with_store(store, work))
    except TokenError as exc:
        raise _usage(str(exc)) from None
    print(secret)


_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _expiry(text: str, now: datetime) -> datetime:
    """``--expires``: a duration from now, or an RFC 3339 time with its offset."""
    duration = _DURATION.fullmatch(text.strip())
    if duration is not None:
        return now + timedelta(seconds=int(duration[1]) * _UNIT_S[duration[2]])
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        hint = "use a duration (30m, 12h, 7d) or an RFC 3339 time"
        raise _usage(f"--expires {text!r}: {hint}") from None
    if at.tzinfo is None:
        raise _usage(f"--expires {text!r}: give the time's offset (Z or +HH:MM)")
    return at.astimezone(UTC)


@token_app.command("list")
def token_list(data: DataOption = None, db: DbOption = None) -> None:
    """Every token issued, with its role, units and whether it was revoked."""
    tokens = _run(_with_store(_open_store(data, db), lambda store: store.list_tokens()))
    out = _console()
    now = datetime.now(UTC)
    for t in tokens:
        state = "active" if t.active else f"revoked {t.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
        if t.active and t.expires_at is not None:
            verb = "expired" if t.expired(now) else "expires"
            state = f"{verb} {t.expires_at:%Y-%m-%dT%H:%M:%SZ}"
        units = f" units {','.join(t.units)}" if t.units else ""
        out.print(
            Text(
                f"{t.id}  {t.name:<20} {t.role.value:<9} {state}{units}  created by {t.created_by}"
            )
        )


@token_app.command("revoke")
def token_revoke(
    key: Annotated[str, typer.Argument(metavar="ID|NAME", help="The token's id or name.")],
    data: DataOption = None,
    db: DbOption = None,
) -> None:
    """Revoke a token: it stops working at its next request."""

    async def work(store: ManagedStore) -> str:
        token = await revoke_token(store, key, by=_requester(), now=datetime.now(UTC))
        return f"revoked {token.id} ({token.name}, {token.role.value})"

    try:
        print(_run(_with_store(_open_store(data, db), work)))
    except TokenError as exc:
        raise _usage(str(exc)) from None


@app.command()
def migrate(
    data: DataOption = None,
    db: DbOption = None,
    status: Annotated[
        bool, typer.Option("--status", help="List applied and pending migrations; change nothing.")
    ] = False,
) -> None:
    """Apply the store's pending schema migrations (serve applies only those marked safe at
    start). Stop every holdfire using the database and back it up first."""
    config = settings(data, db=db)
    store = _store(config)
    if config.db is None and not status:
        try:
            config.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _error(f"data directory {config.data_dir}: {exc.strerror or exc}", 1) from None
    if status:
        state = _run(store.schema_status())
        print(f"store: {state.where}")
        for applied in state.applied:
            when = applied.applied_at or "before versioned migrations"
            print(f"applied  {applied.version:04d}_{applied.name}  {when}")
        for pending in state.pending:
            if not state.applied:
                rule = "an empty database gets every migration at its first start"
            elif pending.safe_at_start:
                rule = "safe: applied at the next start"
            else:
                rule = "needs holdfire migrate"
            print(f"pending  {pending.label}  ({rule})")
        if not state.pending:
            print("up to date")
        return
    done = _run(store.migrate())
    print(f"store: {store.where}")
    for migration in done:
        print(f"applied  {migration.label}")
    print("up to date" if done else "up to date (nothing to apply)")


audit_app = typer.Typer(
    help="The tamper-evident audit trail: verify its chain, export signed bundles of it."
)
app.add_typer(audit_app, name="audit")

KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        metavar="HEX",
        help="The public key the bundle must be signed by (as printed by audit export).",
    ),
]


def _bundle_check(file: Path, key: str | None) -> None:
    try:
        summary = read_bundle(file, expected_key=key)
    except BundleError as exc:
        raise _error(str(exc), 1) from None
    print(f"bundle intact ({summary}); signed by {summary.public_key}")
    if key is None:
        print("compare that key with the one audit export printed (or pass it with --key)")


@audit_app.command("verify")
def audit_verify(
    data: DataOption = None,
    db: DbOption = None,
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", metavar="FILE", help="Verify an exported bundle instead."),
    ] = None,
    key: KeyOption = None,
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            metavar="HASH",
            help="A hash printed earlier (by verify, or in a bundle's manifest) and kept "
            "elsewhere: the chain must still pass through it.",
        ),
    ] = None,
) -> None:
    """Walk the audit chain: exit 0 if intact, 1 naming the first broken record.

    Someone who can write the database could rewrite records and every hash after them;
    `--expect` catches that, since a rewritten chain no longer passes through a hash kept
    from before."""
    if expect is not None and not re.fullmatch(r"[0-9a-f]{64}", expect.strip().lower()):
        raise _usage("--expect: a hash is 64 hexadecimal digits, as verify prints it")
    if bundle is not None:
        _bundle_check(bundle, key)
        return
    trail = _run(_with_store(_open_store(data, db), lambda store: store.audit_trail()))
    check = trail.check()
    print(check)
    if not check.intact:
        raise typer.Exit(1)
    if expect is not None:
        wanted = expect.strip().lower()
        if wanted not in {link.hash for link in trail.links}:
            print(
                f"but the chain does not pass through {wanted}: the records before it were "
                "rewritten, or it is the hash of another chain"
            )
            raise typer.Exit(1)
        print(f"and it passes through {wanted}")


@audit_app.command("verify-bundle")
def audit_verify_bundle(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A bundle from audit export.")],
    key: KeyOption = None,
) -> None:
    """Check a bundle's signature and chain offline: exit 0 if intact, 1 saying why not."""
    _bundle_check(file, key)


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="The bundle to write (a zip).")],
    since: Annotated[
        str | None, typer.Option(help="First record time, RFC 3339 (default: the start).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last record time, RFC 3339 (default: the end).")
    ] = None,
    data: DataOption = None,
    db: DbOption = None,
) -> None:
    """Write a signed bundle of the audit records between --since and --until."""
    try:
        bounds = [None if t is None else parse_time(t) for t in (since, until)]
    except CodecError as exc:
        raise _usage(f"--since/--until: {exc.message}") from None
    config = settings(data, db=db)
    store = _open_store(data, db)
    trail = _run(_with_store(store, lambda store: store.audit_trail()))
    try:
        key = load_key(config.data_dir)
        summary = write_bundle(
            out, trail, key, source=store.where, now=datetime.now(UTC), since=bounds[0],
            until=bounds[1],
        )  # fmt: skip
    except BundleError as exc:
        raise _error(str(exc), 1) from None
    print(f"wrote {out} ({summary})")
    print(f"public key {summary.public_key}")


scenario_app = typer.Typer(
    help="Scenarios: replay situations against holdfire and check what it answers."
)
app.add_typer(scenario_app, name="scenario")


def _load_scenario(name_or_path: str) -> Scenario:
    try:
        return load_file(locate(name_or_path))
    except ScenarioError as exc:
        raise _usage(str(exc)) from None


@scenario_app.command("list")
def scenario_list() -> None:
    """The bundled scenarios, by name."""
    out = _console()
    for name, path in bundled().items():
        out.print(Text.assemble((f"{name:<34}", "bold"), load_file(path).title))


@scenario_app.command("validate")
def scenario_validate(
    scenarios: Annotated[list[str], typer.Argument(metavar="NAME|FILE...")],
) -> None:
    """Check scenario files against the format; exit 2 naming the line and field of an error."""
    for name in scenarios:
        scenario = _load_scenario(name)
        print(
            f"{name}: ok ({len(scenario.units)} units, {len(scenario.expectations)} expectations)"
        )


@scenario_app.command("run")
def scenario_run(
    scenario: Annotated[str, typer.Argument(metavar="NAME|FILE")],
    speed: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="Times faster than real time; default: as fast as possible in-process, "
            "real time (1) against a server.",
        ),
    ] = None,
    server: Annotated[
        str | None, typer.Option(help="A running holdfire's base URL, e.g. http://127.0.0.1:8080.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="An admin token of that server (env HOLDFIRE_TOKEN).")
    ] = None,
    cot_tcp: Annotated[
        str | None,
        typer.Option(help="Its plain CoT TCP listener, HOST:PORT (default: the URL's host, 8087)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    reports: Annotated[bool, typer.Option(help="Show every report batch in the timeline.")] = True,
) -> None:
    """Replay a scenario and judge its expectations; exit 0 only when every one holds (1 when
    one fails, 2 for a scenario that cannot be read)."""
    loaded = _load_scenario(scenario)
    out = _console()
    printer = None if as_json else TimelinePrinter(out, reports=reports)
    if server is None:
        if token is not None or cot_tcp is not None:
            raise _usage("--token and --cot-tcp need --server URL")
        mode = "in-process, fake clock" + (f" x{speed:g}" if speed else "")
        if printer is not None:
            print_header(out, loaded, mode)
        result = _run(run_in_process(loaded, speed=speed, on_entry=printer))
    else:
        secret = token or os.environ.get("HOLDFIRE_TOKEN")
        if not secret:
            raise _usage("--server needs --token T (or HOLDFIRE_TOKEN)")
        host = httpx.URL(server).host or "127.0.0.1"
        address = _address(cot_tcp, "--cot-tcp") if cot_tcp else (host, 8087)
        if address is None:
            raise _usage("--cot-tcp must be HOST:PORT")
        if printer is not None:
            print_header(out, loaded, f"live against {server}, x{speed or 1:g}")
        result = _run(run_live(loaded, server, secret, address, speed or 1.0, on_entry=printer))
    _finish(out, result, as_json)


def _finish(out: Console, result: RunResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        print_result(out, result)
    raise typer.Exit(0 if result.passed else 1)


DEMO = (
    "kursk-lookalike-strike",
    "kursk-2s1-missile",
    "kalinovka-withdrawal",
    "kalinovka-withdrawal-announced",
)


@app.command()
def demo() -> None:
    """Replay the seed incidents in-process and show what holdfire did about each."""
    out = _console()
    results = []
    for name in DEMO:
        scenario = _load_scenario(name)
        out.rule(Text(scenario.title, style="bold"))
        print_header(out, scenario, "in-process, fake clock")
        printer = TimelinePrinter(out, reports=False)
        result = _run(run_in_process(scenario, on_entry=printer))
        print_result(out, result)
        results.append(result)
    out.rule(Text("demo", style="bold"))
    for result in results:
        mark = ("pass", "bold green") if result.passed else ("FAIL", "bold red")
        out.print(Text.assemble(mark, f"  {result.scenario.name}: {result.scenario.title}"))
    raise typer.Exit(0 if all(r.passed for r in results) else 1)


app.command("clients")(commands_clients.clients)
app.command()(doctor)
# registered by importing them: backup, restore, backup-info and replay
from holdfire import commands_backup, commands_replay  # noqa: E402, F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()

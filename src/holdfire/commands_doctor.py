"""`holdfire doctor`: is this machine ready to serve, and if not, what to fix.

Each check prints one line, `OK`, `WARN` or `FAIL`, what it looked at and what it found, and
for a WARN or a FAIL a `fix:` line saying what to do. The exit code is 1 if any check failed,
else 0 (warnings do not fail). What is checked:

- the data directory: it exists, is a directory, is writable, and has room (FAIL under
  256 MiB free, WARN under 2 GiB);
- the store: SQLite in the data directory or PostgreSQL (`--db`): reachable, its schema
  version, migrations pending (FAIL if `holdfire migrate` is needed; WARN if only the ones a
  start applies by itself), not newer than this holdfire;
- the certificates under `DATA/certs`: CA and server certificate present and valid (WARN from
  14 days before they end, FAIL once ended), every device certificate (WARN as it nears its
  end or has ended: that device cannot connect), the revocation list (signed by this CA,
  readable);
- the listeners `serve` would open (`--http`, `--cot-tcp`, `--cot-tls`, `--cot-udp`, with
  serve's defaults): each address can be bound now (FAIL if in use: when it is this holdfire
  already serving, that is expected, and the fix says so);
- backing services given: PostgreSQL (`--db`), NATS with JetStream (`--nats`), the MQTT broker
  (`--mqtt`), each reached within a few seconds.

Nothing is changed: the checks only read, and bind a port for an instant.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import aiomqtt
import nats
import typer
from cryptography import x509
from nats.errors import Error as NatsError
from nats.js.errors import Error as JetStreamError

from holdfire.adapters.bus.nats import without_password
from holdfire.adapters.certs import CertStore, CertStoreError
from holdfire.adapters.net.mqtt import MqttConfigError, parse_mqtt_url
from holdfire.adapters.store.factory import DbUrlError, make_store
from holdfire.adapters.store.sqlite import DB_FILENAME
from holdfire.config import settings
from holdfire.service.ports import StoreError

EXPIRY_WARNING = timedelta(days=14)
FAIL_FREE_BYTES = 256 << 20
WARN_FREE_BYTES = 2 << 30
SERVICE_TIMEOUT_S = 5.0


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    what: str
    detail: str
    fix: str = ""


def _gib(n: float) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def check_data_dir(path: Path) -> list[Finding]:
    what = "data directory"
    if not path.exists():
        return [
            Finding(
                Status.FAIL,
                what,
                f"{path} does not exist",
                "point --data (or HOLDFIRE_DATA) at the right directory; a new one is made by "
                "the first `holdfire serve --data DIR` or `holdfire import --data DIR`",
            )
        ]
    if not path.is_dir():
        return [Finding(Status.FAIL, what, f"{path} is not a directory", "use a directory")]
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return [
            Finding(
                Status.FAIL,
                what,
                f"{path} is not writable: {exc.strerror or exc}",
                "give the user that runs holdfire write access (chown/chmod), or remount it "
                "read-write",
            )
        ]
    free = shutil.disk_usage(path).free
    if free < FAIL_FREE_BYTES:
        status, fix = Status.FAIL, "free space on its filesystem: writes will fail"
    elif free < WARN_FREE_BYTES:
        status, fix = Status.WARN, "free space on its filesystem soon"
    else:
        status, fix = Status.OK, ""
    return [Finding(status, what, f"{path}: writable, {_gib(free)} free", fix)]


async def check_store(data_dir: Path, db: str | None) -> list[Finding]:
    what = "store"
    if db is None and not (data_dir / DB_FILENAME).is_file():
        detail = f"no {DB_FILENAME} in {data_dir} yet"
        return [Finding(Status.WARN, what, detail, "the first `holdfire serve` or import makes it")]
    try:
        store = make_store(data_dir, db)
    except DbUrlError as exc:
        return [Finding(Status.FAIL, what, str(exc), "give --db as postgresql://...")]
    try:
        state = await asyncio.wait_for(store.schema_status(), SERVICE_TIMEOUT_S)
    except (StoreError, OSError, TimeoutError) as exc:
        detail = str(exc) or f"no answer within {SERVICE_TIMEOUT_S:.0f} s"
        fix = (
            "start PostgreSQL, or correct --db (host, port, database, user)"
            if db is not None
            else "see the message; restore the file from a backup if it is damaged"
        )
        return [Finding(Status.FAIL, what, detail, fix)]
    version = max((a.version for a in state.applied), default=0)
    if not state.applied:
        return [
            Finding(
                Status.WARN,
                what,
                f"{state.where}: reachable, holds no holdfire data yet",
                "the first `holdfire serve` (or `holdfire migrate`) creates the schema",
            )
        ]
    blocked = [m.label for m in state.pending if not m.safe_at_start]
    if blocked:
        return [
            Finding(
                Status.FAIL,
                what,
                f"{state.where}: schema version {version}, needs {', '.join(blocked)}",
                "stop every holdfire using it, back it up, then `holdfire migrate` with the "
                "same --data/--db",
            )
        ]
    if state.pending:
        labels = ", ".join(m.label for m in state.pending)
        return [
            Finding(
                Status.WARN,
                what,
                f"{state.where}: schema version {version}, {labels} pending",
                "nothing to do: the next start applies them (they are additive)",
            )
        ]
    return [Finding(Status.OK, what, f"{state.where}: schema version {version}, up to date")]


def _expiry(what: str, cert: x509.Certificate, now: datetime, fix: str) -> Finding:
    ends = cert.not_valid_after_utc
    left = ends - now
    if left <= timedelta(0):
        return Finding(Status.FAIL, what, f"ended {ends:%Y-%m-%d %H:%MZ}", fix)
    if left <= EXPIRY_WARNING:
        days = left.days
        return Finding(Status.WARN, what, f"ends {ends:%Y-%m-%d} (in {days} days)", fix)
    return Finding(Status.OK, what, f"valid until {ends:%Y-%m-%d}")


def check_certs(data_dir: Path, now: datetime) -> list[Finding]:
    store = CertStore(data_dir / "certs")
    if not store.ca_cert_path.exists() and not store.server_cert_path.exists():
        return [
            Finding(
                Status.WARN,
                "certificates",
                f"none in {store.directory} yet",
                "the first `holdfire serve` with TLS on makes the CA and the server "
                "certificate (or `holdfire certs init --name HOST`)",
            )
        ]
    found: list[Finding] = []
    certs: dict[str, x509.Certificate] = {}
    for what, path in (
        ("CA certificate", store.ca_cert_path),
        ("server certificate", store.server_cert_path),
    ):
        try:
            certs[what] = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError) as exc:
            found.append(
                Finding(
                    Status.FAIL,
                    what,
                    f"{path} unreadable: {exc}",
                    "restore it from a backup",
                )
            )
    if "CA certificate" in certs:
        found.append(
            _expiry(
                "CA certificate",
                certs["CA certificate"],
                now,
                "a new CA means a new certificate and data package for every device: plan it "
                "(move certs/ away, `holdfire certs init`, then `holdfire certs client` each)",
            )
        )
    if "server certificate" in certs:
        found.append(
            _expiry(
                "server certificate",
                certs["server certificate"],
                now,
                "move certs/server.pem and certs/server.key away and run `holdfire certs init "
                "--name HOST` (the CA is kept: devices go on trusting it), then restart serve",
            )
        )
    found += _device_certs(store, now)
    found.append(_crl(store, now))
    return found


def _device_certs(store: CertStore, now: datetime) -> list[Finding]:
    if not store.clients_dir.is_dir():
        return []
    found = []
    count = 0
    for path in sorted(store.clients_dir.glob("*.pem")):
        count += 1
        name = path.stem
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError) as exc:
            found.append(Finding(Status.WARN, f"device {name}", f"unreadable: {exc}"))
            continue
        finding = _expiry(
            f"device {name}",
            cert,
            now,
            f"`holdfire certs client {name} --uid UID --host HOST --replace`, then import the "
            "new data package on the device",
        )
        if finding.status is not Status.OK:
            found.append(Finding(Status.WARN, finding.what, finding.detail, finding.fix))
    if not found:
        found.append(
            Finding(Status.OK, "device certificates", f"{count}, none ending within 14 days")
        )
    return found


def _crl(store: CertStore, now: datetime) -> Finding:
    what = "revocation list"
    if not store.crl_path.exists():
        return Finding(Status.OK, what, "none (no device revoked yet)")
    try:
        revoked = store.revoked_serials()
    except CertStoreError as exc:
        return Finding(
            Status.FAIL,
            what,
            str(exc),
            "revoked devices may connect: restore crl.pem from a backup, or revoke them again "
            "with `holdfire certs revoke NAME`",
        )
    crl = x509.load_pem_x509_crl(store.crl_path.read_bytes())
    next_update = crl.next_update_utc
    if next_update is not None and next_update <= now + EXPIRY_WARNING:
        return Finding(
            Status.WARN,
            what,
            f"{len(revoked)} revoked, next update due {next_update:%Y-%m-%d}",
            "`holdfire certs revoke` of any device writes a fresh one",
        )
    return Finding(Status.OK, what, f"signed by this CA, {len(revoked)} revoked")


def parse_listen(text: str, flag: str) -> tuple[str, int] | None:
    """HOST:PORT, or `off` (None)."""
    if text.strip().lower() == "off":
        return None
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise typer.BadParameter(f"must be HOST:PORT or off, got {text!r}", param_hint=flag)
    return (host.strip("[]"), int(port))


def check_port(name: str, flag: str, address: tuple[str, int], kind: socket.SocketKind) -> Finding:
    host, port = address
    what = f"listener {name}"
    try:
        infos = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return Finding(Status.FAIL, what, f"{host}: {exc.strerror}", f"give {flag} a valid host")
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            sock.bind(sockaddr)
            if kind == socket.SOCK_STREAM:
                sock.listen()
        except OSError as exc:
            return Finding(
                Status.FAIL, what, f"{host}:{port}: {exc.strerror}", _bind_fix(exc, flag, port)
            )
    return Finding(Status.OK, what, f"{host}:{port} free")


def _bind_fix(exc: OSError, flag: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"something listens there (`ss -ltnup 'sport = :{port}'` names it): stop it, or "
            f"choose another address with {flag} HOST:PORT (if it is holdfire already serving "
            "this data directory, that is expected)"
        )
    if exc.errno == errno.EACCES:
        return f"ports below 1024 need privileges: choose a higher one with {flag}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"no interface of this host has that address: correct {flag}"
    return f"correct {flag}"


async def _service(what: str, probe: Callable[[], Awaitable[str]], fix: str) -> Finding:
    try:
        detail = await asyncio.wait_for(probe(), SERVICE_TIMEOUT_S)
    except TimeoutError:
        return Finding(Status.FAIL, what, f"no answer within {SERVICE_TIMEOUT_S:.0f} s", fix)
    except (OSError, NatsError, JetStreamError, aiomqtt.MqttError, ssl.SSLError) as exc:
        return Finding(Status.FAIL, what, f"{type(exc).__name__}: {exc}", fix)
    return Finding(Status.OK, what, detail)


async def check_nats(url: str) -> Finding:
    shown = without_password(url)

    errors: list[Exception] = []

    async def quietly(exc: Exception) -> None:  # nats-py would print each try's traceback
        errors.append(exc)

    async def probe() -> str:
        try:
            nc = await nats.connect(
                url,
                connect_timeout=2,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # one try of the first connect, not endless ones
                reconnect_time_wait=0.1,
                error_cb=quietly,
            )
        except NatsError as exc:
            raise errors[-1] if errors else exc from None
        try:
            info = await nc.jetstream(timeout=2.0).account_info()
        finally:
            await nc.close()
        return f"{shown}: JetStream on ({info.streams} streams)"

    fix = f"start nats-server with JetStream (`nats-server -js`) at {shown}, or correct --nats"
    return await _service("NATS", probe, fix)


async def check_mqtt(url: str) -> Finding:
    try:
        mqtt = parse_mqtt_url(url, [])
    except MqttConfigError as exc:
        return Finding(Status.FAIL, "MQTT broker", str(exc), "correct --mqtt")
    assert mqtt is not None  # "off" is not passed here

    async def probe() -> str:
        async with aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            username=mqtt.username,
            password=mqtt.password,
            tls_context=ssl.create_default_context() if mqtt.tls else None,
            timeout=SERVICE_TIMEOUT_S,
        ):
            return f"{mqtt.address}: connected"

    return await _service(
        "MQTT broker", probe, f"start the broker at {mqtt.address}, or correct --mqtt"
    )


async def examine(
    data_dir: Path,
    db: str | None,
    listeners: list[tuple[str, str, tuple[str, int], socket.SocketKind]],
    nats_url: str | None,
    mqtt_url: str | None,
    now: datetime,
) -> list[Finding]:
    """Every check, in the order printed."""
    found = check_data_dir(data_dir)
    if found[0].status is not Status.FAIL or db is not None:
        found += await check_store(data_dir, db)
    if data_dir.is_dir():
        found += check_certs(data_dir, now)
    found += [check_port(*listener) for listener in listeners]
    if nats_url is not None:
        found.append(await check_nats(nats_url))
    if mqtt_url is not None and mqtt_url.strip().lower() != "off":
        found.append(await check_mqtt(mqtt_url))
    return found


def print_findings(found: list[Finding]) -> None:
    width = max(len(f.what) for f in found)
    for finding in found:
        print(f"{finding.status.value:<5} {finding.what:<{width}}  {finding.detail}")
        if finding.fix and finding.status is not Status.OK:
            print(f"{'':<5} {'':<{width}}  fix: {finding.fix}")
    fails = sum(f.status is Status.FAIL for f in found)
    warns = sum(f.status is Status.WARN for f in found)
    print(f"doctor: {len(found)} checks, {fails} FAIL, {warns} WARN")


def doctor(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Data directory (env HOLDFIRE_DATA; default ./holdfire-data)."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", metavar="URL", help="PostgreSQL URL (env HOLDFIRE_DB; default: SQLite)."
        ),
    ] = None,
    nats_url: Annotated[
        str | None, typer.Option("--nats", metavar="URL", help="NATS server to reach.")
    ] = None,
    mqtt: Annotated[
        str | None, typer.Option(metavar="URL", help="MQTT broker to reach (mqtt://...).")
    ] = None,
    http: Annotated[
        str, typer.Option(metavar="HOST:PORT", help="HTTP listener to try, or off.")
    ] = ("127.0.0.1:8080"),
    cot_tcp: Annotated[
        str, typer.Option(metavar="HOST:PORT", help="CoT TCP listener to try, or off.")
    ] = ("127.0.0.1:8087"),
    cot_tls: Annotated[
        str, typer.Option(metavar="HOST:PORT", help="CoT TLS listener to try, or off.")
    ] = ("0.0.0.0:8089"),
    cot_udp: Annotated[
        str, typer.Option(metavar="HOST:PORT", help="CoT UDP input to try, or off.")
    ] = "off",
) -> None:
    """Check that this machine is ready to serve, and say what to fix.

    The data directory, the store and its migrations, the certificates, the ports serve would
    listen on and the backing services given. Exit 1 if any check fails."""
    config = settings(data, db=db)
    listeners = []
    for name, flag, text, kind in (
        ("http", "--http", http, socket.SOCK_STREAM),
        ("cot-tcp", "--cot-tcp", cot_tcp, socket.SOCK_STREAM),
        ("cot-tls", "--cot-tls", cot_tls, socket.SOCK_STREAM),
        ("cot-udp", "--cot-udp", cot_udp, socket.SOCK_DGRAM),
    ):
        address = parse_listen(text, flag)
        if address is not None:
            listeners.append((name, flag, address, kind))
    found = asyncio.run(
        examine(config.data_dir, config.db, listeners, nats_url, mqtt, datetime.now(UTC))
    )
    print_findings(found)
    raise typer.Exit(1 if any(f.status is Status.FAIL for f in found) else 0)

"""Onboarding on the command line: the QR code `holdfire certs client` prints, `holdfire certs
list` (every certificate, and which ones expire soon), and what `holdfire serve` says about
connecting phones on the local network."""

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from holdfire.adapters.certs import CertStore, CertStoreError
from holdfire.adapters.onboarding import EXPIRY_WARNING, expiry_message, inventory, offer_package
from holdfire.bootstrap import Running
from holdfire.config import settings

_ALL_INTERFACES = ("0.0.0.0", "::", "")


def print_offer(store: CertStore, name: str, base_url: str, *, for_itak: bool) -> None:
    """Make a one-time link to `name`'s package and print its QR code and where it is."""
    offer = offer_package(store, name, base_url, now=datetime.now(UTC), for_itak=for_itak)
    print(offer.terminal(), end="")
    how = "the phone's camera, then open the zip in iTAK" if for_itak else "ATAK (Import, QR)"
    print(f"scan with {how}; QR code also in {offer.png_path}")
    print(f"link: {offer.url}")
    print(
        f"the link works once, until {offer.expires_at:%H:%M} UTC, while the server's HTTP "
        "listener is reachable from the phone (holdfire serve --http 0.0.0.0:8080)"
    )


def certs_list(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Data directory (env HOLDFIRE_DATA; default ./holdfire-data)."),
    ] = None,
) -> None:
    """Every certificate of the store: the CA, the server's and each client's, with its expiry;
    exit 1 if one expires within 14 days (or has expired), so a cron job can tell."""
    store = CertStore(settings(data).data_dir / "certs")
    try:
        found = inventory(store)
    except CertStoreError as exc:
        typer.echo(f"holdfire: {exc}", err=True)
        raise typer.Exit(2) from None
    now = datetime.now(UTC)
    rows = [("KIND", "NAME", "UID", "SERIAL", "NOT AFTER", "DAYS", "STATE")]
    for c in found:
        rows.append(
            (
                c.kind,
                c.name,
                c.uid or "-",
                f"{c.serial:x}",
                f"{c.not_after:%Y-%m-%d}",
                str(c.days_left(now)),
                c.state(now),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    soon = [c for c in found if c.state(now) in ("expires soon", "expired")]
    for c in soon:
        typer.echo(f"warning: {expiry_message(c, now)}")
    if soon:
        raise typer.Exit(1)
    typer.echo(f"none expires within {EXPIRY_WARNING.days} days")


def lan_address() -> str | None:
    """This machine's address on its default route, as a phone on the same network sees it
    (a UDP socket's connect sends nothing); None without a route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def phone_hint(running: Running) -> list[str]:
    """How a phone on the local network connects, and what opening a listener means."""
    tls = running.bound.get("tls")
    if tls is None:
        return []
    here = lan_address() or "THIS-HOST"
    lines = ["  phones on the local network:"]
    if tls[0] in _ALL_INTERFACES:
        lines.append(
            f"    TLS CoT listens on every interface (port {tls[1]}): only devices with a "
            "certificate from this server's CA get in"
        )
    else:
        lines.append(
            f"    TLS CoT listens on {tls[0]} only: --cot-tls 0.0.0.0:{tls[1]} opens it to the "
            "network (only devices with a certificate from this server's CA get in)"
        )
    lines.append(
        f"    a device's package and QR code: holdfire certs client NAME --uid UID --host {here} "
        f"--port {tls[1]}"
    )
    http = running.bound.get("http")
    if http is not None and http[0] not in _ALL_INTERFACES:
        lines.append(
            f"    scanning the QR code needs --http 0.0.0.0:{http[1]}: the API, the web map and "
            "the one-time package links then answer anyone on the network, over plain HTTP "
            "(every route but /health, the tiles and those links still needs a token); do that "
            "on a network you trust"
        )
    tcp = running.bound.get("tcp")
    if tcp is not None and tcp[0] not in _ALL_INTERFACES:
        lines.append(
            f"    --cot-tcp 0.0.0.0:{tcp[1]} would take plain CoT from anyone on the network: "
            "never authenticated, its positions never count as a unit's own"
        )
    return lines

"""`holdfire clients`: who is connected to a running server, and disconnecting one.

It asks the server's API (`GET /api/v1/clients`, `DELETE /api/v1/clients/{id}`, admin), so it
works from any machine that reaches the API. Without `--token` (or HOLDFIRE_TOKEN) it reads the
admin token the server wrote into its data directory, which is what one wants on the server's
own machine. Exit codes: 0 done, 1 the server refused or cannot be reached, 2 a usage error.
"""

import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from holdfire.config import settings

DEFAULT_URL = "http://127.0.0.1:8080"
COLUMNS = (
    ("ID", "id"),
    ("PROTOCOL", "protocol"),
    ("ADDRESS", "address"),
    ("UID", "uid"),
    ("CALLSIGN", "callsign"),
    ("IDENTITY", "identity"),
    ("SINCE", "since"),
    ("IN", "messages_in"),
    ("OUT", "messages_out"),
    ("QUEUE", "queue"),
)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"holdfire: {message}", err=True)
    return typer.Exit(code)


def _secret(token: str | None, data: Path | None) -> str:
    secret = token or os.environ.get("HOLDFIRE_TOKEN")
    if secret:
        return secret
    path = settings(data).data_dir / "admin.token"
    try:
        return path.read_text().strip()
    except OSError:
        raise _fail(
            f"no token: pass --token T, set HOLDFIRE_TOKEN, or run where {path} is readable",
            2,
        ) from None


def _identity(item: dict[str, Any]) -> str | None:
    tls = item.get("tls")
    if tls:
        return f"cert {tls['name']} (serial {tls['serial']}, until {tls['not_after'][:10]})"
    identity = item.get("identity")
    return str(identity) if identity is not None else None


def table(items: list[dict[str, Any]]) -> str:
    """The connections as aligned columns, one per line (`-` where a field is empty)."""
    rows = [[title for title, _ in COLUMNS]]
    for item in items:
        shown = {**item, "identity": _identity(item)}
        rows.append(["-" if shown[key] is None else str(shown[key]) for _, key in COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def clients(
    url: Annotated[
        str | None,
        typer.Option(help=f"The server's base URL (env HOLDFIRE_URL; default {DEFAULT_URL})."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(help="An admin token (env HOLDFIRE_TOKEN; default DATA/admin.token)."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Data directory whose admin.token to use (env HOLDFIRE_DATA)."),
    ] = None,
    disconnect: Annotated[
        str | None, typer.Option(metavar="ID", help="Disconnect the client with this id.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List every live TAK, WebSocket and MQTT connection of a running server (uid, callsign,
    address, protocol, TLS identity, since, messages in/out, queue), or disconnect one."""
    base = (url or os.environ.get("HOLDFIRE_URL") or DEFAULT_URL).rstrip("/")
    headers = {"Authorization": f"Bearer {_secret(token, data)}"}
    try:
        with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=10.0) as http:
            if disconnect is not None:
                answer = http.delete(f"/clients/{disconnect}")
            else:
                answer = http.get("/clients")
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {base}: {exc}", 1) from None
    if answer.status_code >= 400:
        try:
            reason = answer.json()["error"]
        except (ValueError, KeyError, TypeError):
            reason = answer.text[:200]
        raise _fail(f"{base} answered {answer.status_code}: {reason}", 1)
    if disconnect is not None:
        typer.echo(f"{disconnect} disconnected")
        return
    items = answer.json()["items"]
    if as_json:
        typer.echo(answer.text)
        return
    typer.echo(table(items))
    typer.echo(f"{len(items)} connected")

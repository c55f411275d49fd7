"""Revocation: how long a revoked device's open connections last after the revocation.

One in-process server (CoT TLS and HTTP on loopback, default settings: the CRL is looked at every
0.5 s, a stream's token every 0.5 s). For each of `--rounds` rounds, `--devices` TLS clients
connect with certificates of their own and one of them is revoked (`CertStore.revoke`, what
`holdfire certs revoke` runs); the time is taken from the moment the new CRL is on disk to the
moment the revoked client reads the end of its connection. Likewise a WebSocket stream of a
token revoked through the store (what `holdfire token revoke` does), from the revocation to the
close frame. The other clients must still be connected at the end (`others_cut` counts those
that were not).

Prints one JSON line: `cot_cut_p50_ms`, `cot_cut_max_ms`, `stream_close_p50_ms`,
`stream_close_max_ms`, `rounds`, `others_cut`, and the target (2,000 ms) and whether it was met.

    .venv/bin/python bench/revocation.py                 # 10 rounds, 5 devices
    .venv/bin/python bench/revocation.py --rounds 3      # a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from holdfire.adapters.auth import create_token, revoke_token
from holdfire.bootstrap import Listeners, Running, start_server
from holdfire.config import Settings
from holdfire.domain.access import Role

TARGET_MS = 2000.0
TIMEOUT = 10.0


Link = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_device(running: Running, name: str) -> Link:
    certs = running.certs
    assert certs is not None
    bundle = certs.client(name, f"uid-{name}", now=datetime.now(UTC), host="127.0.0.1")
    context = certs.client_ssl_context(bundle.p12_path, bundle.password)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", running.bound["tls"][1], ssl=context, server_hostname="127.0.0.1"
    )
    async with asyncio.timeout(TIMEOUT):
        seen = b""
        while b'uid="HOLDFIRE"' not in seen:
            seen += await reader.read(65536)
    return reader, writer  # the writer is kept: a dropped one closes its connection


async def until_eof(reader: asyncio.StreamReader) -> None:
    async with asyncio.timeout(TIMEOUT):
        while True:
            try:
                if not await reader.read(65536):
                    return
            except (ConnectionError, ssl.SSLError):
                return


async def cot_round(running: Running, n: int, devices: int, links: list[Link]) -> float:
    links += [await open_device(running, f"r{n}-d{i}") for i in range(devices)]
    certs = running.certs
    assert certs is not None
    certs.revoke(f"r{n}-d0", now=datetime.now(UTC))
    start = time.perf_counter()
    await until_eof(links[-devices][0])
    return (time.perf_counter() - start) * 1000


async def stream_round(running: Running, n: int) -> float:
    store = running.service.store
    made = await create_token(
        store, f"stream-{n}", Role.OBSERVER, by="bench", now=datetime.now(UTC)
    )
    host, port = running.bound["http"]
    async with connect(
        f"ws://{host}:{port}/api/v1/stream?token={made.secret}", open_timeout=TIMEOUT
    ) as ws:
        await ws.ping()
        await revoke_token(store, made.token.id, by="bench", now=datetime.now(UTC))
        start = time.perf_counter()
        async with asyncio.timeout(TIMEOUT):
            try:
                while True:
                    await ws.recv()
            except ConnectionClosed:
                pass
    return (time.perf_counter() - start) * 1000


async def run(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        running = await start_server(
            Settings(Path(scratch) / "data"),
            Listeners(http=("127.0.0.1", 0), cot_tcp=None, cot_tls=("127.0.0.1", 0)),
        )
        try:
            links: list[Link] = []
            cot = [await cot_round(running, n, args.devices, links) for n in range(args.rounds)]
            streams = [await stream_round(running, n) for n in range(args.rounds)]
            await asyncio.sleep(1.0)  # long enough for a wrong cut to happen
            connected = {c.peer.identity.name for c in running.cot.clients if c.peer.identity}
            expected = {f"r{n}-d{i}" for n in range(args.rounds) for i in range(1, args.devices)}
            others_cut = len(expected - connected)
            for _, writer in links:
                writer.close()
        finally:
            await running.close()
    worst = max(max(cot), max(streams))
    return {
        "bench": "revocation",
        "rounds": args.rounds,
        "devices": args.devices,
        "cot_cut_p50_ms": round(statistics.median(cot), 1),
        "cot_cut_max_ms": round(max(cot), 1),
        "stream_close_p50_ms": round(statistics.median(streams), 1),
        "stream_close_max_ms": round(max(streams), 1),
        "others_cut": others_cut,
        "target_ms": TARGET_MS,
        "met": worst <= TARGET_MS and others_cut == 0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--devices", type=int, default=5, help="TLS clients per round")
    args = ap.parse_args(argv)
    result = asyncio.run(run(args))
    print(json.dumps(result, separators=(",", ":")))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())

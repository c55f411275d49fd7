"""Clusters for the tests: holdfire nodes as separate `holdfire serve` processes on loopback
ports, sharing a fresh PostgreSQL database and a NATS JetStream server.

The shared services are the real servers of this machine: PostgreSQL on 127.0.0.1:5432 (each test
gets a database of its own, dropped afterwards) and NATS (a cluster name of its own, so its
streams are apart). A test that stops a server starts a private one from the same binaries
(`PrivateNats`, `PrivatePostgres`), so the machine's servers stay up for everyone else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from support.process import free_port, holdfire

PG_ADMIN = os.environ.get("HOLDFIRE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("HOLDFIRE_TEST_NATS", "nats://127.0.0.1:4222")
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
PG_BIN = Path(
    subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    or "/usr/lib/postgresql/15/bin"
)


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + f"/{name}"


@contextlib.contextmanager
def fresh_database(admin_url: str = PG_ADMIN) -> Iterator[str]:
    """A new, empty database on the server of `admin_url`; its URL; dropped afterwards."""
    name = f"holdfire_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_until(what: str, test: Callable[[], Any], deadline_s: float = 15.0) -> Any:
    """Poll `test` until it returns something truthy; its value. Exceptions count as not yet."""
    end = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < end:
        try:
            value = test()
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Node:
    """One `holdfire serve` process of a cluster."""

    name: str
    data: Path
    args: list[str]
    http_port: int
    cot_port: int
    log: Path
    token: str = ""
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # the process's environment (default: this one's)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [*holdfire(), "serve", *self.args], stdout=out, stderr=subprocess.STDOUT, env=self.env
        )
        out.close()

    def leave_cluster(self) -> None:
        """Start next time as a node of its own (no --nats, --node, --cluster)."""
        args = self.args
        for flag in ("--nats", "--node", "--cluster"):
            if flag in args:
                i = args.index(flag)
                args = args[:i] + args[i + 2 :]
        self.args = args

    def kill(self) -> None:
        """kill -9: no chance to flush or say goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Reply:
        request = urllib.request.Request(
            f"{self.base}/api/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {token or self.token}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return Reply(response.status, json.loads(raw) if raw else None, {})
        except urllib.error.HTTPError as error:
            raw = error.read()
            return Reply(error.code, json.loads(raw) if raw else None, dict(error.headers))

    def api(self, method: str, path: str, body: Any = None) -> Any:
        reply = self.call(method, path, body)
        if reply.status >= 300:
            raise AssertionError(f"{self.name}: {method} {path} -> {reply.status} {reply.body}")
        return reply.body

    def ready(self) -> bool:
        if not self.alive():
            raise AssertionError(f"node {self.name} exited: {self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.base}/api/v1/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, deadline_s: float = 30.0) -> None:
        wait_until(f"node {self.name} ready", self.ready, deadline_s)

    def tracks(self) -> dict[str, tuple[float, float, str]]:
        """uid -> (lat, lon, observed_at) of every track this node's picture holds."""
        features = self.api("GET", "/tracks")["features"]
        return {
            f["id"]: (
                round(f["geometry"]["coordinates"][1], 7),
                round(f["geometry"]["coordinates"][0], 7),
                f["properties"]["observed_at"],
            )
            for f in features
        }


@dataclass
class Cluster:
    """Nodes on one database and one NATS server, named apart from every other test's."""

    root: Path
    db: str
    nats: str
    name: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    nodes: dict[str, Node] = field(default_factory=dict)

    def add(self, name: str, *extra: str) -> Node:
        http_port, cot_port = free_port(), free_port()
        data = self.root / name
        args = [
            "--data",
            str(data),
            "--db",
            self.db,
            "--http",
            f"127.0.0.1:{http_port}",
            "--cot-tcp",
            f"127.0.0.1:{cot_port}",
            "--cot-tls",
            "off",
            "--nats",
            self.nats,
            "--node",
            name,
            "--cluster",
            self.name,
            *extra,
        ]
        node = Node(name, data, args, http_port, cot_port, self.root / f"{name}.log")
        self.nodes[name] = node
        return node

    def start(self, *names: str) -> list[Node]:
        """Start nodes one after the other (the first creates the admin token all share)."""
        started = []
        for name in names:
            node = self.nodes.get(name) or self.add(name)
            node.start()
            node.wait_ready()
            started.append(node)
        token_file = next(
            (
                n.data / "admin.token"
                for n in self.nodes.values()
                if (n.data / "admin.token").exists()
            ),
            None,
        )
        assert token_file is not None, "no node wrote the admin token"
        token = token_file.read_text().strip()
        for node in self.nodes.values():
            node.token = token
        return started

    def close(self) -> None:
        for node in self.nodes.values():
            node.stop()


class PrivateNats:
    """A nats-server of our own (JetStream on a file store), to stop and start at will."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.store = root / "nats-store"
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until("nats-server listening", self._listening, 10)

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary directory, to stop and start at will.

    initdb refuses to run as root, so as root the cluster belongs to the `postgres` user, in a
    directory of its own that it can reach (not under pytest's private temporary folder)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="holdfire-pg-"))
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as = ["su", "postgres", "-c"] if os.geteuid() == 0 else ["sh", "-c"]

    def _run(self, command: str) -> None:
        subprocess.run([*self._as, command], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._run(f"{PG_BIN}/initdb -D {self.dir}/data -A trust -U postgres --no-sync")

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir}"
        self._run(f"{PG_BIN}/pg_ctl -D {self.dir}/data -l {self.dir}/log -o '{options}' -w start")

    def stop(self) -> None:
        self._run(f"{PG_BIN}/pg_ctl -D {self.dir}/data -m fast -w stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

"""`holdfire serve` as a service: configured from a file and the environment, stopped with
SIGTERM while clients are connected (it exits 0, every write it acknowledged is stored, and
what was queued for a TAK client reaches it before the connection closes), and alone on its
data directory.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
from pathlib import Path

import pytest

from holdfire.adapters.data_lock import DataDirInUse
from holdfire.bootstrap import Listeners, start_server
from holdfire.config import Settings
from support.cluster import Node, wait_until
from support.process import free_port
from support.stores import Backend
from support.tak import sa

pytestmark = pytest.mark.integration

RECEIVER = "drain-receiver"
PADDING = "x" * 1500  # enough messages of this size back the receiver's socket up


def post(conn: http.client.HTTPConnection, token: str, path: str, body: object) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request("POST", f"/api/v1{path}", json.dumps(body), headers)
    response = conn.getresponse()
    response.read()
    return response.status


def test_sigterm_drains_queues_and_exits_0(tmp_path: Path) -> None:
    http_port, cot_port = free_port(), free_port()
    data = tmp_path / "data"
    config = tmp_path / "holdfire.toml"
    config.write_text(
        f'data = "{data}"\nhttp = "127.0.0.1:{http_port}"\ncot-tls = "off"\n'
        'cot-tcp = "127.0.0.1:1"\n',  # the environment's value wins over this one
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLDFIRE_")}
    env["HOLDFIRE_COT_TCP"] = f"127.0.0.1:{cot_port}"
    node = Node(
        "svc", data, ["--config", str(config)], http_port, cot_port, tmp_path / "log", env=env
    )
    node.start()
    try:
        node.wait_ready()
        node.token = (data / "admin.token").read_text().strip()

        # A TAK client that does not read yet, with a small receive window.
        receiver = socket.socket()
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        receiver.connect(("127.0.0.1", cot_port))
        receiver.sendall(sa(RECEIVER, "RECEIVER"))
        wait_until("the receiver is on the picture", lambda: RECEIVER in node.tracks())

        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        sent = []
        for i in range(100):
            body = {"to": RECEIVER, "code": "MOUNT_NOW", "attachment": f"drain-{i:04d}-{PADDING}"}
            assert post(conn, node.token, "/messages", body) == 201
            sent.append(f"drain-{i:04d}-")
        conn.close()

        # Clients writing reports while the signal comes.
        acked: list[str] = []
        failures: list[BaseException] = []

        def write(who: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
            n = 0
            try:
                while True:
                    n += 1
                    uid = f"term-{who}-{n}"
                    body = {"uid": uid, "lat": 50.0, "lon": 30.0 + n * 1e-4, "ce_m": 5}
                    if post(conn, node.token, "/reports", body) == 202:
                        acked.append(uid)
            except (OSError, http.client.HTTPException) as exc:
                failures.append(exc)  # the server went away: the writer ends

        writers = [threading.Thread(target=write, args=(i,)) for i in range(2)]
        for writer in writers:
            writer.start()
        wait_until("reports being acknowledged", lambda: len(acked) > 50)
        assert node.process is not None
        node.process.send_signal(signal.SIGTERM)

        received = bytearray()
        receiver.settimeout(30)
        while chunk := receiver.recv(1 << 16):
            received += chunk
        receiver.close()
        assert node.process.wait(60) == 0, node.log.read_text()[-3000:]
        for writer in writers:
            writer.join(15)
    finally:
        node.stop()

    text = received.decode("utf-8", "replace")
    missing = [marker for marker in sent if marker not in text]
    assert not missing, f"{len(missing)} queued messages never reached the client"
    stored = {uid for (uid,) in Backend("sqlite", data, None).rows("SELECT uid FROM positions")}
    assert acked and set(acked) <= stored


async def test_a_second_server_on_a_data_directory_is_refused(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "data")
    listeners = Listeners(cot_tcp=("127.0.0.1", 0), cot_tls=None)
    first = await start_server(settings, listeners)
    try:
        with pytest.raises(DataDirInUse, match="in use by another holdfire process"):
            await start_server(settings, listeners)
    finally:
        await first.close()
    again = await start_server(settings, listeners)  # closing released it
    await again.close()

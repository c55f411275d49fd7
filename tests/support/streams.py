"""WebSocket stream helpers for the tests."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed


async def closing(ws: ClientConnection, timeout: float = 5.0) -> ConnectionClosed:
    """Read until the server closes the socket; the close it sent."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                await ws.recv()
            except ConnectionClosed as closed:
                return closed

"""A hard limit on request bodies, enforced while they arrive (Content-Length or chunked).

A declared length over the limit is refused before the app runs. A chunked body is counted as
it is read: past the limit, `receive` raises `BodyTooLarge`, an HTTP exception, because FastAPI
lets those through its own body parsing (any other exception there becomes a 400) and the
app's handler then answers 413 like the early refusal.
"""

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large_message(max_bytes: int) -> str:
    return f"body: larger than the limit of {max_bytes} bytes"


class BodyTooLarge(HTTPException):
    """Past the limit while reading. No `Connection: close`: the client may still be sending,
    and closing then would reset the connection before it reads the 413; uvicorn reads the
    rest of the body and discards it."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, too_large_message(max_bytes))


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, send: Send) -> None:
        await send_error(
            send, 413, too_large_message(self.max_bytes), "body", [(b"connection", b"close")]
        )


async def send_error(
    send: Send,
    status: int,
    message: str,
    field: str | None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An answer in the API's error shape, from middleware that refuses before the app runs."""
    payload = json.dumps({"error": message, "field": field}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

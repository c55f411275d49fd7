"""`GET /metrics` (Prometheus text format) and the middleware that times and counts requests.

Who may scrape: the scrape token (`DATA/metrics.token`, which opens nothing else: a Prometheus
server is given it as its bearer token, `authorization: {credentials_file: ...}`), or an admin
token. Without a token, or with one unknown: 401; any other role: 403. Prometheus scrapers can
send a bearer token, so nothing about the server (queue depths, units stale, refusals) is open
to whoever reaches the port.
"""

import time

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from holdfire.adapters.metrics import Metrics
from holdfire.api.auth import Ctx, authenticated, bearer_secret, permitted
from holdfire.api.errors import ApiError, unauthorized
from holdfire.api.responses import error_doc
from holdfire.api.routes_checks import CHECKS_PATH
from holdfire.domain.access import Action

router = APIRouter()


@router.get(
    "/metrics",
    summary="Prometheus metrics (the scrape token or an admin token)",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text format, version 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        403: error_doc("A token that is neither the scrape token nor an admin's"),
    },
)
async def metrics(request: Request, ctx: Ctx) -> Response:
    """Counters, histograms and gauges of this server (see the README's Operations section)."""
    served = ctx.metrics
    if served is None:
        raise ApiError(404, "metrics are not served here")
    header = request.headers.get("authorization")
    secret = bearer_secret(header)
    if secret is None:
        raise unauthorized(
            "missing bearer token (the scrape token in DATA/metrics.token, or an admin token)"
        )
    if not served.scrape_token.matches(secret):
        token = await authenticated(ctx, header)
        await permitted(ctx, token, Action.METRICS, "read the metrics")
    # The classic text format (every name is a legacy one): Prometheus 2 and 3 both read it.
    return Response(await served.scrape(), media_type=CONTENT_TYPE_PLAIN_0_0_4)


# What a refusal means, by status (`other` for any 4xx not named here).
REFUSALS = {
    400: "bad-request",
    401: "unauthorized",  # no token, or one unknown, revoked or expired
    403: "forbidden",  # the token's role may not
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    422: "invalid",  # bad input, naming the field
    429: "rate-limited",
}


class RequestMetrics:
    """Counts every 4xx answer by status and times each check `POST /api/v1/checks` answered
    (200), from its first byte in to its last byte out (a plain ASGI middleware: no body is
    buffered)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        answered = False

        async def sending(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                status = int(message["status"])
                answered = status == 200
                if 400 <= status < 500:
                    metrics.refusal(status, REFUSALS.get(status, "other"))
            await send(message)

        if scope["method"] != "POST" or scope["path"] != CHECKS_PATH:
            await self.app(scope, receive, sending)
            return
        started = time.perf_counter()
        await self.app(scope, receive, sending)
        if answered:  # a check answered (refusals are counted, not timed)
            metrics.http_check_seconds.observe(time.perf_counter() - started)

"""The web map at `/`: the static files `web/build.mjs` builds into the package's `ui` folder.

The page is a client of the public API and the stream, nothing more, and works with no
internet: every script, style, symbol and basemap it loads comes from this origin. The Content
Security Policy says so to the browser too, so a stray reference to another origin fails loudly
instead of leaking the picture's whereabouts. Static files need no token (they hold no picture);
everything the page shows comes through the API with the token the user signs in with.
"""

from importlib.resources import files
from pathlib import Path

from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate: a rebuilt UI is picked up at the next load
}


def ui_directory() -> Path:
    return Path(str(files("holdfire"))) / "ui"


class UiFiles(StaticFiles):
    """The built UI with its security headers; a clear 503 when it has not been built."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.built = (directory / "index.html").is_file()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.built:
            text = "The web map is not built. `make run` builds it (or `make web`)."
            await PlainTextResponse(text, 503)(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response

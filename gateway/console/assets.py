"""Serving the console's files: read once into memory, looked up by name (no path ever reaches
the file system), sent with a strict Content-Security-Policy.

The page is ``GET /console``; its files are ``GET /console/static/<path>``. They are the
gateway's own small files, not versioned by name, so browsers revalidate them with their ETag.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STATIC_DIR = Path(__file__).parent / "static"
PAGE_ROUTE = "/console"
STATIC_ROUTE = "/console/static/{path:path}"
PAGE = "index.html"

# No inline script or style at all: every rule is in console.css, every script a module file.
# connect-src 'self' is the GraphQL endpoint and its live-updates WebSocket: in CSP Level 3
# 'self' also matches ws:/wss: of the page's own host and port (Chromium does; the browser
# test connects with this policy and records no violation).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
PLAIN_TEXT = "text/plain; charset=utf-8"
_GZIP_MIN_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    body: bytes
    media_type: str
    etag: str


@cache
def assets() -> dict[str, Asset]:
    """Every servable file of ``static/`` by its relative path (``js/main.js``)."""
    found = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.suffix in MEDIA_TYPES:
            name = str(PurePosixPath(path.relative_to(STATIC_DIR).as_posix()))
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            found[name] = Asset(name, body, MEDIA_TYPES[path.suffix], etag)
    return found


@cache
def _gzipped(name: str) -> bytes:
    return gzip.compress(assets()[name].body, compresslevel=6, mtime=0)


def _respond(request: Request, asset: Asset) -> Response:
    headers = {
        **SECURITY_HEADERS,
        "Cache-Control": "no-cache",
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = asset.body
    if len(body) >= _GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", ""):
        body = _gzipped(asset.name)
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        body = b""
    return Response(body, media_type=asset.media_type, headers=headers)


async def page(request: Request) -> Response:
    """``GET /console``: the single page; the screen is named in the URL's fragment."""
    return _respond(request, assets()[PAGE])


async def asset(request: Request) -> Response:
    """``GET /console/static/{path}``: a file of the folder, or 404."""
    found = assets().get(request.path_params["path"])
    if found is None:
        return Response("Not found", 404, media_type=PLAIN_TEXT, headers=SECURITY_HEADERS)
    return _respond(request, found)


def routes() -> list[Route]:
    return [
        Route(PAGE_ROUTE, page, methods=["GET", "HEAD"]),
        Route(STATIC_ROUTE, asset, methods=["GET", "HEAD"]),
    ]

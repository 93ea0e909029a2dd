"""GraphiQL served by the gateway itself, so it works offline and behind firewalls.

The page (``static/graphiql/index.html``) loads React, GraphiQL, the explorer plugin and the
graphql-ws client from ``/graphql/static/``, pinned copies of the npm packages shipped in the
wheel (versions, sha384 and licences in ``static/graphiql/README.md``), each with an
``integrity`` attribute. The page has no inline script, so its Content-Security-Policy allows
scripts from 'self' only. Queries and mutations go over HTTP, subscriptions over a
``graphql-transport-ws`` WebSocket on ``/graphql`` (``static/graphiql/gateway-graphiql.js``).

Files are read once into memory: the asset route answers only for files in that folder (a
dictionary lookup, so no path ever reaches the file system), with an ETag, and gzipped (once,
on first use) for clients that accept it: GraphiQL's 1.4 MB of script and CSS become 0.6 MB.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from starlette.requests import Request
from starlette.responses import Response

STATIC_DIR = Path(__file__).parent / "static" / "graphiql"
STATIC_ROUTE = "/graphql/static/{path:path}"
PAGE = "index.html"

# Styles need 'unsafe-inline': GraphiQL's dialogs (settings, short keys) add <style> elements
# whose text varies, so no hash fits (tests/test_graphiql_offline.py opens one and fails on any
# violation). Its CSS embeds fonts and icons as data: URLs. Scripts and fetches: 'self' only;
# 'self' in connect-src also matches the page's own origin as ws:/wss: (CSP Level 3), so
# subscriptions need no other source there (tests/test_graphiql_offline.py checks it in Chromium).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
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
# Vendored packages live in folders named with their version, so a file's bytes never change
# under its URL; the gateway's own page files are small and revalidated with their ETag.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}
PLAIN_TEXT = "text/plain; charset=utf-8"  # LICENSE files
_GZIP_MIN_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    body: bytes
    media_type: str
    cache_control: str
    etag: str
    integrity: str  # sha384-…, as in the page's integrity attributes


def _asset(path: Path, relative: PurePosixPath) -> Asset:
    body = path.read_bytes()
    digest = hashlib.sha384(body).digest()
    media_type = MEDIA_TYPES.get(path.suffix, PLAIN_TEXT)
    return Asset(
        name=str(relative),
        body=body,
        media_type=media_type,
        cache_control=IMMUTABLE if len(relative.parts) > 1 else REVALIDATE,
        etag='"' + digest[:16].hex() + '"',
        integrity="sha384-" + base64.b64encode(digest).decode(),
    )


@cache
def assets() -> dict[str, Asset]:
    """Every file of the folder by its path relative to it (``graphiql-3.9.0/graphiql.min.js``)."""
    found = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file() and not path.is_symlink():
            relative = PurePosixPath(path.relative_to(STATIC_DIR).as_posix())
            found[str(relative)] = _asset(path, relative)
    return found


@cache
def _gzipped(name: str) -> bytes:
    return gzip.compress(assets()[name].body, compresslevel=6, mtime=0)


def _respond(request: Request, asset: Asset, status: int = 200) -> Response:
    headers = {
        **SECURITY_HEADERS,
        "Cache-Control": asset.cache_control,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = asset.body
    compressible = len(body) >= _GZIP_MIN_BYTES and asset.media_type != PLAIN_TEXT
    if compressible and "gzip" in request.headers.get("accept-encoding", ""):
        body = _gzipped(asset.name)
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        body = b""
    return Response(body, status_code=status, media_type=asset.media_type, headers=headers)


def page(request: Request) -> Response:
    """The GraphiQL page (``GET /graphql`` from a browser)."""
    return _respond(request, assets()[PAGE])


async def asset(request: Request) -> Response:
    """``GET /graphql/static/{path}``: a file of the folder, or 404."""
    found = assets().get(request.path_params["path"])
    if found is None:
        return Response(
            "Not found", status_code=404, media_type=PLAIN_TEXT, headers=SECURITY_HEADERS
        )
    return _respond(request, found)

"""The GraphiQL page and its assets, through the ASGI app: every script and stylesheet is local
with an integrity that matches the served bytes, the asset route serves only the folder's
files with their content types, the page sends its security headers, and
``GATEWAY_GRAPHIQL=false`` turns page and assets off."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from gateway.app import create_app
from gateway.config import Settings
from gateway.http.graphiql import STATIC_DIR

BASE = "http://gateway.test"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _sha384(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


class _Page(HTMLParser):
    """The page's script and stylesheet references, and the text of any inline script."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[dict[str, str | None]] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self._in_script = "src" not in attributes
            if not self._in_script:
                self.refs.append({"kind": "script", "url": attributes["src"], **attributes})
        elif tag == "link" and attributes.get("rel") == "stylesheet":
            self.refs.append({"kind": "style", "url": attributes["href"], **attributes})

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def _client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)), base_url=BASE)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The page and its assets never touch the database: no migration needed.
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")


@pytest.fixture
async def browser(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(settings) as http:
        yield http


async def _page(browser: httpx.AsyncClient) -> httpx.Response:
    response = await browser.get("/graphql", headers={"Accept": BROWSER})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return response


async def test_page_loads_only_local_assets_whose_integrity_matches(
    browser: httpx.AsyncClient,
) -> None:
    # Given the page a browser gets on GET /graphql
    page = _Page()
    page.feed((await _page(browser)).text)

    # Then it has no inline script, and every script and stylesheet is local with integrity
    assert page.inline_scripts == []
    scripts = [ref for ref in page.refs if ref["kind"] == "script"]
    styles = [ref for ref in page.refs if ref["kind"] == "style"]
    # react, react-dom, graphiql, graphql-ws, explorer, the bootstrap
    assert len(scripts) == 6, scripts
    assert len(styles) == 3, styles
    for ref in page.refs:
        url = str(ref["url"])
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), url
        assert not url.startswith("/"), f"{url}: relative, so a path prefix in front still works"
        resolved = urljoin(f"{BASE}/graphql", url)
        assert resolved.startswith(f"{BASE}/graphql/static/"), resolved
        assert "crossorigin" in ref, ref
        integrity = str(ref.get("integrity"))
        assert integrity.startswith("sha384-"), ref

        # When the browser fetches it, the bytes are the ones the integrity names
        asset = await browser.get(resolved)
        assert asset.status_code == 200, resolved
        assert _sha384(asset.content) == integrity, f"{url}: integrity does not match"


async def test_page_sends_security_headers(browser: httpx.AsyncClient) -> None:
    response = await _page(browser)
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers["content-security-policy"].split(";")
        if directive.strip()
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert all("http" not in source for sources in policy.values() for source in sources)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    # The page names the current assets' integrity: revalidated, never cached blindly.
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("graphiql-3.9.0/graphiql.min.js", "text/javascript; charset=utf-8"),
        ("graphiql-3.9.0/graphiql.min.css", "text/css; charset=utf-8"),
        ("react-18.2.0/react.production.min.js", "text/javascript; charset=utf-8"),
        ("react-18.2.0/LICENSE", "text/plain; charset=utf-8"),
        ("plugin-explorer-3.2.6/LICENSE", "text/plain; charset=utf-8"),
    ],
)
async def test_vendored_assets_have_content_type_and_long_cache(
    browser: httpx.AsyncClient, path: str, content_type: str
) -> None:
    response = await browser.get(f"/graphql/static/{path}", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (STATIC_DIR / path).read_bytes()  # decoded if it was gzipped
    # A browser that has it revalidates for nothing.
    again = await browser.get(
        f"/graphql/static/{path}", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


async def test_large_assets_are_gzipped_for_clients_that_accept_it(
    browser: httpx.AsyncClient,
) -> None:
    path = "/graphql/static/graphiql-3.9.0/graphiql.min.js"
    plain = await browser.get(path, headers={"Accept-Encoding": "identity"})
    zipped = await browser.get(path, headers={"Accept-Encoding": "gzip, deflate"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content) / 2
    assert zipped.content == plain.content
    assert "Accept-Encoding" in zipped.headers["vary"]


@pytest.mark.parametrize(
    "path",
    [
        "nope.js",
        "graphiql-3.9.0/",
        "graphiql-3.9.0",
        "",
        "%2e%2e/graphiql.py",
        "..%2fgraphiql.py",
        "graphiql-3.9.0/%2e%2e/%2e%2e/graphiql.py",
        "%2e%2e/%2e%2e/%2e%2e/app.py",
        "%2fetc%2fpasswd",
        "/etc/passwd",
        "react-18.2.0/react.production.min.js%00.css",
        "REACT-18.2.0/react.production.min.js",
    ],
)
async def test_asset_route_refuses_unknown_and_traversal_paths(
    browser: httpx.AsyncClient, path: str
) -> None:
    response = await browser.get(f"/graphql/static/{path}")
    assert response.status_code == 404, path
    assert response.headers["x-content-type-options"] == "nosniff"
    assert b"import" not in response.content  # no Python source, whatever the path


async def test_folder_readme_lists_every_vendored_file_with_its_sha384(
    browser: httpx.AsyncClient,
) -> None:
    readme = (STATIC_DIR / "README.md").read_text()
    listed = dict(re.findall(r"\| `([\w./-]+)`[^|]*\| `(sha384-[\w+/=]+)` \|", readme))
    page = _Page()
    page.feed((await _page(browser)).text)
    vendored = {
        str(ref["url"]).removeprefix("graphql/static/"): ref["integrity"]
        for ref in page.refs
        if "/" in str(ref["url"]).removeprefix("graphql/static/")
    }
    assert listed == vendored
    for folder in {path.split("/")[0] for path in vendored}:
        assert (STATIC_DIR / folder / "LICENSE").is_file(), folder


async def test_graphiql_false_turns_page_and_assets_off(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", graphiql=False)
    async with _client(settings) as http:
        page = await http.get("/graphql", headers={"Accept": BROWSER})
        asset = await http.get("/graphql/static/graphiql-3.9.0/graphiql.min.js")
    assert not page.headers["content-type"].startswith("text/html")
    assert "graphiql" not in page.text.lower()
    assert page.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert asset.status_code == 404

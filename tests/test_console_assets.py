"""The console's page and files through the ASGI app: security headers, content types, only the
folder's files (no traversal), no inline script or style, nothing from other hosts, and
``GATEWAY_CONSOLE=false`` turns it off."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.config import Settings
from gateway.console.assets import STATIC_DIR

BASE = "http://gateway.test"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.styles: list[str] = []
        self.inline: list[str] = []
        self.style_attributes: list[str] = []
        self._in_inline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes:
            self.style_attributes.append(tag)
        if any(name.startswith("on") for name in attributes):
            self.inline.append(f"<{tag}> event handler attribute")
        if tag == "script":
            self._in_inline = "src" not in attributes
            if not self._in_inline:
                self.scripts.append(attributes)
        elif tag == "style":
            self._in_inline = True
        elif tag == "link" and attributes.get("rel") == "stylesheet":
            self.styles.append(str(attributes["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._in_inline = False

    def handle_data(self, data: str) -> None:
        if self._in_inline and data.strip():
            self.inline.append(data)


def _client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)), base_url=BASE)


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    # The console's files never touch the database: no migration needed.
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", **overrides)


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(_settings(tmp_path)) as http:
        yield http


def _policy(response: httpx.Response) -> dict[str, list[str]]:
    return {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers["content-security-policy"].split(";")
        if directive.strip()
    }


async def test_page_is_html_with_strict_security_headers(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/console")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = _policy(response)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]  # no 'unsafe-inline' for styles either
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert all("http" not in source for sources in policy.values() for source in sources)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"


async def test_page_has_no_inline_code_and_loads_only_its_own_files(
    browser: httpx.AsyncClient,
) -> None:
    page = _Page()
    page.feed((await browser.get("/console")).text)
    assert page.inline == []
    assert page.style_attributes == []
    assert [script.get("type") for script in page.scripts] == ["module"]
    for url in [str(script["src"]) for script in page.scripts] + page.styles:
        assert url.startswith("console/static/"), f"{url}: relative to /console, on this host"
        asset = await browser.get(f"/{url}")
        assert asset.status_code == 200, url


async def test_page_preloads_every_module_so_imports_do_not_wait_on_each_other(
    browser: httpx.AsyncClient,
) -> None:
    html = (await browser.get("/console")).text
    preloaded = set(re.findall(r'<link rel="modulepreload" href="console/static/([^"]+)"', html))
    modules = {p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*.js")}
    assert preloaded == modules - {"js/main.js"}


async def test_every_module_import_resolves_to_a_served_file(browser: httpx.AsyncClient) -> None:
    # Given every ES module of the folder, when each relative import is followed,
    # then the gateway serves it as JavaScript, and no module names another host.
    modules = sorted(STATIC_DIR.rglob("*.js"))
    assert len(modules) >= 10
    for module in modules:
        text = module.read_text()
        assert "innerHTML" not in text, f"{module.name}: data goes in as text, never as HTML"
        assert not re.search(r"""(?:from|import\()\s*["']https?:""", text), module.name
        for target in re.findall(r"""(?:from|import\()\s*["'](\.{1,2}/[^"']+)["']""", text):
            resolved = (module.parent / target).resolve().relative_to(STATIC_DIR.resolve())
            response = await browser.get(f"/console/static/{resolved.as_posix()}")
            assert response.status_code == 200, f"{module.name} imports {target}"
            assert response.headers["content-type"] == "text/javascript; charset=utf-8"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("js/main.js", "text/javascript; charset=utf-8"),
        ("js/screens/runs.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
    ],
)
async def test_files_have_their_content_type_headers_and_etag(
    browser: httpx.AsyncClient, path: str, content_type: str
) -> None:
    response = await browser.get(f"/console/static/{path}", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.content == (STATIC_DIR / path).read_bytes()  # decoded if it was gzipped
    again = await browser.get(
        f"/console/static/{path}", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


async def test_head_sends_headers_without_a_body(browser: httpx.AsyncClient) -> None:
    response = await browser.head("/console", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == len((STATIC_DIR / "index.html").read_bytes())


@pytest.mark.parametrize(
    "path",
    [
        "nope.js",
        "js",
        "js/",
        "",
        "%2e%2e/assets.py",
        "..%2fassets.py",
        "js/%2e%2e/%2e%2e/assets.py",
        "%2e%2e/%2e%2e/app.py",
        "%2fetc%2fpasswd",
        "/etc/passwd",
        "js/main.js%00.css",
        "JS/MAIN.JS",
        "js/main.js.map",
    ],
)
async def test_static_route_refuses_unknown_and_traversal_paths(
    browser: httpx.AsyncClient, path: str
) -> None:
    response = await browser.get(f"/console/static/{path}")
    assert response.status_code == 404, path
    assert response.headers["x-content-type-options"] == "nosniff"
    assert b"import" not in response.content  # no Python source, whatever the path


async def test_console_false_removes_page_and_files(tmp_path: Path) -> None:
    async with _client(_settings(tmp_path, console=False)) as http:
        assert (await http.get("/console")).status_code == 404
        assert (await http.get("/console/static/js/main.js")).status_code == 404
        # The rest of the gateway is unaffected.
        assert (await http.get("/healthz")).status_code == 200


def test_gateway_console_setting_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATEWAY_CONSOLE", "false")
    assert _settings(tmp_path).console is False
    monkeypatch.delenv("GATEWAY_CONSOLE")
    assert _settings(tmp_path).console is True


DURATIONS = {
    0: "0 ms",
    850: "850 ms",
    1000: "1 s",
    1234: "1.2 s",
    59_949: "59.9 s",
    59_999: "1 min",
    184_000: "3 min 4 s",
    3_599_999: "1 h",
    7_500_000: "2 h 5 min",
}


def test_durations_read_as_people_say_them() -> None:
    # format.js is an ES module with no DOM needed for durations: run it in node.
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node not found on PATH; required in CI")
        pytest.skip("node not found on PATH (set CI=true to make this a failure)")
    script = (
        f"import {{ duration }} from {json.dumps((STATIC_DIR / 'js' / 'format.js').as_uri())};"
        f"console.log(JSON.stringify({json.dumps(list(DURATIONS))}.map(duration)));"
    )
    ran = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30
    )
    assert ran.returncode == 0, ran.stderr
    assert dict(zip(DURATIONS, json.loads(ran.stdout), strict=True)) == DURATIONS


def test_live_client_speaks_graphql_transport_ws_and_resumes_after_the_last_cursor() -> None:
    # live.js needs no DOM: node drives it with a scripted socket and timers.
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node not found on PATH; required in CI")
        pytest.skip("node not found on PATH (set CI=true to make this a failure)")
    script = Path(__file__).parent / "console_js" / "live_protocol.mjs"
    module = (STATIC_DIR / "js" / "live.js").as_uri()
    ran = subprocess.run([node, str(script), module], capture_output=True, text=True, timeout=30)
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout)
    # exponential, half of it jitter, capped at 30 s
    assert seen["backoff"] == [250, 500, 4000, 15_000, 30_000]
    assert seen["delay"] == 375
    # 4403 is a refused key; 4400 (our own malformed message) and 1000 are not retried
    assert seen["close"] == ["auth", "stop", "stop"] + ["retry"] * 6
    assert seen["urls"] == ["ws://127.0.0.1:8000/graphql", "wss://gw.example/x/graphql"]
    assert seen["protocol"] == "graphql-transport-ws"
    assert seen["init"] == {
        "type": "connection_init",
        "payload": {"Authorization": "Bearer gw_k"},
    }
    assert seen["subscribe"]["payload"]["variables"] == {"flowId": "f"}
    assert seen["pong"] == {"type": "pong"}
    assert seen["events"] == ["c1"]
    # after the drop, the same operation resumes after the last cursor received
    assert seen["resumed"]["id"] == seen["subscribe"]["id"]
    assert seen["resumed"]["payload"]["variables"] == {"flowId": "f", "after": "c1"}
    assert seen["resyncs"] == 1  # BAD_USER_INPUT on a resume: re-read the view
    assert seen["completed"] == {"id": "2", "type": "complete"}
    assert seen["authFailures"] == 1
    assert seen["reconnectsAfterAuth"] == 2  # a refused key is not retried
    states = ["connecting", "connected", "reconnecting", "reconnecting", "connected", "offline"]
    assert seen["states"] == states

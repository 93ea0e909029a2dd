"""GraphiQL with no network: headless Chromium opens the page of a real server, the key goes
into the headers editor, a query runs, and no request leaves 127.0.0.1.

Uses Debian's ``chromium`` through Playwright (never a browser Playwright downloads). Skipped
without chromium or playwright, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.config import Settings
from gateway.db.migrate import upgrade

pytestmark = pytest.mark.browser

IN_CI = os.environ.get("CI", "").lower() == "true"
ACCOUNT = "acct-graphiql-offline"
LOCAL_HOSTS = {"127.0.0.1"}
# Flags that work on this machine; the proxy and resolver rules make anything that is not a
# loopback address unreachable even if the page tried.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what}; the offline GraphiQL test is required in CI")
    pytest.skip(f"{what} (set CI=true to make this a failure)")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        _missing("chromium not found on PATH (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    return str(path)


RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def _local(url: str) -> bool:
    return url.startswith("data:") or urlsplit(url).hostname in LOCAL_HOSTS


class _Server:
    """uvicorn in a background thread, with an admin key made on the server's own loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.key = ""
        self.error: BaseException | None = None
        self.server: uvicorn.Server | None = None
        self.thread = threading.Thread(target=self._run, name="graphiql-uvicorn", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start()
            self.error = error

    async def _serve(self) -> None:
        app = create_app(self.settings)
        self.key = await create_key(app.state.services.db, ACCOUNT, "viewer")
        config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on")
        self.server = uvicorn.Server(config)
        await self.server.serve(sockets=[self.sock])

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError(f"the server did not start: {self.error!r}")
            if self.server is not None and self.server.started:
                assert httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200
                return
            time.sleep(0.05)
        raise RuntimeError("the server did not start within 30 s")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'graphiql.db'}"
    upgrade(url)
    running = _Server(Settings(database_url=url, key_cache_seconds=0.0, graphiql=True))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_graphiql_runs_a_query_with_no_network(
    chromium: str, server: _Server, tmp_path: Path
) -> None:
    from playwright.sync_api import Request, Route, expect, sync_playwright

    requests: list[str] = []
    refused: list[str] = []
    problems: list[str] = []
    sent_auth: list[str | None] = []

    def only_local(route: Route) -> None:
        url = route.request.url
        if _local(url):
            route.continue_()
        else:
            refused.append(url)
            route.abort("internetdisconnected")

    def on_request(request: Request) -> None:
        requests.append(request.url)
        if request.method == "POST" and urlsplit(request.url).path == "/graphql":
            body = request.post_data or ""
            if "viewer" in body:
                sent_auth.append(request.headers.get("authorization"))

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            service_workers="block",
        )
        try:
            context.route("**/*", only_local)
            context.on("request", on_request)
            # CSP violations are events, not exceptions: record them for the assertions.
            context.add_init_script(RECORD_CSP_VIOLATIONS)
            page = context.pages[0] if context.pages else context.new_page()
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("websocket", lambda ws: requests.append(ws.url))

            # Given the page of a running gateway, loaded with the network refused
            page.goto(f"{server.base}/graphql", wait_until="load")
            query_editor = page.locator(".graphiql-query-editor .CodeMirror")
            expect(query_editor).to_be_visible(timeout=15_000)

            # When the key goes into the headers editor and a query is typed and run
            headers_editor = page.locator(".graphiql-editor-tool .CodeMirror").filter(visible=True)
            headers_editor.click()
            page.keyboard.insert_text(f'{{"Authorization": "Bearer {server.key}"}}')
            query_editor.click()
            page.keyboard.press("Control+A")
            page.keyboard.insert_text("{ viewer { accountId } }")
            page.locator(".graphiql-execute-button").click()

            # Then the answer is in the response pane
            expect(page.locator(".result-window")).to_contain_text(
                f'"accountId": "{ACCOUNT}"', timeout=10_000
            )
            # and the schema, refused before the key was in, was fetched again with it
            page.get_by_role("button", name="Show Documentation Explorer").click()
            expect(page.locator(".graphiql-doc-explorer")).to_contain_text("Query", timeout=5_000)
            # and a dialog (which adds <style> elements) opens within the page's policy
            page.get_by_role("button", name="Open settings dialog").click()
            expect(page.locator(".graphiql-dialog")).to_be_visible()
            page.keyboard.press("Escape")
            violations = page.evaluate("window.__cspViolations")
        finally:
            context.close()

    assert sent_auth == [f"Bearer {server.key}"], sent_auth
    assert refused == [], f"requests to other hosts: {refused}"
    assert requests, "no request was seen"
    outside = [url for url in requests if not _local(url)]
    assert outside == [], f"requests left 127.0.0.1: {outside}"
    loaded = {urlsplit(url).path for url in requests if "/graphql/static/" in url}
    assert len(loaded) == 8, f"the page's 5 scripts and 3 stylesheets, locally: {requests}"
    assert violations == [], f"Content-Security-Policy violations: {violations}"
    # GraphiQL asks for the schema as soon as it opens, before a key is in: that 401 is expected.
    unexpected = [text for text in problems if "status of 401" not in text]
    assert unexpected == [], f"console errors: {unexpected}"

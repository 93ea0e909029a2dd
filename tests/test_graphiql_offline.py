"""GraphiQL with no network: headless Chromium opens the page of a real server, the key goes
into the headers editor, a query runs, a subscription streams an ingested run over the page's
WebSocket and stops, and no request leaves 127.0.0.1.

Uses Debian's ``chromium`` through Playwright (never a browser Playwright downloads). Skipped
without chromium or playwright, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.config import Settings
from gateway.db.migrate import upgrade
from gateway.services import Services
from tests import events as e

pytestmark = pytest.mark.browser

T = TypeVar("T")

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
    """uvicorn (with WebSockets) in a background thread, with a viewer key made on the server's
    own loop; ``call`` runs more there (keys, the broker's subscriber count)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.key = ""
        self.error: BaseException | None = None
        self.server: uvicorn.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.services: Services | None = None
        self.thread = threading.Thread(target=self._run, name="graphiql-uvicorn", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start()
            self.error = error

    async def _serve(self) -> None:
        app = create_app(self.settings)
        self.services = app.state.services
        self.loop = asyncio.get_running_loop()
        self.key = await create_key(app.state.services.db, ACCOUNT, "viewer")
        config = uvicorn.Config(app, log_level="warning", ws="auto", lifespan="on")
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

    def new_key(self, role: str) -> str:
        async def make() -> str:
            assert self.services is not None
            return await create_key(self.services.db, ACCOUNT, role)

        return self.call(make)

    def call(self, make: Callable[[], Awaitable[T]]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(_awaited(make), self.loop).result(timeout=30)

    def ingest(self, key: str, *events: dict[str, Any]) -> None:
        response = httpx.post(
            f"{self.base}/graphql",
            json={"query": e.INGEST, "variables": {"events": list(events)}},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert response.json()["data"]["ingestEvents"]["rejected"] == [], response.text

    def wait_subscribers(self, count: int) -> None:
        """Until the broker has ``count`` subscribers (one per running subscription)."""

        async def subscribers() -> int:
            assert self.services is not None
            return int(self.services.broker.subscriber_count())

        deadline = time.monotonic() + 10
        while (found := self.call(subscribers)) != count:
            assert time.monotonic() < deadline, f"{found} subscribers, expected {count}"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


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


class _Browser:
    """Chromium on a fresh profile with every request outside 127.0.0.1 refused, recording the
    requests (and WebSockets with the frames they sent), console errors and CSP violations."""

    def __init__(self, playwright: Any, chromium: str, profile: Path) -> None:
        self.requests: list[str] = []
        self.refused: list[str] = []
        self.problems: list[str] = []
        self.sent_auth: list[str | None] = []
        self.sockets: list[dict[str, Any]] = []
        self.context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            service_workers="block",
        )
        self.context.route("**/*", self._only_local)
        self.context.on("request", self._on_request)
        # CSP violations are events, not exceptions: record them for the assertions.
        self.context.add_init_script(RECORD_CSP_VIOLATIONS)
        page = self.context.pages[0] if self.context.pages else self.context.new_page()
        page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on("websocket", self._on_websocket)
        self.page = page

    def _only_local(self, route: Any) -> None:
        url = route.request.url
        if _local(url):
            route.continue_()
        else:
            self.refused.append(url)
            route.abort("internetdisconnected")

    def _on_request(self, request: Any) -> None:
        self.requests.append(request.url)
        if request.method == "POST" and urlsplit(request.url).path == "/graphql":
            body = request.post_data or ""
            if "viewer" in body:
                self.sent_auth.append(request.headers.get("authorization"))

    def _on_websocket(self, ws: Any) -> None:
        self.requests.append(ws.url)
        socket: dict[str, Any] = {"url": ws.url, "sent": [], "closed": False}
        self.sockets.append(socket)
        ws.on("framesent", lambda payload: socket["sent"].append(json.loads(payload)))
        ws.on("close", lambda _: socket.update(closed=True))

    def open(self, base: str) -> Any:
        """The GraphiQL page of ``base``, loaded; returns its query editor."""
        from playwright.sync_api import expect

        self.page.goto(f"{base}/graphql", wait_until="load")
        query_editor = self.page.locator(".graphiql-query-editor .CodeMirror")
        expect(query_editor).to_be_visible(timeout=15_000)
        return query_editor

    def type_headers(self, text: str) -> None:
        self.page.locator(".graphiql-editor-tool .CodeMirror").filter(visible=True).click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.insert_text(text)

    def run(self, query_editor: Any, query: str) -> None:
        query_editor.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.insert_text(query)
        self.page.locator(".graphiql-execute-button").click()

    def close(self) -> list[str]:
        """Closes the browser; returns the CSP violations seen."""
        try:
            return list(self.page.evaluate("window.__cspViolations"))
        finally:
            self.context.close()

    def assert_offline(self, violations: list[str]) -> None:
        assert self.refused == [], f"requests to other hosts: {self.refused}"
        assert self.requests, "no request was seen"
        outside = [url for url in self.requests if not _local(url)]
        assert outside == [], f"requests left 127.0.0.1: {outside}"
        loaded = {urlsplit(url).path for url in self.requests if "/graphql/static/" in url}
        assert len(loaded) == 9, f"the page's 6 scripts and 3 stylesheets, locally: {loaded}"
        assert violations == [], f"Content-Security-Policy violations: {violations}"
        # GraphiQL asks for the schema as soon as it opens, before a key is in: that 401 is
        # expected.
        unexpected = [text for text in self.problems if "status of 401" not in text]
        assert unexpected == [], f"console errors: {unexpected}"


def test_graphiql_runs_a_query_with_no_network(
    chromium: str, server: _Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = _Browser(playwright, chromium, tmp_path / "profile")
        try:
            page = browser.page
            # Given the page of a running gateway, loaded with the network refused
            query_editor = browser.open(server.base)

            # When the key goes into the headers editor and a query is typed and run
            browser.type_headers(f'{{"Authorization": "Bearer {server.key}"}}')
            browser.run(query_editor, "{ viewer { accountId } }")

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
        finally:
            violations = browser.close()

    assert browser.sent_auth == [f"Bearer {server.key}"], browser.sent_auth
    assert browser.sockets == []  # queries go over HTTP
    browser.assert_offline(violations)


RUNS = "subscription { runStatusChanged { status run { runId } } }"


def test_graphiql_runs_a_subscription_over_the_gateways_websocket(
    chromium: str, server: _Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    ingester = server.new_key("ingest")
    server.ingest(ingester, e.flow(), e.integration("int-1"))
    with sync_playwright() as playwright:
        browser = _Browser(playwright, chromium, tmp_path / "profile")
        try:
            page = browser.page
            result = page.locator(".result-window")
            execute = page.locator(".graphiql-execute-button")
            query_editor = browser.open(server.base)

            # Given a subscription run in GraphiQL with a viewer key in the headers editor
            browser.type_headers(f'{{"Authorization": "Bearer {server.key}"}}')
            browser.run(query_editor, RUNS)
            server.wait_subscribers(1)

            # When a run is ingested through the API
            server.ingest(ingester, e.run_started("run-1", "int-1", 10))

            # Then its event is in the response pane
            expect(result).to_contain_text('"runId": "run-1"', timeout=10_000)
            expect(result).to_contain_text('"status": "RUNNING"')

            # When the subscription is stopped, it ends on the server and the socket closes
            execute.click()
            server.wait_subscribers(0)
            deadline = time.monotonic() + 10
            while not browser.sockets[0]["closed"]:
                assert time.monotonic() < deadline, "the socket did not close"
                page.wait_for_timeout(20)

            # When it runs again with a key the gateway does not know
            browser.type_headers('{"Authorization": "Bearer gw_unknown_key"}')
            browser.run(query_editor, RUNS)

            # Then the response pane says why the socket closed
            expect(result).to_contain_text("The WebSocket closed (4403", timeout=10_000)
            expect(result).to_contain_text("missing, unknown or revoked")
        finally:
            violations = browser.close()

    good, bad = browser.sockets
    assert good["url"] == bad["url"] == server.base.replace("http", "ws") + "/graphql"
    sent = [message for message in good["sent"] if message["type"] != "pong"]
    init, subscribe, complete = sent
    assert init == {
        "type": "connection_init",
        "payload": {"Authorization": f"Bearer {server.key}"},
    }
    assert subscribe["type"] == "subscribe"
    assert subscribe["payload"]["query"] == RUNS
    assert complete == {"type": "complete", "id": subscribe["id"]}
    assert bad["sent"][0]["payload"] == {"Authorization": "Bearer gw_unknown_key"}
    assert bad["closed"]
    browser.assert_offline(violations)

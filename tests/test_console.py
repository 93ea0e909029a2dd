"""The console in headless Chromium against a real gateway on the demo data: every screen,
search, each filter, sorting, paging both ways, deep links, the admin actions with their
confirmations, the viewer's read-only view, bad and revoked keys — with no request leaving
127.0.0.1, no console error and no Content-Security-Policy violation.

What the page shows is compared with what the API answers for the same question, so the
tests hold whatever the demo data's dates are. One server and one browser for the module.
Screenshots of each screen go to ``GATEWAY_TEST_ARTIFACTS`` (or a temporary folder); the
timings asked of the console are printed, not asserted.

Uses Debian's ``chromium`` through Playwright (never a browser Playwright downloads). Skipped
without chromium or playwright, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.auth.keys import create_key
from gateway.config import Settings
from gateway.db.migrate import upgrade
from gateway.seed.loader import seed_demo
from gateway.services import Services

pytestmark = pytest.mark.browser

IN_CI = os.environ.get("CI", "").lower() == "true"
ACCOUNT = "demo"
FLOW = "flow-stripe-payment-alerts"  # the demo flow with the most integrations and runs
DRAFT = "flow-gmail-lead-capture"  # the draft with no integrations
LOCAL_HOSTS = {"127.0.0.1"}
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
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what}; the console browser test is required in CI")
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


class _Server:
    """The gateway in its own process (uvicorn, as `gateway serve` runs it) on seeded data."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.keys: dict[str, str] = {}
        self.process: subprocess.Popen[bytes] | None = None

    async def make_keys(self) -> None:
        services = Services.from_settings(Settings(database_url=self.database_url))
        try:
            for role in ("admin", "viewer", "ingest"):
                self.keys[role] = await create_key(services.db, ACCOUNT, role, f"console-{role}")
            self.keys["revoked"] = await create_key(services.db, ACCOUNT, "admin", "revoked")
        finally:
            await services.close()

    def revoke(self) -> None:
        """Revoke the third key as an operator does: `gateway keys revoke KEY_ID`."""
        key_id = self.keys["revoked"].split("_")[1]
        subprocess.run(
            [sys.executable, "-m", "gateway.cli", "keys", "revoke", key_id],
            env={**os.environ, "GATEWAY_DATABASE_URL": self.database_url},
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        env = {
            **os.environ,
            "GATEWAY_DATABASE_URL": self.database_url,
            "GATEWAY_KEY_CACHE_SECONDS": "0",
            "GATEWAY_CONSOLE": "true",
        }
        command = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        self.process = subprocess.Popen(command, env=env)

    def wait_until_up(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    # Warm-up requests, so the timings printed are the console's, not
                    # those of a process answering its first request.
                    httpx.get(f"{self.base}/console", timeout=5)
                    self.api("{ flows(first: 10) { nodes { stats { runsLast24h } } } }")
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start within 30 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def api(self, query: str, key: str = "admin", **variables: Any) -> Any:
        """What the API answers the admin key (or another), to compare the page with."""
        response = httpx.post(
            f"{self.base}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.keys[key]}"},
            timeout=10,
        )
        body = response.json()
        assert "errors" not in body, body
        return body["data"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    folder = tmp_path_factory.mktemp("console")
    url = f"sqlite+aiosqlite:///{folder / 'console.db'}"
    upgrade(url)
    running = _Server(url)
    running.start()  # the process starts while the data goes in
    try:
        asyncio.run(running.make_keys())
        running.revoke()
        # The demo data `gateway serve --demo` and `gateway seed` load, through the ingest path.
        asyncio.run(seed_demo(Settings(database_url=url), ACCOUNT, progress=False))
        running.wait_until_up()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("GATEWAY_TEST_ARTIFACTS")
    folder = Path(configured) / "console" if configured else tmp_path_factory.mktemp("shots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {folder}")
    return folder


@dataclass
class _Network:
    """Every request the browser made, and the ones refused for leaving 127.0.0.1."""

    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    graphql_auth: list[str | None] = field(default_factory=list)


@pytest.fixture(scope="module")
def context(chromium: str, server: _Server) -> Iterator[tuple[Any, _Network]]:
    from playwright.sync_api import Request, Route, sync_playwright

    network = _Network()

    def only_local(route: Route) -> None:
        url = route.request.url
        if url.startswith("data:") or urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            network.refused.append(url)
            route.abort("internetdisconnected")

    def on_request(request: Request) -> None:
        network.requests.append(request.url)
        if urlsplit(request.url).path == "/graphql":
            network.graphql_auth.append(request.headers.get("authorization"))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            context = browser.new_context(
                viewport={"width": 1280, "height": 900},
                service_workers="block",
                permissions=["clipboard-read", "clipboard-write"],
            )
            context.route("**/*", only_local)
            context.on("request", on_request)
            context.add_init_script(RECORD_CSP_VIOLATIONS)
            yield context, network
            context.close()
        finally:
            browser.close()
    outside = [url for url in network.requests if urlsplit(url).hostname not in LOCAL_HOSTS]
    assert network.refused == [], f"requests to other hosts: {network.refused}"
    assert outside == [], f"requests left 127.0.0.1: {outside}"


class _Tab:
    """One browser tab (its own sessionStorage) with its console errors recorded."""

    def __init__(self, context: tuple[Any, _Network], server: _Server, shots: Path) -> None:
        self.page = context[0].new_page()
        self.network = context[1]
        self.server = server
        self.shots = shots
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.page.set_default_timeout(10_000)

    def renders(self) -> int:
        return int(self.page.evaluate("Number(document.body.dataset.renders || 0)"))

    def after(self, act: Callable[[], Any]) -> None:
        """Do something that renders the screen again, and wait for that render."""
        before = self.renders()
        act()
        self.page.wait_for_function(
            "(before) => Number(document.body.dataset.renders || 0) > before",
            arg=before,
            timeout=10_000,
        )

    def open(self, fragment: str) -> None:
        self.after(lambda: self.page.goto(f"{self.server.base}/console{fragment}"))

    def go(self, fragment: str) -> None:
        self.after(lambda: self.page.evaluate("(hash) => { location.hash = hash; }", fragment))

    def sign_in(self, key: str, fragment: str = "#/flows") -> None:
        self.open(f"#key={key}")
        if fragment != "#/flows":
            self.go(fragment)

    def rows(self, attribute: str) -> list[str]:
        return self.page.eval_on_selector_all(
            f"main tbody tr[data-{attribute}]",
            f"(rows) => rows.map((row) => row.getAttribute('data-{attribute}'))",
        )

    def param(self, name: str) -> str | None:
        return self.page.evaluate(
            "(name) => new URLSearchParams(location.hash.split('?')[1] || '').get(name)", name
        )

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def check_clean(self, allowed: tuple[str, ...] = ()) -> None:
        assert self.network.refused == [], f"requests to other hosts: {self.network.refused}"
        violations = self.page.evaluate("window.__cspViolations")
        assert violations == [], f"Content-Security-Policy violations: {violations}"
        unexpected = [text for text in self.problems if not any(a in text for a in allowed)]
        assert unexpected == [], f"console errors: {unexpected}"
        self.page.close()


@pytest.fixture
def tab(context: tuple[Any, _Network], server: _Server, shots: Path) -> Iterator[_Tab]:
    opened = _Tab(context, server, shots)
    yield opened
    if not opened.page.is_closed():
        opened.page.close()


INTEGRATIONS = """query($flowId: String!, $first: Int, $after: String, $search: String,
    $filter: IntegrationFilter, $orderBy: IntegrationOrder) {
  flow(flowId: $flowId) { integrations(first: $first, after: $after, search: $search,
      filter: $filter, orderBy: $orderBy) {
    totalCount pageInfo { endCursor } nodes { integrationId status } } } }"""

RUNS = """query($integrationId: String!, $first: Int, $after: String, $search: String,
    $filter: RunFilter, $orderBy: RunOrder) {
  integration(integrationId: $integrationId) { runs(first: $first, after: $after,
      search: $search, filter: $filter, orderBy: $orderBy) {
    totalCount pageInfo { endCursor } nodes { runId } } } }"""


def _ids(server: _Server, **variables: Any) -> list[str]:
    arguments = {"flowId": FLOW, "first": 10, **variables}
    nodes = server.api(INTEGRATIONS, **arguments)["flow"]["integrations"]
    return [node["integrationId"] for node in nodes["nodes"]]


def _run_ids(server: _Server, integration_id: str, **variables: Any) -> list[str]:
    data = server.api(RUNS, **{"integrationId": integration_id, "first": 10, **variables})
    return [node["runId"] for node in data["integration"]["runs"]["nodes"]]


def test_flows_and_integrations_search_filter_sort_page_and_deep_link(
    tab: _Tab, server: _Server, context: tuple[Any, _Network]
) -> None:
    from playwright.sync_api import expect

    page = tab.page
    # Given the URL `gateway serve --demo` prints, with the key in the fragment
    started = time.perf_counter()
    tab.sign_in(server.keys["admin"])
    first_screen = page.evaluate("performance.getEntriesByName('console:first-screen')[0].duration")
    asked = page.evaluate("performance.getEntriesByName('console:asked')[0].startTime")
    print(
        f"\nconsole: first screen (Flows) in {first_screen:.0f} ms after navigation start, "
        f"its query sent at {asked:.0f} ms "
        f"({(time.perf_counter() - started) * 1000:.0f} ms as the test saw it; a cold browser)"
    )
    again = _Tab(context, server, tab.shots)
    again.sign_in(server.keys["admin"])
    warm = again.page.evaluate("performance.getEntriesByName('console:first-screen')[0].duration")
    print(f"console: first screen (Flows) in {warm:.0f} ms in a new tab of the running browser")
    again.check_clean()

    # Then the key is gone from the address bar and kept in the tab's sessionStorage only
    assert "gw_" not in page.url
    assert page.url.endswith("/console#/flows")
    assert page.evaluate("sessionStorage.length") >= 1
    assert page.evaluate("localStorage.length") == 0
    assert all("gw_" not in url for url in tab.network.requests)
    assert tab.network.graphql_auth[-1] == f"Bearer {server.keys['admin']}"

    # And the flows are listed, with the draft's stats saying there is nothing to see
    flows = server.api("{ flows(first: 10) { nodes { name } } }")["flows"]["nodes"]
    table = page.get_by_role("region", name="Flows")
    for flow in flows:
        expect(table).to_contain_text(flow["name"])
    draft = page.locator("tr", has=page.locator(f"code:text-is('{DRAFT}')"))
    expect(draft.locator(".stats-none")).to_have_attribute("title", "No integrations to see")
    assert draft.locator("a.stats").count() == 0  # not clickable
    busy = page.locator("tr", has=page.locator(f"code:text-is('{FLOW}')")).locator("a.stats")
    busy.hover()
    expect(busy.locator(".hover-hint")).to_have_text("View Integrations")
    expect(busy.locator(".hover-hint")).to_be_visible()
    tab.shot("1-flows")
    # The status chips and the name search narrow the list
    tab.after(lambda: page.get_by_role("link", name="Draft", exact=True).click())
    expect(page.get_by_role("region", name="Flows").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("region", name="Flows")).to_contain_text(DRAFT)
    tab.after(lambda: page.get_by_role("link", name="All", exact=True).click())
    name_search = page.get_by_role("searchbox", name="Flow name")
    name_search.fill("STRIPE")
    tab.after(lambda: name_search.press("Enter"))
    stripe = server.api('{ flows(filter: {nameContains: "STRIPE"}) { nodes { flowId } } }')
    shown = page.locator("main tbody code.id").all_inner_texts()
    assert shown == [node["flowId"] for node in stripe["flows"]["nodes"]]
    tab.go("#/flows")

    # When the flow's menu is opened from the keyboard and "All Integrations" chosen
    menu_button = page.get_by_role(
        "button", name="Actions for flow Stripe payments to Slack alerts"
    )
    menu_button.focus()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("menuitem", name="All Integrations")).to_be_focused()
    tab.after(lambda: page.keyboard.press("Enter"))

    # Then the integration detail shows the flow and the first 10, newest first
    assert page.url.endswith(f"#/flows/{FLOW}")
    expect(page.locator("h1")).to_have_text("Stripe payments to Slack alerts")
    expect(page.locator(".facts")).to_contain_text(FLOW)
    assert tab.rows("integration-id") == _ids(server)
    tab.shot("2-integrations")

    # Sorting by Date Created: oldest first, then back to newest
    tab.after(lambda: page.get_by_role("link", name="Date Created").click())
    assert tab.param("sort") == "oldest"
    oldest = _ids(server, orderBy={"field": "CREATED_AT", "direction": "ASC"})
    assert tab.rows("integration-id") == oldest
    expect(page.locator("th[aria-sort='ascending']")).to_contain_text("Date Created")
    tab.after(lambda: page.get_by_role("link", name="Date Created").click())
    assert tab.rows("integration-id") == _ids(server)

    # Paging forward and back with keyset cursors
    first_page = tab.rows("integration-id")
    tab.after(lambda: page.get_by_role("link", name="Next →").click())
    assert tab.param("after")
    end = server.api(INTEGRATIONS, flowId=FLOW, first=10)["flow"]["integrations"]["pageInfo"]
    assert tab.rows("integration-id") == _ids(server, after=end["endCursor"])
    tab.after(lambda: page.get_by_role("link", name="← Previous").click())
    assert tab.param("before")
    assert tab.rows("integration-id") == first_page

    # Page size
    tab.after(lambda: page.get_by_label("Per page").select_option("25"))
    assert tab.param("size") == "25"
    total = server.api(INTEGRATIONS, flowId=FLOW, first=25)["flow"]["integrations"]
    assert len(tab.rows("integration-id")) == len(total["nodes"]) > 10

    # Exact search: a User Auth, in other case, finds that end-user's integrations
    search = page.get_by_role("searchbox", name="Search")
    search.fill("ADMIN@VANDELAY.IO")
    tab.after(lambda: search.press("Enter"))
    found = _ids(server, first=25, search="ADMIN@VANDELAY.IO")
    assert found
    assert tab.rows("integration-id") == found
    tab.after(lambda: page.get_by_role("link", name="Clear", exact=True).click())

    # Each filter: integration status, last-run status, the created range
    page.locator("summary", has_text="Filters").click()
    page.get_by_role("group", name="Integration status").get_by_label("Paused").check()
    tab.after(lambda: page.get_by_role("button", name="Apply filters").click())
    assert tab.param("status") == "PAUSED"
    paused = _ids(server, first=25, filter={"status": ["PAUSED"]})
    assert paused
    assert tab.rows("integration-id") == paused
    page.get_by_role("group", name="Integration status").get_by_label("Paused").uncheck()
    page.get_by_role("group", name="Last run status").get_by_label("Failed").check()
    tab.after(lambda: page.get_by_role("button", name="Apply filters").click())
    failed = _ids(server, first=25, filter={"lastRunStatus": ["FAILED"]})
    assert failed
    assert tab.rows("integration-id") == failed
    page.get_by_role("group", name="Last run status").get_by_label("Failed").uncheck()
    everything = _ids(server, first=25, orderBy={"field": "CREATED_AT", "direction": "ASC"})
    middle = server.api(
        "query($id: String!) { integration(integrationId: $id) { createdAt } }",
        id=everything[len(everything) // 2],
    )["integration"]["createdAt"]
    local = page.evaluate(
        "(iso) => { const d = new Date(iso); d.setSeconds(0, 0);"
        " return new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16); }",
        middle,
    )
    page.get_by_role("group", name="Date created").get_by_label("From").fill(local)
    tab.after(lambda: page.get_by_role("button", name="Apply filters").click())
    created_after = tab.param("createdAfter")
    assert created_after
    assert created_after.endswith("Z")
    recent = _ids(server, first=25, filter={"createdAfter": created_after})
    assert 0 < len(recent) < len(everything)
    assert tab.rows("integration-id") == recent
    tab.shot("3-integrations-filtered")

    # Status history: why is it paused?
    tab.go(f"#/flows/{FLOW}?status=PAUSED")
    paused_id = tab.rows("integration-id")[0]
    page.get_by_role("button", name=f"status history of {paused_id}").click()
    dialog = page.get_by_role("dialog", name=f"Status history of {paused_id}")
    history = server.api(
        "query($id: String!) { integration(integrationId: $id) {"
        " statusHistory(first: 50) { nodes { actor reason } } } }",
        id=paused_id,
    )["integration"]["statusHistory"]["nodes"]
    expect(dialog.locator("tbody tr")).to_have_count(len(history))
    expect(dialog).to_contain_text(history[0]["actor"])
    tab.shot("4-status-history")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    # A deep link opened in another tab, with that person's own key, shows the same view
    link = page.url.split("/console", 1)[1]
    other = _Tab(context, server, tab.shots)
    other.open(link)
    other.page.get_by_label("API key").fill(server.keys["viewer"])
    other.after(lambda: other.page.get_by_role("button", name="Sign in").click())
    assert other.page.url.endswith(link)
    assert other.rows("integration-id") == tab.rows("integration-id")
    other.check_clean()

    # Every failure shows the API's message and code: a search past its limit
    tab.go(f"#/flows/{FLOW}?search={'x' * 300}")
    alert = page.get_by_role("alert")
    expect(alert.locator(".error-code")).to_have_text("BAD_USER_INPUT")
    expect(alert).to_contain_text("256")
    assert page.locator("main table").count() == 0
    tab.go("#/flows/no-such-flow")
    expect(page.get_by_role("alert").locator(".error-code")).to_have_text("NOT_FOUND")
    tab.check_clean(allowed=("status of 400",))


def test_runs_steps_and_payload(tab: _Tab, server: _Server) -> None:
    from playwright.sync_api import expect

    page = tab.page
    busiest = server.api(
        "query($flowId: String!) { flow(flowId: $flowId) { integrations(first: 50) {"
        " nodes { integrationId runs(first: 1) { totalCount } } } } }",
        flowId=FLOW,
    )["flow"]["integrations"]["nodes"]
    integration = max(busiest, key=lambda node: node["runs"]["totalCount"])["integrationId"]
    tab.sign_in(server.keys["admin"], f"#/flows/{FLOW}?search={integration}")

    # Given the integration's runs, opened from its row
    tab.after(lambda: page.get_by_role("link", name=integration, exact=True).click())
    assert page.url.endswith(f"#/flows/{FLOW}/integrations/{integration}")
    expect(page.locator(".facts")).to_contain_text("Stripe payments to Slack alerts")
    expect(page.locator(".facts")).to_contain_text(integration)
    assert tab.rows("run-id") == _run_ids(server, integration)
    durations = page.locator("main tbody td[data-label='Duration']").all_inner_texts()
    human = re.compile(r"^(\d+ ms|\d+(\.\d)? s|\d+ min( \d+ s)?|\d+ h( \d+ min)?|—)$")
    assert durations
    assert all(human.match(text) for text in durations), durations
    time_cell = page.locator("main tbody tr time").first
    assert time_cell.get_attribute("title").endswith("Z (UTC)")
    tab.shot("5-runs")

    # Paging forward and back
    first_page = tab.rows("run-id")
    tab.after(lambda: page.get_by_role("link", name="Next →").click())
    end = server.api(RUNS, integrationId=integration, first=10)["integration"]["runs"]
    assert tab.rows("run-id") == _run_ids(server, integration, after=end["pageInfo"]["endCursor"])
    tab.after(lambda: page.get_by_role("link", name="← Previous").click())
    assert tab.rows("run-id") == first_page

    # Sorting by duration, longest first
    tab.after(lambda: page.get_by_role("link", name="Duration").click())
    by_duration = {"field": "DURATION", "direction": "DESC"}
    assert tab.rows("run-id") == _run_ids(server, integration, orderBy=by_duration)
    tab.after(lambda: page.get_by_role("link", name="Start Time").click())

    # Search by run ID, and by trigger app name ignoring case
    search = page.get_by_role("searchbox", name="Search")
    search.fill(first_page[3])
    tab.after(lambda: search.press("Enter"))
    assert tab.rows("run-id") == [first_page[3]]
    search.fill("STRIPE")
    tab.after(lambda: search.press("Enter"))
    assert tab.rows("run-id") == _run_ids(server, integration, search="STRIPE") != []
    tab.after(lambda: page.get_by_role("link", name="Clear", exact=True).click())

    # Each filter: status, an exact network code, a code class, the start time
    page.locator("summary", has_text="Filters").click()
    page.get_by_role("group", name="Status", exact=True).get_by_label("Failed").check()
    tab.after(lambda: page.get_by_role("button", name="Apply filters").click())
    failed = _run_ids(server, integration, filter={"status": ["FAILED"]})
    assert failed
    assert tab.rows("run-id") == failed
    page.get_by_role("group", name="Status", exact=True).get_by_label("Failed").uncheck()
    codes = server.api(
        "query($id: String!) { integration(integrationId: $id) { runs(first: 100,"
        " filter: {networkCodeClass: [C4XX, C5XX]}) { nodes { networkCode } } } }",
        id=integration,
    )["integration"]["runs"]["nodes"]
    code = next(node["networkCode"] for node in codes if node["networkCode"])
    page.get_by_label("Exact codes").fill(str(code))
    tab.after(lambda: page.get_by_role("button", name="Apply filters").click())
    exact = _run_ids(server, integration, filter={"networkCode": [code]})
    assert exact
    assert tab.rows("run-id") == exact
    page.get_by_label("Exact codes").fill("")
    page.get_by_role("group", name="Network code class").get_by_label("5xx").check()
    page.get_by_role("group", name="Network code class").get_by_label("4xx").check()
    tab.after(lambda: page.get_by_role("button", name="Apply filters").click())
    assert tab.param("codeClass") == "C4XX,C5XX"
    classes = _run_ids(server, integration, filter={"networkCodeClass": ["C4XX", "C5XX"]})
    assert classes
    assert tab.rows("run-id") == classes
    tab.shot("6-runs-filtered")
    page.get_by_role("group", name="Network code class").get_by_label("5xx").uncheck()
    page.get_by_role("group", name="Network code class").get_by_label("4xx").uncheck()
    start = server.api("query($id: String!) { run(runId: $id) { startTime } }", id=first_page[5])[
        "run"
    ]["startTime"]
    local = page.evaluate(
        "(iso) => { const d = new Date(iso); d.setSeconds(0, 0);"
        " return new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16); }",
        start,
    )
    page.get_by_role("group", name="Start time").get_by_label("From").fill(local)
    tab.after(lambda: page.get_by_role("button", name="Apply filters").click())
    started_after = tab.param("startedAfter")
    assert started_after
    recent = _run_ids(server, integration, filter={"startedAfter": started_after})
    assert 0 < len(recent) < 10
    assert tab.rows("run-id") == recent
    # A network code that is not one is refused with a coded message, not an empty table
    page.get_by_label("Exact codes").fill("abc")
    tab.after(lambda: page.get_by_role("button", name="Apply filters").click())
    expect(page.get_by_role("alert").locator(".error-code")).to_have_text("BAD_USER_INPUT")

    # The run's menu copies a console link to the run
    tab.go(f"#/flows/{FLOW}/integrations/{integration}?status=FAILED&codeClass=C4XX,C5XX")
    answered = server.api(
        "query($id: String!) { integration(integrationId: $id) { runs(first: 100, filter:"
        " {status: [FAILED], networkCodeClass: [C4XX, C5XX]}) { nodes { runId"
        " failedStep { payload { response { bodyJson } } } } } } }",
        id=integration,
    )["integration"]["runs"]["nodes"]
    # a failure whose error response is JSON, to see it as a tree
    failed_run = next(
        node["runId"] for node in answered if node["failedStep"]["payload"]["response"]["bodyJson"]
    )
    assert failed_run in tab.rows("run-id")
    page.get_by_role("button", name=f"Actions for run {failed_run}").click()
    expect(page.get_by_role("menuitem", name="Open logs")).to_be_enabled()
    page.get_by_role("menuitem", name="Copy link").click()
    expect(page.locator("#toast")).to_have_text("Run link copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    run_path = f"#/flows/{FLOW}/integrations/{integration}/runs/{failed_run}"
    assert copied == f"{server.base}/console{run_path}"

    # Step detail: the run's steps, and its logs link
    tab.go(copied.split("/console", 1)[1])
    run = server.api(
        "query($id: String!) { run(runId: $id) { logsUrl failedStep { stepId errorDocsUrl"
        " payload { response { bodyRaw } } } steps(first: 100) { nodes { stepId } } } }",
        id=failed_run,
    )["run"]
    assert tab.rows("step-id") == [node["stepId"] for node in run["steps"]["nodes"]]
    expect(page.get_by_role("link", name="Open logs")).to_have_attribute("href", run["logsUrl"])
    tab.shot("7-steps")

    # View Payload of the failed step: Response first, raw and as a tree; then Request, Object
    step = run["failedStep"]
    page.get_by_role("button", name=f"View payload of step {step['stepId']}").click()
    dialog = page.get_by_role("dialog", name=f"Payload of step {step['stepId']}")
    expect(dialog.get_by_role("tab", name="Response")).to_have_attribute("aria-selected", "true")
    assert tab.param("step") == step["stepId"]
    response_panel = dialog.get_by_role("tabpanel", name="Response")
    expect(response_panel.locator("pre.raw")).to_be_visible()
    tree = response_panel.locator(".json-tree")
    expect(tree).to_be_visible()
    expect(response_panel.get_by_role("link", name="API and error docs")).to_have_attribute(
        "href", step["errorDocsUrl"]
    )
    tab.shot("8-payload-response")
    tree.locator("summary").first.click()  # collapses the top level
    expect(tree.locator("details").first).not_to_have_attribute("open", "")
    dialog.get_by_role("button", name="Copy error response").click()
    assert page.evaluate("navigator.clipboard.readText()") == step["payload"]["response"]["bodyRaw"]
    dialog.get_by_role("tab", name="Response").focus()
    page.keyboard.press("ArrowLeft")
    expect(dialog.get_by_role("tab", name="Request")).to_have_attribute("aria-selected", "true")
    request_panel = dialog.get_by_role("tabpanel", name="Request")
    expect(request_panel.locator(".redacted").first).to_have_text("redacted")
    assert "[REDACTED]" not in request_panel.inner_text()
    tab.shot("9-payload-request")
    dialog.get_by_role("tab", name="Object").click()
    expect(dialog.get_by_role("tabpanel", name="Object")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    # The address no longer names the step (a refresh under way must not put it back)
    page.wait_for_function(
        "() => !new URLSearchParams(location.hash.split('?')[1] || '').get('step')"
    )
    page.wait_for_timeout(300)
    assert tab.param("step") is None
    expect(dialog).to_have_count(0)

    # A deep link to a step's payload opens it on the named tab
    tab.go(f"{copied.split('/console', 1)[1]}?step={step['stepId']}&tab=request")
    dialog = page.get_by_role("dialog", name=f"Payload of step {step['stepId']}")
    expect(dialog.get_by_role("tab", name="Request")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Escape")

    # The whole flow's runs, 100 on a page: how long the page takes to render the answer
    tab.go(f"#/flows/{FLOW}/runs?size=100")
    assert len(tab.rows("run-id")) == 100
    render = page.evaluate("performance.getEntriesByName('console:render').at(-1).duration")
    print(f"console: Run detail with 100 runs rendered in {render:.1f} ms after the answer")
    tab.check_clean()


def test_admin_actions_with_confirmation(tab: _Tab, server: _Server) -> None:
    from playwright.sync_api import expect

    page = tab.page

    def status_of(integration_id: str) -> str:
        query = "query($id: String!) { integration(integrationId: $id) { status } }"
        return str(server.api(query, id=integration_id)["integration"]["status"])

    tab.sign_in(server.keys["admin"], f"#/flows/{FLOW}?status=ENABLED&size=25&sort=oldest")
    enabled = tab.rows("integration-id")
    assert len(enabled) >= 5
    target, doomed, bulk, stale = enabled[0], enabled[1], enabled[2:4], enabled[4]

    def choose(integration_id: str, item: str) -> None:
        page.get_by_role("button", name=f"Actions for {integration_id}").click()
        page.get_by_role("menuitem", name=item).click()

    # Disable: cancelling the confirmation changes nothing
    choose(target, "Disable")
    confirm = page.get_by_role("dialog", name="Disable integration")
    expect(confirm).to_contain_text(target)
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Cancel").click()
    assert status_of(target) == "ENABLED"
    # confirming disables it
    choose(target, "Disable")
    tab.after(lambda: page.get_by_role("dialog").get_by_role("button", name="Disable").click())
    assert status_of(target) == "DISABLED"
    expect(page.locator("#toast")).to_contain_text(f"{target} disabled")
    # and Enable brings it back, from the full list
    tab.go(f"#/flows/{FLOW}?search={target}")
    choose(target, "Enable")
    tab.after(lambda: page.get_by_role("dialog").get_by_role("button", name="Enable").click())
    assert status_of(target) == "ENABLED"

    # Delete warns that it is final
    tab.go(f"#/flows/{FLOW}?search={doomed}")
    choose(doomed, "Delete…")
    confirm = page.get_by_role("dialog", name="Delete integration")
    expect(confirm).to_contain_text("final")
    tab.shot("10-delete-confirmation")
    tab.after(lambda: confirm.get_by_role("button", name="Delete").click())
    assert status_of(doomed) == "DELETED"
    page.get_by_role("button", name=f"Actions for {doomed}").click()
    items = page.get_by_role("menuitem")
    assert items.all_inner_texts() == ["View runs", "Status history"]
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name=f"Actions for {doomed}")).to_be_focused()

    # An action refused by the API (someone deleted it while the confirmation was open) says why
    tab.go(f"#/flows/{FLOW}?search={stale}")
    choose(stale, "Disable")
    server.api(
        "mutation($id: String!) { deleteIntegration(integrationId: $id) { status } }", id=stale
    )
    page.get_by_role("dialog").get_by_role("button", name="Disable").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(f"Could not disable {stale}")
    expect(alert.locator(".error-code")).to_have_text("CONFLICT")
    assert status_of(stale) == "DELETED"

    # Bulk disable of two selected rows
    tab.go(f"#/flows/{FLOW}?status=ENABLED&size=25&sort=oldest")
    for integration_id in bulk:
        page.get_by_role("checkbox", name=f"Select {integration_id}").check()
    page.get_by_role("button", name="Disable selected (2)").click()
    confirm = page.get_by_role("dialog", name="Disable integrations")
    expect(confirm).to_contain_text(bulk[0])
    tab.after(lambda: confirm.get_by_role("button", name="Disable 2").click())
    assert [status_of(id_) for id_ in bulk] == ["DISABLED", "DISABLED"]
    assert not set(bulk) & set(tab.rows("integration-id"))

    # End-users: the list, exact search, paging on, and a task limit set by the admin
    tab.go(f"#/flows/{FLOW}/end-users")
    users = server.api(
        "query($f: String!) { flow(flowId: $f) { endUsers(first: 10) { pageInfo { endCursor }"
        " nodes { userId } } } }",
        f=FLOW,
    )["flow"]["endUsers"]
    assert tab.rows("user-id") == [node["userId"] for node in users["nodes"]]
    tab.shot("11-end-users")
    tab.after(lambda: page.get_by_role("link", name="Next →").click())
    assert tab.param("after") == users["pageInfo"]["endCursor"]
    tab.after(lambda: page.get_by_role("link", name="← First page").click())
    user = users["nodes"][0]["userId"]
    search = page.get_by_role("searchbox", name="User ID")
    search.fill(user)
    tab.after(lambda: search.press("Enter"))
    assert tab.rows("user-id") == [user]
    page.get_by_role("button", name=f"Set task limit of {user}").click()
    page.get_by_label("Tasks per period").fill("500")
    page.get_by_label("Period (days)").fill("7")
    tab.after(lambda: page.get_by_role("button", name="Set limit", exact=True).click())
    expect(page.locator(f"tr[data-user-id='{user}']")).to_contain_text("500 / 7 d")
    limit = server.api(
        "query($u: String!) { endUser(userId: $u) { taskLimit limitPeriodDays } }", u=user
    )["endUser"]
    assert limit == {"taskLimit": 500, "limitPeriodDays": 7}
    tab.check_clean()


def test_viewer_is_read_only_and_bad_keys_are_explained(
    tab: _Tab, server: _Server, context: tuple[Any, _Network]
) -> None:
    from playwright.sync_api import expect

    page = tab.page
    # Given no key: the key form, and a key that does not exist
    tab.open("#/flows")
    expect(page.get_by_role("heading", name="Sign in with an API key")).to_be_visible()
    tab.shot("12-sign-in")
    page.get_by_label("API key").fill("gw_0000000000000000_not-a-key")
    tab.after(lambda: page.get_by_role("button", name="Sign in").click())
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("the gateway refused this key")
    expect(alert).to_contain_text("unknown or revoked")  # the API's own message
    expect(alert.locator(".error-code")).to_have_text("UNAUTHENTICATED")
    assert page.evaluate("sessionStorage.length") == 0
    tab.shot("13-bad-key")

    # A revoked key in the fragment is refused the same way, and leaves the address bar too
    tab.open(f"#key={server.keys['revoked']}")
    expect(page.get_by_role("alert").locator(".error-code")).to_have_text("UNAUTHENTICATED")
    assert "gw_" not in page.url

    # When a viewer signs in
    page.get_by_label("API key").fill(server.keys["viewer"])
    tab.after(lambda: page.get_by_role("button", name="Sign in").click())
    expect(page.locator("#who")).to_contain_text("Viewer (read-only)")

    # Then integrations have no action menu, no selection and no bulk action
    tab.go(f"#/flows/{FLOW}")
    assert len(tab.rows("integration-id")) == 10
    assert page.locator("main tbody .menu-button").count() == 0
    assert page.locator("main table input[type=checkbox]").count() == 0
    assert page.get_by_role("button", name="Disable selected").count() == 0
    # but the status history (reading) is there
    first = tab.rows("integration-id")[0]
    page.get_by_role("button", name=f"status history of {first}").click()
    expect(page.get_by_role("dialog", name=f"Status history of {first}")).to_be_visible()
    page.keyboard.press("Escape")
    tab.shot("14-viewer-integrations")
    # and end-users cannot be given a limit
    tab.go(f"#/flows/{FLOW}/end-users")
    assert len(tab.rows("user-id")) > 0
    assert page.get_by_role("button", name="Set limit").count() == 0

    # At 390 px wide every screen stays inside the window (tables scroll in their own box)
    page.set_viewport_size({"width": 390, "height": 844})
    some_run = server.api(
        "{ runs(first: 1, filter: {status: [FAILED]}) { nodes { runId"
        " integration { integrationId } } } }"
    )["runs"]["nodes"][0]
    narrow = {
        "15-narrow-flows": "#/flows",
        "16-narrow-integrations": f"#/flows/{FLOW}",
        "17-narrow-runs": f"#/flows/{FLOW}/runs",
        "18-narrow-steps": (
            f"#/flows/{FLOW}/integrations/{some_run['integration']['integrationId']}"
            f"/runs/{some_run['runId']}"
        ),
    }
    for name, fragment in narrow.items():
        tab.go(fragment)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{fragment} is {width} px wide at 390 px"
        tab.shot(name)
    page.set_viewport_size({"width": 1280, "height": 900})

    # The keyboard moves through controls with a visible focus ring
    for _ in range(3):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "[document.activeElement.outerHTML.slice(0, 80),"
            " getComputedStyle(document.activeElement).outlineStyle,"
            " getComputedStyle(document.activeElement).outlineWidth]"
        )
        assert focused[1:] == ["solid", "3px"], focused

    # A key the gateway stops accepting mid-session sends the tab back to the key form
    page.evaluate("sessionStorage.setItem('integration-view.key', 'gw_0000000000000000_gone')")
    tab.go(f"#/flows/{FLOW}/runs")
    expect(page.get_by_role("alert").locator(".error-code")).to_have_text("UNAUTHENTICATED")
    expect(page.get_by_label("API key")).to_be_visible()
    page.get_by_label("API key").fill(server.keys["viewer"])
    tab.after(lambda: page.get_by_role("button", name="Sign in").click())
    assert page.url.endswith(f"#/flows/{FLOW}/runs")  # the same screen, signed in again
    assert len(tab.rows("run-id")) == 10

    # And signing out forgets the key
    tab.after(lambda: page.get_by_role("button", name="Sign out").click())
    assert page.evaluate("sessionStorage.length") == 0
    expect(page.get_by_label("API key")).to_be_focused()
    tab.check_clean(allowed=("status of 401",))


INGEST = """mutation($events: [IngestEvent!]!) {
  ingestEvents(events: $events) { accepted rejected { code message } } }"""


def _ingest(server: _Server, kind: str, **fields: Any) -> None:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event = {"eventId": f"live-{uuid.uuid4()}", "occurredAt": now, **fields}
    answer = server.api(INGEST, key="ingest", events=[{kind: event}])["ingestEvents"]
    assert answer == {"accepted": 1, "rejected": []}


def _run_events(
    server: _Server, run_id: str, integration_id: str, app_id: str
) -> Callable[[str], None]:
    """Given a run's ID, `step("started")` then `step("FAILED")` ingest its start and its end."""

    def step(what: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if what == "started":
            _ingest(
                server,
                "runStarted",
                runId=run_id,
                integrationId=integration_id,
                triggerAppId=app_id,
                triggerName="Live test",
                triggerType="WEBHOOK",
                startTime=now,
            )
        else:
            _ingest(server, "runFinished", runId=run_id, status=what, endTime=now)

    return step


def test_live_statuses_change_in_place_and_new_runs_appear_on_top(
    tab: _Tab, server: _Server
) -> None:
    from playwright.sync_api import WebSocket, expect

    page = tab.page
    sockets: list[str] = []
    sent: list[str] = []

    def on_socket(socket: WebSocket) -> None:
        sockets.append(socket.url)
        socket.on("framesent", lambda payload: sent.append(str(payload)))

    page.on("websocket", on_socket)
    enabled = _ids(server, filter={"status": ["ENABLED"]})
    target, other = enabled[0], enabled[1]
    app_id = server.api(
        "query($id: String!) { integration(integrationId: $id) { flow { runs(first: 1)"
        " { nodes { triggerApp { appId } } } } } }",
        id=target,
    )["integration"]["flow"]["runs"]["nodes"][0]["triggerApp"]["appId"]
    live = page.locator("#live")

    # Given a viewer on Flows: a run starting counts in its flow's runs of the last 24 h
    tab.sign_in(server.keys["viewer"])
    expect(live).to_have_attribute("aria-label", "Live updates: connected")
    expect(live).to_have_text("Live")
    stats = page.locator("main tbody tr", has_text=FLOW).locator(".stats .stat").nth(1)
    runs_24h = int(stats.inner_text().split()[0].replace(",", ""))
    counted = _run_events(server, f"run-live-{uuid.uuid4().hex[:8]}", target, app_id)
    counted("started")
    expect(stats).to_have_text(f"{runs_24h + 1:,} runs in 24 h")
    counted("OK")

    # On the Run detail page of an integration, filtered to running and failed
    runs_page = f"#/flows/{FLOW}/integrations/{target}"
    tab.go(f"{runs_page}?status=RUNNING,FAILED")
    expect(live).to_have_attribute("aria-label", "Live updates: connected")
    renders = tab.renders()
    # When a run of it starts, it appears on top as Running; when it fails, it turns Failed
    run_id = f"run-live-{uuid.uuid4().hex[:8]}"
    run = _run_events(server, run_id, target, app_id)
    run("started")
    first_row = page.locator("main tbody tr").first
    expect(first_row).to_have_attribute("data-run-id", run_id)
    expect(first_row.locator(".badge")).to_have_text("Running")
    shown_before = len(tab.rows("run-id"))
    tab.shot("19-live-run-started")
    run("FAILED")
    expect(first_row.locator(".badge")).to_have_text("Failed")
    assert page.locator(f"main tbody tr[data-run-id='{run_id}']").count() == 1
    assert tab.renders() == renders  # in place: the screen was not loaded again
    total = server.api(
        RUNS, integrationId=target, first=1, filter={"status": ["RUNNING", "FAILED"]}
    )
    expect(page.locator(".pager .count")).to_have_text(
        f"{shown_before} shown of {total['integration']['runs']['totalCount']:,}"
    )
    tab.shot("20-live-run-failed")

    # The page's filters hold: under status=FAILED a running run is not shown, then it is
    tab.go(f"{runs_page}?status=FAILED")
    assert any('"type": "complete"' in frame or '"type":"complete"' in frame for frame in sent)
    expect(live).to_have_attribute("aria-label", "Live updates: connected")
    second = f"run-live-{uuid.uuid4().hex[:8]}"
    run = _run_events(server, second, target, app_id)
    run("started")
    run("FAILED")
    expect(first_row).to_have_attribute("data-run-id", second)
    assert tab.rows("run-id")[1] == run_id  # the run that failed first, below it
    assert page.locator("main tbody tr .badge", has_text="Running").count() == 0

    # A run that starts while the screen's query is under way is not lost: the screen
    # subscribes before it asks, and what arrives meanwhile is applied once it is shown
    third = f"run-live-{uuid.uuid4().hex[:8]}"

    def start_during_the_query(route: Any) -> None:
        answer = route.fetch()  # the query has been answered without the run
        _run_events(server, third, target, app_id)("started")
        route.fulfill(response=answer)

    page.route("**/graphql", start_during_the_query, times=1)
    tab.go(runs_page)
    expect(first_row).to_have_attribute("data-run-id", third)
    expect(first_row.locator(".badge")).to_have_text("Running")

    # Step detail of that run: a step starting appears, the run finishing changes its status
    tab.go(f"{runs_page}/runs/{third}")
    expect(live).to_have_attribute("aria-label", "Live updates: connected")
    step_id = f"{third}-step-1"
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    _ingest(
        server,
        "stepStarted",
        stepId=step_id,
        runId=third,
        position=1,
        appId=app_id,
        name="Live step",
        startTime=now,
    )
    step_row = page.locator(f"main tbody tr[data-step-id='{step_id}']")
    expect(step_row.locator(".badge")).to_have_text("Running")
    _run_events(server, third, target, app_id)("OK")
    expect(page.locator("[data-live='run-status'] .badge")).to_have_text("Ok")
    tab.shot("21-live-steps")
    # and so does the integration's status
    act = "mutation($id: String!) { %s(integrationId: $id) { status } }"
    server.api(act % "disableIntegration", id=target)
    expect(page.locator("[data-live='integration-status'] .badge")).to_have_text("Disabled")
    server.api(act % "enableIntegration", id=target)

    # An admin on Integration detail: a status changed through the API changes the row and
    # the row's menu in place
    tab.sign_in(server.keys["admin"], f"#/flows/{FLOW}?search={other}")
    expect(live).to_have_attribute("aria-label", "Live updates: connected")
    renders = tab.renders()
    row = page.locator(f"main tbody tr[data-integration-id='{other}']")
    expect(row.locator(".badge").nth(1)).to_have_text("Enabled")
    server.api(act % "disableIntegration", id=other)
    expect(row.locator(".badge").nth(1)).to_have_text("Disabled")
    tab.shot("22-live-integration-disabled")
    page.get_by_role("button", name=f"Actions for {other}").click()
    expect(page.get_by_role("menuitem", name="Enable")).to_be_visible()
    assert page.get_by_role("menuitem", name="Disable").count() == 0
    page.keyboard.press("Escape")
    server.api(act % "enableIntegration", id=other)
    expect(row.locator(".badge").nth(1)).to_have_text("Enabled")
    assert tab.renders() == renders

    # One socket per page load, to the page's own host only
    assert len(sockets) == 2, sockets
    assert {urlsplit(url).hostname for url in sockets} == {"127.0.0.1"}
    assert all(urlsplit(url).path == "/graphql" for url in sockets)
    tab.check_clean()

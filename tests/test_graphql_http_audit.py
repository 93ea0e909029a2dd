"""GraphQL over HTTP conformance: graphql-http's ``auditServer`` against a real server.

Starts uvicorn on a free 127.0.0.1 port over a fresh SQLite database and runs
``tests/graphql_http_audit/audit.mjs`` with node. Every MUST and SHOULD audit has to pass;
MAY audits are printed. Skipped without node/npm, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.auth.keys import create_key
from gateway.config import Settings
from gateway.db.migrate import upgrade

pytestmark = pytest.mark.node

AUDIT_DIR = Path(__file__).parent / "graphql_http_audit"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if p is None)
        if IN_CI:
            pytest.fail(f"{missing} not found on PATH; the graphql-http audit is required in CI")
        pytest.skip(
            f"{missing} not found on PATH: the graphql-http audit needs node and npm "
            "(set CI=true to make this a failure)"
        )
    return node, npm


def _install(npm: str) -> None:
    """``npm ci`` into the audit folder, unless node_modules already matches the lockfile."""
    lock = AUDIT_DIR / "package-lock.json"
    installed = AUDIT_DIR / "node_modules" / ".package-lock.json"
    if (
        installed.exists()
        and (AUDIT_DIR / "node_modules" / "graphql-http").is_dir()
        and installed.stat().st_mtime >= lock.stat().st_mtime
    ):
        return
    command = [npm, "ci"] if lock.exists() else [npm, "install"]
    done = subprocess.run(
        [*command, "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=AUDIT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


class _Server:
    """uvicorn in a background thread, with an admin key made on the server's own loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.key: str | None = None
        self.error: BaseException | None = None
        self.server: uvicorn.Server | None = None
        self.thread = threading.Thread(target=self._run, name="audit-uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start()
            self.error = error

    async def _serve(self) -> None:
        app = create_app(self.settings)
        self.key = await create_key(app.state.services.db, "acct-graphql-http-audit", "admin")
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
                response = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5)
                assert response.status_code == 200
                return
            time.sleep(0.05)
        raise RuntimeError("the server did not start within 30 s")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@pytest.fixture
def node() -> str:
    """The node executable, with the audit's packages installed."""
    node, npm = _tools()
    _install(npm)
    return node


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    upgrade(url)
    running = _Server(Settings(database_url=url, key_cache_seconds=0.0))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_graphql_http_audit_passes_every_must_and_should(node: str, server: _Server) -> None:
    assert server.key is not None
    done = subprocess.run(
        [node, "audit.mjs", server.url, server.key],
        cwd=AUDIT_DIR,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = f"{done.stdout}\n{done.stderr}"
    print(output)  # the per-audit report, shown with -s or on failure
    summary = {
        level: (int(passed), int(failed))
        for level, passed, failed in re.findall(
            r"^SUMMARY (\w+) passed=(\d+) failed=(\d+)$", done.stdout, re.M
        )
    }
    assert set(summary) >= {"MUST", "SHOULD", "MAY"}, f"no audit summary:\n{output}"
    failing = re.findall(r"^FAILING \[\w+\] (.*)$", done.stdout, re.M)
    assert failing == [], "failing MUST/SHOULD audits:\n" + "\n".join(failing) + f"\n{output}"
    for level in ("MUST", "SHOULD"):
        passed, failed = summary[level]
        assert failed == 0, output
        assert passed > 0, output
    assert re.search(r"^FAILING_REQUIRED 0$", done.stdout, re.M), output
    assert done.returncode == 0, output

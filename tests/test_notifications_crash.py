"""A server killed (SIGKILL) while its worker waits for a receiver's answer: after the lease,
the notification is sent once more, with the same webhook-id, and then never again."""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gateway.auth.keys import create_key
from gateway.db.engine import Database
from gateway.db.migrate import upgrade_async
from gateway.links import Links
from gateway.notifications.worker import Deliverer
from tests import events as e
from tests.notify_support import SET, Clock, Receiver, failing_run, receiver
from tests.test_cli import GATEWAY, _env, _free_port

LEASE = 20


def _wait(predicate: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {seconds:g} s")


def _serve_until_it_calls_then_kill(
    tmp_path: Path, env: dict[str, str], port: int, admin: str, hook: Receiver
) -> None:
    """Starts ``gateway serve``, has it queue one notification, and kills it (SIGKILL) while
    its worker waits for the receiver's answer."""
    proc = subprocess.Popen(
        [*GATEWAY, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(healthy, 60, "the server start")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"}) as api:
            set_hook = {"query": SET, "variables": {"input": {"webhookUrl": hook.url}}}
            assert "errors" not in api.post("/graphql", json=set_hook).json()
            events = [e.flow(), e.integration("int-1"), *failing_run("run-1", "int-1")]
            ingest = {"query": e.INGEST, "variables": {"events": events}}
            assert "errors" not in api.post("/graphql", json=ingest).json()
        _wait(lambda: len(hook.received) == 1, 15, "the first delivery")
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def test_a_killed_servers_claim_is_resent_once_after_the_lease(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    await upgrade_async(url)
    db = Database.from_url(url)
    admin = await create_key(db, "acct", "admin")
    port = _free_port()
    env = {
        **_env(tmp_path),
        "GATEWAY_NOTIFICATIONS_ALLOW_HTTP": "true",
        "GATEWAY_NOTIFICATIONS_ALLOW_PRIVATE_URLS": "true",
        "GATEWAY_NOTIFICATIONS_LEASE_SECONDS": str(LEASE),
        "GATEWAY_GRAPHIQL": "false",
        "GATEWAY_CONSOLE": "false",
    }
    with receiver() as hook:
        hook.answer(200, delay=30)  # the first call hangs until the server is gone
        await asyncio.to_thread(_serve_until_it_calls_then_kill, tmp_path, env, port, admin, hook)
        first = hook.received[0].headers["webhook-id"]

        clock = Clock()
        clock.now = datetime.now(UTC)  # within the dead process's lease
        worker = Deliverer(
            db,
            Links("https://dash.test", "{base}", "{base}", None),
            allow_http=True,
            allow_private=True,
            clock=clock,
        )
        try:
            assert await worker.run_once() == 0  # still leased to the dead process
            clock.advance(LEASE + 1)
            assert await worker.run_once() == 1
            assert await worker.run_once() == 0
            clock.advance(3600)
            assert await worker.run_once() == 0
        finally:
            await worker.close()
            await db.dispose()
    assert [r.headers["webhook-id"] for r in hook.received] == [first, first]
    assert hook.received[0].body == hook.received[1].body

"""The gateway command, run as a user runs it: in a subprocess, on a fresh database."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.test_subscriptions import TRANSPORT_WS

KEY = r"gw_[0-9a-f]{16}_[A-Za-z0-9_-]+"

GATEWAY = [sys.executable, "-m", "gateway.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    return env


def _run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, *args],
        env={**_env(tmp_path), **(env or {})},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    created = _run(
        tmp_path, "keys", "create", "--account", "acme", "--role", "viewer", "--name", "support bot"
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert re.fullmatch(r"gw_[0-9a-f]{16}_[A-Za-z0-9_-]{40,}", key), created.stdout
    assert created.stdout == key + "\n", "the key must be printed alone"

    listed = _run(tmp_path, "keys", "list", "--account", "acme")
    assert listed.returncode == 0, listed.stderr
    key_id = key.split("_")[1]
    rows = _table(listed.stdout)
    assert [
        (r["KEY ID"], r["ACCOUNT"], r["ROLE"], r["NAME"], r["POINTS/HOUR"], r["STATE"])
        for r in rows
    ] == [(key_id, "acme", "viewer", "support bot", "default", "active")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows[0]["CREATED"])
    assert key not in listed.stdout, "secrets are never listed"

    revoked = _run(tmp_path, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert _table(_run(tmp_path, "keys", "list").stdout)[0]["STATE"].startswith("revoked ")
    assert _run(tmp_path, "keys", "revoke", key_id).returncode == 1
    assert _run(tmp_path, "keys", "create", "--account", "a", "--role", "owner").returncode == 2


COLUMNS = ("KEY ID", "ACCOUNT", "ROLE", "NAME", "POINTS/HOUR", "CREATED", "STATE")


def _table(stdout: str) -> list[dict[str, str]]:
    """Rows of ``keys list``: a header row, then values starting under their column's title."""
    header, *lines = stdout.splitlines()
    starts = [header.index(title) for title in COLUMNS]
    assert starts == sorted(starts), header
    assert header.split() == " ".join(COLUMNS).split(), header
    rows = []
    for line in lines:
        cells = [
            line[start:end].rstrip()
            for start, end in zip(starts, [*starts[1:], len(line)], strict=True)
        ]
        assert all(cells), line
        assert all(line[start - 1] == " " for start in starts[1:]), line
        rows.append(dict(zip(COLUMNS, cells, strict=True)))
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_demo_in_an_empty_folder(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [*GATEWAY, "serve", "--demo", "--port", str(port)],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"serve exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("serve did not come up")
        assert httpx.get(f"{base}/readyz").status_code == 200
        page = httpx.get(f"{base}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()
        # WebSockets without permessage-deflate by default, though the client offers it
        with connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=[TRANSPORT_WS]) as ws:
            assert ws.subprotocol == TRANSPORT_WS
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    key = re.search(KEY, err)
    assert key, err
    # a link that opens the console signed in (the key in the fragment, never sent)
    assert f"Console: {base}/console#key={key.group(0)}" in err
    assert (tmp_path / "cli.db").exists()

    # The key works and the demo data is there (a second start seeds nothing twice).
    from tests.test_cli_demo_check import check_demo_data

    check_demo_data(tmp_path, key.group(0))


def _serve_until_healthy(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Runs ``gateway serve ARGS`` until /healthz answers, stops it, returns its stderr."""
    port = _free_port()
    proc = subprocess.Popen(
        [*GATEWAY, "serve", "--port", str(port), *args],
        env={**_env(tmp_path), **(env or {})},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"serve exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("serve did not come up")
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return err


def _demo_keys(tmp_path: Path) -> list[dict[str, str]]:
    listed = _run(tmp_path, "keys", "list", "--account", "demo")
    assert listed.returncode == 0, listed.stderr
    return [row for row in _table(listed.stdout) if row["NAME"] == "demo admin"]


def _redis_url() -> str | None:
    """The shared Redis, which several workers need; None when there is none (a laptop)."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return "redis://127.0.0.1:6379/0"
    except OSError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Redis is required in CI and unreachable at 127.0.0.1:6379")
        return None


def _keys_in(output: str) -> list[str]:
    """The distinct API keys an output shows (the console link repeats the key)."""
    return list(dict.fromkeys(re.findall(KEY, output)))


def test_serve_demo_keeps_one_live_demo_key(tmp_path: Path) -> None:
    # given a first start with several workers (they share Redis): one key
    redis = _redis_url()
    workers = ["--workers", "2"] if redis else []
    env = {"GATEWAY_REDIS_URL": redis} if redis else {}
    first = _serve_until_healthy(tmp_path, "--demo", *workers, env=env)
    first_keys = _keys_in(first)
    assert len(first_keys) == 1, first
    assert [r["STATE"] for r in _demo_keys(tmp_path)] == ["active"]

    # when a second start finds its port taken
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        failed = _run(tmp_path, "serve", "--demo", "--port", str(port))
    # then it fails with one line, and creates no key
    assert failed.returncode != 0
    assert failed.stderr.strip().splitlines() == [
        f"gateway: error: cannot listen on 127.0.0.1:{port}: address already in use"
    ], failed.stderr
    assert len(_demo_keys(tmp_path)) == 1

    # when a third start succeeds, then its key replaces the first one
    third = _keys_in(_serve_until_healthy(tmp_path, "--demo"))
    assert len(third) == 1
    keys = {row["KEY ID"]: row["STATE"] for row in _demo_keys(tmp_path)}
    assert keys[third[0].split("_")[1]] == "active"
    assert keys[first_keys[0].split("_")[1]].startswith("revoked")
    assert list(keys.values()).count("active") == 1

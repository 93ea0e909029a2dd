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

GATEWAY = [sys.executable, "-m", "gateway.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    return env


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, *args],
        env=_env(tmp_path),
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
    line = next(line for line in listed.stdout.splitlines() if line.startswith(key_id))
    assert "\tacme\tviewer\tsupport bot\t" in line
    assert line.endswith("active")
    assert key not in listed.stdout, "secrets are never listed"

    revoked = _run(tmp_path, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert (
        _run(tmp_path, "keys", "list").stdout.splitlines()[0].split("\t")[-1].startswith("revoked")
    )
    assert _run(tmp_path, "keys", "revoke", key_id).returncode == 1
    assert _run(tmp_path, "keys", "create", "--account", "a", "--role", "owner").returncode == 2


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
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    key = re.search(r"gw_[0-9a-f]{16}_\S+", err)
    assert key, err
    assert (tmp_path / "cli.db").exists()

    # The key works and the demo data is there (a second start seeds nothing twice).
    from tests.test_cli_demo_check import check_demo_data

    check_demo_data(tmp_path, key.group(0))

"""Every failure of the gateway command is one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from gateway.cli import build_parser
from tests.test_cli import _run

UNREACHABLE_PG = "postgresql+asyncpg://gw:hunter2@127.0.0.1:1/gateway"


def _assert_one_line_error(result: object, *, code: int | None = None) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    returncode: int = result.returncode  # type: ignore[attr-defined]
    assert returncode != 0, stderr
    if code is not None:
        assert returncode == code, stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("gateway"), stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["seed", "--runs", "-5"], "--runs"),
        (["seed", "--runs", "0"], "at least 1"),
        (["seed", "--runs", "many"], "whole number"),
        (["serve", "--port", "0"], "--port"),
        (["serve", "--port", "70000"], "65535"),
        (["serve", "--workers", "0"], "--workers"),
        (["serve", "--log-level", "loud"], "--log-level"),
        (["keys", "create", "--account", "a", "--role", "owner"], "--role"),
        (["keys", "create", "--account", "no spaces", "--role", "viewer"], "--account"),
        (["keys", "create", "--account", "a", "--role", "viewer", "--name", ""], "--name"),
        (["keys"], "required"),
        (["frobnicate"], "frobnicate"),
        ([], "required"),
    ],
)
def test_bad_command_lines_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], says: str
) -> None:
    line = _assert_one_line_error(_run(tmp_path, *args), code=2)
    assert says in line
    assert not (tmp_path / "cli.db").exists(), "a bad command line touches nothing"


@pytest.mark.parametrize(
    ("env", "args", "says"),
    [
        ({"GATEWAY_DATABASE_URL": "not a url"}, ["migrate"], "GATEWAY_DATABASE_URL"),
        ({"GATEWAY_DATABASE_URL": "mysql://u@h/db"}, ["keys", "list"], "GATEWAY_DATABASE_URL"),
        ({"GATEWAY_DATABASE_URL": "sqlite:///plain.db"}, ["migrate"], "sqlite+aiosqlite"),
        ({"GATEWAY_DATABASE_URL": UNREACHABLE_PG}, ["migrate"], "127.0.0.1:1"),
        ({"GATEWAY_DATABASE_URL": UNREACHABLE_PG}, ["seed", "--quiet"], "database"),
        (
            {"GATEWAY_DATABASE_URL": "sqlite+aiosqlite:////nonexistent-dir/x.db"},
            ["keys", "list"],
            "database",
        ),
        ({"GATEWAY_PORT": "eighty"}, ["serve"], "GATEWAY_PORT"),
        ({"GATEWAY_PORT": "99999"}, ["serve"], "GATEWAY_PORT"),
        ({"GATEWAY_METRICS_TOKEN": "x", "GATEWAY_KEY_CACHE_SECONDS": "soon"}, ["migrate"], "KEY"),
    ],
)
def test_bad_settings_and_unreachable_databases_are_one_line(
    tmp_path: Path, env: dict[str, str], args: list[str], says: str
) -> None:
    line = _assert_one_line_error(_run(tmp_path, *args, env=env), code=1)
    assert says in line
    assert "hunter2" not in line, "passwords in URLs are never printed"


def test_revoking_an_unknown_or_revoked_key_is_one_line(tmp_path: Path) -> None:
    line = _assert_one_line_error(_run(tmp_path, "keys", "revoke", "0123456789abcdef"), code=1)
    assert "0123456789abcdef" in line
    key = _run(tmp_path, "keys", "create", "--account", "acme", "--role", "viewer").stdout
    key_id = key.split("_")[1]
    assert _run(tmp_path, "keys", "revoke", key_id).returncode == 0
    line = _assert_one_line_error(_run(tmp_path, "keys", "revoke", key_id), code=1)
    assert "already revoked" in line


def test_serve_on_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(tmp_path, "serve", "--port", str(port))
    line = _assert_one_line_error(result, code=1)
    assert f"127.0.0.1:{port}" in line
    assert "in use" in line


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"{parser.prog} {choice.dest} has no help"
            for sub in action.choices.values():
                found += _subparsers(sub)
    return found


def test_every_command_and_option_has_help() -> None:
    parsers = _subparsers(build_parser())
    assert {p.prog for p in parsers} >= {
        "gateway",
        "gateway serve",
        "gateway migrate",
        "gateway seed",
        "gateway keys",
        "gateway keys create",
        "gateway keys list",
        "gateway keys revoke",
        "gateway export-schema",
    }
    missing = [
        f"{p.prog} {action.dest}"
        for p in parsers
        for action in p._actions
        if not isinstance(action, argparse._SubParsersAction)
        and (not action.help or action.help == argparse.SUPPRESS)
    ]
    assert missing == []


def test_help_is_printed(tmp_path: Path) -> None:
    top = _run(tmp_path, "--help")
    assert top.returncode == 0
    for command in ("serve", "migrate", "seed", "keys", "export-schema"):
        assert command in top.stdout
    seed = _run(tmp_path, "seed", "--help")
    assert seed.returncode == 0
    assert "synthetic dataset of this many runs" in seed.stdout
    assert "--runs N" in seed.stdout

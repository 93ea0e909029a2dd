"""``gateway purge`` as a user runs it: durations, dry run, summary, progress on a terminal."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.cli import duration
from tests.test_cli import GATEWAY, _env, _run

SUMMARY = re.compile(
    r"(would purge|purged) ([\d,]+) runs, ([\d,]+) steps, ([\d,]+) payloads, ([\d,]+) "
    r"integration_status_changes, ([\d,]+) change_log \((.+)\) in [\d.]+ s"
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        (" 7d ", timedelta(days=7)),
    ],
)
def test_durations(text: str, value: timedelta) -> None:
    assert duration(text) == value


@pytest.mark.parametrize("text", ["30", "d", "30x", "1.5d", "-1d", "30 d", "3D", "0d", "99999d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def _summary(stderr: str) -> tuple[str, list[int], str]:
    lines = stderr.strip().splitlines()
    match = SUMMARY.fullmatch(lines[-1].split("\r")[-1])
    assert match, stderr
    return match[1], [int(n.replace(",", "")) for n in match.groups()[1:6]], match[7]


def test_purge_dry_run_then_purge_then_nothing_left(tmp_path: Path) -> None:
    # given a synthetic dataset spread over the last 30 days
    seeded = _run(tmp_path, "seed", "--runs", "60", "--quiet")
    assert seeded.returncode == 0, seeded.stderr
    # when a dry run counts what is older than 15 days
    dry = _run(tmp_path, "purge", "--older-than", "15d", "--dry-run", "--account", "synthetic")
    assert dry.returncode == 0, dry.stderr
    verb, planned, scope = _summary(dry.stderr)
    assert verb == "would purge"
    assert scope == "account synthetic, older than 15d"
    assert 0 < planned[0] < 60
    # then the purge deletes exactly that, without a bar outside a terminal
    done = _run(tmp_path, "purge", "--older-than", "15d")
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    verb, purged, scope = _summary(done.stderr)
    assert (verb, purged, scope) == ("purged", planned, "1 account, older than 15d")
    # and nothing of that age is left
    again = _run(tmp_path, "purge", "--older-than", "360h", "--dry-run")
    assert _summary(again.stderr)[1][:3] == [0, 0, 0]


def test_purge_errors_are_one_line(tmp_path: Path) -> None:
    bad = _run(tmp_path, "purge", "--older-than", "30x")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
    assert "'30x' is not a duration" in bad.stderr
    unknown = _run(tmp_path, "purge", "--account", "nobody")
    assert unknown.returncode == 1
    assert unknown.stderr == "gateway: error: no account 'nobody' (see gateway keys list)\n"


def test_on_a_terminal_a_progress_bar(tmp_path: Path) -> None:
    seeded = _run(tmp_path, "seed", "--runs", "20", "--quiet")
    assert seeded.returncode == 0, seeded.stderr
    main, side = os.openpty()
    try:
        result = subprocess.run(
            [*GATEWAY, "purge", "--older-than", "1m"],
            env=_env(tmp_path),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=side,
            timeout=120,
            check=False,
        )
        os.close(side)
        side = -1
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if side >= 0:
            os.close(side)
        os.close(main)
    text = b"".join(chunks).decode()
    assert result.returncode == 0, text
    assert "\rpurging [" in text
    assert re.search(r"purging \[#{30}\] (\d+)/\1 rows", text), text
    assert _summary(text.replace("\r\n", "\n"))[0] == "purged"

"""The seed progress: a redrawn bar on a terminal, plain periodic lines anywhere else."""

from __future__ import annotations

import io
from pathlib import Path

from gateway.progress import Progress
from tests.test_cli import _run


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_outside_a_terminal_a_plain_line_every_tenth() -> None:
    # given a log file as the stream
    out, clock = io.StringIO(), Clock()
    progress = Progress(100_000, True, "seeding acme", stream=out, clock=clock)
    # when the work advances in many small steps
    for _ in range(100_000 // 250):
        clock.now += 0.001
        progress.advance(250)
    progress.close()
    # then one plain line per tenth, no carriage returns
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert [line.split(": ")[1].split("%")[0] for line in lines] == [
        f"{n:>3}" for n in range(10, 101, 10)
    ]
    assert lines[-1].startswith("seeding acme: 100% (100,000/100,000 events")


def test_outside_a_terminal_a_slow_load_still_reports_every_few_seconds() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(1_000_000, True, "seeding acme", stream=out, clock=clock)
    for _ in range(60):  # one minute, 1,000 events a second: 6 % in all
        clock.now += 1.0
        progress.advance(1000)
    lines = out.getvalue().splitlines()
    assert 10 <= len(lines) <= 12
    assert lines[-1].startswith("seeding acme:   6% (60,000/1,000,000 events")


def test_on_a_terminal_one_redrawn_bar() -> None:
    out, clock = Terminal(), Clock()
    progress = Progress(1000, True, "seeding acme", stream=out, clock=clock)
    for _ in range(10):
        clock.now += 0.1
        progress.advance(100)
    progress.close()
    text = out.getvalue()
    assert text.count("\r") == 10
    assert text.count("\n") == 1
    assert text.endswith("1000/1000 events, 1,000/s\n")


def test_disabled_progress_writes_nothing() -> None:
    out = io.StringIO()
    progress = Progress(1000, False, "seeding acme", stream=out)
    progress.advance(1000)
    progress.close()
    assert out.getvalue() == ""


def test_seed_into_a_pipe_prints_plain_lines(tmp_path: Path) -> None:
    result = _run(tmp_path, "seed", "--runs", "50")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    assert "seeding synthetic: 100% (" in result.stderr

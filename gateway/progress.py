"""Progress of long work on stderr: a redrawn bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """Progress of long work (a load, a purge), on stderr (or ``stream``).

    On a terminal, one bar redrawn in place with ``\\r``. Anywhere else (a pipe, a log file,
    CI) a plain line at every tenth of the work, and at least every ``PLAIN_EVERY_SECONDS``
    while a slow load crawls, so logs stay readable line by line.
    """

    PLAIN_EVERY_SECONDS = 5.0

    def __init__(
        self,
        total: int,
        enabled: bool,
        label: str,
        *,
        unit: str = "events",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.enabled, self.label, self.unit = total, enabled, label, unit
        self.stream = stream or sys.stderr
        self.clock = clock
        self.terminal = _is_terminal(self.stream)
        self.done = 0
        self.started = self.last_line = clock()
        self.last_tenth = 0

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        now = self.clock()
        rate = self.done / max(now - self.started, 1e-9)
        if self.terminal:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            self.stream.write(
                f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                f"{self.done}/{self.total} {self.unit}, {rate:,.0f}/s"
            )
            self.stream.flush()
            return
        tenth = 10 * self.done // max(self.total, 1)
        if tenth > self.last_tenth or now - self.last_line >= self.PLAIN_EVERY_SECONDS:
            self.last_tenth, self.last_line = tenth, now
            percent = min(100, 100 * self.done // max(self.total, 1))
            self.stream.write(
                f"{self.label}: {percent:3d}% ({self.done:,}/{self.total:,} {self.unit}, "
                f"{rate:,.0f}/s)\n"
            )
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.terminal:
            self.stream.write("\n")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False

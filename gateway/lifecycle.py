"""How a serving process stops: gracefully, on SIGTERM (or a first Ctrl-C).

1. **Drain** (``Lifecycle.drain``): ``/readyz`` turns 503 (``"status": "stopping"``), new
   WebSocket upgrades are refused, every open WebSocket is closed with 1001 (going away) so its
   client reconnects to another process and resumes with ``after:``, and the ``on_drain`` hooks
   run (a worker stops taking new work). uvicorn alone would close WebSockets with 1012, after
   it has stopped accepting: the signal reaches this first (``handle_signals``) and is passed on
   to uvicorn once the sockets are closed.
2. uvicorn stops accepting connections and lets the requests under way finish, for up to
   ``GATEWAY_SHUTDOWN_GRACE_SECONDS`` (then it cancels them).
3. **Close** (``Lifecycle.close``, in the app's lifespan): the ``on_close`` hooks run, while the
   database and the broker are still open (a delivery worker releases the outbox rows it has
   claimed, so another process takes them at once), then the process's services close and
   ``gateway serve`` exits 0.

A part of the process that has work to wind down registers with ``services.lifecycle``::

    services.lifecycle.on_drain(worker.stop_claiming)
    services.lifecycle.on_close(worker.release_claims)

Hooks run in the order they were registered; one that fails is logged and the others still run.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import suppress
from types import FrameType
from typing import Any

log = logging.getLogger("gateway.lifecycle")

Hook = Callable[[], Awaitable[None]]

# How long the drain waits for closed WebSockets to finish their closing handshake.
WEBSOCKET_CLOSE_SECONDS = 2.0
GOING_AWAY = 1001
GOING_AWAY_REASON = "The server is shutting down; reconnect and resume with after:"
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Lifecycle:
    def __init__(self) -> None:
        self.stopping = False
        self._drain_hooks: list[Hook] = []
        self._close_hooks: list[Hook] = []
        self._sockets: dict[int, Any] = {}  # id(scope) -> the Starlette WebSocket
        self._no_sockets = asyncio.Event()
        self._no_sockets.set()
        self._drained = False
        self._closed = False
        self._previous: dict[int, Any] = {}
        self._signalled: asyncio.Task[None] | None = None

    def on_drain(self, hook: Hook) -> None:
        """Run ``hook`` when the server starts to stop (stop taking new work)."""
        self._drain_hooks.append(hook)

    def on_close(self, hook: Hook) -> None:
        """Run ``hook`` after the last request, before the database and broker close."""
        self._close_hooks.append(hook)

    # --- WebSockets -----------------------------------------------------------------------

    def track(self, websocket: Any) -> None:
        self._sockets[id(websocket.scope)] = websocket
        self._no_sockets.clear()

    def untrack(self, scope: Any) -> None:
        self._sockets.pop(id(scope), None)
        if not self._sockets:
            self._no_sockets.set()

    @property
    def open_websockets(self) -> int:
        return len(self._sockets)

    # --- stopping -------------------------------------------------------------------------

    async def drain(self) -> None:
        if self._drained:
            return
        self._drained = self.stopping = True
        sockets = list(self._sockets.values())
        log.info("stopping: closing %d WebSocket(s) with %d", len(sockets), GOING_AWAY)
        for websocket in sockets:
            with suppress(Exception):  # already closing, or gone
                await websocket.close(GOING_AWAY, GOING_AWAY_REASON)
        with suppress(TimeoutError):
            async with asyncio.timeout(WEBSOCKET_CLOSE_SECONDS):
                await self._no_sockets.wait()
        await _run(self._drain_hooks, "drain")

    async def close(self) -> None:
        await self.drain()
        if self._closed:
            return
        self._closed = True
        await _run(self._close_hooks, "close")
        self._restore_signals()

    # --- signals --------------------------------------------------------------------------

    def handle_signals(self) -> None:
        """Sees SIGTERM and SIGINT before the server that installed their handlers (uvicorn):
        the first one drains, then goes on to it; a second goes to it at once. Nothing is
        installed where the signals have no Python handler to pass them on to."""
        self._loop = asyncio.get_running_loop()
        try:
            for number in _SIGNALS:
                previous = signal.getsignal(number)
                if callable(previous):
                    self._previous[number] = previous
                    signal.signal(number, self._on_signal)
        except ValueError:  # not the main thread: signals are not ours to handle
            return

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        previous = self._previous[number]
        if self._signalled is not None:
            previous(number, frame)
            return

        def start() -> None:
            self._signalled = asyncio.ensure_future(self._drain_then(previous, number, frame))

        self._loop.call_soon_threadsafe(start)

    async def _drain_then(self, previous: Any, number: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping gracefully", signal.Signals(number).name)
        try:
            await self.drain()
        finally:
            previous(number, frame)

    def _restore_signals(self) -> None:
        for number, previous in self._previous.items():
            with suppress(ValueError):
                if signal.getsignal(number) == self._on_signal:
                    signal.signal(number, previous)
        self._previous.clear()


async def _run(hooks: list[Hook], stage: str) -> None:
    for hook in hooks:
        try:
            await hook()
        except Exception:
            log.exception("a %s hook failed", stage)

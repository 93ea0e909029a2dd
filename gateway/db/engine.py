"""Engine creation and the two kinds of connections the gateway uses: reads and writes.

SQLite: the driver's own transaction handling is switched off and SQLAlchemy issues the
``BEGIN``: ``BEGIN IMMEDIATE`` for writes (a deferred ``BEGIN`` that later writes fails with
"database is locked" under concurrent writers), a plain ``BEGIN`` for reads (WAL lets them run
beside a writer). PostgreSQL: writes of one account are serialised by a transaction-level
advisory lock, so read-modify-write of derived counters never loses an update.

Every statement has a time limit: PostgreSQL's ``statement_timeout``, and on SQLite a progress
handler that interrupts a statement running past its deadline (asyncio cannot cancel a query
running in aiosqlite's thread). A statement stopped this way raises an error that
``is_statement_timeout`` recognises. SQL parameters are never part of an error's text.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

import orjson
from sqlalchemy import event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import await_only

from gateway.db import changelog
from gateway.live.changes import Change
from gateway.notifications import outbox
from gateway.notifications.notices import LimitCrossing

log = logging.getLogger("gateway.db")

# aiosqlite logs every statement with its parameters at DEBUG: never, whatever the root level.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

_WRITE = "gateway_write"
# An execution option that lifts the statement time limit (ANALYZE after a bulk load).
NO_TIME_LIMIT = "gateway_no_time_limit"
# PostgreSQL's query_canceled, raised by statement_timeout.
_QUERY_CANCELED = "57014"
# SQLite runs the progress handler every this many virtual machine instructions.
_PROGRESS_STEPS = 10_000
_DEADLINE = "gateway_deadline"


# The statements of the request under way, counted for its log line and metrics. A list of
# one counter, shared by the tasks the request starts (they copy the context, not the list);
# SQLAlchemy runs the driver in a greenlet that shares the calling task's context.
_STATEMENTS: ContextVar[list[int] | None] = ContextVar("gateway_statements", default=None)


@contextmanager
def counting_statements() -> Iterator[list[int]]:
    """Counts the SQL statements run inside the block (``counter[0]``); transaction control
    (SQLite's ``BEGIN``) is not counted, so both backends count the same."""
    counter = [0]
    token = _STATEMENTS.set(counter)
    try:
        yield counter
    finally:
        _STATEMENTS.reset(token)


def _count_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    counter = _STATEMENTS.get()
    if counter is not None and not statement.startswith("BEGIN"):
        counter[0] += 1


def is_statement_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a statement stopped by its time limit (on either backend)."""
    orig = error.orig if isinstance(error, exc.DBAPIError) else error
    if getattr(orig, "sqlstate", None) == _QUERY_CANCELED:
        return True
    cause = getattr(orig, "__cause__", None)
    if getattr(cause, "sqlstate", None) == _QUERY_CANCELED:
        return True
    return isinstance(orig, sqlite3.OperationalError) and str(orig) == "interrupted"


# PostgreSQL's error classes of a server that is away: connection exceptions (08), and the
# operator's shutdown or a server still starting or shutting down (57P01-57P03).
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")
# SQLite's when its file cannot be opened (a volume gone or not yet mounted).
_SQLITE_UNREACHABLE = ("unable to open database file", "disk I/O error")


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached (refused, lost, shutting down or
    starting up), as opposed to a fault of the statement: the caller may try again later.
    Looks at the error, what the driver raised and what caused it."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, exc.DBAPIError):
            if current.connection_invalidated:
                return True
            todo.append(current.orig)
        if isinstance(current, OSError | exc.DisconnectionError):
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNREACHABLE_STATES):
            return True
        # asyncpg's own "connection is closed" / "was closed in the middle of operation"
        if type(current).__module__.startswith("asyncpg") and "closed" in str(current):
            return True
        if isinstance(current, sqlite3.OperationalError) and str(current) in _SQLITE_UNREACHABLE:
            return True
        todo += [current.__cause__, current.__context__]
    return False


class OutageLog:
    """One log line when a background loop starts failing because the database is away, and
    one when it works again; not a line (or a traceback) per attempt."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self.down = False

    def failed(self, error: BaseException) -> bool:
        """Whether ``error`` is the database being away (logged once per outage)."""
        if not is_unreachable(error):
            return False
        if not self.down:
            self.down = True
            self.logger.warning(
                "%s: the database is unreachable (%s); trying again until it is back",
                self.what,
                type(error).__name__,
            )
        return True

    def succeeded(self) -> None:
        if self.down:
            self.down = False
            self.logger.info("%s: the database is reachable again", self.what)


def _sqlite_listeners(engine: AsyncEngine, statement_timeout: float | None) -> None:
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        if statement_timeout is None:
            return
        # [deadline]: a monotonic time, 0.0 for none. Read in aiosqlite's thread.
        deadline = record.info[_DEADLINE] = [0.0]

        def past_deadline() -> int:
            return 1 if deadline[0] and time.monotonic() > deadline[0] else 0

        await_only(
            dbapi_connection.driver_connection.set_progress_handler(past_deadline, _PROGRESS_STEPS)
        )

    def on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    def before_execute(conn: Any, *_args: Any) -> None:
        deadline = conn.info.get(_DEADLINE)
        if deadline is not None and statement_timeout is not None:
            unlimited = conn.get_execution_options().get(NO_TIME_LIMIT, False)
            deadline[0] = 0.0 if unlimited else time.monotonic() + statement_timeout

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "begin", on_begin)
    event.listen(engine.sync_engine, "before_cursor_execute", before_execute)


def _json_loads(text: str | bytes) -> Any:
    """Stored JSON (payload headers and objects) read with orjson, several times faster than
    the standard library on a deep view's hundreds of payloads. The standard library reads
    what orjson refuses (integers past 64 bits, written from a literal in a query)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def create_engine(url: str, statement_timeout: float | None = None, **kwargs: Any) -> AsyncEngine:
    """The process's engine; ``statement_timeout`` (seconds) bounds every statement."""
    parsed = make_url(url)
    kwargs.setdefault("hide_parameters", True)
    kwargs.setdefault("json_deserializer", _json_loads)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(url, **kwargs)
        _sqlite_listeners(engine, statement_timeout)
        event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    if statement_timeout is not None:
        connect_args = kwargs.setdefault("connect_args", {})
        settings = connect_args.setdefault("server_settings", {})
        settings["statement_timeout"] = str(max(1, round(statement_timeout * 1000)))
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    return engine


def _lock_key(account_id: str) -> int:
    digest = hashlib.blake2b(account_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


Publisher = Callable[[list[Change]], Awaitable[None]]


class UnitOfWork:
    """One transaction of one account's writes, the changes of status it made and the
    task-limit thresholds it reached."""

    __slots__ = ("account_id", "changes", "conn", "crossings")

    def __init__(self, conn: AsyncConnection, account_id: str) -> None:
        self.conn = conn
        self.account_id = account_id
        self.changes: list[Change] = []
        self.crossings: list[LimitCrossing] = []

    def record(self, *changes: Change) -> None:
        for change in changes:
            if change.account_id != self.account_id:
                raise ValueError(
                    f"a change of account {change.account_id!r} in a unit of work of"
                    f" {self.account_id!r}"
                )
        self.changes.extend(changes)

    def note(self, *crossings: LimitCrossing) -> None:
        for crossing in crossings:
            if crossing.account_id != self.account_id:
                raise ValueError(
                    f"a crossing of account {crossing.account_id!r} in a unit of work of"
                    f" {self.account_id!r}"
                )
        self.crossings.extend(crossings)


# How long a write waits for its account's lock (other writes of the account), and how often
# it asks again. The wait is not one blocking statement: that would count against the
# statement timeout, and a write queued behind a few large batches would fail.
LOCK_WAIT_SECONDS = 60.0
_LOCK_POLL = (0.002, 0.05)  # first and longest pause between attempts


class AccountBusy(Exception):
    """The account's other writes held its lock longer than LOCK_WAIT_SECONDS."""


async def _lock_account(conn: AsyncConnection, account_id: str) -> None:
    key = {"k": _lock_key(account_id)}
    try_lock = text("SELECT pg_try_advisory_xact_lock(:k)")
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    pause = _LOCK_POLL[0]
    while not await conn.scalar(try_lock, key):
        if time.monotonic() > deadline:
            raise AccountBusy(
                f"other writes of account {account_id!r} held it for {LOCK_WAIT_SECONDS:g} s"
            )
        await asyncio.sleep(pause)
        pause = min(pause * 2, _LOCK_POLL[1])


class Database:
    """The one engine of a process, with the connection kinds its callers need."""

    def __init__(self, engine: AsyncEngine, publisher: Publisher | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # Receives each committed unit of work's changes (the broker's publish).
        self.publisher = publisher
        # Called after a commit that queued notifications (wakes the delivery worker).
        self.on_outbox: Callable[[], None] | None = None

    @classmethod
    def from_url(
        cls, url: str, *, statement_timeout: float | None = None, **kwargs: Any
    ) -> Database:
        return cls(create_engine(url, statement_timeout, **kwargs))

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn
            await conn.rollback()

    @asynccontextmanager
    async def write(self, account_id: str) -> AsyncIterator[UnitOfWork]:
        """The one way to change an account's data: a transaction, serialised per account,
        whose recorded changes are numbered into the change log and turned into the outbox's
        notifications before it commits, and handed to the publisher after it has committed.
        A rollback publishes and notifies nothing."""
        async with self.transaction(account_id) as conn:
            uow = UnitOfWork(conn, account_id)
            yield uow
            committed = await changelog.append(conn, account_id, uow.changes)
            queued = await outbox.enqueue(conn, account_id, committed, uow.crossings)
        if queued and self.on_outbox is not None:
            self.on_outbox()
        if committed and self.publisher is not None:
            try:
                await self.publisher(committed)
            except Exception:  # pub/sub is a hint: subscribers replay from the change log
                log.exception("publishing %d committed changes failed", len(committed))

    @asynccontextmanager
    async def transaction(self, account_id: str | None = None) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits on success; serialised per account on PostgreSQL when
        given one. For writes that change no status (keys, accounts, bookkeeping); everything
        else goes through ``write``."""
        async with self.engine.connect() as conn:
            await conn.execution_options(**{_WRITE: True})
            async with conn.begin():
                if account_id is not None and not self.is_sqlite:
                    await _lock_account(conn, account_id)
                yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await conn.rollback()

    async def analyze(self) -> None:
        """Refreshes the planner's statistics. A bulk load outgrows them long before
        autovacuum (if it runs at all) catches up, and stale ones turn key lookups into scans."""
        async with self.engine.connect() as conn:
            await conn.execution_options(**{NO_TIME_LIMIT: True})
            if self.is_sqlite:
                await conn.exec_driver_sql("ANALYZE")
                await conn.commit()
            else:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("SET statement_timeout = 0")
                try:
                    await conn.exec_driver_sql("ANALYZE")
                finally:
                    await conn.exec_driver_sql("RESET statement_timeout")

    async def dispose(self) -> None:
        await self.engine.dispose()

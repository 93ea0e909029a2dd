"""The ``gateway`` command: serve, migrate, seed, simulate, keys, purge, export-schema.

Every failure is one line on stderr (``gateway: error: …``) and a non-zero exit: 2 for a bad
command line, 1 for anything else (bad settings, an unreachable database, a port in use, an
unknown key), 130 when interrupted. ``--traceback`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import socket
import sys
import traceback
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from gateway.config import get_settings
from gateway.ids import is_engine_id

if TYPE_CHECKING:
    from gateway.config import Settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
DEMO_RATE = 0.5  # live runs per second beside serve --demo
MAX_SIMULATE_RATE = 100.0


class CliError(Exception):
    """An expected failure; its message is the one line the user sees."""


# --- commands ----------------------------------------------------------------------------


def cmd_migrate(_args: argparse.Namespace) -> int:
    from gateway.db.migrate import upgrade

    upgrade(get_settings().database_url)
    print("database is at the latest schema", file=sys.stderr)
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    from gateway.schema import schema

    text = schema.as_str() + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise CliError(f"cannot write {args.output}: {error.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0


KEY_COLUMNS = ("KEY ID", "ACCOUNT", "ROLE", "NAME", "POINTS/HOUR", "CREATED", "STATE")


def format_key_table(rows: list[tuple[str, ...]]) -> str:
    """A header row and the rows, each column as wide as its widest cell, two spaces apart."""
    table = [KEY_COLUMNS, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(KEY_COLUMNS))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in table
    )


def cmd_keys(args: argparse.Namespace) -> int:
    from gateway.auth.keys import create_key
    from gateway.db import accounts
    from gateway.db.engine import Database
    from gateway.db.migrate import upgrade

    settings = get_settings()

    async def run() -> None:
        db = Database.from_url(settings.database_url)
        try:
            if args.action == "create":
                print(
                    await create_key(
                        db, args.account, args.role, args.name, points_per_hour=args.points_per_hour
                    )
                )
            elif args.action == "list":
                async with db.read() as conn:
                    rows = await accounts.list_keys(conn, args.account)
                sys.stdout.write(
                    format_key_table(
                        [
                            (
                                row.key_id,
                                row.account_id,
                                row.role.lower(),
                                row.name,
                                str(row.points_per_hour or "default"),
                                f"{row.created_at:%Y-%m-%dT%H:%M:%SZ}",
                                f"revoked {row.revoked_at:%Y-%m-%d}"
                                if row.revoked_at
                                else "active",
                            )
                            for row in rows
                        ]
                    )
                )
            else:
                async with db.transaction() as conn:
                    revoked = await accounts.revoke_key(conn, args.key_id)
                    known = revoked or any(
                        row.key_id == args.key_id for row in await accounts.list_keys(conn, None)
                    )
                if not revoked:
                    state = "is already revoked" if known else "does not exist"
                    raise CliError(f"key {args.key_id} {state} (see gateway keys list)")
                print(
                    f"revoked {args.key_id} (servers stop accepting it within "
                    f"{settings.key_cache_seconds:g} s)",
                    file=sys.stderr,
                )
        finally:
            await db.dispose()

    upgrade(settings.database_url)
    asyncio.run(run())
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from gateway.db.migrate import upgrade
    from gateway.seed.loader import seed_demo, seed_synthetic

    settings = get_settings()
    upgrade(settings.database_url)
    if args.runs is not None:
        account = args.account or "synthetic"
        asyncio.run(seed_synthetic(settings, account, args.runs, progress=not args.quiet))
    else:
        asyncio.run(seed_demo(settings, args.account or "demo", progress=not args.quiet))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Runs until --duration or the first Ctrl-C/SIGTERM (the runs under way then finish at
    once); a second Ctrl-C interrupts."""
    import signal

    from gateway.db.migrate import upgrade
    from gateway.seed.simulate import NoTargets, Simulation, simulate
    from gateway.services import Services

    settings = get_settings()
    upgrade(settings.database_url)

    async def run() -> str:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)

        def stop(simulation: Simulation) -> None:
            for number in signals:
                loop.remove_signal_handler(number)
            simulation.stop()

        def ready(simulation: Simulation) -> None:
            for number in signals:
                loop.add_signal_handler(number, stop, simulation)
            # Another process's subscribers hear of changes only through a shared broker.
            live = "" if settings.redis_url else "; servers show them live with GATEWAY_REDIS_URL"
            print(
                f"simulating {args.rate:g} runs/s on the {len(simulation.targets)} ENABLED "
                f"integrations of account {args.account} (Ctrl-C stops{live})",
                file=sys.stderr,
                flush=True,
            )

        services = Services.from_settings(settings)
        try:
            await services.broker.start()
            totals = await simulate(
                services, args.account, rate=args.rate, duration=args.duration, on_ready=ready
            )
        except NoTargets as error:
            raise CliError(str(error)) from None
        finally:
            await services.close()
        return totals.summary()

    print(asyncio.run(run()), file=sys.stderr)
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Deletes (or with --dry-run counts) what is older than --older-than, or than each
    account's retentionDays; a bar on stderr when it is a terminal, then one summary line."""
    import time

    from gateway.actions import retention
    from gateway.db.engine import Database
    from gateway.db.migrate import upgrade
    from gateway.progress import Progress

    settings = get_settings()
    upgrade(settings.database_url)

    async def run() -> str:
        db = Database.from_url(settings.database_url)
        started = time.monotonic()
        try:
            try:
                chosen = await retention.targets(
                    db,
                    default_days=settings.retention_days,
                    older_than=args.older_than,
                    account_id=args.account,
                )
            except retention.UnknownAccount as error:
                raise CliError(f"{error} (see gateway keys list)") from None
            terminal = sys.stderr.isatty()
            # Counted first only where the count is shown: the bar's total, or the answer.
            planned = await retention.count(db, chosen) if args.dry_run or terminal else {}
            if args.dry_run:
                counts, verb = planned, "would purge"
            else:
                total = sum(planned.values())
                progress = Progress(total, terminal, "purging", unit="rows")
                counts = await retention.purge(
                    db,
                    chosen,
                    batch_size=settings.purge_batch_size,
                    pause_seconds=settings.purge_pause_seconds,
                    on_batch=lambda batch: progress.advance(sum(batch.values())),
                )
                progress.close()
                verb = "purged"
        finally:
            await db.dispose()
        plural = "" if len(chosen) == 1 else "s"
        scope = f"account {args.account}" if args.account else f"{len(chosen)} account{plural}"
        age = (
            f"older than {_shown_duration(args.older_than)}"
            if args.older_than is not None
            else "older than each account's retentionDays"
        )
        seconds = time.monotonic() - started
        return f"{verb} {retention.describe(counts)} ({scope}, {age}) in {seconds:.1f} s"

    print(asyncio.run(run()), file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Binds the port first, so a start that cannot listen changes nothing; then migrates,
    prepares the demo (once, in this process, whatever ``--workers``) and hands the bound
    socket to uvicorn."""
    import uvicorn

    from gateway.db.migrate import upgrade

    settings = get_settings()
    if args.workers > 1 and not settings.redis_url:
        raise CliError(
            f"--workers {args.workers} needs GATEWAY_REDIS_URL: without Redis each worker has "
            "its own in-process broker, and subscribers would miss the changes made in the "
            "other workers"
        )
    from gateway import tracing

    try:  # traces asked for without their packages: stop before anything starts
        tracing.check(settings)
    except tracing.TracingUnavailable as error:
        raise CliError(str(error)) from None
    host, port = args.host or settings.host, args.port or settings.port
    sock = _listen(host, port)
    try:
        upgrade(settings.database_url)
        if args.demo:
            _print_demo_key(settings, host, port)
        live = args.demo and not args.no_simulate
        if live:
            print(
                f"live demo runs: {DEMO_RATE:g} runs/s in the background (--no-simulate "
                "turns them off)",
                file=sys.stderr,
                flush=True,
            )
        from gateway.logs import log_config

        common = {
            "loop": "uvloop",
            "http": "httptools",
            "log_level": args.log_level,
            "ws_per_message_deflate": settings.websocket_deflate,
            "log_config": log_config(settings.log_format, args.log_level),
            # The gateway logs each request itself, with what it did (gateway.request).
            "access_log": False,
            "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        }
        if args.workers > 1:
            from uvicorn.supervisors import Multiprocess

            from gateway.seed.simulate import BackgroundThread

            # Once for the whole server: in this process, next to the workers.
            simulation = BackgroundThread(settings, "demo", DEMO_RATE) if live else None

            config = uvicorn.Config(
                "gateway.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=args.workers,
                **common,
            )
            if simulation is not None:
                simulation.start()
            try:
                Multiprocess(config, sockets=[sock]).run()
            finally:
                if simulation is not None:
                    simulation.stop()
            return 0
        from gateway.app import create_app
        from gateway.seed.simulate import in_background

        background = partial(in_background, account_id="demo", rate=DEMO_RATE) if live else None
        app = create_app(settings, background=background)
        config = uvicorn.Config(app, host=host, port=port, **common)
        server = uvicorn.Server(config)
        _exit_zero_once_stopped(server)
        server.run(sockets=[sock])
        if not server.started:
            raise CliError("the server did not start (see the log above)")
        return 0
    finally:
        sock.close()


def _exit_zero_once_stopped(server: Any) -> None:
    """A SIGTERM that stopped the server gracefully ends ``serve`` with 0: uvicorn raises the
    signal again once it has stopped, which would otherwise kill the process (143). One that
    comes before uvicorn serves (while migrating) stops the command at once."""
    import signal

    def on_sigterm(number: int, _frame: Any) -> None:
        if not server.should_exit:
            raise SystemExit(128 + number)

    signal.signal(signal.SIGTERM, on_sigterm)


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, as uvicorn binds it (it listens once serving starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        reason = error.strerror or str(error)
        if isinstance(error, socket.gaierror):
            reason = f"unknown host ({reason})"
        raise CliError(f"cannot listen on {_hostport(host, port)}: {reason.lower()}") from None
    sock.set_inheritable(True)
    return sock


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _print_demo_key(settings: Settings, host: str, port: int) -> None:
    from gateway.seed.loader import ensure_demo

    key = asyncio.run(ensure_demo(settings))
    browse = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    base = f"http://{_hostport(browse, port)}"
    console = f"\nConsole: {base}/console#key={key}" if settings.console else ""
    print(
        "demo account ready; its admin API key (each start replaces the previous one):\n"
        f"{key}\n"
        f"GraphiQL: {base}/graphql  (header Authorization: Bearer <key>){console}",
        file=sys.stderr,
        flush=True,
    )


# --- the command line --------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one line (usage is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {bounds} (got {value})")
        return value

    return parse


def _positive_number(high: float | None = None) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (0 < value < math.inf and (high is None or value <= high)):
            bounds = "a number above 0" + ("" if high is None else f", at most {high:g}")
            raise argparse.ArgumentTypeError(f"must be {bounds} (got {text})")
        return value

    return parse


_DURATION = re.compile(r"([0-9]{1,9})([dhm])")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
MAX_DURATION = timedelta(days=36_600)


def duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``: a whole number of days, hours or minutes, above 0."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a duration: a whole number and d, h or m (30d, 12h, 90m)"
        )
    value = int(match[1]) * _UNITS[match[2]]
    if not timedelta(0) < value <= MAX_DURATION:
        raise argparse.ArgumentTypeError(
            f"must be above 0 and at most {MAX_DURATION.days}d (got {text.strip()})"
        )
    return value


def _account_id(text: str) -> str:
    if not is_engine_id(text):
        raise argparse.ArgumentTypeError(
            f"{text[:130]!r} is not an account ID (1-128 of A-Z a-z 0-9 _ . : @ -)"
        )
    return text


def _key_name(text: str) -> str:
    if not 1 <= len(text) <= 128 or not text.isprintable():
        raise argparse.ArgumentTypeError("must be 1-128 printable characters")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gateway",
        description="The Integration View Gateway: its server, database, demo data and API keys.",
        epilog="Settings come from GATEWAY_* environment variables or a .env file (see README). "
        "Errors are one line on stderr; the exit code is 2 for a bad command line, 1 otherwise.",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="on an error, show the full Python traceback"
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", title="commands", help="one of:"
    )

    serve = sub.add_parser("serve", help="run the HTTP server (migrates the database first)")
    serve.add_argument("--host", help="address to listen on (default: GATEWAY_HOST, 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=_whole_number(1, 65535),
        metavar="P",
        help="port to listen on, 1-65535 (default: GATEWAY_PORT, 8000)",
    )
    serve.add_argument(
        "--workers",
        type=_whole_number(1),
        default=1,
        metavar="N",
        help="worker processes sharing the port (default: 1; more needs GATEWAY_REDIS_URL)",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed the demo account once, and print a fresh admin key for it (the previous "
        f"demo key stops working); runs keep starting and finishing, {DEMO_RATE:g} per second",
    )
    serve.add_argument(
        "--no-simulate",
        action="store_true",
        help="with --demo: no live runs in the background",
    )
    serve.add_argument(
        "--log-level", choices=LOG_LEVELS, default="info", help="uvicorn's log level"
    )
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=cmd_migrate)

    seed = sub.add_parser("seed", help="load the demo data, or a synthetic dataset, via ingest")
    seed.add_argument(
        "--account",
        type=_account_id,
        help="account ID (default: demo, or synthetic with --runs)",
    )
    seed.add_argument(
        "--runs",
        type=_whole_number(1),
        metavar="N",
        help="a synthetic dataset of this many runs, instead of the demo data",
    )
    seed.add_argument("--quiet", action="store_true", help="no progress output")
    seed.set_defaults(func=cmd_seed)

    simulate = sub.add_parser(
        "simulate",
        help="keep starting and finishing realistic runs on an account's ENABLED integrations",
        description="Runs start as RUNNING, their steps finish one by one, then they end OK or "
        "FAILED (some with 4xx/5xx codes), through the ingest path, until --duration or "
        "Ctrl-C; then a one-line summary.",
    )
    simulate.add_argument(
        "--account", type=_account_id, default="demo", help="account ID (default: demo)"
    )
    simulate.add_argument(
        "--rate",
        type=_positive_number(MAX_SIMULATE_RATE),
        default=1.0,
        metavar="R",
        help=f"runs started per second, above 0, at most {MAX_SIMULATE_RATE:g} (default: 1)",
    )
    simulate.add_argument(
        "--duration",
        type=_positive_number(),
        metavar="S",
        help="stop after S seconds (default: run until Ctrl-C or SIGTERM)",
    )
    simulate.set_defaults(func=cmd_simulate)

    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    keys_sub = keys.add_subparsers(
        dest="action", required=True, metavar="ACTION", title="actions", help="one of:"
    )
    create = keys_sub.add_parser("create", help="print a new key (alone) on stdout")
    create.add_argument(
        "--account", required=True, type=_account_id, help="the key's account (created if new)"
    )
    create.add_argument(
        "--role",
        required=True,
        choices=["viewer", "admin", "ingest"],
        help="viewer reads; admin reads and acts; ingest only sends engine events",
    )
    create.add_argument(
        "--name",
        type=_key_name,
        help="shown as the actor in status history (default: the role)",
    )
    create.add_argument(
        "--points-per-hour",
        type=_whole_number(1),
        metavar="N",
        help="the key's hourly rate limit in points (default: GATEWAY_RATE_LIMIT_POINTS_PER_HOUR,"
        " 5000); ingest keys are limited by events per second instead",
    )
    listing = keys_sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--account", type=_account_id, help="only this account's keys")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id (see keys list)")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the KEY ID column of keys list")
    keys.set_defaults(func=cmd_keys)

    purge = sub.add_parser(
        "purge",
        help="delete runs, steps, payloads, status history and change log older than a time",
        description="Deletes finished runs that started before the cutoff, with their steps and "
        "payloads, and status history and change-log entries from before it, in batches of "
        "GATEWAY_PURGE_BATCH_SIZE, each its own short transaction (a running server keeps "
        "serving). Runs still RUNNING are kept. Tasks consumed and last runs stay as they are. "
        "Prints a bar on a terminal, then one summary line.",
    )
    purge.add_argument(
        "--older-than",
        type=duration,
        metavar="AGE",
        help="a whole number of days, hours or minutes: 30d, 12h, 90m (default: each account's "
        "retentionDays, or GATEWAY_RETENTION_DAYS where unset; 0 keeps everything)",
    )
    purge.add_argument("--account", type=_account_id, help="only this account (default: all)")
    purge.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
    )
    purge.set_defaults(func=cmd_purge)

    export = sub.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", "-o", metavar="FILE", help="write it to FILE instead")
    export.set_defaults(func=cmd_export_schema)
    return parser


def _shown_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    for unit, size in (("d", 24 * 60), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


# --- errors ------------------------------------------------------------------------------


def describe(error: BaseException) -> str:
    """One line for an error, naming the setting or database involved (never a password)."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DBAPIError, NoSuchModuleError

    if isinstance(error, CliError):
        return str(error)
    if isinstance(error, ValidationError):
        problems = []
        for problem in error.errors():
            name = "GATEWAY_" + "_".join(str(part) for part in problem["loc"]).upper()
            problems.append(f"{name}: {problem['msg'].removeprefix('Value error, ')}")
        return "invalid setting: " + "; ".join(problems)
    if isinstance(error, NoSuchModuleError):
        return f"GATEWAY_DATABASE_URL needs a driver that is not installed ({_first_line(error)})"
    if isinstance(error, DBAPIError | OSError):
        cause = error.orig if isinstance(error, DBAPIError) and error.orig else error
        return f"cannot use the database {_database()}: {_first_line(cause)}"
    return f"{type(error).__name__}: {_first_line(error)}"


def _database() -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(get_settings().database_url).render_as_string(hide_password=True)
    except Exception:  # settings that do not load name no database
        return "of GATEWAY_DATABASE_URL"


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("gateway: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.traceback:
            traceback.print_exc()
        print(f"gateway: error: {describe(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

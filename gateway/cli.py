"""The ``gateway`` command: serve, migrate, seed, keys, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway.config import get_settings


def _settings_url(args: argparse.Namespace) -> str:
    return getattr(args, "database_url", None) or get_settings().database_url


def cmd_migrate(args: argparse.Namespace) -> int:
    from gateway.db.migrate import upgrade

    upgrade(_settings_url(args))
    print("database is at the latest schema", file=sys.stderr)
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    from gateway.schema import schema

    text = schema.as_str() + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from gateway.auth.keys import create_key
    from gateway.db import accounts
    from gateway.db.engine import Database
    from gateway.db.migrate import upgrade

    url = _settings_url(args)

    async def run() -> int:
        db = Database.from_url(url)
        try:
            if args.action == "create":
                key = await create_key(db, args.account, args.role, args.name)
                print(key)
            elif args.action == "list":
                async with db.read() as conn:
                    rows = await accounts.list_keys(conn, args.account)
                for row in rows:
                    state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                    print(
                        f"{row.key_id}\t{row.account_id}\t{row.role.lower()}\t{row.name}\t"
                        f"{row.created_at:%Y-%m-%dT%H:%M:%SZ}\t{state}"
                    )
            else:
                async with db.write() as conn:
                    revoked = await accounts.revoke_key(conn, args.key_id)
                if not revoked:
                    print(f"no active key {args.key_id}", file=sys.stderr)
                    return 1
                print(
                    f"revoked {args.key_id} (servers stop accepting it within "
                    f"{get_settings().key_cache_seconds:g} s)",
                    file=sys.stderr,
                )
            return 0
        finally:
            await db.dispose()

    upgrade(url)
    return asyncio.run(run())


def cmd_seed(args: argparse.Namespace) -> int:
    from gateway.db.migrate import upgrade
    from gateway.seed.loader import seed_demo, seed_synthetic

    settings = get_settings()
    upgrade(settings.database_url)
    if args.runs:
        asyncio.run(
            seed_synthetic(
                settings, args.account or "synthetic", args.runs, progress=not args.quiet
            )
        )
    else:
        asyncio.run(seed_demo(settings, args.account or "demo", progress=not args.quiet))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    if args.demo:
        from gateway.seed.loader import ensure_demo

        key = asyncio.run(ensure_demo(settings))
        host = args.host or settings.host
        port = args.port or settings.port
        print(
            f"demo account ready; admin API key:\n{key}\n"
            f"GraphiQL: http://{host}:{port}/graphql  (header Authorization: Bearer <key>)",
            file=sys.stderr,
        )
    kwargs = {
        "host": args.host or settings.host,
        "port": args.port or settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": args.log_level,
    }
    if args.workers and args.workers > 1:
        uvicorn.run("gateway.app:create_app", factory=True, workers=args.workers, **kwargs)
    else:
        uvicorn.run(create_app(settings), **kwargs)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server (migrates the database first)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed the demo account once and print an admin key for it",
    )
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=cmd_migrate)

    seed = sub.add_parser("seed", help="load the demo data, or a synthetic dataset, via ingest")
    seed.add_argument("--account", help="account ID (default: demo, or synthetic with --runs)")
    seed.add_argument("--runs", type=int, help="a synthetic dataset of this many runs")
    seed.add_argument("--quiet", action="store_true", help="no progress bar")
    seed.set_defaults(func=cmd_seed)

    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    create = keys_sub.add_parser("create", help="print a new key (alone) on stdout")
    create.add_argument("--account", required=True)
    create.add_argument("--role", required=True, choices=["viewer", "admin", "ingest"])
    create.add_argument("--name", help="shown as the actor in status history (default: role)")
    listing = keys_sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--account")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id (see keys list)")
    revoke.add_argument("key_id")
    keys.set_defaults(func=cmd_keys)

    export = sub.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", "-o")
    export.set_defaults(func=cmd_export_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())

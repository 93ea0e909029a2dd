"""The ASGI app: routes, the GraphQL endpoint and the process's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from gateway import tracing
from gateway.actions.periodic import run_period_sweeps, run_retention_sweeps
from gateway.config import Settings, get_settings
from gateway.console import assets as console
from gateway.db.migrate import upgrade_async
from gateway.http import access_log, graphiql
from gateway.http.endpoint import GraphQLEndpoint
from gateway.http.websocket import GraphQLWebSocket
from gateway.metrics import CONTENT_TYPE, scrape_allowed
from gateway.schema import schema
from gateway.services import Services

log = logging.getLogger("gateway")

# Work that runs beside the server for as long as it serves (the live demo runs).
Background = Callable[[Services], AbstractAsyncContextManager[None]]


def create_app(
    settings: Settings | None = None, *, migrate: bool = False, background: Background | None = None
) -> Starlette:
    settings = settings or get_settings()
    access_log.install()
    tracing.configure(settings)
    services = Services.from_settings(settings)
    if tracing.tracer is not None:
        tracing.instrument_engine(services.db.engine)
    endpoint = GraphQLEndpoint(services, schema)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if migrate:
            await upgrade_async(settings.database_url)
        await services.broker.start()
        # What exists once the server is up (modules, the schema, the engine) lives as long as
        # the process: out of the collector's sight, a full collection walks only what requests
        # allocate. Large answers trigger them often; walking the schema each time cost a
        # deep query about as much as building it.
        gc.freeze()
        # A deep view allocates some 100,000 objects: with the default first threshold (700)
        # the young generations were collected over a hundred times per request. Measured on
        # the deep view, four at a time: 12-15 % less CPU per request.
        gc.set_threshold(10_000, 50, 50)
        sweeps = [
            asyncio.create_task(run_period_sweeps(services.db, settings.period_sweep_seconds)),
            asyncio.create_task(services.notifier.run(settings.notifications_poll_seconds)),
        ]
        if settings.retention_sweep_seconds > 0:
            sweeps.append(asyncio.create_task(run_retention_sweeps(services.db, settings)))
        # SIGTERM: WebSockets closed with 1001 before the server stops accepting (lifecycle.py)
        services.lifecycle.handle_signals()
        try:
            async with background(services) if background else contextlib.nullcontext():
                yield
        finally:
            # Delivery rounds under way record their outcomes before the worker stops.
            await services.notifier.stop_claiming()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(services.notifier.total_timeout):
                    await services.notifier.settle()
            for sweep in sweeps:
                sweep.cancel()
            for sweep in sweeps:
                with contextlib.suppress(asyncio.CancelledError):
                    await sweep
            # The requests under way have finished: workers release what they hold.
            await services.lifecycle.close()
            await services.close()
            tracing.shutdown()  # sends the spans still buffered

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    # The parts found down by the last readiness check: one log line when a part goes down
    # and one when it is back, not one per probe.
    down: set[str] = set()

    async def readyz(_request: Request) -> Response:
        if services.lifecycle.stopping:
            return JSONResponse({"status": "stopping"}, 503)
        body = {"status": "ok", "database": "ok", "broker": "ok"}
        for part, ping in (("database", services.db.ping), ("broker", services.broker.ping)):
            try:
                await ping()
            except Exception as error:  # any failure means not ready
                if part not in down:
                    down.add(part)
                    log.warning("readiness check failed: %s: %s", part, error)
                body[part] = "unreachable"
                body["status"] = "unavailable"
            else:
                if part in down:
                    down.discard(part)
                    log.info("readiness check: %s is reachable again", part)
        return JSONResponse(body, 200 if body["status"] == "ok" else 503)

    metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token else None

    async def metrics(request: Request) -> Response:
        if not scrape_allowed(request.headers.get("authorization"), metrics_token):
            return Response(
                "/metrics needs Authorization: Bearer <GATEWAY_METRICS_TOKEN>\n",
                401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                media_type="text/plain",
            )
        return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)

    app = Starlette(
        routes=[
            Route("/graphql", endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            WebSocketRoute("/graphql", GraphQLWebSocket(services, schema)),
            *([Route(graphiql.STATIC_ROUTE, graphiql.asset)] if settings.graphiql else []),
            *(console.routes() if settings.console else []),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ],
        middleware=[
            Middleware(access_log.AccessLog, metrics=services.metrics),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "x-request-id"],
                # What a browser client may read of an answer: its request id and rate limits.
                expose_headers=[
                    "x-request-id",
                    "retry-after",
                    *(f"x-ratelimit-{part}" for part in ("limit", "remaining", "used", "reset")),
                    "x-ratelimit-resource",
                ],
            ),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app

"""``create_app(settings)``: the gateway as a Starlette application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crypto.encoding import b64encode
from crypto.keys import encode_public_key
from crypto.note import verifier_key_string
from crypto.sealing import SEALING_ALGORITHM
from crypto.webhooks import whpk
from gateway.api.graphql.engine import GraphQLEngine
from gateway.api.graphql.schema import build_schema
from gateway.api.http.endpoint import GraphQLEndpoint
from gateway.api.http.log_routes import LogEndpoints
from gateway.api.http.request_log import RequestLog
from gateway.api.http.transparency_routes import transparency_routes
from gateway.audit.checkpoints import note_name
from gateway.audit.signers import schedule_for
from gateway.config import Settings
from gateway.console import ConsoleFiles
from gateway.lifecycle.retention import Cutoffs, run_retention
from gateway.observability.metrics import CONTENT_TYPE, start_metrics_server
from gateway.observability.tracing import gateway_tracer
from gateway.observability.tracing import tracer_provider as configured_tracer_provider
from gateway.services import Services, utc_now

log = logging.getLogger("gateway.app")

__all__ = ["create_app"]


def discovery_document(services: Services) -> dict[str, Any]:
    """`GET /.well-known/disclosure-gateway` (docs/PROTOCOL.md §8)."""
    settings = services.settings
    keys = services.keys  # once: a rotation taken meanwhile must not mix two keys into one document
    verify_key = keys.signing_key.verify_key
    return {
        "gateway_id": settings.id,
        "checkpoint_origin": settings.origin,
        "checkpoint_verifier_key": verifier_key_string(note_name(settings.origin), bytes(verify_key)),
        "gateway_signing_key": encode_public_key(verify_key),
        # The same key as Standard Webhooks serializes it: it signs every webhook's v1a signature (§17.4).
        "webhook_public_key": whpk(verify_key),
        # Across signing-key rotations (§13): every key, earliest first, with the tree sizes it signs
        # and its disclosure-record key, so checkpoints and records signed before a rotation verify.
        "checkpoint_verifier_keys": [
            scheduled.describe() | {"gateway_signing_key": b64encode(scheduled.verifier.public_key)}
            for scheduled in schedule_for(keys, settings.origin)],
        "approvals_required": settings.approvals_required,
        "max_token_lifetime_s": settings.max_token_lifetime_s,
        "token_leeway_s": settings.token_leeway_s,
        "sealing_algorithm": SEALING_ALGORITHM,
        "max_body_bytes": settings.max_body_bytes,
        # docs/PROTOCOL.md §15: who cosigns the checkpoints, and how many must before one is served.
        "witnesses": [{"url": w.url, "verifier_key": w.vkey} for w in settings.witness_list],
        "witness_quorum": settings.quorum,
        "emergency_approvals_required": settings.emergency_approvals_required,
        "emergency_order_hours": settings.emergency_order_hours,
        # docs/PROTOCOL.md §17.5: how long a rotated-out token key still works.
        "key_overlap_hours": settings.key_overlap_hours,
    }


def retention_once(services: Services) -> None:
    """One retention run of the serving process; a failure is logged (without values) and retried next hour."""
    now = services.clock()
    try:
        run_retention(db=services.db, subjects=services.subjects,
                      holds=services.preservations, audit=services.audit,
                      cutoffs=Cutoffs.at(now, services.settings), now=now,
                      copies_only=services.settings.subject_source == "sql")
    except Exception as exc:
        log.error("retention run failed: %s", type(exc).__name__)


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now,
               services: Services | None = None, tracer_provider: Any = None) -> Starlette:
    """The gateway app. Raise ``OperatorError`` when `gateway init` has not been run.

    ``tracer_provider`` (an OpenTelemetry ``TracerProvider``) overrides the one
    ``GATEWAY_OTEL_EXPORTER`` configures."""
    provider: Any = tracer_provider if tracer_provider is not None else configured_tracer_provider(settings)
    services = services or Services.build(settings, clock=clock)
    schema = build_schema()
    engine = GraphQLEngine(schema._schema, max_tokens=settings.max_tokens, max_depth=settings.max_query_depth,
                           max_aliases=settings.max_aliases)
    # Built again only when the process takes a rotated signing key (services.keys is then another object).
    discovery: tuple[object, dict[str, Any]] = (services.keys, discovery_document(services))
    endpoint = GraphQLEndpoint(services, engine, tracer=gateway_tracer(provider))

    async def well_known(_: Request) -> Response:
        nonlocal discovery
        if discovery[0] is not services.keys:
            discovery = (services.keys, discovery_document(services))
        return JSONResponse(discovery[1])

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            await endpoint.in_thread(services.db.ping)
        except SQLAlchemyError:
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        if services.current_key.retired:  # it would sign disclosure records with a retired key
            return JSONResponse({"status": "unavailable", "database": "reachable", "signing_key": "retired"},
                                status_code=503)
        return JSONResponse({"status": "ok", "database": "reachable"})

    log_endpoints = LogEndpoints(services)

    async def metrics(_: Request) -> Response:
        body = await endpoint.in_thread(services.metrics.exposition)  # its gauges read the database
        return Response(body, media_type=CONTENT_TYPE)

    async def retention_every_hour() -> None:
        # IP events are kept only "for a short period" (docs/PROTOCOL.md §16.3), server running or not.
        while True:
            await asyncio.sleep(settings.retention_every_seconds)
            await run_in_threadpool(retention_once, services)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        services.start_background()
        tickers = [asyncio.create_task(retention_every_hour())]
        metrics_server = (start_metrics_server(services.metrics, settings.metrics_host, settings.metrics_port)
                          if settings.metrics_port is not None else None)
        try:
            yield
        finally:
            if metrics_server is not None:
                metrics_server.shutdown()
                metrics_server.server_close()
            for ticker in tickers:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            endpoint.close()  # the last windows' summaries, queued before the writer drains and stops
            services.close()
            if tracer_provider is None and provider is not None:
                provider.shutdown()  # flush the last spans

    routes = [
        *([Route("/metrics", metrics, methods=["GET"])] if settings.metrics and settings.metrics_port is None else []),
        Route("/graphql", endpoint),
        Route("/.well-known/disclosure-gateway", well_known, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/audit/checkpoint", log_endpoints.checkpoint, methods=["GET"]),
        Route("/audit/tile/{path:path}", log_endpoints.tile, methods=["GET"]),
        *transparency_routes(services),
    ]
    if settings.console:
        console = ConsoleFiles()
        routes += [Route("/console", console.redirect, methods=["GET", "HEAD"]),
                   Route("/console/{name:path}", console.serve, methods=["GET", "HEAD"])]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(RequestLog, routes=routes)])
    app.state.services = services
    return app

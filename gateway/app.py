"""``create_app(settings)``: the gateway as a Starlette application."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from crypto.keys import encode_public_key
from crypto.note import verifier_key_string
from crypto.sealing import SEALING_ALGORITHM
from gateway.api.engine import GraphQLEngine
from gateway.api.http import GraphQLEndpoint
from gateway.api.request_log import RequestLog
from gateway.api.schema import build_schema
from gateway.api.transparency_http import transparency_routes
from gateway.audit.checkpoints import latest_checkpoint, note_name
from gateway.config import Settings
from gateway.services import Services, utc_now

__all__ = ["create_app"]


def discovery_document(services: Services) -> dict[str, Any]:
    """`GET /.well-known/disclosure-gateway` (docs/PROTOCOL.md §8)."""
    settings = services.settings
    verify_key = services.keys.checkpoint_key.verify_key
    return {
        "gateway_id": settings.id,
        "checkpoint_origin": settings.origin,
        "checkpoint_verifier_key": verifier_key_string(note_name(settings.origin), bytes(verify_key)),
        "gateway_signing_key": encode_public_key(verify_key),
        "approvals_required": settings.approvals_required,
        "max_token_lifetime_s": settings.max_token_lifetime_s,
        "token_leeway_s": settings.token_leeway_s,
        "sealing_algorithm": SEALING_ALGORITHM,
        "max_body_bytes": settings.max_body_bytes,
    }


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now,
               services: Services | None = None) -> Starlette:
    """The gateway app. Raise ``OperatorError`` when `gateway init` has not been run."""
    services = services or Services.build(settings, clock=clock)
    schema = build_schema()
    engine = GraphQLEngine(schema._schema, max_tokens=settings.max_tokens, max_depth=settings.max_query_depth,
                           max_aliases=settings.max_aliases)
    discovery = discovery_document(services)
    endpoint = GraphQLEndpoint(services, engine)

    async def well_known(_: Request) -> Response:
        return JSONResponse(discovery)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            await endpoint.in_thread(services.db.ping)
        except SQLAlchemyError:
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "reachable"})

    def read_checkpoint() -> str | None:
        with services.db.engine.connect() as connection:
            return latest_checkpoint(connection)

    async def checkpoint(_: Request) -> Response:
        note = await endpoint.in_thread(read_checkpoint)
        if note is None:
            return PlainTextResponse("no checkpoint yet\n", status_code=404)
        return PlainTextResponse(note)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            endpoint.close()  # the last windows' summaries, queued before the writer drains and stops
            services.close()

    routes = [
        Route("/graphql", endpoint),
        Route("/.well-known/disclosure-gateway", well_known, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/audit/checkpoint", checkpoint, methods=["GET"]),
        *transparency_routes(services),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(RequestLog, routes=routes)])
    app.state.services = services
    return app

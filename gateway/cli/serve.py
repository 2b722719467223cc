"""`gateway serve`: the app under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from starlette.applications import Starlette

from gateway.api.request_log import logging_config
from gateway.cli.common import handle_errors, open_database, settings
from gateway.keyring import load_gateway_keys

__all__ = ["MAX_HEADER_BYTES", "app_from_environment", "serve"]

MAX_HEADER_BYTES = 2 * 1024 * 1024
"""Request head size uvicorn accepts (its default is 16 KiB). Larger heads would be dropped before
the app, unanswered and unaudited; up to this size the app refuses them with a §6 code and logs
them (an oversized token is TOKEN_INVALID before it is parsed)."""


def app_from_environment() -> Starlette:
    """The uvicorn factory: each worker process builds its app from the environment."""
    from gateway.app import create_app

    return create_app(settings())


@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(help="worker processes", min=1, max=64)] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the gateway. Refuses to start when keys are missing or readable by others."""
    config = settings()
    load_gateway_keys(config)  # fail here, with its message, rather than in every worker
    open_database(config).dispose()
    uvicorn.run("gateway.cli.serve:app_from_environment", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, server_header=False, proxy_headers=False,
                # uvicorn's access log prints query strings and client addresses; the gateway's
                # own request log (gateway.api.request_log) holds neither.
                access_log=False, log_config=logging_config(log_level),
                h11_max_incomplete_event_size=MAX_HEADER_BYTES)

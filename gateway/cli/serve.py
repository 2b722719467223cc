"""`gateway serve`: the app under uvicorn, with TLS and a trusted reverse proxy when asked."""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli.common import fail, handle_errors, open_database, settings

if TYPE_CHECKING:  # the server is imported by the command that serves, never by a help
    from starlette.applications import Starlette

__all__ = ["MAX_HEADER_BYTES", "app_from_environment", "serve"]

MAX_HEADER_BYTES = 2 * 1024 * 1024
"""Request head size uvicorn accepts (its default is 16 KiB). Larger heads would be dropped before
the app, unanswered and unaudited; up to this size the app refuses them with a §6 code and logs
them (an oversized token is TOKEN_INVALID before it is parsed)."""


def app_from_environment() -> Starlette:
    """The uvicorn factory: each worker process builds its app from the environment."""
    from gateway.app import create_app

    return create_app(settings())


@contextlib.contextmanager
def _multiprocess_metrics(workers: int) -> Iterator[None]:
    """With several workers, a fresh private directory in ``PROMETHEUS_MULTIPROC_DIR`` for the
    workers' metric files (gateway.observability.metrics), set before they start (they read it when
    they first import prometheus_client) and removed once they stopped: a directory left from an
    earlier run would add that run's counts to this one's."""
    if workers == 1:
        yield
        return
    directory = tempfile.mkdtemp(prefix="disclosure-gateway-metrics-")  # mode 0700: the workers' own
    previous = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = previous
        shutil.rmtree(directory, ignore_errors=True)


def _readable(path: Path | None, option: str) -> str | None:
    if path is None:
        return None
    if not path.is_file():
        fail(f"{option}: {path.resolve()} is not a readable file")
    return str(path)


def _check_tls(certfile: str, keyfile: str) -> None:
    """Load the pair once before uvicorn does, which would end in a traceback (or prompt for the
    passphrase of an encrypted key); the message names the options and never the files' content."""
    asked: list[bool] = []

    def no_password() -> bytes:
        # Asked only for an encrypted key: no passphrase, so it fails to load, and `asked` says why.
        asked.append(True)
        return b""

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certfile, keyfile, password=no_password)
    except (ssl.SSLError, OSError, ValueError) as exc:
        if asked:
            fail("--ssl-keyfile (GATEWAY_SSL_KEYFILE) is encrypted; give the key without a passphrase")
        fail(f"--ssl-certfile and --ssl-keyfile (GATEWAY_SSL_CERTFILE, GATEWAY_SSL_KEYFILE) are not a PEM "
             f"certificate and its private key: {type(exc).__name__}")


@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(help="worker processes", min=1, max=64)] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    ssl_certfile: Annotated[Path | None, typer.Option(
        envvar="GATEWAY_SSL_CERTFILE", help="serve HTTPS with this PEM certificate (chain)")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(
        envvar="GATEWAY_SSL_KEYFILE", help="the PEM private key of --ssl-certfile")] = None,
    proxy_headers: Annotated[bool, typer.Option(
        envvar="GATEWAY_PROXY_HEADERS",
        help="take the client address from X-Forwarded-For / X-Forwarded-Proto, but only on connections "
             "from --forwarded-allow-ips")] = False,
    forwarded_allow_ips: Annotated[str, typer.Option(
        envvar="GATEWAY_FORWARDED_ALLOW_IPS",
        help="comma-separated proxy addresses or networks whose forwarded headers are believed")] = "127.0.0.1",
) -> None:
    """Serve the gateway. Refuses to start when keys are missing or readable by others.

    Behind a reverse proxy, the rate limit of unauthenticated refusals keys by the forwarded client
    address only when the connection comes from an allowed proxy; from anyone else the header is
    ignored, so a client cannot pick its own rate-limit key."""
    from gateway.keys.keyring import load_gateway_keys

    config = settings()
    if (ssl_certfile is None) != (ssl_keyfile is None):
        fail("--ssl-certfile and --ssl-keyfile go together: give both, or neither")
    certfile, keyfile = _readable(ssl_certfile, "--ssl-certfile"), _readable(ssl_keyfile, "--ssl-keyfile")
    if certfile is not None and keyfile is not None:
        _check_tls(certfile, keyfile)
    if config.metrics_port is not None and workers > 1:
        fail("GATEWAY_METRICS_PORT serves one process's metrics; with --workers > 1 use GATEWAY_METRICS=true "
             "(/metrics on the main port) instead")
    load_gateway_keys(config)  # fail here, with its message, rather than in every worker
    open_database(config).dispose()
    with _multiprocess_metrics(workers):
        _run(config.log_format, host=host, port=port, workers=workers, log_level=log_level,
             proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips, certfile=certfile,
             keyfile=keyfile)


def _run(log_format: str, *, host: str, port: int, workers: int, log_level: str, proxy_headers: bool,
         forwarded_allow_ips: str, certfile: str | None, keyfile: str | None) -> None:
    import uvicorn

    from gateway.api.http.request_log import logging_config
    from gateway.observability.logs import log_config

    uvicorn.run("gateway.cli.serve:app_from_environment", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, server_header=False, proxy_headers=proxy_headers,
                forwarded_allow_ips=forwarded_allow_ips if proxy_headers else "",
                ssl_certfile=certfile, ssl_keyfile=keyfile,
                # uvicorn's access log prints query strings and client addresses; the gateway's
                # own request log (gateway.api.http.request_log) holds neither.
                access_log=False,
                log_config=log_config(log_level) if log_format == "json" else logging_config(log_level),
                h11_max_incomplete_event_size=MAX_HEADER_BYTES)

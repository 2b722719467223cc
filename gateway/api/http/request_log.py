"""The gateway's own request log, in place of uvicorn's access log (issue 11, finding 5).

uvicorn's access log prints the request line, query string and all, and the client's address: a
``GET /graphql?variables={"by":{"phoneNumber":…}}`` is refused 405, but the number would be in the
log, and addresses are what :mod:`gateway.api.http.rate_limit` promises never leave the process. So
`gateway serve` turns that log off, and this middleware writes one line per request to the stdlib
logger ``gateway.request`` holding only what the gateway chose: the method (when it is a standard
one), the route (the template of the route that matched, else ``other``: a path may carry anything),
the status, the duration, the request id and the audit index. Never the query string, a header, or an address.

Each record carries these as attributes too (``record.http``, a :class:`RequestLine`), so another
formatter (JSON, say) can print them without parsing the message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AUDIT_INDEX", "LOGGER", "REQUEST_ID", "RequestLine", "RequestLog", "logging_config"]

LOGGER = "gateway.request"
REQUEST_ID = "gateway.request_id"
"""Key in the ASGI scope's ``state`` under which the endpoint leaves the request id it issued."""
AUDIT_INDEX = "gateway.audit_index"
"""Key in the ASGI scope's ``state`` for the index of the request's audit entry."""

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})

log = logging.getLogger(LOGGER)


@dataclass(frozen=True)
class RequestLine:
    """One request as the log holds it."""

    method: str
    path: str
    status: int
    duration_ms: float
    request_id: str | None
    audit_index: int | None

    def message(self) -> str:
        index = "-" if self.audit_index is None else str(self.audit_index)
        return (f"{self.method} {self.path} {self.status} {self.duration_ms:.1f}ms "
                f"request_id={self.request_id or '-'} audit_index={index}")


class RequestLog:
    """ASGI middleware: one ``gateway.request`` INFO record per HTTP request, once it is answered."""

    def __init__(self, app: ASGIApp, *, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500  # what the server answers when the app raises before it starts a response

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            method = str(scope.get("method", ""))
            index = state.get(AUDIT_INDEX)
            line = RequestLine(
                method=method if method in _METHODS else "OTHER",
                path=self._route(scope),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                request_id=state.get(REQUEST_ID),
                audit_index=index if isinstance(index, int) else None,
            )
            log.info("%s", line.message(), extra={"http": line})


    def _route(self, scope: Scope) -> str:
        """The matching route's template (``/transparency/{period}``, never the period sent), or ``other``."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return str(getattr(route, "path", "other"))
        return "other"


def logging_config(level: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` for `gateway serve`: uvicorn's own loggers as uvicorn sets
    them up, minus the access log, plus the ``gateway`` loggers (this request log, errors) on stderr."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s",
                                   "use_colors": None}},
        "handlers": {"default": {"formatter": "default", "class": "logging.StreamHandler",
                                 "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "gateway": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }

"""Log lines as JSON (``GATEWAY_LOG_FORMAT=json``): one object a line, with the request id, the
audit index and (when tracing) the W3C trace id of the request being answered.

:class:`JsonFormatter` is a plain :class:`logging.Formatter`, installed by `gateway serve` through
uvicorn's ``log_config`` (:func:`log_config`), so it formats whatever logger writes: the gateway's
own, uvicorn's, and any request log. The request id and audit index come from context variables
the GraphQL endpoint sets (:func:`bind_request`, :func:`bind_audit_index`); anything logged while
a request is answered, in its task or a worker thread it started, carries them.

What a line never holds: a subject value, a query string, a token or a client address. The
gateway's own messages are written without them; for uvicorn's access log, whose message has the
client address and the query string, the line keeps only the method, the route (one of the
gateway's, else ``other``) and the status. Exceptions appear by type only: a traceback's locals
and messages are not the gateway's to vouch for.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["ROUTES", "JsonFormatter", "bind_audit_index", "bind_request", "bind_trace", "log_config"]

ROUTES: Final = frozenset({"/graphql", "/metrics", "/healthz", "/readyz", "/audit/checkpoint",
                           "/.well-known/disclosure-gateway"})

_request_id: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)
_audit_index: ContextVar[int | None] = ContextVar("gateway_audit_index", default=None)
_trace_id: ContextVar[str | None] = ContextVar("gateway_trace_id", default=None)

_EXTRA_FIELDS: Final = ("operation", "code", "status", "duration_ms", "method", "route")
"""Fields a record may carry as ``extra=`` and the line then shows; any other extra is left out."""


def bind_request(request_id: str) -> None:
    """Name the request being answered in every line logged from here on in this context."""
    _request_id.set(request_id)
    _audit_index.set(None)


def bind_audit_index(index: int) -> None:
    _audit_index.set(index)


def bind_trace(trace_id: str | None) -> None:
    """Name the trace (32 hex digits, as in ``traceparent``) of the request being answered, or none."""
    _trace_id.set(trace_id)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time``, ``level``, ``logger``, ``message``, and ``request_id``,
    ``audit_index``, ``trace_id`` and the allowed extra fields when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        http = record.__dict__.get("http")
        if record.name == "uvicorn.access":
            line |= _access(record)
        elif dataclasses.is_dataclass(http) and not isinstance(http, type):
            line |= _request_line(dataclasses.asdict(http))
        else:
            line["message"] = record.getMessage()
        for name in _EXTRA_FIELDS:
            if name in record.__dict__ and name not in line:
                line[name] = record.__dict__[name]
        request_id, index = _request_id.get(), _audit_index.get()
        if request_id is not None:
            line["request_id"] = request_id
        if index is not None:
            line["audit_index"] = index
        trace_id = _trace_id.get()
        if trace_id is not None:
            line["trace_id"] = trace_id
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False, default=str)


def _access(record: logging.LogRecord) -> dict[str, Any]:
    """uvicorn's access record without its client address and query string."""
    args = record.args if isinstance(record.args, tuple) else ()
    if len(args) != 5:
        return {"message": "request"}
    _, method, path, _, status = args
    route = str(path).split("?", 1)[0]
    return {"message": "request", "method": str(method), "route": route if route in ROUTES else "other",
            "status": status}


def _request_line(fields: dict[str, Any]) -> dict[str, Any]:
    """The gateway's own request log record (gateway.api.http.request_log.RequestLine): a route template,
    never the path sent, so an unmatched path is ``other``."""
    line: dict[str, Any] = {"message": "request", "method": fields.get("method"),
                            "route": str(fields.get("path", "other")), "status": fields.get("status"),
                            "duration_ms": fields.get("duration_ms")}
    if fields.get("request_id") is not None:
        line["request_id"] = fields["request_id"]
    if fields.get("audit_index") is not None:
        line["audit_index"] = fields["audit_index"]
    return line


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's ``log_config`` for JSON lines on standard error, for uvicorn's loggers and the gateway's."""
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["json"], "level": level, "propagate": False},
            "gateway": {"handlers": ["json"], "level": level, "propagate": False},
        },
    }

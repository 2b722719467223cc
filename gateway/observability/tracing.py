"""OpenTelemetry traces, when the operator configures an exporter (``GATEWAY_OTEL_EXPORTER``).

The ``opentelemetry-sdk`` package is an optional dependency (``pip install
'disclosure-gateway[otel]'``); nothing imports it unless an exporter is configured. ``console``
prints spans as JSON on standard output; ``otlp`` sends them over OTLP/HTTP (it needs
``opentelemetry-exporter-otlp-proto-http``, configured by the standard ``OTEL_EXPORTER_OTLP_*``
variables, which that library reads itself).

A request's span joins the caller's trace when the request carries a W3C ``traceparent`` header
(https://www.w3.org/TR/trace-context/; one that does not parse starts a trace of its own), and its
trace id goes into the JSON log lines written while it is answered (``logs``).

A request's span carries only what a metric may carry, plus the request id and audit index: the
root operation, the §6 code, the HTTP status. Never a subject value, a query string, a token or a
client address.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from gateway.config import Settings
from gateway.errors import OperatorError
from gateway.observability.logs import bind_trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

__all__ = ["gateway_tracer", "server_span", "tracer_provider"]

_INSTALL = "pip install 'disclosure-gateway[otel]'"


def tracer_provider(settings: Settings) -> TracerProvider | None:
    """The provider for ``settings.otel_exporter``; None when tracing is off. :class:`OperatorError`
    when the exporter's package is not installed."""
    if settings.otel_exporter == "none":
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    except ImportError:
        raise OperatorError(f"GATEWAY_OTEL_EXPORTER={settings.otel_exporter} needs OpenTelemetry: {_INSTALL}") from None
    exporter: SpanExporter
    if settings.otel_exporter == "console":
        exporter = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise OperatorError("GATEWAY_OTEL_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http "
                                "installed beside the gateway") from None
        exporter = OTLPSpanExporter()
    provider = SdkTracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def gateway_tracer(provider: Any) -> Tracer | None:
    """The gateway's tracer from ``provider``, or None."""
    if provider is None:
        return None
    tracer: Tracer = provider.get_tracer("disclosure-gateway")
    return tracer


@contextlib.contextmanager
def server_span(tracer: Tracer | None, name: str, headers: Mapping[str, str]) -> Iterator[Span | None]:
    """The server span of one request, a child of the span its ``traceparent`` header names (W3C
    Trace Context, ``traceparent`` and ``tracestate``, only: the caller's baggage is not taken in),
    with its trace id bound for the log lines; without a tracer, nothing and no trace id."""
    if tracer is None:
        bind_trace(None)
        yield None
        return
    # Imported only when tracing: OpenTelemetry is an optional dependency.
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract(headers)
    with tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER) as span:
        context = span.get_span_context()
        bind_trace(format(context.trace_id, "032x") if context.is_valid else None)
        yield span

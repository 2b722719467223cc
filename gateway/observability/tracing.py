"""OpenTelemetry traces, when the operator configures an exporter (``GATEWAY_OTEL_EXPORTER``).

The ``opentelemetry-sdk`` package is an optional dependency (``pip install
'disclosure-gateway[otel]'``); nothing imports it unless an exporter is configured. ``console``
prints spans as JSON on standard output; ``otlp`` sends them over OTLP/HTTP (it needs
``opentelemetry-exporter-otlp-proto-http``, configured by the standard ``OTEL_EXPORTER_OTLP_*``
variables, which that library reads itself).

A request's span carries only what a metric may carry, plus the request id and audit index: the
root operation, the §6 code, the HTTP status. Never a subject value, a query string, a token or a
client address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.config import Settings
from gateway.errors import OperatorError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

__all__ = ["gateway_tracer", "tracer_provider"]

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
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
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

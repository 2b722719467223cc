"""OpenTelemetry traces (docs/PROTOCOL.md §13): one server span per GraphQL request, with the
operation, code, request id and audit index, and nothing about anyone."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tomllib
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.observability.logs import JsonFormatter
from gateway.observability.tracing import tracer_provider
from gateway.services import Services
from tests.support.harness import Harness
from tests.support.live import REPO
from tests.support.plaintext import leaks, secrets_of
from tests.support.world import build_world

QUERY = "query($p: String!) { subject(by: {phoneNumber: $p}) { id phoneNumber { ciphertext } } }"


def test_each_request_is_one_span_without_subject_data(settings: Settings) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    services = Services.build(settings)
    with TestClient(create_app(settings, services=services, tracer_provider=provider)) as client:
        harness = Harness(settings, client, services)
        world = build_world(harness)
        order = world.active_order()
        phone = world.subjects[0]["phone"]
        disclosed = harness.post(world.authority, QUERY, variables={"p": phone}, order=order["id"])
        assert disclosed.status_code == 200
        assert harness.post(None, "{ whoami { id } }").status_code == 401
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["POST /graphql"] * 6
    disclosure = spans[-2].attributes or {}
    audit = disclosed.json()["extensions"]["audit"]
    assert disclosure["gateway.operation"] == "subject" and disclosure["gateway.code"] == "OK"
    assert disclosure["gateway.request_id"] == audit["request_id"]
    assert disclosure["gateway.audit_index"] == audit["index"]
    refusal = spans[-1].attributes or {}
    assert refusal["gateway.code"] == "UNAUTHENTICATED" and refusal["http.response.status_code"] == 401
    texts = [f"{k}={v}" for s in spans for k, v in (s.attributes or {}).items()]
    assert leaks(texts, secrets_of(world.subjects) | {"testclient"}) == []


def test_tracing_is_off_unless_an_exporter_is_configured(make_settings: Callable[..., Settings]) -> None:
    assert tracer_provider(make_settings()) is None
    provider = tracer_provider(make_settings(otel_exporter="console", otel_service_name="gw-test"))
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "gw-test"
    provider.shutdown()


def test_an_unknown_exporter_is_a_configuration_error(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValueError, match="otel_exporter"):
        make_settings(otel_exporter="jaeger")


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@contextlib.contextmanager
def _json_lines() -> Iterator[io.StringIO]:
    """What the ``gateway`` loggers write at INFO, formatted as `gateway serve` does with GATEWAY_LOG_FORMAT=json."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gateway")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _traced(settings: Settings, headers: dict[str, str]) -> tuple[list[ReadableSpan], list[dict[str, object]]]:
    """One unauthenticated request with ``headers``, traced into memory; its span(s) and the JSON lines
    of the ``gateway`` loggers while it was answered."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with _json_lines() as lines, TestClient(create_app(settings, tracer_provider=provider)) as client:
        assert client.post("/graphql", json={"query": "{ whoami { id } }"}, headers=headers).status_code == 401
    parsed = [json.loads(line) for line in lines.getvalue().splitlines()]
    return list(exporter.get_finished_spans()), [p for p in parsed if p.get("route") == "/graphql"]


def test_a_traceparent_header_makes_the_request_span_a_child_in_the_callers_trace(settings: Settings) -> None:
    spans, logged = _traced(settings, {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    [span] = spans
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_ID
    assert span.parent.is_remote
    [line] = logged
    assert line["trace_id"] == TRACE_ID


def test_without_a_usable_traceparent_the_request_starts_a_trace_of_its_own(settings: Settings) -> None:
    for headers in ({}, {"traceparent": "00-not-a-trace-01"}, {"traceparent": f"00-{'0' * 32}-{PARENT_ID}-01"}):
        spans, logged = _traced(settings, headers)
        [span] = spans
        assert span.parent is None, headers
        own = format(span.context.trace_id, "032x")
        assert own != TRACE_ID and own != "0" * 32
        assert [line["trace_id"] for line in logged] == [own], headers


def test_without_tracing_no_line_names_a_trace(settings: Settings) -> None:
    with _json_lines() as lines, TestClient(create_app(settings)) as client:
        client.post("/graphql", json={"query": "{ whoami { id } }"},
                    headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert '"route": "/graphql"' in lines.getvalue() and "trace_id" not in lines.getvalue()


def test_the_otel_extra_installs_the_otlp_exporter_that_otlp_needs(make_settings: Callable[..., Settings]) -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("opentelemetry-exporter-otlp-proto-http") for r in extras["otel"])
    provider = tracer_provider(make_settings(otel_exporter="otlp"))  # OperatorError if it were missing
    assert isinstance(provider, TracerProvider)
    provider.shutdown()

"""OpenTelemetry traces (docs/PROTOCOL.md §13): one server span per GraphQL request, with the
operation, code, request id and audit index, and nothing about anyone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.observability.tracing import tracer_provider
from gateway.services import Services
from tests.support.harness import Harness
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

"""`GET /metrics` (Prometheus text, docs/PROTOCOL.md §13): counters by root operation and code,
latency and audit-commit histograms, and gauges of shared state; never a subject value or address."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import version

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import insert

from gateway.config import Settings
from gateway.maintenance.initialize import initialize
from gateway.observability.metrics import GatewayMetrics
from gateway.store.tables import AuditCosignature
from tests.support.harness import Harness, running_gateway
from tests.support.plaintext import leaks, secrets_of
from tests.support.world import World, build_world

_cosignatures = AuditCosignature.__table__  # type: ignore[attr-defined]
QUERY = "query($p: String!) { subject(by: {phoneNumber: $p}) { id phoneNumber { ciphertext } } }"


@pytest.fixture
def metered(make_settings: Callable[..., Settings], database_url: str) -> Iterator[Harness]:
    config = make_settings(database_url=database_url, metrics=True)
    initialize(config)
    with running_gateway(config) as harness:
        yield harness


def samples(harness: Harness) -> dict[str, list[Sample]]:
    response = harness.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    harness.bodies.append(response.text)
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def value(found: dict[str, list[Sample]], name: str, **labels: str) -> float:
    matching = [s.value for s in found.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matching) == 1, f"{name}{labels}: {found.get(name)}"
    return matching[0]


def test_metrics_after_a_disclosure_and_a_refusal(metered: Harness) -> None:
    world: World = build_world(metered)
    order = world.active_order()
    disclosed = metered.post(world.authority, QUERY, variables={"p": world.subjects[0]["phone"]}, order=order["id"])
    assert disclosed.status_code == 200, disclosed.text
    refused = metered.post(None, "{ whoami { id } }", headers={"x-forwarded-for": "198.51.100.23"})
    assert refused.status_code == 401

    found = samples(metered)
    assert value(found, "disclosure_gateway_requests_total", operation="subject", code="OK") == 1
    assert value(found, "disclosure_gateway_requests_total", operation="none", code="UNAUTHENTICATED") == 1
    assert value(found, "disclosure_gateway_requests_total", operation="approveOrder", code="OK") == 2
    assert value(found, "disclosure_gateway_request_duration_seconds_count", operation="subject") == 1
    assert value(found, "disclosure_gateway_request_duration_seconds_bucket", operation="subject", le="+Inf") == 1
    entries = metered.audit_size()
    assert value(found, "disclosure_gateway_audit_batch_entries_sum") == entries
    assert value(found, "disclosure_gateway_audit_commit_seconds_count") >= 1
    assert value(found, "disclosure_gateway_orders", status="ACTIVE") == 1
    assert value(found, "disclosure_gateway_replay_store_tokens") >= 5
    assert value(found, "disclosure_gateway_checkpoint_age_seconds") >= 0  # `gateway init` signed the empty tree

    text = metered.bodies[-1]
    assert leaks([text], secrets_of(world.subjects)) == []
    for never in ("198.51.100.23", "testclient", world.authority.id, order["id"], world.subjects[0]["id"]):
        assert never not in text


def test_checkpoint_age_once_there_is_one(metered: Harness) -> None:
    metered.post(None, "{ whoami { id } }")
    metered.services.audit.checkpoint_now()
    assert 0 <= value(samples(metered), "disclosure_gateway_checkpoint_age_seconds") < 3600


def test_every_name_is_under_the_gateways_prefix_or_a_standard_process_metric(metered: Harness) -> None:
    found = samples(metered)
    names = set(found)
    assert names, "no metrics"
    assert {n for n in names if not n.startswith(("disclosure_gateway_", "process_"))} == set()
    assert any(n.startswith("process_") for n in names)
    assert value(found, "process_resident_memory_bytes") > 0
    assert value(found, "disclosure_gateway_workers") == 1
    info = found["disclosure_gateway_build_info"]
    assert [s.value for s in info] == [1.0] and info[0].labels["version"] == version("disclosure-gateway")


def test_witness_lag_is_the_latest_size_past_what_the_witness_cosigned(metered: Harness) -> None:
    metered.post(None, "{ whoami { id } }")
    metered.services.audit.checkpoint_now()
    size = metered.audit_size()
    with metered.services.db.engine.begin() as connection:
        connection.execute(insert(_cosignatures).values(tree_size=0, witness="w1.test/witness", line="-",
                                                        timestamp=0))
    assert value(samples(metered), "disclosure_gateway_witness_lag_entries", witness="w1.test/witness") == size


def test_a_configured_witness_that_never_cosigned_lags_by_the_whole_log(metered: Harness) -> None:
    metered.post(None, "{ whoami { id } }")
    metered.services.audit.checkpoint_now()
    metrics = GatewayMetrics()
    metrics.watch(metered.services.db.engine.connect, list, metered.services.clock, ["w2.test/witness"])
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    assert value(found, "disclosure_gateway_witness_lag_entries", witness="w2.test/witness") == metered.audit_size()


def test_metrics_are_off_unless_asked_for(gateway: Harness) -> None:
    assert gateway.client.get("/metrics").status_code == 404

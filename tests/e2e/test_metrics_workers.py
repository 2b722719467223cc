"""`gateway serve --workers 2`: whichever worker answers a scrape, it reports every worker's counts
(prometheus_client's multiprocess mode, docs/PROTOCOL.md §13 Metrics), and each worker's process
metrics under its pid."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import Settings
from gateway.maintenance.initialize import initialize
from tests.support.live import clean_env, free_port, serving

pytestmark = pytest.mark.e2e

REQUESTS = 24


def _scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    # A connection of its own each time, so the kernel may hand the scrape to either worker.
    response = httpx.get(f"{url}/metrics", timeout=10, headers={"connection": "close"})
    assert response.status_code == 200
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_every_scrape_sums_the_counters_of_both_workers(tmp_path: Path) -> None:
    config = Settings(data_dir=tmp_path / "var", id="gateway.workers", _env_file=None)  # type: ignore[call-arg]
    initialize(config)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = clean_env(GATEWAY_DATA_DIR=str(config.data_dir), GATEWAY_ID=config.id, GATEWAY_METRICS="true",
                    TMPDIR=str(temporary))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with serving(env, tmp_path, free_port(), tmp_path / "server.log", args=["--workers", "2"]) as url:
        # The workers' metric files (beside whatever else Python puts in TMPDIR): the gateway user's only.
        [directory] = temporary.glob("disclosure-gateway-metrics-*")
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for _ in range(REQUESTS):
            answer = httpx.post(f"{url}/graphql", json={"query": "{ whoami { id } }"}, timeout=10,
                                headers={"connection": "close"})
            assert answer.status_code in (401, 429)
        scrapes = [_scrape(url) for _ in range(8)]
    assert list(temporary.glob("disclosure-gateway-metrics-*")) == []  # removed at exit: a next run starts from 0
    for found in scrapes:
        counted = sum(v for labels, v in found["disclosure_gateway_requests_total"] if labels["operation"] == "none")
        assert counted == REQUESTS
        observed = sum(v for labels, v in found["disclosure_gateway_request_duration_seconds_count"]
                       if labels["operation"] == "none")
        assert observed == REQUESTS
        assert [v for _, v in found["disclosure_gateway_workers"]] == [2.0]
        assert len({labels["pid"] for labels, _ in found["process_resident_memory_bytes"]}) == 2
        assert [v for _, v in found["disclosure_gateway_build_info"]] == [1.0]

"""`GATEWAY_LOG_FORMAT=json`: a whole run's log lines are JSON with request ids and audit indexes,
and none holds a subject value, a query string, a token or a client address (docs/PROTOCOL.md §13)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from gateway.config import Settings
from gateway.maintenance.initialize import initialize
from gateway.services import Services
from tests.support.harness import Harness
from tests.support.live import clean_env, free_port, serving
from tests.support.plaintext import leaks, secrets_of
from tests.support.world import build_world

pytestmark = pytest.mark.e2e

CLIENT = "127.0.0.9"  # the client's own address, apart from the server's listening 127.0.0.1
QUERY = "query($p: String!) { subject(by: {phoneNumber: $p}) { id phoneNumber { ciphertext } } }"


def test_a_full_run_logs_json_lines_without_subject_values_tokens_or_addresses(tmp_path: Path) -> None:
    config = Settings(data_dir=tmp_path / "var", id="gateway.logs", _env_file=None)  # type: ignore[call-arg]
    initialize(config)
    env = clean_env(GATEWAY_DATA_DIR=str(config.data_dir), GATEWAY_ID=config.id, GATEWAY_LOG_FORMAT="json",
                    GATEWAY_METRICS="true")
    log = tmp_path / "server.log"
    services = Services.build(config)
    tokens: list[str] = []
    try:
        with serving(env, tmp_path, free_port(), log) as url, httpx.Client(
                base_url=url, timeout=20, transport=httpx.HTTPTransport(local_address=CLIENT)) as client:
            harness = Harness(config, client, services)  # type: ignore[arg-type]
            world = build_world(harness)
            order = world.active_order()
            phone = world.subjects[0]["phone"]
            disclosed = harness.post(world.authority, QUERY, variables={"p": phone}, order=order["id"])
            assert disclosed.status_code == 200, disclosed.text
            # Refusals whose request lines would carry a subject value or a token if logged as sent.
            refused = client.post(f"/graphql?phone={phone}&token=abc", json={"query": "{ whoami { id } }"})
            assert refused.status_code == 401
            forged = "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
            tokens.append(forged)
            assert harness.post(None, "{ whoami { id } }", token=forged).status_code == 401
            assert client.get(f"/{world.subjects[1]['username']}").status_code == 404
            assert client.get("/metrics").status_code == 200
    finally:
        services.close()

    lines = log.read_text().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    requests = [p for p in parsed if p.get("route") == "/graphql"]
    assert len(requests) == 7  # submit, draft, two approvals, the disclosure, two refusals
    assert all(p["request_id"].startswith("req_") and isinstance(p["audit_index"], int) for p in requests)
    assert len({p["audit_index"] for p in requests}) == len(requests)
    assert {p["route"] for p in parsed if "route" in p} == {"/graphql", "/readyz", "/metrics", "other"}

    guarded = secrets_of(world.subjects) | {world.subjects[1]["username"], CLIENT, "phone=", "token=", *tokens}
    assert leaks(lines, guarded) == []
    assert not any("Bearer" in line or "eyJ" in line for line in lines)

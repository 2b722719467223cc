"""Issue 11, finding 5, against a real `gateway serve`: no log line holds a query string or a client
address; the gateway's own request log says method, route, status, request id and audit index."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.support.live import GATEWAY, clean_env, free_port, run, serving

PHONE = "+4915123456789"


@pytest.mark.e2e
def test_the_server_log_holds_no_query_string_and_no_client_address(tmp_path: Path) -> None:
    env = clean_env(GATEWAY_DATA_DIR=str(tmp_path / "var"))
    assert run([*GATEWAY, "init"], env=env, cwd=tmp_path).returncode == 0
    port = free_port()
    log = tmp_path / "server.log"
    variables = quote(json.dumps({"by": {"phoneNumber": PHONE}}))
    with serving(env, tmp_path, port, log) as url, httpx.Client(base_url=url, timeout=10) as client:
        refused = client.get(f"/graphql?query=%7B%20whoami%20%7B%20id%20%7D%20%7D&variables={variables}"
                             "&access_token=tok3n-s3cret")
        assert refused.status_code == 405
        unsigned = client.post("/graphql", content=b'{"query": "{ whoami { id } }"}',
                               headers={"content-type": "application/json"})
        assert unsigned.status_code == 401
        assert client.get(f"/{quote(PHONE)}").status_code == 404
    text = log.read_text()
    for secret in (PHONE, PHONE[1:], "4915123456789", "access_token", "tok3n-s3cret", "variables", "whoami"):
        assert secret not in text, secret
    addresses = set(re.findall(r"127\.0\.0\.1:(\d+)", text))
    assert addresses <= {str(port)}, "a client address in the server log"  # the server's own may appear
    first, second = refused.json()["extensions"]["audit"], unsigned.json()["extensions"]["audit"]
    assert re.search(rf"GET /graphql 405 [\d.]+ms request_id={first['request_id']} audit_index={first['index']}",
                     text), text
    assert re.search(rf"POST /graphql 401 [\d.]+ms request_id={second['request_id']} "
                     rf"audit_index={second['index']}", text), text
    assert re.search(r"GET other 404 [\d.]+ms request_id=- audit_index=-", text), text

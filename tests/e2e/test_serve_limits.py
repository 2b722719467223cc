"""What uvicorn would drop before the app must reach it, to be refused with a §6 code and audited."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.live import GATEWAY, clean_env, free_port, run, serving


@pytest.mark.e2e
def test_a_one_megabyte_authorization_header_is_refused_and_audited(tmp_path: Path) -> None:
    env = clean_env(GATEWAY_DATA_DIR=str(tmp_path / "var"))
    assert run([*GATEWAY, "init"], env=env, cwd=tmp_path).returncode == 0
    with serving(env, tmp_path, free_port(), tmp_path / "server.log") as url:
        headers = {"content-type": "application/json", "authorization": "Bearer " + "a" * 1_000_000}
        response = httpx.post(f"{url}/graphql", content=b'{"query": "{ whoami { id } }"}', headers=headers, timeout=20)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "TOKEN_INVALID"
    assert response.json()["extensions"]["audit"]["index"] == 0

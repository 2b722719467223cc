"""An authority's own keys across two `gateway serve` processes on one PostgreSQL database
(docs/PROTOCOL.md §17.5), with the commands as an authority and an operator run them: the authority
replaces its signing and sealing keys with `gateway keys rotate-principal` through one process and
the other takes the new key at once, the old one still working through the overlap; the operator revokes
the new kid with `gateway principals revoke-key` and the very next request on either process is
refused with KEY_REVOKED; the audit log holds both changes, by kids only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey
from sqlalchemy import text

from client.keyfiles import sealing_key_for, signing_key_for, write_key_pair
from crypto.keys import encode_public_key, key_id
from gateway.config import Settings
from gateway.principals.registry import PrincipalRegistry, Role
from gateway.store.engine import Database
from tests.support.jwt import mint
from tests.support.server import graphql_body, server_env, start_server

pytestmark = pytest.mark.e2e

_GATEWAY = [sys.executable, "-c", "from gateway.cli.main import run; run()"]
WHOAMI = "{ whoami { id keyId keyValidUntil sealingKeyId } }"


def whoami(base_url: str, settings: Settings, principal: str, key: SigningKey) -> tuple[int, dict[str, Any]]:
    body = graphql_body(WHOAMI)
    token = mint(key, iss=principal, aud=settings.id, body=body)
    response = httpx.post(f"{base_url}/graphql", content=body, timeout=10,
                          headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
    return response.status_code, response.json()


def code(answer: tuple[int, dict[str, Any]]) -> tuple[int, str | None]:
    status, body = answer
    return status, body["errors"][0]["extensions"]["code"] if "errors" in body else None


def gateway(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_GATEWAY, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


def test_a_rotated_key_and_a_revoked_kid_hold_on_both_processes(settings: Settings, db_kind: str,
                                                                tmp_path: Path) -> None:
    if db_kind != "postgresql":
        pytest.skip("two gateway processes on one PostgreSQL database: set GATEWAY_TEST_DATABASE_URL")
    signing, sealing = write_key_pair(tmp_path / "bka")
    db = Database(settings.sqlalchemy_url)
    try:
        PrincipalRegistry(db).add(role=Role.AUTHORITY, principal_id="bka-de", name="BKA", country="DE",
                                  signing_key=encode_public_key(signing.verify_key),
                                  sealing_key=encode_public_key(sealing.public_key), now=int(time.time()))
    finally:
        db.dispose()
    env = server_env(settings)
    servers = [start_server(env, tmp_path, "first"), start_server(env, tmp_path, "second")]
    try:
        for server in servers:  # each process has the key cached now
            assert code(whoami(server.base_url, settings, "bka-de", signing)) == (200, None)

        rotated = gateway(env, tmp_path, "keys", "rotate-principal", "--id", "bka-de", "--key", str(tmp_path / "bka"),
                          "--out", str(tmp_path / "bka-2"), "--sealing", "--url", servers[0].base_url)
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        answer = json.loads(rotated.stdout)
        new = signing_key_for(tmp_path / "bka-2")
        assert answer["newKid"] == key_id(new.verify_key) and answer["oldKid"] == key_id(signing.verify_key)
        assert (answer["oldSealingKid"], answer["newSealingKid"]) == (
            key_id(sealing.public_key), key_id(sealing_key_for(tmp_path / "bka-2").public_key))
        for server in servers:  # the new key on both at once; the old one through its overlap
            status, body = whoami(server.base_url, settings, "bka-de", new)
            assert status == 200 and body["data"]["whoami"]["sealingKeyId"] == answer["newSealingKid"]
            status, body = whoami(server.base_url, settings, "bka-de", signing)
            assert status == 200 and body["data"]["whoami"]["keyValidUntil"] == answer["oldKeyUntil"]

        revoked = gateway(env, tmp_path, "principals", "revoke-key", "bka-de", answer["newKid"])
        assert revoked.returncode == 0, revoked.stdout + revoked.stderr
        assert "audit entry" in revoked.stdout
        for server in servers:  # the very next request, on either process
            assert code(whoami(server.base_url, settings, "bka-de", new)) == (401, "KEY_REVOKED")

        db = Database(settings.sqlalchemy_url)
        try:
            with db.engine.connect() as connection:
                entries = [str(e) for (e,) in connection.execute(text("SELECT entry FROM audit_entries"))]
        finally:
            db.dispose()
        facts = [fact for entry in entries for fact in json.loads(entry).get("facts", [])]
        assert [f for f in facts if f["kind"] == "signing_key_rotated"] == [
            {"kind": "signing_key_rotated", "principal": "bka-de", "old_kid": answer["oldKid"],
             "new_kid": answer["newKid"], "old_key_until": answer["oldKeyUntil"]}]
        assert [f for f in facts if f["kind"] == "principal_key_revoked"] == [
            {"kind": "principal_key_revoked", "principal": "bka-de", "kid": answer["newKid"], "key": "signing"}]
        assert not any(encode_public_key(new.verify_key) in entry for entry in entries)
    finally:
        for server in servers:
            server.stop()

"""Real processes: two `gateway witness serve` cosign what `gateway serve` logs, `gateway audit
monitor` follows it with an auditor's key, and a log rewritten below its cosigned size is refused by
the witnesses and flagged by the monitor, naming the sizes (issue 16, "Done when")."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from crypto.keys import write_key_file
from crypto.note import verifier_key_string
from gateway.audit.checkpoints import note_name
from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys
from gateway.store.engine import Database
from gateway.store.tables import AuditCheckpoint, AuditCosignature, AuditEntry, AuditNode
from gateway.witness.service import origin_hash
from tests.support.jwt import mint
from tests.support.live import free_port
from tests.support.server import WHOAMI, graphql_body, register, server_env, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # the same refusals run in-process in test_witnessing

_GATEWAY = [sys.executable, "-c", "from gateway.cli.main import run; run()"]
_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_nodes = AuditNode.__table__  # type: ignore[attr-defined]
_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_cosignatures = AuditCosignature.__table__  # type: ignore[attr-defined]


def gateway(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_GATEWAY, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def start_witness(tmp_path: Path, name: str, log_vkey: str, origin: str) -> tuple[subprocess.Popen[bytes], str]:
    state = tmp_path / name.split(".")[0]
    created = gateway("witness", "init", "--state", str(state), "--name", name, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    port = free_port()
    with (tmp_path / f"{name.split('.')[0]}.log").open("wb") as out:
        process = subprocess.Popen([*_GATEWAY, "witness", "serve", "--state", str(state), "--log", log_vkey,
                                    "--port", str(port)], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/{origin_hash(origin)}/checkpoint", timeout=1).status_code == 404:
                return process, f"{url} {created.stdout.strip()}"
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    process.wait(10)
    raise RuntimeError(f"witness {name} did not start: {(state.parent / (state.name + '.log')).read_text()}")


def monitor(tmp_path: Path, url: str, log_vkey: str, witnesses: list[str], key_file: Path,
            *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["audit", "monitor", url, "--state", str(tmp_path / "monitor"), "--log-key", log_vkey,
            "--entries", "--auditor-id", "oversight", "--auditor-key", str(key_file), *extra]
    for witness in witnesses:
        args += ["--witness", witness.split(" ")[1]]
    return gateway(*args, cwd=tmp_path)


def wait_for_cosigned(url: str, size: int) -> None:
    """Until the served checkpoint is of ``size`` with two cosignatures (they arrive asynchronously)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        note = httpx.get(url + "/audit/checkpoint", timeout=5).text
        if note.splitlines()[1] == str(size) and note.count("\n\u2014 ") == 3:
            return
        time.sleep(0.1)


def test_witnesses_cosign_the_served_log_and_a_fork_is_refused_and_flagged(settings: Settings, tmp_path: Path) -> None:
    key = register(settings, "oversight")
    key_file = tmp_path / "oversight.sign.key"
    write_key_file(key_file, "ed25519-signing", bytes(key))
    log_key = load_gateway_keys(settings).signing_key.verify_key
    log_vkey = verifier_key_string(note_name(settings.origin), bytes(log_key))
    witnesses = [start_witness(tmp_path, f"w{i}.test/witness", log_vkey, settings.origin) for i in (1, 2)]
    configured = [w for _, w in witnesses]
    env = server_env(settings, GATEWAY_WITNESSES=",".join(configured), GATEWAY_CHECKPOINT_EVERY_SECONDS="0.5")

    def requests(server_url: str, count: int) -> None:
        with httpx.Client(base_url=server_url, timeout=10) as client:
            for _ in range(count):
                body = graphql_body(WHOAMI)
                token = mint(key, iss="oversight", aud=settings.id, body=body)
                client.post("/graphql", content=body, headers={"content-type": "application/json",
                                                               "authorization": f"Bearer {token}"})

    try:
        server = start_server(env, tmp_path, "gateway")
        try:
            requests(server.base_url, 10)
            wait_for_cosigned(server.base_url, 10)
            seen = monitor(tmp_path, server.base_url, log_vkey, configured, key_file)
            assert seen.returncode == 0, seen.stdout + seen.stderr
            assert "cosigned by w1.test/witness, w2.test/witness, 10 entries checked" in seen.stdout
        finally:
            server.stop()

        # Rewrite history below the cosigned size 10, then serve a different log of 12 entries.
        db = Database(settings.sqlalchemy_url)
        try:
            with db.engine.begin() as connection:
                connection.execute(delete(_entries).where(_entries.c.idx >= 5))
                for level, index in connection.execute(select(_nodes.c.level, _nodes.c.idx)).all():
                    if (index + 1) << level > 5:
                        connection.execute(delete(_nodes).where(_nodes.c.level == level, _nodes.c.idx == index))
                connection.execute(delete(_cosignatures))
                connection.execute(delete(_checkpoints).where(_checkpoints.c.tree_size > 5))
        finally:
            db.dispose()
        server = start_server(env, tmp_path, "forked")
        try:
            requests(server.base_url, 7)
            deadline = time.monotonic() + 20
            while "refused the checkpoint at tree size 12" not in server.log.read_text() \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
            flagged = monitor(tmp_path, server.base_url, log_vkey, configured, key_file, "--quorum", "0")
        finally:
            server.stop()
        log_text = server.log.read_text()
        assert "ALARM: witness w1.test/witness refused the checkpoint at tree size 12 as inconsistent with " \
               "tree size 10" in log_text
        assert "refused gateway.test/audit at tree size 12" in (tmp_path / "w2.log").read_text()
        assert flagged.returncode == 1, flagged.stdout + flagged.stderr
        assert "ALARM" in flagged.stderr and "tree size 12 is not consistent with the verified checkpoint at " \
               "tree size 10" in " ".join(flagged.stderr.split())
    finally:
        for process, _ in witnesses:
            process.terminate()
            process.wait(10)

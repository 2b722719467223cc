"""Servers a test can kill and restart (`gateway serve` started as tests/support/live.py starts it),
the `gateway audit` CLI, and load from several threads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from nacl.signing import SigningKey

from crypto.keys import encode_public_key
from gateway.config import Settings
from gateway.principals.registry import PrincipalRegistry, Role
from gateway.store.engine import Database
from tests.support.jwt import mint
from tests.support.live import free_port, launch_serve, wait_until_up

WHOAMI = "{ whoami { id } }"

# The CLI entry points, run with this interpreter (the venv's) whether or not its scripts are on PATH.
_GATEWAY = [sys.executable, "-c", "from gateway.cli.main import run; run()"]
# `gateway audit` lives in gateway.cli.audit; run it directly so tests do not depend on where it is registered.
_AUDIT = [sys.executable, "-c", "from gateway.cli.audit import app; app(prog_name='gateway audit')"]


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment an operator would give the gateway for ``settings``; nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {"GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_ID": settings.id,
            "GATEWAY_DATABASE_URL": settings.sqlalchemy_url, "GATEWAY_RATE_LIMIT_PER_MINUTE": "1000000"}
    return env | extra


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no final commits."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """A graceful stop (SIGINT, as Ctrl-C): uvicorn runs the app's shutdown."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_server(env: dict[str, str], cwd: Path, name: str = "server", *, timeout: float = 90.0) -> Server:
    """Start `gateway serve` on a free loopback port; return once /healthz answers."""
    port = free_port()
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        process = launch_serve(env, cwd, port, out, ["--log-level", "warning"], command=_GATEWAY, new_session=False)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until_up(process, server.base_url, log, within=timeout, path="/healthz")
    except AssertionError:
        if process.poll() is None:
            process.kill()
        raise
    return server


def audit_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`gateway audit ARGS…` as a separate process."""
    return subprocess.run([*_AUDIT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


def graphql_body(query: str) -> bytes:
    return json.dumps({"query": query}).encode()


def register(settings: Settings, principal_id: str) -> SigningKey:
    """Register an auditor directly in the database; return its token key."""
    key = SigningKey.generate()
    db = Database(settings.sqlalchemy_url)
    try:
        PrincipalRegistry(db).add(role=Role.AUDITOR, principal_id=principal_id, name=principal_id,
                                  signing_key=encode_public_key(key.verify_key), now=int(time.time()))
    finally:
        db.dispose()
    return key


def load(base_urls: list[str], *, threads: int, settings: Settings, key: SigningKey, principal: str,
         until: Callable[[int], bool]) -> list[tuple[int, dict[str, Any]]]:
    """Requests from ``threads`` threads (every fifth unsigned) round-robin over ``base_urls``
    until ``until(sent)`` holds; return every response received, whatever its status."""
    received: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def work(number: int) -> None:
        clients = [httpx.Client(base_url=url, timeout=10) for url in base_urls]
        sent = 0
        try:
            while not until(sent):
                body = graphql_body(WHOAMI)
                headers = {"content-type": "application/json"}
                if (number + sent) % 5:
                    token = mint(key, iss=principal, aud=settings.id, body=body)
                    headers["authorization"] = f"Bearer {token}"
                client = clients[(number + sent) % len(clients)]
                sent += 1
                try:
                    response = client.post("/graphql", content=body, headers=headers)
                except httpx.HTTPError:
                    continue  # no response: nothing was promised
                with lock:
                    received.append((response.status_code, response.json()))
        finally:
            for client in clients:
                client.close()

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    return received

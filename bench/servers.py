"""What every benchmark needs around the thing it measures: a fresh database, a free loopback port,
`gateway serve` started on it (and stopped), a server waited for until it answers."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import sqlalchemy

from gateway.config import Settings
from gateway.maintenance.initialize import initialize

__all__ = ["free_port", "fresh_database", "need_program", "serve_gateway", "stop", "wait_up"]


@contextlib.contextmanager
def fresh_database(tmp: Path, postgres: str | None, name: str = "var") -> Iterator[Settings]:
    """An initialised gateway database: SQLite under ``tmp/name``, or with ``postgres`` a
    temporary schema there, dropped afterwards."""
    url, admin, schema = None, None, f"bench_{secrets.token_hex(4)}"
    if postgres:
        admin = sqlalchemy.create_engine(postgres)
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        url = f"{postgres}{'&' if '?' in postgres else '?'}options={quote(f'-csearch_path={schema}')}"
    settings = Settings(data_dir=tmp / name, id="gateway.bench", database_url=url,  # type: ignore[call-arg]
                        _env_file=None)
    initialize(settings)
    try:
        yield settings
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def need_program(name: str, purpose: str) -> str:
    """The path of the Debian package ``name``'s program of the same name, or exit saying how to install it."""
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{purpose}, and {name} is not installed.\n"
                         f"Install it with:  apt-get update && apt-get install -y {name}   (Debian package `{name}`)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_up(port: int, process: subprocess.Popen[bytes], probe: str) -> None:
    """Until ``GET probe`` answers; exit if the server exits or has not answered in three minutes."""
    for _ in range(1800):  # a loaded two-core machine can take a minute to start a server
        if process.poll() is not None:
            raise SystemExit("a server exited at start")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=1):
            return
        time.sleep(0.1)
    process.kill()
    raise SystemExit("a server did not start")


def serve_gateway(settings: Settings, tmp: Path, env: Mapping[str, str] | None = None
                  ) -> tuple[subprocess.Popen[bytes], int]:
    """`gateway serve` (one worker) over ``settings``' database on a free port, answering; the
    rate limit is lifted for the run, and ``env`` sets further GATEWAY_ variables."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    variables |= {"GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_ID": settings.id,
                  "GATEWAY_DATABASE_URL": settings.sqlalchemy_url, "GATEWAY_RATE_LIMIT_PER_MINUTE": "100000000"}
    variables |= dict(env or {})
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli.main import run; run()", "serve", "--port", str(port),
         "--log-level", "warning"], env=variables, cwd=tmp, stdout=subprocess.DEVNULL)
    wait_up(port, process, "/healthz")
    return process, port


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

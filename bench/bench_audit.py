"""Audited requests per second through the real app, with group commit and with one commit per
request (issue 6).

    .venv/bin/python bench/bench_audit.py [--concurrency 32] [--seconds 8] [--postgres URL]

Each run starts `gateway serve` (uvicorn, one worker) on a free loopback port over a fresh
database (SQLite in a temporary directory, WAL with synchronous=FULL; or with ``--postgres`` a
temporary schema, dropped afterwards) and keeps ``--concurrency`` HTTP clients busy for
``--seconds``. Two kinds of request, each in both modes (GATEWAY_AUDIT_GROUP_COMMIT=true/false):

- ``unsigned``: no token, refused 401 and audited. The audit write is the only database write.
- ``signed``: a signed ``whoami``, served 200 and audited; it also records the token's jti in the
  replay store, which commits on its own (one more fsync per request on SQLite).

Tokens are minted before the clock starts. The server's rate limit is lifted for the run. The
figure is responses received per second; every one of them carries its audit receipt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import sqlalchemy
from nacl.signing import SigningKey

from crypto.keys import encode_public_key
from crypto.tokens import create_token
from gateway.config import Settings
from gateway.initialize import initialize
from gateway.principals import PrincipalRegistry, Role
from gateway.store.engine import Database

BODY = json.dumps({"query": "{ whoami { id } }"}).encode()


@contextlib.contextmanager
def fresh_database(tmp: Path, postgres: str | None) -> Iterator[Settings]:
    schema = None
    url = None
    admin = None
    if postgres:
        schema = f"bench_{secrets.token_hex(4)}"
        admin = sqlalchemy.create_engine(postgres)
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in postgres else "?"
        url = f"{postgres}{separator}options={quote(f'-csearch_path={schema}')}"
    settings = Settings(data_dir=tmp / "var", id="gateway.bench", database_url=url,  # type: ignore[call-arg]
                        _env_file=None)
    initialize(settings)
    try:
        yield settings
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(settings: Settings, tmp: Path, *, group_commit: bool) -> tuple[subprocess.Popen[bytes], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {"GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_ID": settings.id,
            "GATEWAY_DATABASE_URL": settings.sqlalchemy_url, "GATEWAY_RATE_LIMIT_PER_MINUTE": "100000000",
            "GATEWAY_AUDIT_GROUP_COMMIT": "true" if group_commit else "false"}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli.main import run; run()", "serve", "--port", str(port),
         "--log-level", "warning"], env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return process, port
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the gateway did not start")


async def drive(port: int, headers: list[dict[str, str]], concurrency: int, seconds: float) -> tuple[int, int]:
    """Keep ``concurrency`` keep-alive connections busy for ``seconds``; return (responses, audited ones).

    A bare HTTP/1.1 client over asyncio streams: httpx's AsyncClient spends so much CPU per request
    that, on two cores beside the server, it measured itself (~180 requests/s even for /healthz)."""
    supply = iter(headers)
    done = audited = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal done, audited
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                extra = next(supply, None)
                if extra is None:
                    return
                head = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                writer.write((f"POST /graphql HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
                              f"content-length: {len(BODY)}\r\n{head}\r\n").encode() + BODY)
                response = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in response.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                payload = json.loads(await reader.readexactly(length))
                done += 1
                audited += "audit" in payload.get("extensions", {})
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return done, audited


def run_one(settings: Settings, tmp: Path, key: SigningKey, *, signed: bool, group_commit: bool,
            concurrency: int, seconds: float) -> float:
    process, port = serve(settings, tmp, group_commit=group_commit)
    try:
        budget = int(seconds * 4000) + 1000  # more than one worker can answer in the time
        if signed:
            now = int(time.time())
            headers = [{"authorization": "Bearer " + create_token(key, issuer="bench", audience=settings.id,
                                                                  body=BODY, now=now, lifetime=120)}
                       for _ in range(budget)]
        else:
            headers = [{} for _ in range(budget)]
        asyncio.run(drive(port, headers[:200], concurrency, 1.0))  # warm-up: caches, connections
        started = time.perf_counter()
        done, audited = asyncio.run(drive(port, headers[200:], concurrency, seconds))
        elapsed = time.perf_counter() - started
        if audited != done:
            raise SystemExit(f"{done - audited} responses without an audit receipt")
        return done / elapsed
    finally:
        process.terminate()
        process.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--postgres", metavar="URL", help="e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    results: dict[tuple[str, bool], float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as name:
        tmp = Path(name)
        for kind in ("unsigned", "signed"):
            for group_commit in (True, False):
                # A fresh database per run, so no run reads a log another one grew.
                run_dir = tmp / f"{kind}-{group_commit}"
                run_dir.mkdir()
                with fresh_database(run_dir, args.postgres) as settings:
                    key = SigningKey.generate()
                    db = Database(settings.sqlalchemy_url)
                    PrincipalRegistry(db).add(role=Role.AUDITOR, principal_id="bench", name="bench",
                                              signing_key=encode_public_key(key.verify_key), now=int(time.time()))
                    db.dispose()
                    results[(kind, group_commit)] = run_one(settings, run_dir, key, signed=kind == "signed",
                                                            group_commit=group_commit,
                                                            concurrency=args.concurrency, seconds=args.seconds)

    database = "PostgreSQL" if args.postgres else "SQLite (WAL, synchronous=FULL)"
    print(f"audited requests/s through `gateway serve` (1 worker), {args.concurrency} concurrent clients, "
          f"{args.seconds:g} s each, {database}, {os.cpu_count()} CPUs")
    print(f"{'request':<10} {'group commit':>14} {'commit per request':>20} {'ratio':>7}")
    for kind in ("unsigned", "signed"):
        grouped, alone = results[(kind, True)], results[(kind, False)]
        print(f"{kind:<10} {grouped:>14,.0f} {alone:>20,.0f} {grouped / alone:>6.1f}x")
    print("command: " + shlex.join([".venv/bin/python", "bench/bench_audit.py", *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

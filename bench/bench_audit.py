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
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from nacl.signing import SigningKey

from crypto.keys import encode_public_key
from crypto.tokens import create_token
from gateway.config import Settings
from gateway.principals.registry import PrincipalRegistry, Role
from gateway.store.engine import Database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, bench/ is not a package on the path
from bench.servers import fresh_database, serve_gateway, stop  # noqa: E402

BODY = json.dumps({"query": "{ whoami { id } }"}).encode()


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
    process, port = serve_gateway(settings, tmp, {"GATEWAY_AUDIT_GROUP_COMMIT": str(group_commit).lower()})
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
        stop(process)


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

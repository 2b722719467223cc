"""Other principals' latency while fragment bombs are in flight (issue 11, finding 1).

    .venv/bin/python bench/bench_fragment_bomb.py [--requests 300] [--bombers 4]

Starts `gateway serve` (uvicorn, one worker, SQLite) on a free loopback port and measures the
latency of a signed ``whoami`` from one principal, sent one after another: alone; while
``--bombers`` clients of another principal send fragment bombs (20, 30 and 60 levels, in turn) as
fast as they are answered; and, for comparison, while as many clients send ordinary ``whoami``
requests as fast. Every request, a refused bomb too, is authenticated and audited (two fsyncs on
SQLite), so any four busy clients slow a sequential one on two cores: the question is whether a
bomb costs more than an ordinary request. Before the fix a 20-level bomb took 3.5 s to be
*served* and 30 levels hours. Prints p50/p90 of ``whoami`` per phase, and the other clients' answers.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from nacl.signing import SigningKey

from crypto.keys import encode_public_key
from crypto.tokens import create_token
from gateway.config import Settings
from gateway.principals.registry import PrincipalRegistry, Role
from gateway.store.engine import Database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: bench/ is not on the path
from bench.servers import fresh_database, serve_gateway, stop

WHOAMI = json.dumps({"query": "{ whoami { id } }"}).encode()
LEVELS = (20, 30, 60)


def bomb(levels: int) -> bytes:
    chain = " ".join(f"fragment F{n} on Query {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, levels + 1))
    query = f"fragment F0 on Query {{ ... on Query {{ }} }} {chain} query Q {{ ...F{levels} whoami {{ id }} }}"
    return json.dumps({"query": query}).encode()


def register(settings: Settings, principal_id: str) -> SigningKey:
    key = SigningKey.generate()
    db = Database(settings.sqlalchemy_url)
    try:
        PrincipalRegistry(db).add(role=Role.AUDITOR, principal_id=principal_id, name=principal_id,
                                  signing_key=encode_public_key(key.verify_key), now=int(time.time()))
    finally:
        db.dispose()
    return key


def post(client: httpx.Client, settings: Settings, key: SigningKey, issuer: str, body: bytes) -> tuple[int, str]:
    token = create_token(key, issuer=issuer, audience=settings.id, body=body, now=int(time.time()), lifetime=60)
    response = client.post("/graphql", content=body,
                           headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
    errors = response.json().get("errors")
    return response.status_code, errors[0]["extensions"]["code"] if errors else "OK"


def whoami_latencies(client: httpx.Client, settings: Settings, key: SigningKey, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        status, code = post(client, settings, key, "victim", WHOAMI)
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"whoami answered {status} {code}")
    return latencies


def summary(latencies: list[float]) -> str:
    cuts = statistics.quantiles(latencies, n=10)
    return f"p50 {statistics.median(latencies):6.1f} ms   p90 {cuts[8]:6.1f} ms   (n={len(latencies)})"


def under_load(client: httpx.Client, base: str, settings: Settings, victim: SigningKey, attacker: SigningKey,
               bodies: list[bytes], args: argparse.Namespace) -> tuple[list[float], Counter[tuple[str, int, str]],
                                                                      list[float]]:
    """``whoami`` latencies while ``args.bombers`` clients send ``bodies`` in turn as fast as they can."""
    stop = threading.Event()
    answers: Counter[tuple[str, int, str]] = Counter()
    other_ms: list[float] = []
    lock = threading.Lock()
    names = ["whoami"] if len(bodies) == 1 else [f"{levels}-level" for levels in LEVELS]

    def busy(number: int) -> None:
        sent = number
        with httpx.Client(base_url=base, timeout=600) as own:
            while not stop.is_set():
                started = time.perf_counter()
                status, code = post(own, settings, attacker, "attacker", bodies[sent % len(bodies)])
                with lock:
                    other_ms.append((time.perf_counter() - started) * 1000)
                    answers[(names[sent % len(bodies)], status, code)] += 1
                sent += 1

    workers = [threading.Thread(target=busy, args=(n,)) for n in range(args.bombers)]
    for thread in workers:
        thread.start()
    time.sleep(1.0)  # the load is on before the measurement starts
    latencies = whoami_latencies(client, settings, victim, args.requests)
    stop.set()
    for thread in workers:
        thread.join(700)
    return latencies, answers, other_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--bombers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bomb-") as name, fresh_database(Path(name), None) as settings:
        victim, attacker = register(settings, "victim"), register(settings, "attacker")
        server, port = serve_gateway(settings, Path(name))
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=600) as client:
                whoami_latencies(client, settings, victim, 30)  # warm-up
                alone = whoami_latencies(client, settings, victim, args.requests)
                phases = {}
                for kind in ("ordinary", "bombs"):
                    bodies = [WHOAMI] if kind == "ordinary" else [bomb(levels) for levels in LEVELS]
                    phases[kind] = (*under_load(client, base, settings, victim, attacker, bodies, args),)
        finally:
            stop(server)
    print(f"`whoami` latency through `gateway serve` (1 worker, SQLite), sequential, {os.cpu_count()} CPUs")
    print(f"  alone:                                  {summary(alone)}")
    for kind, label in (("ordinary", "ordinary whoami clients"), ("bombs", "fragment bombers")):
        latencies, answers, other_ms = phases[kind]
        print(f"  with {args.bombers} {label + ' busy:':<27} {summary(latencies)}")
        print(f"      their answers: {sum(answers.values())}, p50 {statistics.median(other_ms):.1f} ms: " +
              ", ".join(f"{body_name} {count} x {status} {code}"
                        for (body_name, status, code), count in sorted(answers.items())))
    print("command: " + shlex.join([".venv/bin/python", "bench/bench_fragment_bomb.py", *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

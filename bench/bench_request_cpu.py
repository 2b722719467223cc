"""CPU time per request, in process, for the gateway's disclosure and for the peer (issue 12).

    .venv/bin/python bench/bench_request_cpu.py [--requests 400] [--rounds 3]

bench/bench_disclosure.py measures what a client sees, and on a shared virtual machine its
latencies move by a third from one minute to the next (disk flushes, steal time). This one counts
what the process spends: both ASGI apps are called directly on one event loop, one request at a
time, with no HTTP server and no network, and the figure is the process's CPU time (all threads:
the event loop, the worker threads and the audit writer) divided by the requests; the peer's is
its one thread's, as the gateway's background threads share the process. The gateway
serves the same real disclosures as bench_disclosure (a fresh token each, an ACTIVE order with two
approvals, every response audited and durable); the peer is bench/peer_app.py, the same query
shape with nothing behind it. Rounds alternate the two and the medians are compared.

Each round also times the cryptography docs/PROTOCOL.md fixes for one disclosure
(bench/protocol_floor.py) and prints the ratio a gateway could reach if it did nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, bench/ is not a package on the path

from bench.bench_disclosure import mint, peer_body, prepare  # noqa: E402
from bench.peer_app import app as peer_app  # noqa: E402
from bench.protocol_floor import protocol_cryptography_ms, ratio_bound, sealed_plaintext_sizes  # noqa: E402
from bench.servers import fresh_database  # noqa: E402
from gateway.app import create_app  # noqa: E402

Message = MutableMapping[str, Any]
App = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
               Awaitable[None]]


async def post(app: App, body: bytes, token: str | None, reply: bytearray | None = None) -> int:
    """One POST /graphql through ``app``; its status, and its body into ``reply`` if given."""
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never: the app has its whole body
        raise AssertionError

    status = 0

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body" and reply is not None:
            reply.extend(message.get("body", b""))

    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"host", b"127.0.0.1")]
    if token is not None:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {}}
    await app(scope, receive, send)
    return status


async def cpu_per_request(app: App, body: bytes, tokens: list[str | None],
                          clock: Callable[[], float] = time.process_time) -> float:
    """Milliseconds of CPU per request over ``tokens`` (one request each), all answered 200: of the
    whole process by default, for the gateway's worker and writer threads; the peer, which runs
    on the event loop's thread alone, is timed with ``time.thread_time``, so the gateway's
    background threads in the same process are not counted against it."""
    started = clock()
    for token in tokens:
        status = await post(app, body, token)
        if status != 200:
            raise SystemExit(f"a request was answered {status}, not 200: the figure would not be a disclosure's")
    return (clock() - started) * 1000 / len(tokens)


async def run(gateway: App, setup: Any, requests: int, rounds: int) -> tuple[list[float], list[float], list[float]]:
    """Per round: the gateway's and the peer's CPU per request, and the protocol's cryptography
    for one disclosure (bench/protocol_floor.py), each in milliseconds."""
    lifespan: asyncio.Queue[Message] = asyncio.Queue()
    replies: asyncio.Queue[Message] = asyncio.Queue()
    await lifespan.put({"type": "lifespan.startup"})
    task = asyncio.create_task(gateway({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                       lifespan.get, replies.put))
    await replies.get()
    try:
        order = setup.orders[0]
        await cpu_per_request(gateway, setup.body, list(mint(setup, order, 50)))  # warm-up
        await cpu_per_request(peer_app, peer_body(setup), [None] * 50)
        response = bytearray()
        token = mint(setup, order, 1)[0]
        if await post(gateway, setup.body, token, response) != 200:
            raise SystemExit("the gateway refused a disclosure: nothing to measure")
        plaintext_sizes = sealed_plaintext_sizes(bytes(response))
        gateway_ms: list[float] = []
        peer_ms: list[float] = []
        cryptography_ms: list[float] = []
        for number in range(rounds):
            peer_ms.append(await cpu_per_request(peer_app, peer_body(setup), [None] * requests, time.thread_time))
            gateway_ms.append(await cpu_per_request(gateway, setup.body,
                                                    list(mint(setup, setup.orders[number % len(setup.orders)],
                                                              requests))))
            cryptography_ms.append(protocol_cryptography_ms(token, setup.authority.verify_key, plaintext_sizes,
                                                            requests))
            print(f"  round {number + 1}: peer {peer_ms[-1]:.3f} ms, gateway {gateway_ms[-1]:.3f} ms "
                  f"({gateway_ms[-1] / peer_ms[-1]:.1f}x), the protocol's cryptography alone "
                  f"{cryptography_ms[-1]:.3f} ms", flush=True)
    finally:
        await lifespan.put({"type": "lifespan.shutdown"})
        await replies.get()
        await task
    return gateway_ms, peer_ms, cryptography_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.requests * args.rounds > 9_000:
        raise SystemExit("--requests x --rounds must stay under 9,000 (the orders' queries)")
    print(f"CPU time per request, in process, one at a time ({args.requests} requests a round):", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as name, fresh_database(Path(name), None, "cpu") as settings:
        setup = prepare(settings, args.rounds)
        gateway_ms, peer_ms, cryptography_ms = asyncio.run(run(create_app(settings), setup, args.requests,
                                                               args.rounds))
    gateway, peer = statistics.median(gateway_ms), statistics.median(peer_ms)
    cryptography = statistics.median(cryptography_ms)
    print(f"  median: peer {peer:.3f} ms, gateway {gateway:.3f} ms per request: the gateway at most "
          f"{1000 / gateway:,.0f} disclosures per CPU-second, {peer / gateway:.2f} of the peer's "
          f"(issue 12's ratio target 0.5 needs <= {2 * peer:.2f} ms)")
    print(f"  the protocol's cryptography for one disclosure (a token verified, two values signed and sealed): "
          f"{cryptography:.3f} ms. A gateway doing the peer's work, that cryptography and nothing else "
          f"would reach {ratio_bound(peer, cryptography):.2f} of the peer on one core, leaving "
          f"{max(0.0, peer - cryptography) * 1000:.0f} us for every other step under a 0.5 target")
    print("SQLite (WAL, synchronous=FULL)")
    print("command: " + shlex.join([".venv/bin/python", "bench/bench_request_cpu.py", *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Instructions per request, counted by valgrind's callgrind, for the gateway's disclosure and for the
peer (issue 12): a figure that does not move with the machine.

    .venv/bin/python bench/bench_instructions.py [--requests 100] [--baseline 30]

bench/bench_disclosure.py and bench/bench_request_cpu.py time what a request costs, and on this
shared virtual machine the same commit measures 30-60% slower from one hour to the next (steal time,
a slower host): a change of a few percent cannot be seen in them. Instructions do not depend on
the host's speed. Each app runs in a process of its own under callgrind, in process and one request
at a time as in bench_request_cpu (no HTTP server: uvicorn and the sockets are not counted), twice:
once with ``--baseline`` requests and once with ``--baseline + --requests``. Both runs do the same
set-up (the database, the keys, the same number of tokens minted), so the difference of their
totals divided by ``--requests`` is what one request executes: all threads, the interpreter, SQLite
and libsodium. A third pair of runs counts only the cryptography docs/PROTOCOL.md fixes for one
disclosure (bench/protocol_floor.py), after one real disclosure that gives the sizes. Instructions
are not time (an fsync is one call; a cache miss costs more than an add), so the ratio is a
yardstick for CPU work, not the throughput ratio.

Needs valgrind (Debian: ``apt-get install -y valgrind``); a run takes five to nine minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, bench/ is not a package on the path

from bench.protocol_floor import ratio_bound  # noqa: E402
from bench.servers import need_program  # noqa: E402

_WARM_UP = 20
_SUMMARY = re.compile(r"^summary: (\d+)$", re.MULTILINE)


def need_valgrind() -> str:
    return need_program("valgrind", "this benchmark counts instructions with valgrind's callgrind")


def counted(valgrind: str, app: str, requests: int, minted: int, tmp: Path) -> int:
    """Instructions callgrind counts for a child process that serves ``requests`` through ``app``."""
    out = tmp / f"callgrind.{app}.{requests}"
    command = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", "-q", sys.executable, __file__,
               "--child", app, "--requests", str(requests), "--minted", str(minted)]
    # One hash seed for every run: with random ones, dict and set work moves by a few percent.
    environment = os.environ | {"PYTHONHASHSEED": "0"}
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, env=environment)
    found = _SUMMARY.search(out.read_text(errors="replace"))
    if found is None:
        raise SystemExit(f"callgrind wrote no summary to {out}")
    return int(found.group(1))


async def serve(app_name: str, requests: int, minted: int) -> None:
    from bench.bench_disclosure import mint, peer_body, prepare
    from bench.bench_request_cpu import cpu_per_request, post
    from bench.peer_app import app as peer_app
    from bench.protocol_floor import protocol_cryptography_ms, sealed_plaintext_sizes
    from bench.servers import fresh_database
    from gateway.app import create_app

    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as name, \
            fresh_database(Path(name), None, "instructions") as settings:
        setup = prepare(settings, 1)
        # As many tokens minted whatever the run's size: minting is set-up, not the request.
        tokens: list[str | None] = list(mint(setup, setup.orders[0], minted))
        if app_name == "peer":
            # The gateway's threads stay unstarted: their timed wake-ups would count against the peer.
            await cpu_per_request(peer_app, peer_body(setup), [None] * (_WARM_UP + requests))
            return
        gateway: Any = create_app(settings)
        lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await lifespan.put({"type": "lifespan.startup"})
        task = asyncio.create_task(gateway({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                           lifespan.get, replies.put))
        await replies.get()
        response = bytearray()
        try:
            if app_name == "cryptography":
                await post(gateway, setup.body, tokens[0], response)  # one real disclosure, for the sizes
            else:
                await cpu_per_request(gateway, setup.body, tokens[:_WARM_UP + requests])
        finally:
            await lifespan.put({"type": "lifespan.shutdown"})
            await replies.get()
            await task
        if app_name == "cryptography":
            # After the gateway's threads have stopped: their timed wake-ups would count here too.
            protocol_cryptography_ms(str(tokens[1]), setup.authority.verify_key,
                                     sealed_plaintext_sizes(bytes(response)), _WARM_UP + requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--baseline", type=int, default=30)
    parser.add_argument("--child", choices=("gateway", "peer", "cryptography"), help=argparse.SUPPRESS)
    parser.add_argument("--minted", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        asyncio.run(serve(args.child, args.requests, args.minted))
        return 0
    if args.requests < 1 or args.baseline < 0 or _WARM_UP + args.baseline + args.requests > 9_000:
        raise SystemExit("--requests must be at least 1, and the runs must stay under 9,000 queries of one order")
    valgrind = need_valgrind()
    from rich.console import Console
    from rich.progress import Progress

    console = Console()
    minted = _WARM_UP + args.baseline + args.requests
    per_request: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as name, Progress(console=console) as progress:
        task = progress.add_task("callgrind runs", total=6)
        for app in ("peer", "gateway", "cryptography"):
            small = counted(valgrind, app, args.baseline, minted, Path(name))
            progress.advance(task)
            large = counted(valgrind, app, args.baseline + args.requests, minted, Path(name))
            progress.advance(task)
            per_request[app] = (large - small) / args.requests
    peer, gateway, cryptography = per_request["peer"], per_request["gateway"], per_request["cryptography"]
    console.print(f"instructions per request (callgrind, in process, one at a time, {args.requests} requests):")
    console.print(f"  peer     {peer / 1e6:8.2f} M")
    console.print(f"  gateway  {gateway / 1e6:8.2f} M   {gateway / peer:.1f}x the peer's "
                  f"(peer/gateway {peer / gateway:.2f})")
    console.print(f"  of which the protocol's cryptography (bench/protocol_floor.py) {cryptography / 1e6:8.2f} M: "
                  f"the peer's work plus it alone would be {ratio_bound(peer, cryptography):.2f} of the peer")
    console.print("command: " + shlex.join([".venv/bin/python", "bench/bench_instructions.py", *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

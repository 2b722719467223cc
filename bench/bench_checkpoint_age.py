"""How old an acknowledged entry is when the first checkpoint covering it appears (issue 16).

    .venv/bin/python bench/bench_checkpoint_age.py [--concurrency 16] [--seconds 8] [--every 1]

Starts `gateway serve` (one worker, fresh SQLite database, GATEWAY_CHECKPOINT_EVERY_SECONDS=--every)
and keeps ``--concurrency`` clients sending unsigned requests (each refused 401 and audited) for
``--seconds``, noting when each response with its receipt index arrived. A poller fetches
``GET /audit/checkpoint`` every 10 ms and notes when each tree size was first served. An entry's
checkpoint age is the time from its response to the first served checkpoint whose size covers it.
Prints the distribution (p50, p90, p99, max) and the number of checkpoints signed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_audit import BODY
from bench.servers import fresh_database, serve_gateway


async def drive(port: int, concurrency: int, seconds: float, acked: list[tuple[float, int]]) -> None:
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            while time.perf_counter() < deadline:
                response = await client.post("/graphql", content=BODY, headers={"content-type": "application/json"})
                acked.append((time.perf_counter(), response.json()["extensions"]["audit"]["index"]))

    await asyncio.gather(*(one() for _ in range(concurrency)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--every", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fresh_database(Path(tmp), None) as settings:
        process, port = serve_gateway(settings, Path(tmp), {"GATEWAY_CHECKPOINT_EVERY_SECONDS": str(args.every)})
        served: list[tuple[float, int]] = []  # (first seen, size), sizes increasing
        stop = threading.Event()

        def poll() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                while not stop.is_set():
                    size = int(client.get("/audit/checkpoint").text.splitlines()[1])
                    if not served or size > served[-1][1]:
                        served.append((time.perf_counter(), size))
                    time.sleep(0.01)

        poller = threading.Thread(target=poll)
        poller.start()
        acked: list[tuple[float, int]] = []
        try:
            asyncio.run(drive(port, args.concurrency, args.seconds, acked))
            time.sleep(args.every * 2)
        finally:
            stop.set()
            poller.join()
            process.terminate()
            process.wait(20)
    sizes = [size for _, size in served]
    ages = []
    for at, index in acked:
        first = bisect.bisect_right(sizes, index)  # the first served size > index covers it
        if first < len(served):
            ages.append(max(0.0, served[first][0] - at))
    ages.sort()
    quantile = statistics.quantiles(ages, n=100)
    print(f"{len(acked)} acknowledged entries in {args.seconds:g} s ({len(acked) / args.seconds:.0f}/s), "
          f"{len(served) - 1} checkpoints served, every {args.every:g} s; {len(acked) - len(ages)} uncovered")
    print(f"checkpoint age after the response: p50 {quantile[49] * 1000:.0f} ms, p90 {quantile[89] * 1000:.0f} ms, "
          f"p99 {quantile[98] * 1000:.0f} ms, max {ages[-1] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`gateway audit verify` and proof generation over a large log (issue 12).

    .venv/bin/python bench/bench_log_scale.py [--entries 1000000] [--proofs 200] [--postgres URL]

Fills a fresh database with ``--entries`` entries through bench/audit_fixture.py (real entries,
leaf hashes, tree nodes and a signed checkpoint every 256 entries), then times

- ``verify_log`` over the whole log, as `gateway audit verify` runs it: entries per second;
- ``--proofs`` inclusion proofs of random entries and consistency proofs between random sizes,
  each as the GraphQL resolvers build them (with the signed checkpoint): p50 and max in ms.

Targets (issue 12): verify at least 100,000 entries/s, each proof under 5 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, bench/ is not a package on the path

from bench.audit_fixture import fill_log  # noqa: E402
from bench.servers import fresh_database  # noqa: E402
from crypto.note import parse_verifier_key, verifier_key_string  # noqa: E402
from gateway.audit.checkpoints import note_name  # noqa: E402
from gateway.audit.entry_pool import usable_cpus  # noqa: E402
from gateway.audit.proofs import consistency, inclusion  # noqa: E402
from gateway.audit.verify import verify_log  # noqa: E402
from gateway.keys.keyring import load_gateway_keys  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=200)
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--jobs", type=int, default=usable_cpus(),
                        help="worker processes checking entries, as `gateway audit verify --jobs` (default: the CPUs)")
    parser.add_argument("--chunk", type=int, default=5000, help="entries per worker task")
    args = parser.parse_args()
    rng = random.Random(12)
    with tempfile.TemporaryDirectory(prefix="bench-log-") as name, \
            fresh_database(Path(name), args.postgres, "log") as settings:
        key = load_gateway_keys(settings).signing_key
        took = fill_log(settings.sqlalchemy_url, args.entries, key=key, origin=settings.origin)
        print(f"log filled with {args.entries:,} entries in {took:.0f} s", flush=True)
        verifier = parse_verifier_key(verifier_key_string(note_name(settings.origin), bytes(key.verify_key)))
        engine = sqlalchemy.create_engine(settings.sqlalchemy_url)
        try:
            with engine.connect() as connection:
                started = time.perf_counter()
                report = verify_log(connection, verifier, origin=settings.origin, jobs=args.jobs,
                                    chunk_size=args.chunk)
                seconds = time.perf_counter() - started
                rate = report.entries / seconds
                print(f"audit verify ({args.jobs} jobs): {report.entries:,} entries, "
                      f"{report.checkpoints:,} checkpoints in "
                      f"{seconds:.1f} s = {rate:,.0f} entries/s (target >= 100,000: "
                      f"{'ok' if rate >= 100_000 else 'MISSED'})")
                size = report.entries
                timings: dict[str, list[float]] = {"inclusion": [], "consistency": []}
                for _ in range(args.proofs):
                    index = rng.randrange(size)
                    started = time.perf_counter()
                    inclusion(connection, index, None, origin=settings.origin, key=key)
                    timings["inclusion"].append((time.perf_counter() - started) * 1000)
                    old = rng.randrange(1, size)
                    started = time.perf_counter()
                    consistency(connection, old, size, origin=settings.origin, key=key)
                    timings["consistency"].append((time.perf_counter() - started) * 1000)
                for kind, values in timings.items():
                    p50 = statistics.median(values)
                    print(f"{kind} proof at {size:,} entries: p50 {p50:.2f} ms, max {max(values):.2f} ms "
                          f"(target < 5 ms: {'ok' if p50 < 5 else 'MISSED'})")
        finally:
            engine.dispose()
    database_kind = "PostgreSQL" if args.postgres else "SQLite (WAL, synchronous=FULL)"
    print(f"{os.cpu_count()} CPUs; {database_kind}")
    print("command: " + shlex.join([".venv/bin/python", "bench/bench_log_scale.py", *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

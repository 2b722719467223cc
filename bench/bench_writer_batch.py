"""Milliseconds the audit writer takes to commit one batch of token-bearing entries (issue 12).

    .venv/bin/python bench/bench_writer_batch.py [--batch 32] [--batches 60] [--postgres URL]

Each batch holds ``--batch`` served entries, each recording its own token's jti, as the committer
thread makes of requests queued together at 32 connections: one transaction through
``AuditWriter._transaction``, on a fresh database (SQLite, WAL with synchronous=FULL, or a
temporary PostgreSQL schema). On PostgreSQL the whole transaction runs under the advisory lock
that every replica's writer waits on, so its length bounds the replicas' combined rate.
"""

from __future__ import annotations

import argparse
import secrets
import shlex
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, bench/ is not a package on the path

from bench.servers import fresh_database  # noqa: E402
from gateway.audit.checkpoints import CheckpointPolicy  # noqa: E402
from gateway.audit.model import AuditEvent, Decision  # noqa: E402
from gateway.audit.writer import AuditWriter  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.keys.keyring import load_gateway_keys  # noqa: E402

_NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
_WARM_UP = 5


def served_with_token() -> AuditEvent:
    jti = secrets.token_hex(8)
    return AuditEvent(request_id="req_" + secrets.token_hex(12), time=_NOW, decision=Decision.SERVED,
                      principal="bench-authority", principal_verified=True, jti=jti,
                      consume_token=("bench-authority", jti, 10**10))


def writer_for(settings: Settings) -> AuditWriter:
    """A group-committing writer on ``settings``' database whose checkpoints never fall in a batch."""
    return AuditWriter(settings.sqlalchemy_url, checkpoint_key=load_gateway_keys(settings).signing_key,
                       origin=settings.origin, policy=CheckpointPolicy(10**9, 3600.0), group_commit=True)


def batch_milliseconds(writer: AuditWriter, size: int, batches: int) -> list[float]:
    for _ in range(_WARM_UP):
        writer._transaction([served_with_token() for _ in range(size)])
    times = []
    for _ in range(batches):
        batch = [served_with_token() for _ in range(size)]
        started = time.perf_counter()
        writer._transaction(batch)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--postgres", metavar="URL", help="e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if not 1 <= args.batch <= 512 or args.batches < 1:
        raise SystemExit("--batch must be 1 to 512 (the writer's largest batch) and --batches at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as name, \
            fresh_database(Path(name), args.postgres, "writer") as settings:
        writer = writer_for(settings)
        try:
            times = batch_milliseconds(writer, args.batch, args.batches)
        finally:
            writer.close()
    database = "PostgreSQL" if args.postgres else "SQLite (WAL, synchronous=FULL)"
    print(f"one batch of {args.batch} entries with their jtis, {args.batches} batches, {database}:")
    print(f"  median {statistics.median(times):.2f} ms, min {min(times):.2f} ms, "
          f"{args.batch * 1000 / statistics.median(times):,.0f} entries/s at the median")
    print("command: " + shlex.join([".venv/bin/python", "bench/bench_writer_batch.py", *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

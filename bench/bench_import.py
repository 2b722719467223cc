"""Subject import throughput: generate N synthetic subjects to a JSON Lines file, import them into a
fresh store, print subjects per second.

    .venv/bin/python bench/bench_import.py --subjects 5000 [--ip-events 20] [--postgres URL]

The store is a new SQLite database in a temporary directory (WAL, synchronous=FULL, as the
gateway runs it), or with ``--postgres`` a temporary schema in that database, dropped afterwards.
Only the import is timed: reading the file, parsing, validating, sealing, indexing, inserting and
the one commit. Generating the file is not.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import sqlalchemy

from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys
from gateway.keys.vault import Vault
from gateway.maintenance.initialize import initialize
from gateway.store.engine import Database
from gateway.subjects.store import SubjectStore
from gateway.subjects.synthetic import generate_subjects


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=5000)
    parser.add_argument("--ip-events", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", metavar="URL", help="e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        data = Path(tmp) / "subjects.jsonl"
        started = time.perf_counter()
        with data.open("w", encoding="utf-8") as out:
            for subject in generate_subjects(args.subjects, seed=args.seed, ip_events=args.ip_events):
                out.write(json.dumps(subject) + "\n")
        generated = time.perf_counter() - started

        schema = None
        url = None
        if args.postgres:
            schema = f"bench_{secrets.token_hex(4)}"
            admin = sqlalchemy.create_engine(args.postgres)
            with admin.begin() as conn:
                conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
            separator = "&" if "?" in args.postgres else "?"
            url = f"{args.postgres}{separator}options={quote(f'-csearch_path={schema}')}"
        try:
            settings = Settings(data_dir=Path(tmp) / "var", database_url=url, _env_file=None)
            initialize(settings)
            db = Database(settings.sqlalchemy_url)
            store = SubjectStore(db, Vault.from_keys(load_gateway_keys(settings)))
            with data.open("r", encoding="utf-8") as lines:
                report = store.import_lines(lines)
            assert store.count() == args.subjects
            db.dispose()
        finally:
            if schema is not None:
                with admin.begin() as conn:
                    conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()

        size_mb = data.stat().st_size / 1e6
    backend = "postgresql" if args.postgres else "sqlite"
    print(f"generated {args.subjects} subjects ({args.ip_events} IP events each, {size_mb:.1f} MB) "
          f"in {generated:.2f} s")
    print(f"imported into {backend} in {report.seconds:.2f} s: {report.rate:,.0f} subjects/s")
    # Other work on the machine skews the number; say how busy it was.
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("reproduce: " + shlex.join([".venv/bin/python", "bench/bench_import.py", *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

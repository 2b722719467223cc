"""The embedded store at a platform's scale (issue 29): live ingestion, windowed reads, retention.

    .venv/bin/python bench/bench_embedded.py [--quick]

Each figure is printed beside its target (the full mode's sizes; ``--quick`` runs a tenth or less of
each, under a minute, and says so):

1. ``gateway subjects upsert -``: 1,000,000 subjects streamed through the real command on standard
   input into a fresh SQLite store (WAL, synchronous=FULL, as the gateway runs it): subjects/s
   (target >= 10,000) and the peak resident memory of the command and its ingestion workers together
   (target < 300 MB). Each subject has an IP event, a device and a username record, from a template
   with its own id, phone and username, generated here (the synthetic generator is slower than the store).
2. ``gateway subjects append-events FILE``: 1,000,000 IP sightings over those subjects: events/s
   (target >= 20,000).
3. Cost that follows the window: a subject with 1,000,000 IP events over two years beside one with
   20, the same 20 in the week read: p50 of ``read_field(…, "ipAddresses", week)``, the read a
   disclosure makes of the store (rows selected by index range, opened, decoded; the rest of a
   disclosure is the same for both subjects, so this is the strict form of the ratio), target
   heavy/light <= 1.5. The week is in the middle of the history, the worst place for an index over
   one end of an event's span.
4. A running gateway: `gateway serve` answering one client's real disclosures (a two-field order,
   each request its own token, each audited) idle, then during a 1,000,000-event ``append-events``
   on the same SQLite file: p99 during / p99 idle (target <= 5).
5. Retention over 10,000,000 IP events past their cutoff (a fresh store; the rows' ciphertexts are
   random bytes of a real row's length, since retention never opens them): `run_retention` deleted
   events/s including its WAL checkpoint (target >= 100,000).
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, bench/ is not a package on the path

from bench.bench_disclosure import mint, prepare  # noqa: E402
from bench.servers import fresh_database, serve_gateway, stop  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.keys.keyring import load_gateway_keys  # noqa: E402
from gateway.keys.vault import Vault  # noqa: E402
from gateway.lifecycle.retention import Cutoffs, run_retention  # noqa: E402
from gateway.services import Services  # noqa: E402
from gateway.store.engine import Database  # noqa: E402
from gateway.subjects.events import EventRow, span_class  # noqa: E402
from gateway.subjects.parsing import parse_subject  # noqa: E402
from gateway.subjects.record import IpEvent  # noqa: E402
from gateway.subjects.store import SubjectStore  # noqa: E402
from gateway.subjects.synthetic import generate_subjects  # noqa: E402
from gateway.values.times import epoch_micros, format_time  # noqa: E402

FULL = {"subjects": 1_000_000, "appended": 1_000_000, "heavy": 1_000_000, "during": 1_000_000,
        "retention": 10_000_000}
QUICK = {"subjects": 30_000, "appended": 60_000, "heavy": 100_000, "during": 60_000, "retention": 300_000}
TARGETS = {"upsert": 10_000, "rss_mb": 300, "append": 20_000, "window": 1.5, "p99": 5.0, "retention": 100_000}
START = datetime(2025, 1, 1, tzinfo=UTC)
WEEK = (START + timedelta(days=364), START + timedelta(days=371))


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def gateway_env(settings: Settings) -> dict[str, str]:
    variables = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return variables | {"GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_ID": settings.id,
                        "GATEWAY_DATABASE_URL": settings.sqlalchemy_url}


def gateway_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from gateway.cli.main import run; run()", *args]


def subject_lines(count: int) -> Iterator[bytes]:
    """``count`` distinct subjects (id, phone, username of their own) on one template's history."""
    template = next(generate_subjects(1, seed=29, ip_events=1))
    template["devices"] = template["devices"][:1]
    template["username_history"] = [{"username": "u", "from": "2024-01-01T00:00:00Z"}]
    for n in range(count):
        subject = dict(template, id=f"sub_{n:012x}", phone=f"+49151{n:08d}", username=f"user_{n}")
        subject["username_history"] = [{"username": f"user_{n}", "from": "2024-01-01T00:00:00Z"}]
        yield json.dumps(subject).encode() + b"\n"


def ip_lines(subject_ids: list[str], count: int) -> Iterator[bytes]:
    """``count`` IP sightings spread over ``subject_ids``, a second apart."""
    for n in range(count):
        seen = format_time(START + timedelta(seconds=n))
        yield (f'{{"subject":"{subject_ids[n % len(subject_ids)]}","kind":"ip","ip":"10.{n >> 16 & 255}.'
               f'{n >> 8 & 255}.{n & 255}","port":{1024 + n % 60000},"seen":"{seen}"}}\n').encode()


def run_command(args: list[str], env: dict[str, str], stdin: IO[bytes] | int | None = None
                ) -> tuple[dict[str, Any], float]:
    """Run a `gateway` command with ``--json`` output; its summary and its peak RSS in MB."""
    process = subprocess.Popen(args, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{shlex.join(args[3:])} exited {process.returncode}")
    return json.loads(output), usage.ru_maxrss / 1024


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the command's ingestion workers), summed, in MB;
    0 where /proc cannot tell."""
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            pids += [int(child) for child in children.read().split()]
        total = 0
        for each in pids:
            with open(f"/proc/{each}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
    except (OSError, ValueError):
        return 0.0
    return total / 1024


def bench_upsert(settings: Settings, count: int) -> tuple[float, float]:
    """Subjects/s and the peak resident memory in MB: the larger of the command's own peak and the
    peak, sampled every 50 ms, of the command and its worker processes together (forked workers
    share most of their pages with it, so the sum counts those pages more than once)."""
    process_env = gateway_env(settings)
    args = gateway_command("subjects", "upsert", "--json", "-")
    process = subprocess.Popen(args, env=process_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    assert process.stdin is not None
    assert process.stdout is not None
    peak = [0.0]
    running = threading.Event()
    running.set()

    def sample() -> None:
        while running.is_set():
            peak[0] = max(peak[0], tree_rss_mb(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def feed() -> None:
        assert process.stdin is not None
        chunk: list[bytes] = []
        for line in subject_lines(count):
            chunk.append(line)
            if len(chunk) >= 2000:
                process.stdin.write(b"".join(chunk))
                chunk.clear()
        process.stdin.write(b"".join(chunk))
        process.stdin.close()

    feeder = threading.Thread(target=feed)
    feeder.start()
    output = process.stdout.read()
    feeder.join()
    running.clear()
    sampler.join()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    summary = json.loads(output)
    if summary["applied"] != count:
        raise SystemExit(f"upsert applied {summary['applied']} of {count}")
    return summary["applied"] / summary["seconds"], max(usage.ru_maxrss / 1024, peak[0])


def bench_append(settings: Settings, subject_ids: list[str], count: int, tmp: Path) -> float:
    path = tmp / "events.jsonl"
    with path.open("wb") as out:
        out.writelines(ip_lines(subject_ids, count))
    summary, _ = run_command(gateway_command("subjects", "append-events", "--json", str(path)), gateway_env(settings))
    if summary["applied"] != count:
        raise SystemExit(f"append-events applied {summary['applied']} of {count}")
    return float(summary["applied"] / summary["seconds"])


def bench_window(settings: Settings, heavy_events: int, rounds: int) -> tuple[float, float]:
    """p50 (ms) of a week's read of the light and of the heavy subject, alternating."""
    db = Database(settings.sqlalchemy_url)
    store = SubjectStore(db, Vault.from_keys(load_gateway_keys(settings)))
    light, heavy = (parse_subject(s) for s in generate_subjects(2, seed=31, ip_events=0))
    in_week = tuple(IpEvent(f"192.0.2.{i}", 443, WEEK[0] + timedelta(hours=8 * i), WEEK[0] + timedelta(hours=8 * i))
                    for i in range(20))
    store.put(dataclasses.replace(light, ip_events=in_week))
    store.put(dataclasses.replace(heavy, ip_events=in_week))
    # The heavy subject's other events: two years, the week itself left out, sealed as the store seals.
    spread = (2 * 365 * 86400) / heavy_events
    rows = []
    week_us = (epoch_micros(WEEK[0]), epoch_micros(WEEK[1]))
    with db.session() as session:
        connection = session.connection()
        for n in range(heavy_events - 20):
            seen = START + timedelta(seconds=n * spread)
            at = epoch_micros(seen)
            if week_us[0] - 3600 * 10**6 <= at < week_us[1] + 3600 * 10**6:
                seen += timedelta(days=9)  # moved out of the week (and its neighbourhood)
                at = epoch_micros(seen)
            event = IpEvent(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 1024 + n % 60000, seen, seen)
            rows.append(EventRow("ip", at, at, event.to_json()).sealed(store.vault, heavy.id))
            if len(rows) >= 20_000:
                store.insert_events(connection, rows)
                rows.clear()
        store.insert_events(connection, rows)
    samples: dict[str, list[float]] = {"light": [], "heavy": []}
    for _ in range(rounds):
        for name, record in (("light", light), ("heavy", heavy)):
            started = time.perf_counter()
            found = store.read_field(record.id, "ipAddresses", WEEK)
            samples[name].append((time.perf_counter() - started) * 1000)
            assert isinstance(found, list)
            assert len(found) == 20
    db.dispose()
    return statistics.median(samples["light"]), statistics.median(samples["heavy"])


class Client:
    """One keep-alive client sending real disclosures, one at a time, each with its own token."""

    def __init__(self, port: int, body: bytes, mint_tokens: Any) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.body = body
        # Minted 500 at a time, between requests: a token lives 5 minutes, a full run's append longer.
        self.mint = mint_tokens
        self.tokens: list[str] = []
        self.used = 0

    def disclose(self) -> float:
        if not self.tokens:
            self.tokens = self.mint(500)
        token = self.tokens.pop()
        self.used += 1
        started = time.perf_counter()
        self.connection.request("POST", "/graphql", self.body, {"Content-Type": "application/json",
                                                                 "Authorization": f"Bearer {token}"})
        response = self.connection.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200 or b'"errors"' in payload:
            raise SystemExit(f"a disclosure failed: {response.status}")
        return elapsed


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def bench_during(tmp: Path, events: int, idle_requests: int) -> tuple[float, float, int, float]:
    """p99 (ms) idle and during an append-events of ``events``; the requests made during; its rate."""
    with fresh_database(tmp, None, name="served") as settings:
        setup = prepare(settings, orders=1)
        db = Database(settings.sqlalchemy_url)
        ids = SubjectStore(db, Vault.from_keys(load_gateway_keys(settings))).ids()
        db.dispose()
        path = tmp / "during.jsonl"
        with path.open("wb") as out:
            out.writelines(ip_lines(ids, events))
        process, port = serve_gateway(settings, tmp)
        try:
            budget = 9_500  # the order allows 10,000 queries (bench_disclosure.MAX_QUERIES)
            client = Client(port, setup.body, lambda count: mint(setup, setup.orders[0], count))
            for _ in range(20):
                client.disclose()  # warm: caches, connections
            idle = [client.disclose() for _ in range(idle_requests)]
            append = subprocess.Popen(gateway_command("subjects", "append-events", "--json", str(path)),
                                      env=gateway_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            during = []
            while append.poll() is None and client.used < budget:
                during.append(client.disclose())
                time.sleep(0.015)  # paced, so that the order's queries last the whole append
            output, errors = append.communicate()
            if append.returncode not in (0, 1) or not output.strip():
                raise SystemExit(f"append-events exited {append.returncode}: {errors.decode()[-500:]}")
            summary = json.loads(output)
        finally:
            stop(process)
    return p99(idle), p99(during), len(during), float(summary["applied"] / summary["seconds"])


def bench_retention(tmp: Path, count: int, say: Any) -> float:
    with fresh_database(tmp, None, name="retention") as settings:
        services = Services.build(settings)
        try:
            subjects = [parse_subject(s) for s in generate_subjects(1000, seed=33, ip_events=0)]
            for record in subjects:
                services.subjects.put(record)
            old = epoch_micros(START)
            raw = services.db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                batch = []
                for n in range(count):
                    at = old + n * 1_000_000
                    batch.append((subjects[n % 1000].id, "ip", span_class(at, at), at, at, secrets.token_bytes(110)))
                    if len(batch) >= 50_000:
                        cursor.executemany("INSERT INTO subject_events (subject_id, kind, span, first_seen, "
                                           "last_seen, sealed) VALUES (?, ?, ?, ?, ?, ?)", batch)
                        raw.commit()
                        batch.clear()
                        if n % 1_000_000 < 50_000:
                            say(f"  retention fixture: {n + 1:,} of {count:,} events")
                cursor.executemany("INSERT INTO subject_events (subject_id, kind, span, first_seen, last_seen, "
                                   "sealed) VALUES (?, ?, ?, ?, ?, ?)", batch)
                raw.commit()
            finally:
                raw.close()
            now = START + timedelta(days=2000)
            started = time.perf_counter()
            report, _ = run_retention(db=services.db, subjects=services.subjects, holds=services.preservations,
                                      audit=services.audit, cutoffs=Cutoffs(now - timedelta(days=30)), now=now)
            seconds = time.perf_counter() - started
        finally:
            services.close()
    if report.ip_events_deleted != count:
        raise SystemExit(f"retention deleted {report.ip_events_deleted} of {count}")
    return count / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth or less of each size: under a minute")
    parser.add_argument("--rounds", type=int, default=300, help="reads of each subject for the window p50")
    parser.add_argument("--idle-requests", type=int, default=400)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: upsert,append,window,during,"
                                                    "retention")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    skip = set(filter(None, args.skip.split(",")))
    mode = "quick (sizes below the targets' own: indicative only)" if args.quick else "full"
    began = time.perf_counter()

    def say(text: str) -> None:
        print(text, flush=True)

    say(f"bench_embedded, {mode} mode, SQLite")
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as name:
        tmp = Path(name)
        with fresh_database(tmp, None) as settings:
            if "upsert" not in skip or "append" not in skip:
                rate, rss = bench_upsert(settings, sizes["subjects"])
                say(f"upsert {sizes['subjects']:,} subjects: {rate:,.0f} subjects/s (target >= {TARGETS['upsert']:,}) "
                    f"{verdict(rate >= TARGETS['upsert'])}; peak RSS with its workers {rss:.0f} MB "
                    f"(target < {TARGETS['rss_mb']}) {verdict(rss < TARGETS['rss_mb'])}")
            if "append" not in skip:
                ids = [f"sub_{n:012x}" for n in range(0, sizes["subjects"], max(1, sizes["subjects"] // 5000))]
                rate = bench_append(settings, ids, sizes["appended"], tmp)
                say(f"append-events {sizes['appended']:,} IP events: {rate:,.0f} events/s "
                    f"(target >= {TARGETS['append']:,}) {verdict(rate >= TARGETS['append'])}")
            if "window" not in skip:
                light, heavy = bench_window(settings, sizes["heavy"], args.rounds)
                ratio = heavy / light
                say(f"one-week ipAddresses read, p50: 20 events {light:.3f} ms, {sizes['heavy']:,} events over two "
                    f"years {heavy:.3f} ms: {ratio:.2f}x (target <= {TARGETS['window']}x) "
                    f"{verdict(ratio <= TARGETS['window'])}")
        if "during" not in skip:
            idle, during, requests, rate = bench_during(tmp, sizes["during"], args.idle_requests)
            ratio = during / idle
            say(f"disclosure p99: idle {idle:.2f} ms, during a {sizes['during']:,}-event append-events "
                f"{during:.2f} ms over {requests:,} requests (append ran at {rate:,.0f} events/s): {ratio:.2f}x "
                f"(target <= {TARGETS['p99']}x) {verdict(ratio <= TARGETS['p99'])}")
        if "retention" not in skip:
            rate = bench_retention(tmp, sizes["retention"], say)
            say(f"retention over {sizes['retention']:,} IP events: {rate:,.0f} events/s deleted "
                f"(target >= {TARGETS['retention']:,}) {verdict(rate >= TARGETS['retention'])}")
    say(f"took {time.perf_counter() - began:.0f} s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    say("reproduce: " + shlex.join([".venv/bin/python", "bench/bench_embedded.py", *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

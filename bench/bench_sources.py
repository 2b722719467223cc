"""The sql subject source at scale beside the embedded store (docs/PROTOCOL.md §9.1–9.2).

    .venv/bin/python bench/bench_sources.py [--accounts 1000000] [--sessions 10000000] [--subjects 200]
                                            [--disclosures 600] [--postgres URL] [--keep]

Fills the example platform (examples/platform/, IP sessions partitioned by month) in a schema of
its own, ``bench_platform``, on the local PostgreSQL with ``examples/platform/fill.py`` (COPY; the
rows/s are printed), and drops it at the end unless ``--keep``. Picks ``--subjects`` accounts spread
over the ids and imports the same subjects, with all their rows, into an embedded store.

Then two ``gateway serve`` processes, one on each source, each with its own SQLite database and
one ACTIVE order per hundred subjects (phoneNumber and ipAddresses, a one-week data window). One
client, keep-alive, sends real disclosures (``subject(by: {id})`` with the two fields, every
request its own single-use token, minted before the clock starts) to the two in turn, cycling over
the subjects, so the machine's drift falls on both alike; p50 of each beside the target
``sql <= 1.5 x embedded``. Before that, both sources answer the same values for every subject.

Last, the ``EXPLAIN`` of every statement of the example mapping on the filled platform, with its
verdict: an index scan passes, a sequential scan fails the run (exit status 1).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import sqlalchemy
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from pydantic import SecretStr
from rich.console import Console

from crypto.keys import encode_public_key
from crypto.signing import ORDER_DOMAIN, sign_over
from crypto.tokens import create_token
from gateway.audit.model import AuditEvent, Decision
from gateway.config import Settings
from gateway.orders.model import MAX_SELECTORS, DraftInput, LegalRequestSubmission
from gateway.principals.registry import Role
from gateway.services import Services
from gateway.subjects.mapping import load_mapping
from gateway.subjects.sql_source import SqlSource
from gateway.subjects.store import SubjectStore
from gateway.transparency import facts
from gateway.values.selector import Selector
from gateway.values.times import parse_time
from gateway.values.window import TimeWindow

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, bench/ is not a package on the path
from bench.servers import fresh_database, serve_gateway, stop  # noqa: E402

EXAMPLES = ROOT / "examples" / "platform"
MAPPING = EXAMPLES / "mapping.postgresql.toml"
SCHEMA = "bench_platform"
WEEK = ("2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z")
QUERY = "query($id: ID!) { subject(by: {id: $id}) { phoneNumber { ciphertext } ipAddresses { ciphertext } } }"
TARGET_RATIO = 1.5
console = Console()


def load_fill() -> ModuleType:
    """examples/platform/fill.py as a module (an example script, not a package)."""
    spec = importlib.util.spec_from_file_location("platform_fill", EXAMPLES / "fill.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {EXAMPLES / 'fill.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["platform_fill"] = module
    spec.loader.exec_module(module)
    return module


def platform_url(postgres: str) -> str:
    return f"{postgres}{'&' if '?' in postgres else '?'}options={quote(f'-csearch_path={SCHEMA}')}"


def subject_lines(url: str, ids: list[str]) -> list[str]:
    """The chosen accounts with all their rows as import lines, in the order the mapping reads them."""
    engine = sqlalchemy.create_engine(url)
    text = sqlalchemy.text
    by_id: dict[str, dict[str, Any]] = {}
    iso = "YYYY-MM-DD\"T\"HH24:MI:SS\"Z\""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET TIME ZONE 'UTC'")
            for aid, username, phone, created in conn.execute(text(
                    f"SELECT id, username, phone, to_char(created_at, '{iso}') FROM accounts WHERE id = ANY(:ids)"),
                    {"ids": ids}):
                by_id[aid] = {"id": aid, "username": username, "phone": phone, "created_at": created,
                              "ip_events": [], "devices": [], "username_history": []}
            for aid, ip, port, first, last in conn.execute(text(
                    f"SELECT account_id, host(ip), port, to_char(first_seen, '{iso}'), to_char(last_seen, '{iso}') "
                    "FROM ip_sessions WHERE account_id = ANY(:ids) ORDER BY first_seen, last_seen, ip, port"),
                    {"ids": ids}):
                event: dict[str, Any] = {"ip": ip, "first_seen": first, "last_seen": last}
                if port is not None:
                    event["port"] = port
                by_id[aid]["ip_events"].append(event)
            for aid, model, platform, app, version, first, last in conn.execute(text(
                    f"SELECT account_id, model, platform, app, app_version, to_char(first_seen, '{iso}'), "
                    f"to_char(last_seen, '{iso}') FROM devices WHERE account_id = ANY(:ids) "
                    "ORDER BY first_seen, last_seen, model"), {"ids": ids}):
                by_id[aid]["devices"].append({"model": model, "platform": platform, "app": app,
                                              "app_version": version, "first_seen": first, "last_seen": last})
            for aid, username, valid_from, valid_until in conn.execute(text(
                    f"SELECT account_id, username, to_char(valid_from, '{iso}'), to_char(valid_until, '{iso}') "
                    "FROM username_changes WHERE account_id = ANY(:ids) ORDER BY valid_from"), {"ids": ids}):
                record = {"username": username, "from": valid_from}
                if valid_until is not None:
                    record["until"] = valid_until
                by_id[aid]["username_history"].append(record)
    finally:
        engine.dispose()
    return [json.dumps(by_id[i]) for i in ids]


def prepare(settings: Settings, ids: list[str], authority: SigningKey) -> list[tuple[str, list[str]]]:
    """An authority, two reviewers and one ACTIVE order per hundred subjects, made through the
    services (approvals audited as the API would); (order id, its subjects) for each."""
    services = Services.build(settings)
    try:
        now = datetime.now(UTC)
        principal = services.registry.add(
            role=Role.AUTHORITY, principal_id="bench-authority", name="Bench", country="DE",
            signing_key=encode_public_key(authority.verify_key),
            sealing_key=encode_public_key(PrivateKey.generate().public_key), now=int(now.timestamp()))
        reviewers = []
        for n in "ab":
            key = SigningKey.generate()
            info = services.registry.add(role=Role.REVIEWER, principal_id=f"bench-reviewer-{n}", name=n,
                                         signing_key=encode_public_key(key.verify_key), now=int(now.timestamp()))
            reviewers.append((services.registry.get(info.id), key))
        orders = []
        for start in range(0, len(ids), MAX_SELECTORS):
            group = ids[start:start + MAX_SELECTORS]
            request = services.orders.submit_request(principal, LegalRequestSubmission(
                case_reference="BENCH 2/26", court="Bench court", jurisdiction="DE", legal_basis="bench",
                offense_category="FRAUD", court_order_sha256="ab" * 32, subjects=[Selector("id", i) for i in group],
                fields=["phoneNumber", "ipAddresses"], data_window=TimeWindow.parse(*WEEK),
                justification="benchmark"), now=now)
            state = services.orders.draft_order(reviewers[0][0], DraftInput(
                request_id=request.id, valid_until="2027-06-01T00:00:00Z", max_queries=10_000), now=now)
            for info, key in reviewers:
                entry = "req_" + secrets.token_hex(12)
                approved = services.orders.approve_order(
                    info, state.id, sign_over(ORDER_DOMAIN, state.text.encode(), key), now=now, entry=entry)
                services.audit.append_sync(AuditEvent(request_id=entry, time=now, decision=Decision.SERVED,
                                                      principal=info.id, principal_verified=True,
                                                      facts=[facts.approved(approved)]))
            orders.append((state.id, group))
    finally:
        services.close()
    return orders


def same_answers(embedded: Settings, url: str, ids: list[str]) -> int:
    """How many (subject, field) values the two sources answer alike; exits on the first that differs."""
    window = (parse_time(WEEK[0]), parse_time(WEEK[1]))
    services = Services.build(embedded)
    sql = SqlSource.open(url, MAPPING)
    try:
        store: SubjectStore = services.subjects
        alike = 0
        for subject_id in ids:
            for field in ("phoneNumber", "ipAddresses", "devices", "usernameHistory"):
                if store.read_field(subject_id, field, window) != sql.read_field(subject_id, field, window):
                    raise SystemExit(f"the sources answer {field} of {subject_id} differently")
                alike += 1
    finally:
        sql.dispose()
        services.close()
    return alike


def explain(url: str, subject: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(purpose, the plan's scan nodes, index scan?) for every statement of the mapping."""
    mapping = load_mapping(MAPPING)
    params: dict[str, Any] = {"subject_id": subject["id"], "phone": subject["phone"],
                              "username": subject["username"].casefold(),
                              "window_from": parse_time(WEEK[0]), "window_until": parse_time(WEEK[1])}
    engine = sqlalchemy.create_engine(url)
    verdicts = []
    try:
        with engine.connect() as conn:
            for purpose, clause in mapping.statements.items():
                bound = {k: v for k, v in params.items() if k in clause.compile().params}
                plan = [str(r[0]) for r in conn.execute(sqlalchemy.text(f"EXPLAIN {clause.text}"), bound)]
                scans = sorted({line.strip().lstrip("-> ").split(" on ")[0] for line in plan
                                if " on " in line and "Scan" in line})
                verdicts.append((purpose, ", ".join(scans), not any("Seq Scan" in line for line in plan)))
    finally:
        engine.dispose()
    return verdicts


def disclosures(ports: dict[str, int], authority: SigningKey, orders: dict[str, list[tuple[str, list[str]]]],
                audience: dict[str, str], count: int) -> dict[str, list[float]]:
    """Milliseconds of ``count`` disclosures on each server, alternating, one keep-alive client each."""
    plan = []
    for n in range(count):
        for name in ports:
            order_id, group = orders[name][n % len(orders[name])]
            subject_id = group[(n // len(orders[name])) % len(group)]
            body = json.dumps({"query": QUERY, "variables": {"id": subject_id}}).encode()
            token = create_token(authority, issuer="bench-authority", audience=audience[name], body=body,
                                 now=int(time.time()), lifetime=300, order_id=order_id)
            plan.append((name, body, token))
    clients = {name: http.client.HTTPConnection("127.0.0.1", port) for name, port in ports.items()}
    times: dict[str, list[float]] = {name: [] for name in ports}
    try:
        for name, body, token in plan:
            client = clients[name]
            started = time.perf_counter()
            client.request("POST", "/graphql", body=body, headers={
                "content-type": "application/json", "authorization": f"Bearer {token}"})
            response = client.getresponse()
            data = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200 or b'"errors"' in data:
                raise SystemExit(f"{name}: a disclosure was refused ({response.status}): {data[:300]!r}")
            times[name].append(elapsed)
    finally:
        for client in clients.values():
            client.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000_000)
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--disclosures", type=int, default=600, help="on each source")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help=f"leave the {SCHEMA} schema filled")
    args = parser.parse_args()
    if not 1 <= args.subjects <= args.accounts or not 1 <= args.disclosures <= 10_000 * args.subjects // 200:
        raise SystemExit("--subjects must lie between 1 and --accounts")
    fill = load_fill()
    url = platform_url(args.postgres)
    admin = sqlalchemy.create_engine(args.postgres)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
    failed = False
    try:
        console.print(f"filling {args.accounts:,} accounts and {args.sessions:,} IP sessions into {SCHEMA}")
        started = time.perf_counter()
        took = fill.fill(url, fill.Platform(args.accounts, args.sessions, args.seed),
                         schema=EXAMPLES / "schema.postgresql.sql", console=console)
        rate = args.sessions / took["sessions"] if took["sessions"] else float("inf")
        console.print(f"fill: {time.perf_counter() - started:.0f} s in all (accounts {took['accounts']:.0f} s, "
                      f"sessions {took['sessions']:.0f} s at {rate:,.0f} rows/s by COPY, indexes and foreign keys "
                      f"{took['indexes']:.0f} s)", markup=False)
        step = args.accounts // args.subjects
        ids = [fill.account_id(i * step) for i in range(args.subjects)]
        lines = subject_lines(url, ids)
        with tempfile.TemporaryDirectory(prefix="bench-sources-") as tmp, \
                fresh_database(Path(tmp), None, "embedded") as embedded, \
                fresh_database(Path(tmp), None, "sql") as sql_base:
            services = Services.build(embedded)
            try:
                services.subjects.import_lines(lines)
            finally:
                services.close()
            sql_env = {"GATEWAY_SUBJECT_SOURCE": "sql", "GATEWAY_SUBJECT_SOURCE_URL": url,
                       "GATEWAY_SUBJECT_SOURCE_MAPPING": str(MAPPING)}
            sql = sql_base.model_copy(update={"subject_source": "sql", "subject_source_mapping": MAPPING,
                                              "subject_source_url": SecretStr(url)})
            alike = same_answers(embedded, url, ids)
            console.print(f"both sources answer the same {alike} values ({len(ids)} subjects, four fields, "
                          f"the week {WEEK[0]} to {WEEK[1]})", markup=False)
            authority = SigningKey.generate()
            orders = {"embedded": prepare(embedded, ids, authority), "sql": prepare(sql, ids, authority)}
            servers = {"embedded": serve_gateway(embedded, Path(tmp)),
                       "sql": serve_gateway(sql_base, Path(tmp), env=sql_env)}
            try:
                ports = {name: port for name, (_, port) in servers.items()}
                audience = {"embedded": embedded.id, "sql": sql.id}
                disclosures(ports, authority, orders, audience, 20)  # warm both: pools, caches, plans
                times = disclosures(ports, authority, orders, audience, args.disclosures)
            finally:
                for process, _ in servers.values():
                    stop(process)
        p50 = {name: statistics.median(values) for name, values in times.items()}
        ratio = p50["sql"] / p50["embedded"]
        console.print(f"two-field disclosure, one-week window, one client, {args.disclosures} on each source "
                      f"({args.subjects} subjects):", markup=False)
        console.print(f"  p50 embedded {p50['embedded']:.2f} ms   p50 sql {p50['sql']:.2f} ms   "
                      f"sql/embedded {ratio:.2f}x   target <= {TARGET_RATIO}x   "
                      f"{'ok' if ratio <= TARGET_RATIO else 'MISSED'}", markup=False)
        subject = json.loads(lines[0])
        console.print("EXPLAIN of each mapping statement on the filled platform:", markup=False)
        for purpose, scans, indexed in explain(url, subject):
            console.print(f"  {purpose:<20} {'index scan' if indexed else 'SEQ SCAN':<10}  {scans}", markup=False)
            failed |= not indexed
        if failed:
            console.print("FAILED: a mapping statement scans a table sequentially", style="bold red")
    finally:
        if not args.keep:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        admin.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

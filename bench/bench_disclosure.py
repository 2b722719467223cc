"""Real disclosures through `gateway serve` against a bare strawberry app, in one run (issue 12).

    .venv/bin/python bench/bench_disclosure.py [--rounds 3] [--seconds 8] [--connections 32]
                                               [--log-entries 1000000] [--postgres URL]

The peer (bench/peer_app.py) is strawberry with its parser and validation caches and nothing
else, answering the same query shape: a subject by id with two sealed fields whose ciphertexts
are 200 and 600 bytes. The gateway serves real disclosures: ``subject(by: {id})`` with
``phoneNumber`` and ``ipAddresses`` of an ACTIVE order with two reviewer approvals, every request
with its own single-use token (minted before the clock starts; wrk sends them through a Lua
script), every response audited. Both run under uvicorn with one worker; ``wrk -t1`` drives them
in turn for ``--rounds`` rounds, and the table shows requests/s, p50, p99 and gateway/peer.

Then, one client at a time: p50 of ``GET /healthz``, of an unsigned request (refused 401 and
audited), of a two-field disclosure and of the peer, alternating for ``--one-client-rounds`` rounds
(medians shown: one run of each drifts by a third on a shared virtual machine).
Last, a gateway over a log pre-filled with
``--log-entries`` entries (bench/audit_fixture.py: real leaves, nodes and checkpoints) whose order
has used 9,000 of its 10,000 queries, beside a gateway over a fresh log: one-client p50 on a fresh
order there, on the used order, and on the fresh log, the three alternating for
``--flat-rounds`` rounds so that the machine's drift falls on all of them alike; medians compared.
Targets (docs: issue 12) are printed beside each figure.

Needs ``wrk`` (Debian package ``wrk``: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from crypto.keys import encode_public_key
from crypto.signing import ORDER_DOMAIN, sign_over
from crypto.tokens import create_token
from gateway.audit.checkpoints import log_size
from gateway.audit.model import AuditEvent, Decision
from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys
from gateway.orders.model import DraftInput, LegalRequestSubmission
from gateway.principals.registry import Role
from gateway.services import Services
from gateway.subjects.synthetic import generate_subjects
from gateway.transparency import facts
from gateway.values.selector import Selector
from gateway.values.window import TimeWindow

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script, bench/ is not a package on the path
from bench.audit_fixture import fill_log  # noqa: E402
from bench.servers import free_port, fresh_database, need_program, serve_gateway, stop, wait_up  # noqa: E402

GATEWAY_QUERY = "query($id: ID!) { subject(by: {id: $id}) { phoneNumber { ciphertext } ipAddresses { ciphertext } } }"
USED = 9_000
MAX_QUERIES = 10_000
TARGETS = {"ratio": 0.5, "p99": 2.0, "disclosure_ms": 3.0, "refusal_ms": 1.5, "flat": 1.2}

LUA = r"""
local tokens, body, path, method = {}, nil, "/graphql", "POST"
local n = 0
function init(args)
  method, path = args[1], args[2]
  if args[3] ~= "-" then
    local f = io.open(args[3], "rb"); body = f:read("*a"); f:close()
  end
  if args[4] ~= "-" then
    for line in io.lines(args[4]) do tokens[#tokens + 1] = line end
  end
end
function request()
  local headers = {}
  if body then headers["Content-Type"] = "application/json" end
  if #tokens > 0 then
    n = n + 1
    -- Past the last token the first one comes round again: a replay, refused and counted as non-2xx.
    headers["Authorization"] = "Bearer " .. tokens[(n - 1) % #tokens + 1]
  end
  return wrk.format(method, path, headers, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Setup:
    settings: Settings
    authority: SigningKey
    subject_id: str
    orders: list[str]
    body: bytes


@dataclass
class Result:
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def need_wrk() -> str:
    return need_program("wrk", "this benchmark drives the servers with wrk")


def prepare(settings: Settings, orders: int) -> Setup:
    """Subjects, an authority, two reviewers, one request and ``orders`` ACTIVE orders on it, made
    through the services (no audit entries: the log stays as the fixture leaves it)."""
    services = Services.build(settings)
    try:
        subjects = list(generate_subjects(20, seed=12))
        services.subjects.import_lines(json.dumps(s) for s in subjects)
        now = datetime.now(UTC)
        authority, sealing = SigningKey.generate(), PrivateKey.generate()
        principal = services.registry.add(role=Role.AUTHORITY, principal_id="bench-authority", name="Bench",
                                          signing_key=encode_public_key(authority.verify_key), country="DE",
                                          sealing_key=encode_public_key(sealing.public_key),
                                          now=int(now.timestamp()))
        reviewers = []
        for n in "ab":
            key = SigningKey.generate()
            info = services.registry.add(role=Role.REVIEWER, principal_id=f"bench-reviewer-{n}", name=n,
                                         signing_key=encode_public_key(key.verify_key), now=int(now.timestamp()))
            reviewers.append((services.registry.get(info.id), key))
        subject_id = str(subjects[0]["id"])
        window = TimeWindow.parse("2026-01-01T00:00:00Z", "2026-11-01T00:00:00Z")
        request = services.orders.submit_request(principal, LegalRequestSubmission(
            case_reference="BENCH 1/26", court="Bench court", jurisdiction="DE", legal_basis="bench",
            offense_category="FRAUD", court_order_sha256="ab" * 32, subjects=[Selector("id", subject_id)],
            fields=["phoneNumber", "ipAddresses"], data_window=window, justification="benchmark"), now=now)
        order_ids = []
        for _ in range(orders):
            state = services.orders.draft_order(reviewers[0][0], DraftInput(
                request_id=request.id, valid_until="2027-06-01T00:00:00Z", max_queries=MAX_QUERIES), now=now)
            for info, key in reviewers:
                # As the API's approveOrder does: the approval counts once its audit entry is in the log.
                entry = "req_" + secrets.token_hex(12)
                approved = services.orders.approve_order(
                    info, state.id, sign_over(ORDER_DOMAIN, state.text.encode(), key), now=now, entry=entry)
                services.audit.append_sync(AuditEvent(request_id=entry, time=now, decision=Decision.SERVED,
                                                      principal=info.id, principal_verified=True,
                                                      facts=[facts.approved(approved)]))
            order_ids.append(state.id)
    finally:
        services.close()
    body = json.dumps({"query": GATEWAY_QUERY, "variables": {"id": subject_id}}).encode()
    return Setup(settings, authority, subject_id, order_ids, body)


def start_peer(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT), "--port", str(port), "--log-level", "warning",
         "--no-access-log", "bench.peer_app:app"], cwd=tmp, stdout=subprocess.DEVNULL)
    wait_up(port, process, "/graphql?query=%7B__typename%7D")
    return process, port


class Wrk:
    def __init__(self, tmp: Path) -> None:
        self.binary = need_wrk()
        self.tmp = tmp
        self.script = tmp / "bench.lua"
        self.script.write_text(LUA)

    def run(self, port: int, *, connections: int, seconds: float, method: str = "POST", path: str = "/graphql",
            body: bytes | None = None, tokens: list[str] | None = None) -> Result:
        body_file = tokens_file = "-"
        if body is not None:
            (self.tmp / "body.json").write_bytes(body)
            body_file = str(self.tmp / "body.json")
        if tokens:
            (self.tmp / "tokens.txt").write_text("\n".join(tokens) + "\n")
            tokens_file = str(self.tmp / "tokens.txt")
        # wrk takes whole seconds only ("1.5s" is an error).
        command = [self.binary, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s",
                   str(self.script), f"http://127.0.0.1:{port}", "--", method, path, body_file, tokens_file]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        line = next(x for x in output.splitlines() if x.startswith("WRK "))
        data = json.loads(line[4:])
        return Result(requests=data["requests"], seconds=data["duration_us"] / 1e6, non2xx=data["non2xx"],
                      socket_errors=data["socket_errors"], p50_ms=data["p50_us"] / 1000,
                      p99_ms=data["p99_us"] / 1000)


def mint(setup: Setup, order_id: str, count: int) -> list[str]:
    now = int(time.time())
    return [create_token(setup.authority, issuer="bench-authority", audience=setup.settings.id, body=setup.body,
                         now=now, lifetime=300, order_id=order_id) for _ in range(count)]


def peer_body(setup: Setup) -> bytes:
    return json.dumps({"query": GATEWAY_QUERY, "variables": {"id": setup.subject_id}}).encode()


def audited(settings: Settings) -> int:
    engine = sqlalchemy.create_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            return log_size(connection)
    finally:
        engine.dispose()


def one_client(wrk: Wrk, port: int, setup: Setup, order_id: str, seconds: float, budget: int) -> Result:
    return wrk.run(port, connections=1, seconds=seconds, body=setup.body, tokens=mint(setup, order_id, budget))


def median_of(runs: list[Result]) -> Result:
    """One result of medians: p50 and p99 each the median of the runs', the counts summed."""
    return Result(requests=sum(r.requests for r in runs), seconds=sum(r.seconds for r in runs),
                  non2xx=sum(r.non2xx for r in runs), socket_errors=sum(r.socket_errors for r in runs),
                  p50_ms=statistics.median(r.p50_ms for r in runs), p99_ms=statistics.median(r.p99_ms for r in runs))


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--one-client-seconds", type=float, default=3.0)
    parser.add_argument("--one-client-rounds", type=int, default=3)
    parser.add_argument("--log-entries", type=int, default=1_000_000)
    parser.add_argument("--flat-rounds", type=int, default=3, help="alternating rounds over the pre-filled log")
    parser.add_argument("--max-rate", type=int, default=1200, help="tokens minted per second of a run")
    parser.add_argument("--skip-compare", action="store_true", help="only the run over the pre-filled log")
    parser.add_argument("--postgres", metavar="URL", help="e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    need_wrk()
    # An order has 10,000 queries: each timed gateway run gets a fresh one.
    per_round = int(args.max_rate * args.seconds)
    if per_round + 200 > MAX_QUERIES:
        raise SystemExit(f"--seconds x --max-rate must stay under {MAX_QUERIES - 200} (one order per run)")
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    with tempfile.TemporaryDirectory(prefix="bench-disclosure-") as name:
        tmp = Path(name)
        wrk = Wrk(tmp)
        with fresh_database(tmp, args.postgres, "fresh") as settings:
            if args.skip_compare:
                args.rounds = 0
            setup = prepare(settings, args.rounds + 3)
            gateway, gport = serve_gateway(settings, tmp)
            peer, pport = start_peer(tmp)
            responses = 0
            try:
                # Warm-up: caches, connections, the first order load.
                warm = wrk.run(gport, connections=args.connections, seconds=1, body=setup.body,
                               tokens=mint(setup, setup.orders[0], args.max_rate))
                responses += warm.requests
                wrk.run(pport, connections=args.connections, seconds=1, body=peer_body(setup))

                say(f"one client at a time (wrk -t1 -c1), p50 / p99 ms, fresh log and order, median of "
                    f"{args.one_client_rounds} alternating rounds:")
                rounds_of: dict[str, list[Result]] = {"health": [], "refusal": [], "single": [], "peer": []}
                budget = min(int(args.one_client_seconds * 2000), (MAX_QUERIES - 200) // args.one_client_rounds)
                for _ in range(args.one_client_rounds):
                    rounds_of["health"].append(wrk.run(gport, connections=1, seconds=args.one_client_seconds,
                                                       method="GET", path="/healthz"))
                    rounds_of["refusal"].append(wrk.run(gport, connections=1, seconds=args.one_client_seconds,
                                                        body=setup.body))
                    rounds_of["single"].append(one_client(wrk, gport, setup, setup.orders[1],
                                                          args.one_client_seconds, budget))
                    rounds_of["peer"].append(wrk.run(pport, connections=1, seconds=args.one_client_seconds,
                                                     body=peer_body(setup)))
                responses += sum(r.requests for r in rounds_of["refusal"] + rounds_of["single"])
                health, refusal, single, peer_single = (median_of(rounds_of[k])
                                                        for k in ("health", "refusal", "single", "peer"))
                say(f"  GET /healthz                 {health.p50_ms:7.2f} / {health.p99_ms:7.2f}")
                say(f"  unsigned, refused + audited  {refusal.p50_ms:7.2f} / {refusal.p99_ms:7.2f}"
                    f"   target <= {TARGETS['refusal_ms']} ms: {verdict(refusal.p50_ms <= TARGETS['refusal_ms'])}")
                say(f"  two-field disclosure         {single.p50_ms:7.2f} / {single.p99_ms:7.2f}"
                    f"   target <= {TARGETS['disclosure_ms']} ms: "
                    f"{verdict(single.p50_ms <= TARGETS['disclosure_ms'] and single.non2xx == 0)}")
                say(f"  peer, same query shape       {peer_single.p50_ms:7.2f} / {peer_single.p99_ms:7.2f}")

                say(f"\n{args.connections} connections (wrk -t1), {args.seconds:g} s per run, alternating:")
                say(f"  {'round':<6}{'peer req/s':>11}{'p50':>8}{'p99':>9}   {'gateway req/s':>13}{'p50':>8}{'p99':>9}"
                    f"{'non-2xx':>9}{'ratio':>7}")
                peers: list[Result] = []
                gateways: list[Result] = []
                for number in range(args.rounds):
                    p = wrk.run(pport, connections=args.connections, seconds=args.seconds, body=peer_body(setup))
                    g = wrk.run(gport, connections=args.connections, seconds=args.seconds, body=setup.body,
                                tokens=mint(setup, setup.orders[2 + number], per_round))
                    responses += g.requests
                    peers.append(p)
                    gateways.append(g)
                    say(f"  {number + 1:<6}{p.rate:>11,.0f}{p.p50_ms:>8.1f}{p.p99_ms:>9.1f}   {g.rate:>13,.0f}"
                        f"{g.p50_ms:>8.1f}{g.p99_ms:>9.1f}{g.non2xx + g.socket_errors:>9}{g.rate / p.rate:>7.2f}")
                if peers:
                    peer_rate = statistics.median(r.rate for r in peers)
                    gateway_rate = statistics.median(r.rate for r in gateways)
                    peer_p99 = statistics.median(r.p99_ms for r in peers)
                    gateway_p99 = statistics.median(r.p99_ms for r in gateways)
                    failures = sum(r.non2xx + r.socket_errors for r in gateways)
                    say(f"  median: peer {peer_rate:,.0f}/s p99 {peer_p99:.1f} ms; gateway {gateway_rate:,.0f}/s "
                        f"p99 {gateway_p99:.1f} ms")
                    say(f"  ratio {gateway_rate / peer_rate:.2f} (target >= {TARGETS['ratio']}: "
                        f"{verdict(gateway_rate / peer_rate >= TARGETS['ratio'] and failures == 0)}); "
                        f"p99 {gateway_p99 / peer_p99:.2f}x the peer's (target <= {TARGETS['p99']}x: "
                        f"{verdict(gateway_p99 <= TARGETS['p99'] * peer_p99)})")
            finally:
                stop(peer)
                stop(gateway)
            size = audited(settings)
            # wrk stops on the clock with up to one request in flight per connection: those are
            # answered (and audited) after wrk stopped counting.
            in_flight = size - responses
            say(f"  audit log: {size} entries for {responses} responses received "
                f"({in_flight} in flight when wrk stopped, at most {args.connections} per run): "
                f"{verdict(0 <= in_flight <= args.connections * (args.rounds + 3))}")

        if args.log_entries:
            if args.log_entries < USED * max(1, args.flat_rounds):
                raise SystemExit(f"--log-entries must hold {USED:,} disclosures for each of the --flat-rounds "
                                 f"orders: at least {USED * max(1, args.flat_rounds):,}")
            with fresh_database(tmp, args.postgres, "small") as small_settings, \
                    fresh_database(tmp, args.postgres, "big") as settings:
                rounds = max(1, args.flat_rounds)
                small = prepare(small_settings, 1)
                # One used order a round, so that each run starts at 9,000 used and has the 1,000
                # left to itself: a run of one second takes more than 1,000 / rounds.
                big = prepare(settings, 1 + rounds)
                used_orders = big.orders[1:]
                key = load_gateway_keys(settings).signing_key
                took = fill_log(settings.sqlalchemy_url, args.log_entries, key=key, origin=settings.origin,
                                order_ids=used_orders, disclosed=USED)
                say(f"\nlog pre-filled with {args.log_entries:,} entries in {took:.0f} s ({len(used_orders)} "
                    f"orders with {USED:,} of {MAX_QUERIES:,} used, one a round); one client, p50 ms, alternating "
                    "with a fresh log:")
                # Every order has 10,000 queries: the fresh ones' shared out over the rounds.
                budget = min(int(args.one_client_seconds * 2000), (MAX_QUERIES - 200) // rounds)
                used_budget = MAX_QUERIES - USED - 1
                fresh_gateway, fport = serve_gateway(small_settings, tmp)
                gateway, gport = serve_gateway(settings, tmp)
                fresh_runs: list[Result] = []
                big_runs: list[Result] = []
                used_runs: list[Result] = []
                try:
                    wrk.run(fport, connections=1, seconds=1, body=small.body, tokens=mint(small, small.orders[0], 300))
                    wrk.run(gport, connections=1, seconds=1, body=big.body, tokens=mint(big, big.orders[0], 300))
                    say(f"  {'round':<6}{'fresh log':>10}{'big log, fresh order':>22}{'big log, used order':>21}")
                    for number in range(rounds):
                        fresh_runs.append(one_client(wrk, fport, small, small.orders[0], args.one_client_seconds,
                                                     budget))
                        big_runs.append(one_client(wrk, gport, big, big.orders[0], args.one_client_seconds, budget))
                        # A short run, so that it never reaches max_queries (non-2xx would say it did).
                        used_runs.append(one_client(wrk, gport, big, used_orders[number], 1.0, used_budget))
                        say(f"  {number + 1:<6}{fresh_runs[-1].p50_ms:>10.2f}{big_runs[-1].p50_ms:>22.2f}"
                            f"{used_runs[-1].p50_ms:>21.2f}")
                finally:
                    stop(gateway)
                    stop(fresh_gateway)
                flat = TARGETS["flat"]
                fresh_p50 = statistics.median(r.p50_ms for r in fresh_runs)
                big_p50 = statistics.median(r.p50_ms for r in big_runs)
                used_p50 = statistics.median(r.p50_ms for r in used_runs)
                big_ok = all(r.non2xx == 0 for r in big_runs)
                used_ok = all(r.non2xx == 0 for r in used_runs)
                say(f"  median: fresh log {fresh_p50:.2f} ms")
                say(f"  over {args.log_entries:,} entries, fresh order  {big_p50:.2f} ms "
                    f"({big_p50 / fresh_p50:.2f}x, target <= {flat}x: "
                    f"{verdict(big_p50 <= flat * fresh_p50 and big_ok)})")
                say(f"  over {args.log_entries:,} entries, order with {USED:,} used  {used_p50:.2f} ms "
                    f"({used_p50 / fresh_p50:.2f}x, target <= {flat}x: "
                    f"{verdict(used_p50 <= flat * fresh_p50 and used_ok)})")

    say(f"\n{os.cpu_count()} CPUs; {'PostgreSQL' if args.postgres else 'SQLite (WAL, synchronous=FULL)'}")
    say("command: " + shlex.join([".venv/bin/python", "bench/bench_disclosure.py", *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

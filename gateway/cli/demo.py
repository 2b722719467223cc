"""`gateway demo …`: synthetic data for trying the gateway out. Never point it at a production store.

`demo seed` imports synthetic subjects. `demo run` tells the whole story against a live local
server on SQLite: keys and registration for a demo authority and two reviewers, subjects, a legal
request, a narrowed draft, two approvals, a query whose sealed values are opened and verified, a
refusal for a field outside the order, and the signed audit checkpoint. The principals act over
HTTP through the same functions as `gateway request`, `gateway review` and `gateway query`; only
the operator's steps (init, registration, seeding) use the database directly, as they do in the CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import phonenumbers
import typer
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from client import operations
from client.cli import query as query_cli
from client.cli import request as request_cli
from client.cli import review as review_cli
from client.cli.common import client_command, key_table
from client.cli.group import Group
from client.cli.words import plural
from client.errors import GatewayRefused
from client.http import GatewayClient, fetch_discovery
from client.keyfiles import key_paths, write_key_pair
from crypto.errors import CryptoError
from crypto.keys import (
    encode_public_key,
    key_id,
    read_sealing_key,
    read_signing_key,
)
from crypto.note import parse_verifier_key, verify_checkpoint
from gateway.cli import groups
from gateway.cli.common import console, err_console, fail, handle_errors, open_database, settings
from gateway.cli.subjects import import_report_line, subject_store
from gateway.errors import OperatorError, SubjectImportError
from gateway.values.times import format_seconds

if TYPE_CHECKING:  # the configuration, the store and the registry are imported by `demo run` and `demo seed`
    from gateway.config import Settings
    from gateway.principals.registry import PrincipalRegistry, Role
    from gateway.subjects.store import ImportReport, SubjectStore

__all__ = ["app", "run", "seed"]

app = typer.Typer(help=groups.DEMO, cls=Group, no_args_is_help=True)

DEMO_DATA_DIR: Final = Path("./var/demo")
DEMO_SEED: Final = 7
AUTHORITY_ID: Final = "demo-bka"
REVIEWER_IDS: Final = ("demo-reviewer-1", "demo-reviewer-2")
# Demo events fall in 2026 (gateway.subjects.synthetic); the order narrows the request to two months of it.
REQUEST_WINDOW: Final = ("2026-03-01T00:00:00Z", "2026-09-01T00:00:00Z")
ORDER_WINDOW: Final = ("2026-05-01T00:00:00Z", "2026-07-01T00:00:00Z")
REQUEST_FIELDS: Final = ["phoneNumber", "ipAddresses", "devices", "usernameHistory"]
ORDER_FIELDS: Final = ["phoneNumber", "ipAddresses"]
_READY_TIMEOUT_S: Final = 30.0
_CHECKPOINT_WAIT_S: Final = 10.0


def _seed_store(store: SubjectStore, subjects: int, seed_value: int, ip_events: int) -> ImportReport:
    """Import ``subjects`` generated subjects, with a progress bar on a terminal."""
    from gateway.subjects.synthetic import generate_subjects

    generated = generate_subjects(subjects, seed=seed_value, ip_events=ip_events)
    lines = (json.dumps(subject) for subject in generated)
    columns = (TextColumn("seeding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task("seed", total=subjects)
        try:
            return store.import_lines(lines, progress=lambda done: bar.update(task, completed=done))
        except SubjectImportError as exc:
            bar.stop()
            fail(escape(f"generated subject {exc.line_number}: {exc.reason} — nothing was imported "
                        f"(was this store already seeded with --seed {seed_value}? try another seed)"))


@app.command("seed")
@handle_errors
def seed(
    subjects: Annotated[int, typer.Option("--subjects", min=1, help="how many subjects to generate",
                                          show_default=False)],
    seed_value: Annotated[int, typer.Option("--seed", help="the same seed gives the same subjects")] = DEMO_SEED,
    ip_events: Annotated[int, typer.Option("--ip-events", min=0, help="IP events per subject")] = 20,
) -> None:
    """Generate synthetic subjects (documentation-range IPs, valid-format phone numbers) and import them."""
    with subject_store() as store:
        report = _seed_store(store, subjects, seed_value, ip_events)
    console.print(import_report_line(report), markup=False)


# -- the story ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoPrincipal:
    """A demo principal and its key files (PREFIX.sign.key, PREFIX.seal.key)."""

    id: str
    role: Role
    name: str
    prefix: Path
    signing_key: SigningKey
    sealing_key: PrivateKey


def _step(number: int, title: str) -> None:
    console.print()
    console.rule(f"[bold cyan]{number}. {escape(title)}[/]", align="left", style="cyan")


def _panel(body: Text, *, style: str, title: str | None = None) -> None:
    # soft_wrap=False here: the shared console does not wrap, and a panel would cut lines off.
    console.print(Panel(body, border_style=style, title=title, title_align="left"), soft_wrap=False)


def _note(text: str) -> None:
    console.print(Text(text, style="dim"))


def _demo_settings() -> Settings:
    """The configured settings, on ./var/demo unless GATEWAY_DATA_DIR says otherwise; SQLite only."""
    from gateway.config import load_settings

    config = settings()
    if config.database_url is not None:
        raise OperatorError("`gateway demo run` uses the embedded SQLite store and writes demo data into it; "
                            "unset GATEWAY_DATABASE_URL (never run the demo against a real database)")
    if "data_dir" not in config.model_fields_set:
        config = load_settings(data_dir=DEMO_DATA_DIR)
    return config


def _keys(prefix: Path) -> tuple[SigningKey, PrivateKey, bool]:
    """The key pair at PREFIX, generated when neither file exists; ``True`` when generated now."""
    sign_path, seal_path = key_paths(prefix)
    if sign_path.exists() and seal_path.exists():
        return read_signing_key(sign_path), read_sealing_key(seal_path), False
    if sign_path.exists() or seal_path.exists():
        raise OperatorError(f"only one of {sign_path} and {seal_path} exists; remove it to let the demo start afresh")
    signing, sealing = write_key_pair(prefix, directory_mode=0o700)
    return signing, sealing, True


def _register(registry: PrincipalRegistry, who: DemoPrincipal) -> str:
    """Register ``who`` unless it is registered already with these keys; say which happened."""
    from gateway.principals.registry import ACTIVE, Role

    authority = who.role is Role.AUTHORITY
    sealing = encode_public_key(who.sealing_key.public_key) if authority else None
    found = registry.get(who.id)
    if found is None:
        registry.add(role=who.role, principal_id=who.id, name=who.name, signing_key=encode_public_key(
            who.signing_key.verify_key), country="DE" if authority else None, sealing_key=sealing,
            now=int(time.time()))
        return "registered"
    kid = key_id(who.signing_key.verify_key)
    if (found.role is not who.role or found.status != ACTIVE or found.sealing_key != sealing
            or not any(k.kid == kid and k.status == ACTIVE for k in found.keys)):
        raise OperatorError(f"principal {who.id} is registered already with other keys, another role or suspended; "
                            "remove the demo's data directory to start afresh")
    return "already registered"


def _port_is_free(port: int) -> bool:
    # SO_REUSEADDR as uvicorn sets it, so a closed socket in TIME_WAIT does not count as in use.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def _server(config: Settings, port: int, log_level: str) -> Iterator[subprocess.Popen[bytes]]:
    """`gateway serve` on 127.0.0.1:``port`` in a child process, terminated on the way out."""
    if not _port_is_free(port):
        raise OperatorError(f"port {port} on 127.0.0.1 is in use (another gateway?); stop it or pass --port")
    env = dict(os.environ) | {"GATEWAY_DATA_DIR": str(config.data_dir.resolve())}
    # Checkpoints every couple of seconds, so the demo can show one that covers its own requests.
    env.setdefault("GATEWAY_CHECKPOINT_EVERY_SECONDS", "2")
    command = [sys.executable, "-c", "from gateway.cli.main import run; run()", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", log_level]
    process = subprocess.Popen(command, env=env)  # noqa: S603 - our own interpreter and fixed arguments
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait_until_ready(base_url: str, process: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    import httpx

    with httpx.Client() as http:
        while time.monotonic() - started < _READY_TIMEOUT_S:
            if process.poll() is not None:
                raise OperatorError(f"`gateway serve` exited with status {process.returncode} before it was ready; "
                                    "see its output above")
            try:
                if http.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise OperatorError(f"the gateway at {base_url} was not ready within {_READY_TIMEOUT_S:g} s")


def _unknown_phone() -> str:
    """A valid German mobile number in no demo subject: the library's example number, which the
    generator never emits unchanged (it randomises the trailing digits)."""
    example = phonenumbers.example_number_for_type("DE", phonenumbers.PhoneNumberType.MOBILE)
    if example is None:  # pragma: no cover - phonenumbers ships German metadata
        raise OperatorError("phonenumbers has no example German mobile number")
    return str(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))



def _checkpoint(client: GatewayClient, covering: int) -> tuple[str | None, int]:
    """The latest checkpoint, verified against discovery's key, once it covers ``covering`` entries
    (or the latest there is when none does within a few seconds); ``(None, 0)`` if there is none."""
    discovery = client.discovery
    verifier = parse_verifier_key(discovery.checkpoint_verifier_key)
    deadline = time.monotonic() + _CHECKPOINT_WAIT_S
    note, size = None, 0
    while True:
        note = client.checkpoint()
        if note is not None:
            try:
                size = verify_checkpoint(note, verifier, origin=discovery.checkpoint_origin).size
            except CryptoError as exc:
                raise OperatorError(f"the gateway's checkpoint does not verify: {exc.message}") from exc
        if size >= covering or time.monotonic() > deadline:
            return note, size
        time.sleep(0.25)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _program() -> str:
    """How this process was started (``.venv/bin/gateway`` from scripts/demo), so the printed
    commands run as they are; plain ``gateway`` otherwise."""
    invoked = sys.argv[0] if sys.argv else ""
    return invoked if Path(invoked).name == "gateway" else "gateway"


def _command(*parts: str) -> str:
    return " ".join(parts)


@app.command("run")
@handle_errors
@client_command
def run(
    port: Annotated[int, typer.Option(min=1, max=65535, help="port for the local gateway")] = 8080,
    subjects: Annotated[int, typer.Option(min=3, help="synthetic subjects to seed into an empty store")] = 200,
    exit_after: Annotated[bool, typer.Option("--exit", help="stop the gateway after the story instead of "
                                             "serving until Ctrl-C")] = False,
    server_log_level: Annotated[str, typer.Option(help="the gateway's uvicorn log level")] = "warning",
) -> None:
    """The whole story against a live local gateway on SQLite, then keep it serving (Ctrl-C stops it)."""
    started = time.monotonic()
    from gateway.maintenance.initialize import initialize
    from gateway.principals.registry import PrincipalRegistry, Role

    # SIGTERM (a service manager, `kill`) unwinds like Ctrl-C, so the server child is stopped too.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    config = _demo_settings()
    if not _port_is_free(port):  # before any work; checked again just before serving
        raise OperatorError(f"port {port} on 127.0.0.1 is in use (another gateway?); stop it or pass --port")
    data_dir = config.data_dir
    _panel(Text.assemble(("disclosure-gateway demo\n", "bold"),
                         f"data directory {data_dir} (SQLite; set GATEWAY_DATA_DIR to use another). Synthetic data "
                         "only: documentation-range IPs and made-up phone numbers."), style="cyan")

    _step(1, "gateway init: schema and the gateway's own keys")
    report = initialize(config)
    _note(f"created {plural(len(report.keys_created), 'key')}, schema at {report.schema_after}" if report.changed
          else f"already initialised (schema {report.schema_after}); nothing changed")

    _step(2, "keys for a demo authority and two reviewers, generated locally")
    keys_dir = data_dir / "demo-keys"
    cast = [("authority", AUTHORITY_ID, Role.AUTHORITY, "Demo Federal Criminal Police Office"),
            ("reviewer-1", REVIEWER_IDS[0], Role.REVIEWER, "Demo Legal Reviewer One"),
            ("reviewer-2", REVIEWER_IDS[1], Role.REVIEWER, "Demo Legal Reviewer Two")]
    people: list[DemoPrincipal] = []
    for file_name, principal_id, role, name in cast:
        signing, sealing, created = _keys(keys_dir / file_name)
        people.append(DemoPrincipal(principal_id, role, name, keys_dir / file_name, signing, sealing))
        _note(f"{'generated' if created else 'reusing'} {keys_dir / file_name}.{{sign,seal}}.key "
              f"(signing kid {key_id(signing.verify_key)})")
    authority, reviewers = people[0], people[1:]

    _step(3, "the operator registers them (direct database access)")
    db = open_database(config)
    try:
        registry = PrincipalRegistry(db)
        for who in people:
            _note(f"{who.id} ({who.role.value}): {_register(registry, who)}")
    finally:
        db.dispose()

    _step(4, "synthetic subjects")
    with subject_store(config) as store:
        held = store.count()
        if held:
            _note(f"the store holds {held} subjects already; not seeding again")
        else:
            _note(import_report_line(_seed_store(store, subjects, DEMO_SEED, 20)))
    # The same seed gives the same first subjects whatever the count, so these were imported.
    from gateway.subjects.synthetic import generate_subjects

    first = list(generate_subjects(3, seed=DEMO_SEED))

    base_url = f"http://127.0.0.1:{port}"
    _step(5, f"gateway serve on {base_url}")
    with _server(config, port, server_log_level) as process, ExitStack() as clients:
        _note(f"ready in {_wait_until_ready(base_url, process):.1f} s")
        discovery = fetch_discovery(base_url)
        if discovery.gateway_id != config.id:
            raise OperatorError(f"the gateway on port {port} is {discovery.gateway_id!r}, not this demo's "
                                f"{config.id!r}; stop the other gateway or pass --port")
        as_authority = clients.enter_context(GatewayClient(base_url, authority.id, authority.signing_key))
        as_reviewers = [clients.enter_context(GatewayClient(base_url, r.id, r.signing_key)) for r in reviewers]
        order_id, last_index = _story(as_authority, as_reviewers, people, first)

        _step(11, "the audit log's signed checkpoint (GET /audit/checkpoint)")
        note, size = _checkpoint(as_authority, covering=last_index + 1)
        if note is None:
            _note("the gateway has signed no checkpoint yet (it signs one within "
                  f"{config.checkpoint_every_seconds:g} s of a request); try the curl below in a moment")
        else:
            # Plain lines, not a panel: a signed note is worth copying exactly.
            console.print(Text(note.rstrip("\n")), soft_wrap=True)
            covers = "including every request of this story" if size > last_index else \
                "not yet this story's last requests; a newer one follows within seconds"
            _note(f"verified with checkpoint_verifier_key from discovery: a tree of {plural(size, 'entry')}, one per "
                  f"request refused or served, {covers}")

        _step(12, "try it yourself")
        console.print(_next_steps(base_url, port, order_id, authority, reviewers, data_dir,
                                  console_enabled=config.console), soft_wrap=True)
        clients.close()
        _note(f"the story took {time.monotonic() - started:.1f} s")
        if exit_after:
            return
        serving_at = f"{base_url} (console: {base_url}/console/)" if config.console else base_url
        console.print(f"\n[bold]the gateway is serving on {serving_at}[/]; press Ctrl-C to stop it", markup=True)
        try:
            status = process.wait()
        except KeyboardInterrupt:
            console.print("stopping the gateway…")  # the context manager terminates it
            return
        # Ctrl-C reaches the whole process group, so the server may stop first, and cleanly.
        if status not in (0, -signal.SIGINT, -signal.SIGTERM):
            raise OperatorError(f"`gateway serve` exited with status {status}")
        console.print("the gateway stopped")


def _story(as_authority: GatewayClient, as_reviewers: list[GatewayClient], people: list[DemoPrincipal],
           first: list[dict[str, object]]) -> tuple[str, int]:
    """Steps 6 to 10, over HTTP with signed tokens; returns the order id and the last audit index."""
    authority, reviewers = people[0], people[1:]
    _step(6, f"{authority.id} submits a legal request (gateway request submit)")
    court_order = b"Demo court order: Amtsgericht Tiergarten, case AZ 4711/26, 100g StPO.\n"
    request = request_cli.request_input(
        case_reference="AZ 4711/26 (demo)", court="Amtsgericht Tiergarten", jurisdiction="DE",
        legal_basis="§ 100g StPO", offense_category="FRAUD",
        court_order_digest=hashlib.sha256(court_order).hexdigest(),
        phones=[str(first[0]["phone"]), str(first[1]["phone"]), _unknown_phone()],
        usernames=[str(first[2]["username"])], subject_ids=[], fields=REQUEST_FIELDS,
        window_from=REQUEST_WINDOW[0], window_until=REQUEST_WINDOW[1],
        justification="Investment fraud ring using the platform to recruit victims.")
    created = operations.submit_request(as_authority, request)
    request_id = str(created["id"])
    _note(f"request {request_id}: {created['status']}; selectors: 3 phone numbers (one belongs to no user) and "
          "1 username; the authority is never told which matched")

    reviewer_one = as_reviewers[0]
    _step(7, f"{reviewer_one.principal_id} reads it and drafts a narrower order (review show, draft)")
    seen = operations.get_request(reviewer_one, request_id, reviewer=True)
    _note(f"resolved subjects: {', '.join(seen['resolvedSubjectIds'])}; unresolved selectors: "
          f"{seen['unresolvedSelectors']}")
    valid_until = format_seconds(datetime.now(UTC) + timedelta(days=30))
    draft = operations.draft_order(reviewer_one, review_cli.draft_input(
        request_id, valid_until=valid_until, max_queries=10, fields=ORDER_FIELDS,
        window_from=ORDER_WINDOW[0], window_until=ORDER_WINDOW[1]))
    order_id = str(draft["id"])
    _note(f"order {order_id}: fields {', '.join(ORDER_FIELDS)} of the {len(REQUEST_FIELDS)} asked for; window "
          f"{ORDER_WINDOW[0]} → {ORDER_WINDOW[1]} inside the request's {REQUEST_WINDOW[0]} → {REQUEST_WINDOW[1]}")

    _step(8, "two reviewers approve, each signing the exact document locally")
    for number, (client, reviewer) in enumerate(zip(as_reviewers, reviewers, strict=True)):
        order = operations.get_order(client, order_id)
        document = review_cli.checked_document(order, order_id)
        if number == 0:
            console.print(key_table(review_cli.document_rows(document), title=f"order document {order_id}"))
        signature = review_cli.approval_signature(order["document"], reviewer.signing_key)
        approved = operations.approve_order(client, order_id, signature)
        _note(f"{client.principal_id} approved: {review_cli.order_summary(approved)}")

    _step(9, f"{authority.id} queries the order's subjects; every sealed value is verified")
    result, opened = query_cli.query_subjects(as_authority, order_id=order_id, selector=operations.QueryTarget("all"),
                                              fields=ORDER_FIELDS, sealing_key=authority.sealing_key)
    query_cli.print_opened(opened, result.audit.as_json() if result.audit else None, as_json=False)

    _step(10, "a field outside the order (devices) is refused; nothing is disclosed")
    try:
        operations.send_query(as_authority, order_id=order_id, selector=operations.QueryTarget("all"),
                              fields=["devices"])
    except GatewayRefused as refusal:
        if refusal.audit is None:
            raise OperatorError(f"the refusal {refusal.code} carries no audit reference") from refusal
        _panel(Text(f"refused: {refusal.code}: {refusal.message}\n(HTTP {refusal.status}; logged as audit entry "
                    f"{refusal.audit.index})"), style="red", title="refusal")
        return order_id, refusal.audit.index
    raise OperatorError("the gateway disclosed a field outside the order; this gateway is broken")


def _console_lines(base_url: str, reviewers: list[DemoPrincipal], *, enabled: bool) -> list[str]:
    """Where the reviewers' console is and which key file each reviewer loads into it (absolute
    paths: a browser's file dialog does not start in this directory)."""
    if not enabled:
        return ["# the reviewers' browser console is off here (GATEWAY_CONSOLE=false)"]
    return [
        "# the reviewers' console: open it in a browser on this machine, type a reviewer id, load its key file",
        f"{base_url}/console/",
        *(f"#   {who.id}: {key_paths(who.prefix)[0].resolve()}" for who in reviewers),
    ]


def _next_steps(base_url: str, port: int, order_id: str, authority: DemoPrincipal, reviewers: list[DemoPrincipal],
                data_dir: Path, *, console_enabled: bool = True) -> Text:
    """Step 12's screen, the demo's last: commands to try, then the console and its key files."""
    reviewer = reviewers[0]
    url = [] if port == 8080 else ["--url", base_url]
    gateway = _program()
    lines = [
        "# the gateway's discovery document",
        f"curl -s {base_url}/.well-known/disclosure-gateway",
        "# query as the authority, save the raw response, open it again later",
        _command(gateway, "query", *url, "--order", order_id, "--id", authority.id, "--key", str(authority.prefix),
                 "--all --fields phoneNumber,ipAddresses --save response.json"),
        _command(gateway, "open response.json --key", str(authority.prefix), *url),
        "# the order's status as a reviewer sees it",
        _command(gateway, "review order", order_id, *url, "--id", reviewer.id, "--key", str(reviewer.prefix)),
        "# a field outside the order",
        _command(gateway, "query", *url, "--order", order_id, "--id", authority.id, "--key", str(authority.prefix),
                 "--all --fields devices"),
        "# the operator verifies the whole audit log",
        f"GATEWAY_DATA_DIR={data_dir} {gateway} audit verify",
        *_console_lines(base_url, reviewers, enabled=console_enabled),
    ]
    return Text("\n".join(lines))

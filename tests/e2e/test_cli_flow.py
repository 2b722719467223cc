"""The whole flow through the CLI against a real server on loopback (issues 4 and 5).

The operator's and reviewers' steps run through typer's CliRunner (in-process, quick); the
authority's `gateway query` and `gateway open` run as subprocesses, as a person would run them.
The server is `gateway serve` in a child process on a fresh SQLite data directory.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from gateway.cli.main import app as gateway_cli
from gateway.subjects.synthetic import generate_subjects
from tests.support.live import GATEWAY_CLI, Finished, clean_env, free_port, run, serving
from tests.support.plaintext import leaks, secrets_of

pytestmark = pytest.mark.e2e

FIELDS = "phoneNumber,ipAddresses"
REQUEST_WINDOW = ("2026-02-01T00:00:00Z", "2026-10-01T00:00:00Z")
ORDER_WINDOW = ("2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z")
UNKNOWN_PHONE = "+4915123456789"


@dataclass
class Live:
    root: Path
    env: dict[str, str]
    url: str
    subjects: list[dict[str, Any]]
    keys: dict[str, Path]

    def cli(self, *args: str) -> Result:
        """`gateway ARGS…` in-process; exit status and output as a person would see them."""
        result = CliRunner().invoke(gateway_cli, list(args), env=self.env)
        return result

    def ok(self, *args: str) -> str:
        result = self.cli(*args)
        assert result.exit_code == 0, f"gateway {' '.join(args)}\n{result.output}\n{result.stderr}"
        return result.stdout

    def gateway(self, *args: str) -> Finished:
        """`gateway ARGS…` as a subprocess."""
        return run([*GATEWAY_CLI, *args], env=self.env, cwd=self.root)

    def as_(self, who: str) -> list[str]:
        return ["--id", who, "--key", str(self.keys[who])]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """An initialised gateway with three principals and eight subjects, all set up through the CLI,
    then served. At teardown its log is searched for the subjects' plaintext."""
    root = tmp_path_factory.mktemp("e2e")
    port = free_port()
    env = clean_env(GATEWAY_DATA_DIR=str(root / "var"), GATEWAY_ID="gateway.e2e",
                    GATEWAY_URL=f"http://127.0.0.1:{port}")
    subjects = list(generate_subjects(8, seed=5, ip_events=12))
    setup = Live(root, env, f"http://127.0.0.1:{port}", subjects,
                 {who: root / "keys" / who for who in ("bka-de", "legal-anna", "legal-ben")})
    setup.ok("init")
    public = {who: json.loads(setup.ok("keygen", "--out", str(prefix))) for who, prefix in setup.keys.items()}
    setup.ok("principals", "add", "--role", "authority", "--id", "bka-de", "--name", "BKA", "--country", "DE",
             "--signing-key", public["bka-de"]["signing_key"], "--sealing-key", public["bka-de"]["sealing_key"])
    for reviewer in ("legal-anna", "legal-ben"):
        setup.ok("principals", "add", "--role", "reviewer", "--id", reviewer, "--name", reviewer,
                 "--signing-key", public[reviewer]["signing_key"])
    jsonl = root / "subjects.jsonl"
    jsonl.write_text("".join(json.dumps(s) + "\n" for s in subjects), encoding="utf-8")
    assert setup.ok("subjects", "import", str(jsonl)).startswith("imported 8 subjects")
    log = root / "server.log"
    with serving(env, root, port, log):
        yield setup
    assert leaks([log.read_text(errors="replace")], secrets_of(subjects)) == [], "plaintext in the server log"


@dataclass
class Granted:
    request_id: str
    order_id: str
    subject_ids: list[str]


@pytest.fixture(scope="module")
def granted(live: Live) -> Granted:
    """A request submitted, reviewed, drafted narrower and approved by two reviewers, all through the CLI."""
    court_order = live.root / "court-order.pdf"
    court_order.write_bytes(b"%PDF-1.7 Beschluss AG Tiergarten")
    selected = live.subjects[:3]
    submitted = json.loads(live.ok(
        "request", "submit", *live.as_("bka-de"), "--case-reference", "AZ 4711/26", "--court", "AG Tiergarten",
        "--jurisdiction", "DE", "--legal-basis", "§ 100g StPO", "--offense-category", "fraud",
        "--court-order", str(court_order), "--phone", selected[0]["phone"], "--phone", selected[1]["phone"],
        "--username", selected[2]["username"], "--phone", UNKNOWN_PHONE,
        "--fields", "phoneNumber,ipAddresses,usernameHistory", "--from", REQUEST_WINDOW[0],
        "--until", REQUEST_WINDOW[1], "--justification", "investment fraud ring", "--json"))
    request_id = submitted["id"]
    assert submitted["status"] == "PENDING"
    assert "resolvedSubjectIds" not in submitted  # the authority is never told who is a user

    listed = json.loads(live.ok("review", "list", *live.as_("legal-anna"), "--status", "pending", "--json"))
    mine = next(r for r in listed if r["id"] == request_id)
    assert sorted(mine["resolvedSubjectIds"]) == sorted(s["id"] for s in selected)
    assert mine["unresolvedSelectors"] == 1
    shown = live.ok("review", "show", request_id, *live.as_("legal-anna"))
    assert all(s["id"] in shown for s in selected)
    assert re.search(r"unresolved selectors\s+1", shown)

    valid_until = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    order = json.loads(live.ok("review", "draft", request_id, *live.as_("legal-anna"), "--valid-until", valid_until,
                               "--max-queries", "10", "--fields", FIELDS, "--from", ORDER_WINDOW[0],
                               "--until", ORDER_WINDOW[1], "--json"))
    order_id = order["id"]
    assert (order["status"], order["fields"]) == ("PENDING_APPROVAL", ["ipAddresses", "phoneNumber"])

    first = live.ok("review", "approve", order_id, *live.as_("legal-anna"), "--yes")
    assert "this is what you sign" in first
    assert f"approved: order {order_id}: PENDING_APPROVAL (1 of 2 approvals" in first
    assert "PENDING_APPROVAL" in live.ok("review", "order", order_id, *live.as_("legal-ben"))
    assert f"approved: order {order_id}: ACTIVE (2 of 2 approvals" in \
        live.ok("review", "approve", order_id, *live.as_("legal-ben"), "--yes")
    return Granted(request_id, order_id, [s["id"] for s in selected])


def test_two_reviewers_approvals_make_the_order_active(live: Live, granted: Granted) -> None:
    status = live.ok("review", "order", granted.order_id, *live.as_("legal-anna"))
    assert re.search(r"status\s+ACTIVE", status)
    assert re.search(r"approvals\s+2 of 2 required", status)
    mine = json.loads(live.ok("request", "show", granted.request_id, *live.as_("bka-de"), "--json"))
    assert (mine["status"], mine["orderIds"]) == ("GRANTED", [granted.order_id])


def test_the_same_reviewer_approving_twice_is_refused_with_its_code(live: Live, granted: Granted) -> None:
    result = live.cli("review", "approve", granted.order_id, *live.as_("legal-anna"), "--yes")
    assert result.exit_code == 3
    assert "refused: BAD_REQUEST: you have approved this order already" in result.stderr


def _overlaps(first: str, last: str | None, window: tuple[str, str]) -> bool:
    start, end = (datetime.fromisoformat(t) for t in window)
    return datetime.fromisoformat(first) < end and (last is None or datetime.fromisoformat(last) >= start)


def _expected(subject: dict[str, Any], field: str) -> Any:
    """What the order should disclose, computed from the generated data alone."""
    if field == "phoneNumber":
        return re.sub(r"[^+\d]", "", subject["phone"])  # the import file mixes E.164 and spaced forms
    return sorted((ipaddress.ip_address(e["ip"]), e.get("port", -1), e["first_seen"], e["last_seen"])
                  for e in subject["ip_events"] if _overlaps(e["first_seen"], e["last_seen"], ORDER_WINDOW))


def _comparable(field: str, value: Any) -> Any:
    if field == "phoneNumber":
        return value
    return sorted((ipaddress.ip_address(e["ip"]), e.get("port", -1), e["first_seen"], e["last_seen"]) for e in value)


def test_query_opens_exactly_the_imported_values_inside_the_window(live: Live, granted: Granted) -> None:
    done = live.gateway("query", "--order", granted.order_id, *live.as_("bka-de"), "--all", "--fields", FIELDS,
                        "--json")
    assert done.returncode == 0, done.stderr
    opened = json.loads(done.stdout)
    records = {(r["subject_id"], r["field"]): r for r in opened["records"]}
    by_id = {s["id"]: s for s in live.subjects}
    assert set(records) == {(sid, f) for sid in granted.subject_ids for f in FIELDS.split(",")}
    for (subject_id, field), record in records.items():
        assert (record["order_id"], record["request_id"]) == (granted.order_id, opened["audit"]["request_id"])
        assert _comparable(field, record["value"]) == _expected(by_id[subject_id], field), (subject_id, field)
    # Something inside the window, and something outside it left out: the window is doing work.
    every = [e for sid in granted.subject_ids for e in by_id[sid]["ip_events"]]
    assert 0 < sum(len(records[(sid, "ipAddresses")]["value"]) for sid in granted.subject_ids) < len(every)


def test_query_by_phone_prints_a_table_of_verified_values(live: Live, granted: Granted) -> None:
    subject = live.subjects[0]
    done = live.gateway("query", "--order", granted.order_id, *live.as_("bka-de"), "--phone", subject["phone"],
                        "--fields", FIELDS)
    assert done.returncode == 0, done.stderr
    assert subject["id"] in done.stdout
    assert _expected(subject, "phoneNumber") in done.stdout
    assert "opened and verified 2 sealed values" in done.stdout


def test_a_field_outside_the_order_exits_3_with_field_not_permitted(live: Live, granted: Granted) -> None:
    done = live.gateway("query", "--order", granted.order_id, *live.as_("bka-de"), "--all", "--fields", "devices")
    assert done.returncode == 3
    assert "refused: FIELD_NOT_PERMITTED: " in done.stderr
    assert done.stdout == ""


def test_a_saved_response_opens_again_and_one_flipped_ciphertext_byte_fails_it(live: Live, granted: Granted) -> None:
    saved = live.root / "response.json"
    done = live.gateway("query", "--order", granted.order_id, *live.as_("bka-de"), "--all", "--fields", FIELDS,
                        "--save", str(saved), "--json")
    assert done.returncode == 0, done.stderr
    assert saved.stat().st_mode & 0o077 == 0
    queried = json.loads(done.stdout)

    gateway_key = httpx.get(f"{live.url}/.well-known/disclosure-gateway").json()["gateway_signing_key"]
    for how in (["--url", live.url], ["--gateway-key", gateway_key]):
        reopened = live.gateway("open", str(saved), "--key", str(live.keys["bka-de"]), "--json", *how)
        assert reopened.returncode == 0, reopened.stderr
        assert json.loads(reopened.stdout)["records"] == queried["records"]

    document = json.loads(saved.read_text())
    victim = document["data"]["order"]["subjects"][1]
    sealed = bytearray(base64.b64decode(victim["ipAddresses"]["ciphertext"]))
    sealed[-1] ^= 0x01
    victim["ipAddresses"]["ciphertext"] = base64.b64encode(bytes(sealed)).decode()
    tampered = live.root / "tampered.json"
    tampered.write_text(json.dumps(document))
    failed = live.gateway("open", str(tampered), "--key", str(live.keys["bka-de"]))
    assert failed.returncode == 1
    assert f"subject {victim['id']} field ipAddresses" in failed.stderr
    assert "failed verification" in failed.stderr
    # Nothing of the response is shown, not even the values that did verify.
    assert failed.stdout == ""
    assert leaks([failed.stderr], secrets_of(live.subjects)) == []

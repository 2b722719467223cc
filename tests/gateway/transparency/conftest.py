"""A gateway whose log holds requests from three countries, and the CLI configured for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import select
from typer.testing import Result

from crypto.note import verifier_key_string
from crypto.signing import ORDER_DOMAIN, sign_over
from gateway.audit.checkpoints import note_name
from gateway.cli import audit, transparency
from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys
from gateway.principals.registry import Role
from gateway.store.tables import AuditEntry
from gateway.values.times import parse_rfc3339_us
from tests.support.harness import Actor
from tests.support.operator import operator_cli
from tests.support.world import APPROVE, DRAFT, World

SUBMIT = "mutation($i: LegalRequestInput!) { submitRequest(input: $i) { id status } }"
REJECT = "mutation($r: ID!) { rejectRequest(requestId: $r, reason: \"no legal basis shown\") { status } }"
REVOKE = "mutation($o: ID!) { revokeOrder(orderId: $o, reason: \"case closed\") { status } }"
DISCLOSE = "query($s: SubjectSelector!) { subject(by: $s) { id %s } }"

cli = typer.Typer()
cli.add_typer(audit.app, name="audit")
cli.add_typer(transparency.app, name="transparency")
_entries = AuditEntry.__table__  # type: ignore[attr-defined]


@pytest.fixture
def run(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Result]:
    """The CLI as an operator runs it: GATEWAY_ variables for the test's database."""
    return operator_cli(cli, settings, monkeypatch, workdir=tmp_path)


def verifier_key(settings: Settings) -> str:
    key = load_gateway_keys(settings).signing_key.verify_key
    return verifier_key_string(note_name(settings.origin), bytes(key))


@dataclass
class Case:
    """One request the scenario made, and what the test itself knows became of it."""

    country: str
    offense: str
    process: str
    emergency: bool
    selectors: int
    submitted_index: int
    status: str = "PENDING"
    decided_index: int | None = None
    disclosure_indexes: list[int] = field(default_factory=list)
    subjects: set[str] = field(default_factory=set)
    fields: list[str] = field(default_factory=list)  # one name per disclosing response that carried it
    orders: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Scenario:
    world: World
    cases: list[Case]
    period: str
    revoked: int
    exhausted: int

    def time_of(self, index: int) -> datetime:
        with self.world.gateway.services.db.engine.connect() as connection:
            text = connection.execute(select(_entries.c.entry).where(_entries.c.idx == index)).scalar_one()
        import json

        return parse_rfc3339_us(json.loads(text)["time"])


VERIFY = ('mutation($r: ID!) { verifyEmergency(requestId: $r, method: CALLBACK_KNOWN_NUMBER, '
          'note: "called back") { id } }')


def _index(response: Any) -> int:
    assert response.status_code == 200, response.text
    return int(response.json()["extensions"]["audit"]["index"])


def build_scenario(world: World) -> Scenario:
    """DE: granted and disclosed twice (one subject in two requests), an emergency granted, one
    pending. FR: one rejected, one granted then revoked. NL: one granted and used up, one pending.
    Plus refused requests that must count nowhere."""
    gateway = world.gateway
    s = world.subjects
    nl = gateway.add(Role.AUTHORITY, "politie-nl", country="NL")
    cases: list[Case] = []

    def submit(actor: Actor, country: str, selectors: list[dict[str, str]], *, offense: str = "FRAUD",
               process: str = "COURT_ORDER", emergency: bool = False,
               fields: tuple[str, ...] = ("phoneNumber", "ipAddresses", "devices", "usernameHistory")) -> str:
        request = {"caseReference": "AZ 4711/26", "court": "Amtsgericht Tiergarten", "jurisdiction": "DE",
                   "legalBasis": "§ 100g StPO", "offenseCategory": offense, "courtOrderSha256": "ab" * 32,
                   "subjects": selectors, "fields": list(fields), "legalProcess": process, "emergency": emergency,
                   "dataWindow": {"from": "2020-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
                   "justification": "investment fraud ring", "imminentRisk": "a life at risk" if emergency else None}
        response = gateway.post(actor, SUBMIT, variables={"i": request})
        cases.append(Case(country, offense, process, emergency, len(selectors), _index(response)))
        return str(response.json()["data"]["submitRequest"]["id"])

    def grant(request_id: str, *, max_queries: int = 5) -> dict[str, Any]:
        if cases[-1].emergency:
            # Section 16.1: a secondary verification first, by a reviewer who then does not approve.
            verify = gateway.post(world.reviewers[2], VERIFY, variables={"r": request_id})
            assert verify.status_code == 200, verify.text
        draft = {"requestId": request_id, "validUntil": "2027-01-31T00:00:00Z", "maxQueries": max_queries}
        response = gateway.post(world.reviewers[0], DRAFT, variables={"i": draft})
        assert response.status_code == 200, response.text
        order = dict(response.json()["data"]["draftOrder"])
        for reviewer in world.reviewers[:2]:
            signature = sign_over(ORDER_DOMAIN, order["document"].encode(), reviewer.signing_key)
            index = _index(gateway.post(reviewer, APPROVE, variables={"o": order["id"], "s": signature}))
        cases[-1].status, cases[-1].decided_index = "GRANTED", index
        cases[-1].orders.append(order)
        return order

    def disclose(actor: Actor, order: dict[str, Any], subject: dict[str, Any], fields: list[str]) -> None:
        selection = " ".join(f"{f} {{ ciphertext }}" for f in fields)
        response = gateway.post(actor, DISCLOSE % selection, variables={"s": {"id": subject["id"]}}, order=order["id"])
        case = next(c for c in cases if order in c.orders)
        case.disclosure_indexes.append(_index(response))
        case.subjects.add(subject["id"])
        case.fields.extend(fields)

    # Germany
    first = grant(submit(world.authority, "DE", [{"phoneNumber": s[0]["phone"]}, {"username": s[1]["username"]},
                                                 {"id": s[2]["id"]}]))
    disclose(world.authority, first, s[0], ["phoneNumber", "ipAddresses"])
    disclose(world.authority, first, s[1], ["usernameHistory"])
    refused = gateway.post(world.authority, DISCLOSE % "devices { ciphertext }", variables={"s": {"id": s[4]["id"]}},
                           order=first["id"])
    assert refused.status_code == 403  # outside the order: counts nowhere
    second = grant(submit(world.authority, "DE", [{"id": s[0]["id"]}], offense="CYBERCRIME", emergency=True))
    disclose(world.authority, second, s[0], ["phoneNumber"])  # the same subject, disclosed again
    submit(world.authority, "DE", [{"username": s[3]["username"]}])
    # France
    rejected = submit(world.other_authority, "FR", [{"id": s[2]["id"]}, {"phoneNumber": "+33612345678"}],
                      offense="TERRORISM")
    cases[-1].status, cases[-1].decided_index = "REJECTED", _index(
        gateway.post(world.reviewers[1], REJECT, variables={"r": rejected}))
    revoked = grant(submit(world.other_authority, "FR", [{"id": s[3]["id"]}], offense="DRUG_TRAFFICKING",
                           process="WARRANT"))
    assert gateway.post(world.reviewers[0], REVOKE, variables={"o": revoked["id"]}).status_code == 200
    # The Netherlands
    used_up = grant(submit(nl, "NL", [{"id": s[4]["id"]}, {"id": s[5]["id"]}], offense="OTHER"), max_queries=1)
    disclose(nl, used_up, s[4], ["devices", "ipAddresses"])
    assert gateway.post(nl, DISCLOSE % "devices { ciphertext }", variables={"s": {"id": s[4]["id"]}},
                        order=used_up["id"]).status_code == 403  # exhausted
    submit(nl, "NL", [{"id": s[5]["id"]}], offense="CHILD_EXPLOITATION", process="PRODUCTION_ORDER")
    bad = gateway.post(nl, SUBMIT, variables={"i": {"caseReference": "x", "court": "x", "jurisdiction": "NL",
                                                    "legalBasis": "x", "offenseCategory": "OTHER",
                                                    "courtOrderSha256": "not hex", "subjects": [{"id": "x"}],
                                                    "fields": ["devices"], "justification": "x",
                                                    "dataWindow": {"from": "2020-01-01T00:00:00Z",
                                                                   "until": "2021-01-01T00:00:00Z"}}})
    assert bad.status_code == 400  # a refused submission: no request, nothing counted
    today = datetime.now(UTC).date()
    period = f"{today - timedelta(days=1)}..{today + timedelta(days=2)}"
    return Scenario(world, cases, period, revoked=1, exhausted=1)


@pytest.fixture
def scenario(world: World) -> Scenario:
    return build_scenario(world)

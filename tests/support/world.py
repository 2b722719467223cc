"""A populated gateway: subjects, an authority, reviewers and helpers to walk an order's life."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from crypto.signing import ORDER_DOMAIN, sign_over
from gateway.principals.registry import Role
from gateway.subjects.synthetic import generate_subjects
from tests.support.harness import Actor, Harness

SUBMIT = "mutation($i: LegalRequestInput!) { submitRequest(input: $i) { id status } }"
DRAFT = "mutation($i: DraftOrderInput!) { draftOrder(input: $i) { id status document } }"
APPROVE = "mutation($o: ID!, $s: String!) { approveOrder(orderId: $o, signature: $s) { status approvals } }"
REQUEST_WINDOW = {"from": "2026-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}


@dataclass
class World:
    gateway: Harness
    subjects: list[dict[str, Any]]
    authority: Actor
    reviewers: list[Actor]
    auditor: Actor
    other_authority: Actor
    orders: dict[str, str] = field(default_factory=dict)

    def submit(self, *, selectors: list[dict[str, str]] | None = None, fields: list[str] | None = None,
               window: dict[str, str] | None = None) -> str:
        selectors = selectors or [{"phoneNumber": self.subjects[0]["phone"]},
                                  {"username": self.subjects[1]["username"]}, {"id": self.subjects[2]["id"]}]
        request = {"caseReference": "AZ 4711/26", "court": "Amtsgericht Tiergarten", "jurisdiction": "DE",
                   "legalBasis": "§ 100g StPO", "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32,
                   "subjects": selectors, "fields": fields or ["phoneNumber", "ipAddresses", "usernameHistory"],
                   "dataWindow": window or REQUEST_WINDOW, "justification": "investment fraud ring"}
        response = self.gateway.post(self.authority, SUBMIT, variables={"i": request})
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["submitRequest"]["id"])

    def draft(self, request_id: str, *, reviewer: Actor | None = None, **overrides: Any) -> dict[str, Any]:
        draft = {"requestId": request_id, "validUntil": "2027-01-31T00:00:00Z", "maxQueries": 5} | overrides
        response = self.gateway.post(reviewer or self.reviewers[0], DRAFT, variables={"i": draft})
        assert response.status_code == 200, response.text
        return dict(response.json()["data"]["draftOrder"])

    def approve(self, order: dict[str, Any], reviewer: Actor, *, document: str | None = None) -> Any:
        signature = sign_over(ORDER_DOMAIN, (document or order["document"]).encode(), reviewer.signing_key)
        return self.gateway.post(reviewer, APPROVE, variables={"o": order["id"], "s": signature})

    def active_order(self, **overrides: Any) -> dict[str, Any]:
        order = self.draft(self.submit(), **overrides)
        for reviewer in self.reviewers[:2]:
            assert self.approve(order, reviewer).status_code == 200
        return order


def world_subjects(count: int = 6) -> list[dict[str, Any]]:
    """The synthetic subjects of a world (deterministic)."""
    return list(generate_subjects(count, seed=11))


def build_world(gateway: Harness, *, subjects: int = 6, generated: list[dict[str, Any]] | None = None,
                import_subjects: bool | None = None) -> World:
    """``generated`` replaces the synthetic subjects. The embedded store imports them unless
    ``import_subjects`` is False or the gateway reads the platform's database (the sql source,
    which tests/conftest.py's ``settings`` filled with the same subjects)."""
    if gateway.settings.subject_source == "sql" and generated is None:
        from tests.support.platform import platform_subjects

        generated = platform_subjects(world_subjects(subjects))
    generated = generated if generated is not None else world_subjects(subjects)
    if import_subjects is None:
        import_subjects = gateway.settings.subject_source == "embedded"
    if import_subjects:
        gateway.services.subjects.import_lines(json.dumps(s) for s in generated)
    return World(
        gateway=gateway, subjects=generated, authority=gateway.add(Role.AUTHORITY, "bka-de"),
        reviewers=[gateway.add(Role.REVIEWER, f"reviewer-{n}") for n in "abc"],
        auditor=gateway.add(Role.AUDITOR, "oversight"), other_authority=gateway.add(Role.AUTHORITY, "police-fr",
                                                                                   country="FR"),
    )

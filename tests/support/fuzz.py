"""Schema fuzzing of the live app (issue 7): schemathesis generates GraphQL operations from the
schema, every request is signed over its exact body by the caller it stands for, and every
response is held to docs/PROTOCOL.md beyond schemathesis's own checks.

The pieces, in the order a case meets them:

- :func:`load_schema` reads the schema offline (introspection needs a token) and registers the
  auth provider, :class:`SignedBodies`: its ``get`` serialises the body once and signs those
  bytes; its ``set`` puts those very bytes in ``case.body`` and the token in the header.
- :func:`seed_document` (a ``flatmap_body`` hook on the positive schema) swaps generated literals
  for values of the world: real subject ids, usernames and phone numbers, inside and outside the
  order, and ids of real orders and requests, so resolvers run and seal values.
- :class:`Fuzzer` sends each case through the in-process app, with a fresh token, and runs
  schemathesis's checks plus :meth:`Fuzzer.checks` on the response.

Settings come from the environment so that ``scripts/fuzz`` can run a long campaign:
``GATEWAY_FUZZ_EXAMPLES`` (cases per caller kind), ``GATEWAY_FUZZ_SEED``, ``GATEWAY_FUZZ_SUMMARY``
(a JSON Lines file each run appends its counts to) and ``GATEWAY_FUZZ_KEEP_GOING`` (record every
failing case instead of stopping at the first).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

import hypothesis
from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NameNode,
    ObjectFieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    get_operation_ast,
    introspection_from_schema,
    parse,
    print_ast,
    value_from_ast_untyped,
)
from graphql.language import Visitor, visit
from hypothesis import strategies as st
from nacl.signing import VerifyKey
from schemathesis import graphql as st_graphql
from schemathesis.auths import AuthContext
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.specs.graphql.schemas import GraphQLSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import text

from crypto.errors import SealedValueError
from crypto.keys import key_id
from crypto.sealing import SealedValue, open_record
from gateway.api.graphql.schema import build_schema
from gateway.errors import PROTOCOL_CODES
from gateway.principals.registry import Role
from gateway.subjects.normalise import normalise_phone
from gateway.values.fields import SUBJECT_FIELDS
from tests.support.harness import Actor, Harness
from tests.support.jwt import mint
from tests.support.plaintext import leaks, secrets_of
from tests.support.world import SUBMIT, World

__all__ = [
    "Caller", "CallerKind", "FuzzFailure", "Fuzzer", "Pool", "budget", "fuzz_seed", "load_schema", "prepare_caller",
    "seed_document", "timed", "write_summary",
]

EXAMPLES_ENV = "GATEWAY_FUZZ_EXAMPLES"
SEED_ENV = "GATEWAY_FUZZ_SEED"
SUMMARY_ENV = "GATEWAY_FUZZ_SUMMARY"
KEEP_GOING_ENV = "GATEWAY_FUZZ_KEEP_GOING"
CI_EXAMPLES = 1000
"""Cases per caller kind in CI: ~1000 each, the five kinds in about three minutes on two cores."""
CI_SEED = 20261122
MAX_QUERIES = 10_000  # gateway.orders.MAX_QUERIES: an order the fuzzer does not use up in CI
NON_USERS = {"id": "sub_000000000000", "username": "nobody_at_all", "phoneNumber": "+4930901820"}
"""Selectors of the same kinds that name nobody: what a subject outside the order must be answered like."""
SEALED_KEYS = frozenset({"algorithm", "recipientKeyId", "ciphertext"})


def budget() -> int:
    """Cases per caller kind: ``GATEWAY_FUZZ_EXAMPLES``, or the CI budget."""
    return int(os.environ.get(EXAMPLES_ENV) or CI_EXAMPLES)


def fuzz_seed() -> int:
    """The Hypothesis seed: ``GATEWAY_FUZZ_SEED``, or a fixed one so that CI failures reproduce."""
    return int(os.environ.get(SEED_ENV) or CI_SEED)


class FuzzFailure(AssertionError):
    """A response broke a check; the message names the checks, the case and the response."""


class CallerKind(StrEnum):
    AUTHORITY_WITH_ORDER = "authority-with-order"
    AUTHORITY_OUTSIDE_ORDER = "authority-outside-order"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"
    NO_TOKEN = "no-token"


@dataclass
class Caller:
    """Who signs the generated requests, and the order its tokens name (authorities only)."""

    kind: CallerKind
    actor: Actor | None
    order_id: str | None = None
    subjects: frozenset[str] = frozenset()
    fields: frozenset[str] = frozenset()
    renew: Callable[[], str] | None = None  # a fresh order of the same scope, once this one is used up
    requests: tuple[str, ...] = ()  # requests of the world the caller may converse on (docs/PROTOCOL.md §17)

    @property
    def is_authority(self) -> bool:
        return self.actor is not None and self.actor.role is Role.AUTHORITY


@dataclass(frozen=True)
class Pool:
    """Values of the world the generator draws from instead of random text."""

    selectors: tuple[tuple[str, str], ...]
    inside: tuple[tuple[str, str], ...]  # the selectors that name a subject of the caller's order
    ids: tuple[str, ...]
    subject_ids: tuple[str, ...]
    guarded: frozenset[str]

    @classmethod
    def of(cls, world: World, *, inside: frozenset[str] = frozenset(), extra_ids: tuple[str, ...] = ()) -> Pool:
        selectors: list[tuple[str, str]] = []
        covered: list[tuple[str, str]] = []
        for subject in world.subjects:
            e164 = normalise_phone(subject["phone"])
            naming = [("id", subject["id"]), ("username", subject["username"]),
                      ("username", subject["username"].upper()), ("phoneNumber", subject["phone"]),
                      ("phoneNumber", e164)]
            if subject["id"] in inside:
                covered += naming
            # Digits without their "+" and former usernames name nobody (not a valid number; not indexed).
            selectors += [*naming, ("phoneNumber", e164[1:])]
            selectors += [("username", r["username"]) for r in subject["username_history"]]
        selectors += [*NON_USERS.items(), ("phoneNumber", "+4915112345678"), ("id", "sub_" + "f" * 12)]
        subject_ids = tuple(s["id"] for s in world.subjects)
        guarded = secrets_of(world.subjects) | {v for k, v in selectors if k != "id" and len(v) >= 6}
        return cls(tuple(selectors), tuple(covered), subject_ids + extra_ids, subject_ids, frozenset(guarded))


# ---------------------------------------------------------------------------------------------
# Seeding the generator with the world's values


_ID_NAMES = frozenset({"id", "orderId", "requestId"})
_SIZE_NAMES = frozenset({"index", "treeSize", "fromSize", "toSize"})
_WINDOW = ObjectValueNode(fields=(
    ObjectFieldNode(name=NameNode(value="from"), value=StringValueNode(value="2026-03-01T00:00:00Z")),
    ObjectFieldNode(name=NameNode(value="until"), value=StringValueNode(value="2026-08-01T00:00:00Z"))))
_FIXED = {"validUntil": "2027-01-31T00:00:00Z", "courtOrderSha256": "ab" * 32, "jurisdiction": "DE"}


def _string(value: str) -> StringValueNode:
    return StringValueNode(value=value)


def _field(name: str, *selections: FieldNode) -> FieldNode:
    return FieldNode(name=NameNode(value=name), selection_set=SelectionSetNode(selections=selections) if selections
                     else None)


def _with(node: FieldNode, extra: FieldNode) -> FieldNode:
    assert node.selection_set is not None
    return FieldNode(alias=node.alias, name=node.name, arguments=node.arguments, directives=node.directives,
                     selection_set=SelectionSetNode(selections=(*node.selection_set.selections, extra)))


def _selector(rnd: random.Random, pool: Pool) -> ObjectValueNode:
    """One selector of the world: half of the time one that the caller's order covers."""
    kind, value = rnd.choice(pool.inside if pool.inside and rnd.random() < 0.5 else pool.selectors)
    return ObjectValueNode(fields=(ObjectFieldNode(name=NameNode(value=kind), value=_string(value)),))


class _Seeder(Visitor):
    """Replaces, each with some probability, literals the generator made up with the world's values,
    and adds what leads to sealed values: ``ciphertext`` to sealed fields, ``subjects`` to ``order``."""

    def __init__(self, rnd: random.Random, pool: Pool) -> None:
        super().__init__()
        self.rnd = rnd
        self.pool = pool
        self.placed: set[int] = set()  # selectors put in here, which the visit then enters: left alone

    def _selector(self) -> ObjectValueNode:
        selector = _selector(self.rnd, self.pool)
        self.placed.update(id(f) for f in selector.fields)
        return selector

    def _value(self, name: str, node: Any) -> Any:
        rnd, pool = self.rnd, self.pool
        if rnd.random() < 0.25:
            return None  # keep what the generator made
        if name == "by":
            return self._selector()
        if name == "subjects" and isinstance(node, ListValueNode):
            return ListValueNode(values=tuple(self._selector() for _ in range(rnd.randint(1, 3))))
        if name in _ID_NAMES and isinstance(node, (StringValueNode, IntValueNode)):
            # Now and then a phone number or username where an id goes: it must not come back.
            return _string(rnd.choice(pool.ids) if rnd.random() < 0.8 else rnd.choice(pool.selectors)[1])
        if name == "subjectIds" and isinstance(node, ListValueNode):
            return ListValueNode(values=tuple(_string(s) for s in rnd.sample(pool.subject_ids, rnd.randint(1, 3))))
        if name == "fields" and isinstance(node, ListValueNode):
            return ListValueNode(values=tuple(_string(f) for f in rnd.sample(SUBJECT_FIELDS, rnd.randint(1, 3))))
        if name == "dataWindow" and isinstance(node, ObjectValueNode):
            return _WINDOW
        if name in _FIXED and isinstance(node, StringValueNode):
            return _string(_FIXED[name])
        if name == "maxQueries" and isinstance(node, IntValueNode):
            return IntValueNode(value=str(rnd.randint(1, 5)))
        if name in _SIZE_NAMES and isinstance(node, IntValueNode):
            return IntValueNode(value=str(rnd.randint(0, 40)))
        return None

    def enter_field(self, node: FieldNode, *_: Any) -> Any:
        # The generator seldom selects an order's subjects, or a sealed field's ciphertext; without
        # them there is nothing sealed to open.
        name, rnd = node.name.value, self.rnd
        if node.selection_set is None or rnd.random() < 0.3:
            return None
        selected = {s.name.value for s in node.selection_set.selections if isinstance(s, FieldNode)}
        if name in SUBJECT_FIELDS and "ciphertext" not in selected:
            return _with(node, _field("ciphertext"))
        if name == "order" and "subjects" not in selected and rnd.random() < 0.6:
            sealed = [_field(f, _field("ciphertext")) for f in rnd.sample(SUBJECT_FIELDS, rnd.randint(1, 3))]
            return _with(node, _field("subjects", _field("id"), *sealed))
        return None

    def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
        value = self._value(node.name.value, node.value)
        return None if value is None else ArgumentNode(name=node.name, value=value)

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> Any:
        if id(node) in self.placed:
            return None
        value = self._value(node.name.value, node.value)
        return None if value is None else ObjectFieldNode(name=node.name, value=value)


def seed_document(rnd: random.Random, *, document: DocumentNode, pool: Pool) -> DocumentNode:
    """``document`` with some generated literals replaced by the world's values (a new tree)."""
    seeded: DocumentNode = visit(document, _Seeder(rnd, pool))
    return seeded


# ---------------------------------------------------------------------------------------------
# The schema, signed requests and the callers


@dataclass(frozen=True)
class Signed:
    body: bytes
    token: str | None


def wire_body(case: Case) -> bytes:
    """The exact HTTP body of ``case``: its bytes once signed, else the GraphQL-over-HTTP JSON."""
    if isinstance(case.body, bytes):
        return case.body
    return json.dumps({"query": case.body}).encode()


class SignedBodies:
    """The auth provider (no caching: every case gets its own token, signed over its own bytes)."""

    def __init__(self, harness: Harness, caller: Caller) -> None:
        self.harness = harness
        self.caller = caller

    def get(self, case: Case, _: AuthContext) -> Signed:
        body = wire_body(case)
        actor = self.caller.actor
        if actor is None:
            return Signed(body, None)
        token = mint(actor.signing_key, iss=actor.id, aud=self.harness.settings.id, body=body,
                     ord=self.caller.order_id if self.caller.is_authority else None)
        return Signed(body, token)

    def set(self, case: Case, data: Signed, _: AuthContext) -> None:
        case.body = data.body
        case.media_type = "application/json"
        headers = dict(case.headers or {})
        if data.token is not None:
            headers["Authorization"] = f"Bearer {data.token}"
        case.headers = headers


def load_schema(harness: Harness, caller: Caller, *, pool: Pool | None = None) -> GraphQLSchema:
    """The app's schema, loaded offline, with the caller's signing provider and, given a pool,
    the seeding hook."""
    schema = st_graphql.from_dict(introspection_from_schema(build_schema()._schema))

    @schema.auth(refresh_interval=None)
    class _Provider(SignedBodies):
        def __init__(self) -> None:
            super().__init__(harness, caller)

    if pool is not None:
        def flatmap_body(_: Any, body: Any) -> st.SearchStrategy[Any]:
            return st.randoms(use_true_random=True).map(partial(seed_document, document=body, pool=pool))

        schema.hook(flatmap_body)
    return schema


def submit_as(world: World, actor: Actor, selectors: list[dict[str, str]], fields: list[str]) -> str:
    request = {"caseReference": "AZ 99/26", "court": "Tribunal judiciaire de Paris", "jurisdiction": "FR",
               "legalBasis": "art. 60-1 CPP", "offenseCategory": "CYBERCRIME", "courtOrderSha256": "cd" * 32,
               "subjects": selectors, "fields": fields,
               "dataWindow": {"from": "2026-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
               "justification": "ransomware payments"}
    response = world.gateway.post(actor, SUBMIT, variables={"i": request})
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["submitRequest"]["id"])


def _activate(world: World, order: dict[str, Any]) -> str:
    for reviewer in world.reviewers[:2]:
        assert world.approve(order, reviewer).status_code == 200
    return str(order["id"])


def prepare_caller(world: World, kind: CallerKind) -> tuple[Caller, Pool]:
    """Orders for both authorities (so the world holds real ids of every kind), and the caller.

    The first authority's order covers subjects 0-2 and three fields; the second authority's
    covers subject 5 and ``phoneNumber`` only, so almost every selector it sends is outside."""
    main = world.active_order(maxQueries=MAX_QUERIES)
    pending = world.draft(world.submit())
    lone = world.subjects[5]["id"]

    def other_order() -> str:
        request = submit_as(world, world.other_authority, [{"id": lone}], ["phoneNumber"])
        return _activate(world, world.draft(request, maxQueries=MAX_QUERIES))

    other = other_order()

    def main_order() -> str:
        return str(world.active_order(maxQueries=MAX_QUERIES)["id"])

    # Requests of each authority that no caller's order rests on, so that the §17 mutations the
    # generator sends (a clarification, an amendment, a withdrawal) meet real requests without
    # revoking the order whose answers the campaign checks.
    spare = (world.submit(), world.submit(), str(json.loads(pending["document"])["request_id"]))
    other_spare = (submit_as(world, world.other_authority, [{"id": lone}], ["phoneNumber"]),
                   submit_as(world, world.other_authority, [{"id": lone}], ["phoneNumber"]))
    first = frozenset(s["id"] for s in world.subjects[:3])
    inside = {CallerKind.AUTHORITY_WITH_ORDER: first, CallerKind.AUTHORITY_OUTSIDE_ORDER: frozenset({lone})}
    pool = Pool.of(world, inside=inside.get(kind, frozenset()),
                   extra_ids=(main["id"], pending["id"], other, "ord_unknown", "req_unknown", "lrq_unknown",
                              *spare, *other_spare))
    callers = {
        CallerKind.AUTHORITY_WITH_ORDER: Caller(kind, world.authority, main["id"], first,
                                                frozenset({"phoneNumber", "ipAddresses", "usernameHistory"}),
                                                main_order, requests=spare),
        CallerKind.AUTHORITY_OUTSIDE_ORDER: Caller(kind, world.other_authority, other, frozenset({lone}),
                                                   frozenset({"phoneNumber"}), other_order, requests=other_spare),
        CallerKind.REVIEWER: Caller(kind, world.reviewers[2], requests=spare),
        CallerKind.AUDITOR: Caller(kind, world.auditor),
        CallerKind.NO_TOKEN: Caller(kind, None),
    }
    return callers[kind], pool


# ---------------------------------------------------------------------------------------------
# Reading requests and responses


@dataclass(frozen=True)
class SelectorUse:
    """One ``subject(by:)`` of a request: its response key, the selector and whom it resolves to."""

    key: str
    selector: Mapping[str, Any]
    resolved: str | None
    literal: StringValueNode | None  # the selector's value when written inline (for the oracle twin)


def _walk_root(selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode],
               seen: frozenset[str] = frozenset()) -> Iterator[FieldNode]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _walk_root(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                yield from _walk_root(fragment.selection_set, fragments, seen | {selection.name.value})


_Parsed = tuple[DocumentNode, OperationDefinitionNode, dict[str, Any]]


def parse_request(body: bytes) -> _Parsed | None:
    """The document, operation and variables of a request body, or None if it has none."""
    try:
        payload = json.loads(body)
        query, variables = payload["query"], payload.get("variables") or {}
        document = parse(query)
        operation = get_operation_ast(document, payload.get("operationName"))
    except (ValueError, KeyError, TypeError, GraphQLError, RecursionError):
        return None
    if operation is None or not isinstance(variables, dict):
        return None
    return document, operation, variables


def sealed_values(value: Any) -> Iterator[dict[str, Any]]:
    """Every object in a response that is (part of) a ``Sealed`` value."""
    if isinstance(value, dict):
        if set(value) & SEALED_KEYS and set(value) <= SEALED_KEYS:
            yield value
        else:
            for item in value.values():
                yield from sealed_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from sealed_values(item)


class _LeakWatch(logging.Handler):
    """Collects guarded values found in log records, as they are emitted."""

    def __init__(self, guarded: frozenset[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self.guarded = set(guarded)
        self.found: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage() + (self.format(record) if record.exc_info else "")
        except Exception:  # a record that cannot be formatted holds no value of ours
            return
        self.found += leaks([message], self.guarded)


# ---------------------------------------------------------------------------------------------
# The fuzzer


@dataclass
class Stats:
    cases: int = 0
    requests: int = 0
    sealed_opened: int = 0
    twins: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (first line, full report)


class Fuzzer:
    """Drives one caller kind against one world."""

    def __init__(self, world: World, kind: CallerKind, *, keep_going: bool | None = None) -> None:
        self.world = world
        self.harness = world.gateway
        self.caller, self.pool = prepare_caller(world, kind)
        self.positive = load_schema(self.harness, self.caller, pool=self.pool)
        self.negative = load_schema(self.harness, self.caller)
        self.stats = Stats()
        self.keep_going = os.environ.get(KEEP_GOING_ENV) == "1" if keep_going is None else keep_going
        discovery = self.harness.client.get("/.well-known/disclosure-gateway").json()
        self.gateway_key = VerifyKey(base64.b64decode(discovery["gateway_signing_key"]))
        self.size = self.harness.audit_size()
        self.before = self.size
        self.watch = _LeakWatch(self.pool.guarded)

    # -- strategies and explicit cases

    def strategy(self) -> st.SearchStrategy[Case]:
        """Positive (seeded) and negative cases of every operation in equal parts; for authorities,
        whose interesting answers live there, ``subject`` and ``order`` get a part each as well.
        (``st.one_of`` would flatten the schema's own ``one_of`` over its 15 operations, so the
        parts are picked with ``sampled_from``.)"""
        strategies = [self.positive.as_strategy(GenerationMode.POSITIVE),
                      self.negative.as_strategy(GenerationMode.NEGATIVE)]
        if self.caller.is_authority:
            strategies += [self.positive["Query"]["subject"].as_strategy(GenerationMode.POSITIVE),
                           self.positive["Query"]["order"].as_strategy(GenerationMode.POSITIVE)]
        return st.sampled_from(strategies).flatmap(lambda part: part)

    def case(self, query: str, *, root: str = "Query", name: str = "subject") -> Case:
        """A hand-written case, signed as the generated ones are."""
        return self.positive[root][name].Case(body=query, media_type="application/json")

    def explicit_cases(self) -> list[Case]:
        """Deterministic cases that make resolvers seal values, and that name subjects outside the order."""
        conversation = self.conversation_cases()
        if not self.caller.is_authority:
            return [self.case("{ whoami { id role } }", name="whoami"),
                    self.case("{ order { subjects { id phoneNumber { ciphertext } } } }", name="order"),
                    *conversation]
        subjects = self.world.subjects
        inside = next(s for s in subjects if s["id"] in self.caller.subjects)
        outside = [s for s in subjects if s["id"] not in self.caller.subjects]
        sealed = " ".join(f"{f} {{ algorithm recipientKeyId ciphertext }}" for f in sorted(self.caller.fields))
        return [
            self.case(f'{{ subject(by: {{id: "{inside["id"]}"}}) {{ id {sealed} }} }}'),
            self.case(f'{{ subject(by: {{phoneNumber: "{inside["phone"]}"}}) {{ id {sealed} }} }}'),
            self.case(f"{{ order {{ id subjects {{ id {sealed} }} }} }}", name="order"),
            self.case(f'{{ subject(by: {{id: "{outside[0]["id"]}"}}) {{ id }} }}'),
            self.case(f'{{ subject(by: {{phoneNumber: "{outside[1]["phone"]}"}}) {{ id {sealed} }} }}'),
            self.case(f'{{ subject(by: {{username: "{outside[2]["username"]}"}}) {{ {sealed} }} }}'),
            self.case(f'{{ subject(by: {{id: "{inside["id"]}"}}) {{ devices {{ ciphertext }} }} }}'),
            *conversation,
        ]

    def conversation_cases(self) -> list[Case]:
        """The §17 mutations on the caller's real requests, with real tokens: a question, an answer
        with an amendment that names selectors, an amendment, a withdrawal (whatever the caller's
        role makes of them: served, or refused with its code)."""
        if not self.caller.requests:
            return []
        first, second = self.caller.requests[0], self.caller.requests[1]
        selector = self.world.subjects[3]
        selection = "{ id status version clarifications { kind text } versions { version changes { field } } }"
        return [
            self.case(f'mutation {{ requestClarification(requestId: "{first}", question: "which account?") '
                      f"{selection} }}", root="Mutation", name="requestClarification"),
            self.case(f'mutation {{ answerClarification(requestId: "{first}", answer: "the second", amendment: '
                      f'{{subjects: [{{phoneNumber: "{selector["phone"]}"}}]}}) {selection} }}', root="Mutation",
                      name="answerClarification"),
            self.case(f'mutation {{ amendRequest(requestId: "{first}", amendment: {{fields: ["phoneNumber"], '
                      f'subjects: [{{username: "{selector["username"]}"}}]}}) {selection} }}',
                      root="Mutation", name="amendRequest"),
            self.case(f'mutation {{ withdrawRequest(requestId: "{second}", reason: "case closed") {selection} }}',
                      root="Mutation", name="withdrawRequest"),
        ]

    # -- running

    def run(self, *, max_examples: int, seed: int, phases: tuple[hypothesis.Phase, ...] | None = None,
            explicit: bool = True) -> Stats:
        """Run ``max_examples`` generated cases (and the explicit ones) under Hypothesis."""
        def exercise(case: Case) -> None:
            self.exercise(case)

        test = exercise
        for case in (self.explicit_cases() if explicit else []):
            test = hypothesis.example(case)(test)
        test = hypothesis.given(self.strategy())(test)
        test = hypothesis.settings(
            max_examples=max_examples, deadline=None, database=None, derandomize=False,
            report_multiple_bugs=False, print_blob=False,
            phases=phases or tuple(hypothesis.Phase),
        )(test)
        test = hypothesis.seed(seed)(test)
        with self._watching_logs():
            test()
        if self.stats.failures:
            distinct = sorted({first for first, _ in self.stats.failures})
            raise FuzzFailure(f"{len(self.stats.failures)} failing cases, {len(distinct)} distinct:\n"
                              + "\n".join(distinct) + "\n\nfirst:\n" + self.stats.failures[0][1])
        return self.stats

    @contextmanager
    def _watching_logs(self) -> Iterator[None]:
        root, gateway = logging.getLogger(), logging.getLogger("gateway")
        level = gateway.level
        gateway.setLevel(logging.DEBUG)
        root.addHandler(self.watch)
        try:
            yield
        finally:
            root.removeHandler(self.watch)
            gateway.setLevel(level)

    def exercise(self, case: Case) -> None:
        """Sign ``case`` afresh, send it, check the response; then, for a selector outside the order,
        send its twin that names nobody and compare the answers."""
        self.stats.cases += 1
        response = self._send_and_check(case)
        if response is None:
            return
        twin = self._twin(case, response)
        if twin is not None:
            self.stats.twins += 1
            answer = self._send_and_check(twin)
            if answer is not None:
                self._compare_twins(case, response, answer)
        if self.caller.renew is not None and _code(response) == "ORDER_EXHAUSTED":
            self.caller.order_id = self.caller.renew()
            self.size = self.harness.audit_size()

    def _send_and_check(self, case: Case) -> Any:
        """The response, checked; None if the app raised instead of answering (recorded as a failure)."""
        # A fresh token over the exact bytes for every send, replays of shrinking included, so no
        # jti is ever reused.
        case.operation.schema.auth.set(case, AuthContext(operation=case.operation, app=None))
        headers = {"content-type": "application/json", **(case.headers or {})}
        self.before = self.size
        self.stats.requests += 1
        try:
            response = self.harness.client.post("/graphql", content=wire_body(case), headers=headers)
        except Exception as exc:  # the app let an exception out instead of answering
            self._record(f"[{self.caller.kind}] the app raised {type(exc).__name__} instead of answering",
                         f"request: {wire_body(case).decode(errors='replace')}\n{exc!r}")
            self.size = self.harness.audit_size()
            return None
        self.stats.outcomes[f"{response.status_code} {_code(response) or 'OK'}"] += 1
        try:
            case.validate_response(response, excluded_checks=[positive_data_acceptance],
                                   additional_checks=self.checks())
        except FailureGroup as group:
            self._fail(case, response, group)
        finally:
            self.size = self.harness.audit_size()
        return response

    def _fail(self, case: Case, response: Any, group: FailureGroup) -> None:
        titles = "; ".join(sorted({f"{f.title}: {str(f.message).splitlines()[0]}" for f in group.exceptions}))
        self._record(f"[{self.caller.kind}] {titles}", f"request: {wire_body(case).decode(errors='replace')}\n"
                     f"response {response.status_code}: {response.text[:2000]}")

    def _record(self, title: str, details: str) -> None:
        """Raise at once (so Hypothesis shrinks the case), or keep going and count it."""
        if not self.keep_going:
            raise FuzzFailure(f"{title}\n{details}") from None
        self.stats.failures.append((title, f"{title}\n{details}"))

    # -- the checks (schemathesis check functions: ``(ctx, response, case)``)

    def checks(self) -> list[Callable[..., Any]]:
        return [self.no_server_error, self.protocol_error_code, self.audited_exactly_once, self.no_plaintext,
                self.sealed_only_within_the_order, self.subjects_only_within_the_order]

    def no_server_error(self, _: Any, response: Any, __: Case) -> None:
        """No input yields a 5xx (docs/PROTOCOL.md §6)."""
        assert response.status_code < 500, f"server error {response.status_code}"

    def protocol_error_code(self, _: Any, response: Any, __: Case) -> None:
        """Every refusal and every response with ``errors`` carries §6 codes and the status they map
        to, and no ``data``; every 200 has ``data`` and no ``errors``."""
        payload = response.json()
        assert isinstance(payload, dict), "the body is not a JSON object"
        if response.status_code == 200 and "errors" not in payload:
            assert isinstance(payload.get("data"), dict), "a 200 without data"
            return
        errors = payload.get("errors")
        assert isinstance(errors, list) and errors, f"a {response.status_code} without errors"
        for error in errors:
            code = (error.get("extensions") or {}).get("code")
            assert code in PROTOCOL_CODES, f"error code {code!r} is not a docs/PROTOCOL.md §6 code"
            assert PROTOCOL_CODES[code] == response.status_code, \
                f"{code} came with HTTP {response.status_code}, not {PROTOCOL_CODES[code]}"
            assert isinstance(error.get("message"), str) and error["message"], "an error without a message"
        assert "data" not in payload, "a refusal carries data"

    def audited_exactly_once(self, _: Any, response: Any, case: Case) -> None:
        """``extensions.audit`` names the one entry this request appended, and that entry is its own."""
        receipt = response.json().get("extensions", {}).get("audit")
        assert isinstance(receipt, dict) and set(receipt) == {"request_id", "index", "leaf_hash"}, \
            f"extensions.audit is {receipt!r}"
        after = self.harness.audit_size()
        assert after == self.before + 1, f"the audit log grew by {after - self.before} entries, not 1"
        assert receipt["index"] == self.before, f"receipt index {receipt['index']}, expected {self.before}"
        with self.harness.services.db.engine.connect() as conn:
            row = conn.execute(text("SELECT entry, leaf_hash FROM audit_entries WHERE idx = :i"),
                               {"i": receipt["index"]}).one()
        entry = json.loads(row.entry)
        leaf = hashlib.sha256(b"\x00" + row.entry.encode()).digest()
        assert base64.b64decode(receipt["leaf_hash"]) == leaf == bytes(row.leaf_hash), "leaf hash mismatch"
        assert entry["request_id"] == receipt["request_id"], "the entry is another request's"
        assert leaks([row.entry], self.pool.guarded) == [], "plaintext subject data in the audit entry"
        actor = self.caller.actor
        if entry.get("principal_verified"):
            assert actor is not None and entry["principal"] == actor.id, "the entry names another principal"
        if entry.get("decision") == "disclosed":
            assert self.caller.is_authority, "a disclosure to a principal that is no authority"
            assert entry["order_id"] == self.caller.order_id, "a disclosure under another order"
            assert set(entry["subjects"]) <= self.caller.subjects, "the entry records subjects outside the order"
            assert set(entry["fields"]) <= self.caller.fields, "the entry records fields outside the order"

    def no_plaintext(self, _: Any, response: Any, __: Case) -> None:
        """No phone number, IP or username of the test data (nor a selector sent) in the body or a log."""
        found = leaks([response.text], set(self.pool.guarded))
        assert found == [], f"plaintext in the response: {found[:3]}"
        logged, self.watch.found = self.watch.found, []
        assert logged == [], f"plaintext in a log record: {logged[:3]}"

    def sealed_only_within_the_order(self, _: Any, response: Any, __: Case) -> None:
        """Sealed values reach authorities only; each opens to a record of this request, the
        token's order, a subject and a field of that order."""
        payload = response.json()
        found = list(sealed_values(payload.get("data")))
        if not found:
            return
        authority = self.caller.actor
        assert self.caller.is_authority and authority is not None and authority.sealing_key is not None, \
            "sealed values for a principal that is no authority"
        request_id = payload["extensions"]["audit"]["request_id"]
        kid = key_id(authority.sealing_key.public_key)
        for value in found:
            if "ciphertext" not in value:
                continue
            assert value.get("recipientKeyId", kid) == kid, "sealed to another key"
            try:
                record = open_record(SealedValue("x25519-xsalsa20poly1305-sealedbox", kid, value["ciphertext"]),
                                     authority.sealing_key, self.gateway_key)
            except SealedValueError:
                raise AssertionError("a sealed value does not open to a record the gateway signed") from None
            self.stats.sealed_opened += 1
            assert record["request_id"] == request_id, "a sealed record of another request"
            assert record["order_id"] == self.caller.order_id, "a sealed record under another order"
            assert record["subject_id"] in self.caller.subjects, "sealed a value of a subject outside the order"
            assert record["field"] in self.caller.fields, "sealed a field outside the order"

    def subjects_only_within_the_order(self, _: Any, response: Any, case: Case) -> None:
        """A request whose selectors do not all resolve to subjects of the order is never served,
        and a served ``subject`` is one of the order's."""
        if response.status_code != 200:
            return
        uses = self.selector_uses(case)
        for use in uses:
            assert use.resolved is not None and use.resolved in self.caller.subjects, \
                f"served a request naming a subject outside the order (by {sorted(use.selector)})"
            answered = response.json()["data"].get(use.key)
            if isinstance(answered, dict) and "id" in answered:
                assert answered["id"] == use.resolved, "answered with another subject than the selector names"

    # -- the oracle twin

    def selector_uses(self, case: Case, parsed: _Parsed | None = None) -> list[SelectorUse]:
        """Each ``subject(by:)`` at the root of the request's operation, resolved as the store would."""
        parsed = parsed or parse_request(wire_body(case))
        if parsed is None:
            return []
        document, operation, variables = parsed
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        uses = []
        for node in _walk_root(operation.selection_set, fragments):
            if node.name.value != "subject":
                continue
            argument = next((a for a in node.arguments or () if a.name.value == "by"), None)
            if argument is None:
                continue
            try:
                selector = value_from_ast_untyped(argument.value, variables)
            except (GraphQLError, TypeError, ValueError):
                selector = None
            literal = None
            if isinstance(argument.value, ObjectValueNode) and len(argument.value.fields) == 1 \
                    and isinstance(argument.value.fields[0].value, StringValueNode):
                literal = argument.value.fields[0].value
            selector = selector if isinstance(selector, dict) else {}
            key = node.alias.value if node.alias else node.name.value
            uses.append(SelectorUse(key, selector, self._resolve(selector), literal))
        return uses

    def _resolve(self, selector: Mapping[str, Any]) -> str | None:
        given = [(k, v) for k, v in selector.items() if v is not None]
        if len(given) != 1 or not isinstance(given[0][1], str) or not 0 < len(given[0][1]) <= 128:
            return None
        kind, value = given[0]
        subjects = self.harness.services.subjects
        if kind == "id":
            return value if subjects.get(value) is not None else None
        if kind == "username":
            return subjects.find_by_username(value)
        if kind == "phoneNumber":
            return subjects.find_by_phone(value)
        return None

    def _twin(self, case: Case, response: Any) -> Case | None:
        """For a request with one inline selector naming a real subject outside the order: the same
        request naming nobody instead. Authorities only."""
        if not self.caller.is_authority or response.status_code >= 500:
            return None
        parsed = parse_request(wire_body(case))
        uses = self.selector_uses(case, parsed)
        if parsed is None or len(uses) != 1 or uses[0].literal is None or uses[0].resolved is None \
                or uses[0].resolved in self.caller.subjects:
            return None
        use = uses[0]
        kind = next(k for k, v in use.selector.items() if v is not None)
        document, target = parsed[0], use.literal

        class Swap(Visitor):
            def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
                return _string(NON_USERS[kind]) if node is target else None

        payload = json.loads(wire_body(case))
        payload["query"] = print_ast(visit(document, Swap()))
        return case.operation.Case(body=json.dumps(payload).encode(), media_type="application/json")

    def _compare_twins(self, case: Case, response: Any, answer: Any) -> None:
        first, second = response.json(), answer.json()
        first.pop("extensions", None)
        second.pop("extensions", None)
        if (response.status_code, first) != (answer.status_code, second):
            self._record(f"[{self.caller.kind}] oracle: a subject outside the order is answered unlike nobody",
                         f"request: {wire_body(case).decode(errors='replace')}\n"
                         f"response {response.status_code}: {first}\ntwin answer {answer.status_code}: {second}")

    # -- reporting

    def summary(self, *, seed: int, seconds: float, error: str | None) -> dict[str, Any]:
        database = self.harness.services.db.dialect
        return {"kind": str(self.caller.kind), "database": database, "seed": seed, "cases": self.stats.cases,
                "requests": self.stats.requests, "twins": self.stats.twins,
                "sealed_opened": self.stats.sealed_opened,
                "failures": len(self.stats.failures) if self.stats.failures else (1 if error else 0),
                "distinct": sorted({first for first, _ in self.stats.failures}) or ([error] if error else []),
                "seconds": round(seconds, 1), "outcomes": dict(sorted(self.stats.outcomes.items()))}


def _code(response: Any) -> str | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not errors:
        return None
    return str((errors[0].get("extensions") or {}).get("code"))


def write_summary(record: Mapping[str, Any]) -> None:
    """Append ``record`` to ``GATEWAY_FUZZ_SUMMARY`` when it is set."""
    path = os.environ.get(SUMMARY_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


@contextmanager
def timed() -> Iterator[Callable[[], float]]:
    start = time.monotonic()
    yield lambda: time.monotonic() - start

"""Who may select what, decided before any resolver runs (deny by default).

Every root field is listed with the roles that may select it; a root field missing from the
table is refused, so a new operation is closed until someone opens it here. An operation that
touches subject data must come from an authority whose token names its own order, that order
must be ACTIVE, and every field and subject it selects must be in the order (docs/PROTOCOL.md §5).
"""

from __future__ import annotations

from gateway.api.graphql.context import RequestContext
from gateway.api.graphql.scope import OperationScope
from gateway.errors import ForbiddenRole, OrderLapsed, OrderNotActive, OrderNotFound
from gateway.orders.policy import OrderStatus, check_scope, refusal_for
from gateway.principals.registry import Role
from gateway.values.fields import SUBJECT_FIELDS
from gateway.values.selector import Selector

__all__ = ["FIELD_ROLES", "ROOT_ROLES", "authorize"]

_ALL = frozenset(Role)
ROOT_ROLES: dict[tuple[str, str], frozenset[Role]] = {
    ("Query", "whoami"): _ALL,
    ("Query", "order"): frozenset({Role.AUTHORITY}),
    ("Query", "subject"): frozenset({Role.AUTHORITY}),
    ("Query", "requests"): frozenset({Role.AUTHORITY, Role.REVIEWER}),
    ("Query", "requestById"): frozenset({Role.AUTHORITY, Role.REVIEWER}),
    ("Query", "orderById"): frozenset({Role.REVIEWER, Role.AUDITOR}),
    ("Query", "orders"): frozenset({Role.REVIEWER, Role.AUDITOR}),
    ("Query", "auditProof"): frozenset({Role.AUDITOR, Role.AUTHORITY}),
    ("Query", "consistencyProof"): _ALL,
    ("Query", "auditCheckpoint"): _ALL,
    ("Query", "transparencyReports"): frozenset({Role.AUDITOR}),
    ("Query", "transparencyReport"): frozenset({Role.AUDITOR}),
    ("Query", "auditEntries"): frozenset({Role.AUDITOR}),
    ("Mutation", "submitRequest"): frozenset({Role.AUTHORITY}),
    ("Mutation", "draftOrder"): frozenset({Role.REVIEWER}),
    ("Mutation", "approveOrder"): frozenset({Role.REVIEWER}),
    ("Mutation", "rejectRequest"): frozenset({Role.REVIEWER}),
    ("Mutation", "revokeOrder"): frozenset({Role.REVIEWER}),
    ("Mutation", "verifyEmergency"): frozenset({Role.REVIEWER}),
    ("Mutation", "attachCourtOrder"): frozenset({Role.AUTHORITY}),
    ("Mutation", "submitPreservation"): frozenset({Role.AUTHORITY}),
    ("Mutation", "extendPreservation"): frozenset({Role.AUTHORITY}),
    ("Mutation", "grantPreservation"): frozenset({Role.REVIEWER}),
    ("Mutation", "rejectPreservation"): frozenset({Role.REVIEWER}),
    ("Query", "preservations"): frozenset({Role.AUTHORITY, Role.REVIEWER}),
    ("Query", "preservationCounts"): frozenset({Role.REVIEWER, Role.AUDITOR}),
}
"""Root fields and the roles that may select them."""

FIELD_ROLES: dict[tuple[str, str], frozenset[Role]] = {
    # To an authority these would say who is a user (docs/PROTOCOL.md §5).
    ("LegalRequest", "resolvedSubjectIds"): frozenset({Role.REVIEWER}),
    ("LegalRequest", "unresolvedSelectors"): frozenset({Role.REVIEWER}),
    # Free texts that name people or officers, and who at the platform verified: reviewers only.
    ("LegalRequest", "verification"): frozenset({Role.REVIEWER}),
    ("Preservation", "subjectIds"): frozenset({Role.REVIEWER}),
    ("Preservation", "unresolvedSelectors"): frozenset({Role.REVIEWER}),
    ("Order", "subjects"): frozenset({Role.AUTHORITY}),
}
"""Non-root fields restricted to some roles; every other field is open to whoever reached its parent."""

_UNRESOLVED = "\x00unresolved"  # a subject id no order can contain


def authorize(scope: OperationScope, context: RequestContext) -> None:
    """Raise the §6 refusal for the first thing the caller may not select, or load and check the
    order and resolve the selectors into ``context`` for the resolvers."""
    role = context.role
    for type_field in sorted(scope.type_fields):
        type_name, _ = type_field
        allowed = ROOT_ROLES.get(type_field) if type_name in ("Query", "Mutation") else FIELD_ROLES.get(type_field)
        if allowed is None and type_name in ("Query", "Mutation"):
            raise ForbiddenRole(f"{type_field[1]} is not open to any principal")
        if allowed is not None and role not in allowed:
            roles = " or ".join(sorted(r.value for r in allowed))
            raise ForbiddenRole(f"{type_field[1]} is for a {roles}; your principal is a {role.value}")
    if scope.touches_subjects and role is not Role.AUTHORITY:
        raise ForbiddenRole("subject data is only ever disclosed to an authority")
    if not (scope.touches_subjects or "order" in scope.root_fields):
        return
    order_id = context.caller.claims.order_id
    if order_id is None:
        raise OrderNotFound("the token names no order; put the order id in its `ord` claim")
    services = context.services
    state = services.orders.for_authority(context.caller.principal.id, order_id, now=context.now)
    # Only now: an `ord` that names no order of this authority could be anything (a phone
    # number's digits have an id's shape), and must not be copied into the audit entry.
    context.outcome.order_id = state.id
    if state.status is OrderStatus.LAPSED:
        raise OrderLapsed("the emergency order lapsed: no court order was attached within its hours")
    if state.verified_approvals < (state.approvals_required or services.settings.approvals_required):
        # A drafted order names the subjects its request's selectors resolved to; before it is
        # approved that would tell the authority who is a user. It sees the order once approved.
        raise OrderNotActive("the order is not active: it lacks the required reviewer approvals")
    context.order = state
    if not scope.touches_subjects:
        return
    refusal = refusal_for(state.status)
    if refusal is not None:
        raise refusal
    document = state.usable()
    requested = scope.subject_fields & set(SUBJECT_FIELDS)
    context.outcome.fields = set(requested)
    resolved = [_resolve(context, s) for s in scope.selectors]
    check_scope(document, fields=requested, subjects=[r or _UNRESOLVED for r in resolved])
    context.resolved = {s: r for s, r in zip(scope.selectors, resolved, strict=True) if r is not None}
    context.outcome.subjects = {r for r in resolved if r is not None}


def _resolve(context: RequestContext, selector: Selector) -> str | None:
    """The subject id a selector names, or None. Ids outside the order and unknown selectors end
    the same way, so the answer never says whether a person exists: an id is taken as given and
    checked against the order's subjects, not looked up."""
    return context.services.subjects.resolve(selector, ids_must_exist=False)

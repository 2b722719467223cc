"""Who may select what, decided before any resolver runs (deny by default).

Every field selected is held to the role tables of :mod:`gateway.api.graphql.roles`. An operation that
touches subject data must come from an authority whose token names its own order, that order
must be ACTIVE, and every field and subject it selects must be in the order (docs/PROTOCOL.md §5).
"""

from __future__ import annotations

from gateway.api.graphql.context import RequestContext
from gateway.api.graphql.roles import check_role
from gateway.api.graphql.scope import OperationScope
from gateway.errors import ForbiddenRole, OrderLapsed, OrderNotActive, OrderNotFound
from gateway.orders.policy import OrderStatus, check_scope, refusal_for
from gateway.principals.registry import Role
from gateway.values.fields import SUBJECT_FIELDS
from gateway.values.selector import Selector

__all__ = ["authorize"]

_UNRESOLVED = "\x00unresolved"  # a subject id no order can contain


def authorize(scope: OperationScope, context: RequestContext) -> None:
    """Raise the §6 refusal for the first thing the caller may not select, or load and check the
    order and resolve the selectors into ``context`` for the resolvers."""
    role = context.role
    for type_name, field_name in sorted(scope.type_fields):
        check_role(type_name, field_name, role)
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
    return context.services.source.resolve(selector, ids_must_exist=False)

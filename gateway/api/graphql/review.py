"""Reviewers' operations (and the read-only ones auditors share): requests, drafts, approvals,
rejections and revocations. Reviewers never receive subject data."""

from __future__ import annotations

import strawberry

from gateway.api.graphql.context import RequestContext
from gateway.api.graphql.types import (
    LegalRequestStatus,
    LegalRequestType,
    OrderType,
    TimeWindowInput,
    legal_request,
    order_type,
)
from gateway.audit.model import Action
from gateway.orders.emergency import VerificationMethod
from gateway.orders.model import DraftInput
from gateway.principals.registry import Role
from gateway.transparency import facts
from gateway.values.window import TimeWindow

__all__ = ["DraftOrderInput", "ReviewMutation", "ReviewQuery"]


@strawberry.input
class DraftOrderInput:
    request_id: strawberry.ID
    valid_until: str
    max_queries: int
    subject_ids: list[strawberry.ID] | None = None
    fields: list[str] | None = None
    data_window: TimeWindowInput | None = None


strawberry.enum(VerificationMethod)


@strawberry.type
class ReviewQuery:
    @strawberry.field(description="Reviewer: all requests; authority: its own.")
    def requests(self, info: strawberry.Info[RequestContext, None],
                 status: LegalRequestStatus | None = None) -> list[LegalRequestType]:
        context = info.context
        context.require(info)
        own = context.caller.principal.id if context.role is Role.AUTHORITY else None
        found = context.services.orders.list_requests(status=status.value if status else None, authority_id=own)
        return [legal_request(r) for r in found]

    @strawberry.field(description="Reviewer: any request; authority: its own.")
    def request_by_id(self, info: strawberry.Info[RequestContext, None], id: strawberry.ID) -> LegalRequestType:
        context = info.context
        context.require(info)
        own = context.caller.principal.id if context.role is Role.AUTHORITY else None
        return legal_request(context.services.orders.get_request(str(id), authority_id=own))

    @strawberry.field(description="Reviewer, auditor: any order, with its status computed now.")
    def order_by_id(self, info: strawberry.Info[RequestContext, None], id: strawberry.ID) -> OrderType | None:
        context = info.context
        context.require(info)
        state = context.services.orders.load(str(id), now=context.now)
        return order_type(state, context.services.settings.approvals_required)

    @strawberry.field(description="Reviewer, auditor: every order.")
    def orders(self, info: strawberry.Info[RequestContext, None]) -> list[OrderType]:
        context = info.context
        context.require(info)
        orders = context.services.orders
        required = context.services.settings.approvals_required
        return [order_type(orders.load(i, now=context.now), required) for i in orders.order_ids()]


@strawberry.type
class ReviewMutation:
    @strawberry.mutation(description="Reviewer: draft an order that narrows (never widens) its request.")
    def draft_order(self, info: strawberry.Info[RequestContext, None], input: DraftOrderInput) -> OrderType:
        context = info.context
        context.require(info)
        window = None
        if input.data_window is not None:
            window = TimeWindow.parse(input.data_window.from_, input.data_window.until, what="dataWindow")
        subject_ids = [str(s) for s in input.subject_ids] if input.subject_ids is not None else None
        data = DraftInput(request_id=str(input.request_id), valid_until=input.valid_until,
                          max_queries=input.max_queries, subject_ids=subject_ids, fields=input.fields,
                          data_window=window)
        state = context.services.orders.draft_order(context.caller.principal, data, now=context.now,
                                                    undo=context.undo)
        context.outcome.facts.append(facts.drafted(state))
        return order_type(state, context.services.settings.approvals_required)

    @strawberry.mutation(description="Reviewer: approve with a base64 Ed25519 signature over the §3 bytes.")
    def approve_order(self, info: strawberry.Info[RequestContext, None], order_id: strawberry.ID,
                      signature: str) -> OrderType:
        context = info.context
        context.require(info)
        state = context.services.orders.approve_order(context.caller.principal, str(order_id), signature,
                                                      now=context.now, undo=context.undo, entry=context.request_id)
        context.outcome.facts.append(facts.approved(state))
        return order_type(state, context.services.settings.approvals_required)

    @strawberry.mutation(description="Reviewer: reject a pending request, with a reason.")
    def reject_request(self, info: strawberry.Info[RequestContext, None], request_id: strawberry.ID,
                       reason: str) -> LegalRequestType:
        context = info.context
        context.require(info)
        request = context.services.orders.reject_request(context.caller.principal, str(request_id), reason,
                                                         now=context.now, undo=context.undo,
                                                         entry=context.request_id)
        context.outcome.facts.append(facts.rejected(request))
        return legal_request(request)

    @strawberry.mutation(description="Reviewer: revoke an order, with a reason; it takes effect on the next request.")
    def revoke_order(self, info: strawberry.Info[RequestContext, None], order_id: strawberry.ID,
                     reason: str) -> OrderType:
        context = info.context
        context.require(info)
        state = context.services.orders.revoke_order(context.caller.principal, str(order_id), reason,
                                                     now=context.now, undo=context.undo, entry=context.request_id)
        context.outcome.facts.append(facts.revoked(state))
        # The entry proves the revocation: Orders.load honours it even if the row's columns are
        # edited back (docs/PROTOCOL.md §3: a row edited in the database grants nothing).
        context.outcome.order_id, context.outcome.action = state.id, Action.REVOKE_ORDER
        return order_type(state, context.services.settings.approvals_required)

    @strawberry.mutation(description="Reviewer: record the secondary verification of an emergency request, before "
                                     "any approval: how the authority was reached back, not through the request.")
    def verify_emergency(self, info: strawberry.Info[RequestContext, None], request_id: strawberry.ID,
                         method: VerificationMethod, note: str) -> LegalRequestType:
        context = info.context
        context.require(info)
        request = context.services.orders.verify_emergency(context.caller.principal, str(request_id),
                                                           VerificationMethod(method).value, note, now=context.now,
                                                           undo=context.undo, entry=context.request_id)
        context.outcome.facts.append(facts.emergency_verified(request))
        return legal_request(request)

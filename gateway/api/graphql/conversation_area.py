"""The authority's side of a request (docs/PROTOCOL.md §17): a reviewer asks for clarification,
the authority answers, amends or withdraws. Each resolver records its act as facts that hold ids,
versions, counts and field names, never the question, the answer, the reason or a value."""

from __future__ import annotations

import strawberry

from gateway.api.graphql.authority import selector_of
from gateway.api.graphql.context import RequestContext
from gateway.api.graphql.types import LegalRequestType, SubjectSelector, TimeWindowInput, legal_request
from gateway.orders.conversation import Amendment
from gateway.transparency import facts
from gateway.values.window import TimeWindow

__all__ = ["AmendmentInput", "ConversationMutation"]


@strawberry.input(description="What an amendment changes; every field left out stays as the current version has "
                              "it. At least one must change something.")
class AmendmentInput:
    subjects: list[SubjectSelector] | None = strawberry.field(
        default=None, description="The new selectors, all of them: they replace the current ones.")
    fields: list[str] | None = None
    data_window: TimeWindowInput | None = None
    legal_basis: str | None = None
    court_order_sha256: str | None = None


def amendment_of(given: AmendmentInput | None) -> Amendment | None:
    if given is None:
        return None
    window = None
    if given.data_window is not None:
        window = TimeWindow.parse(given.data_window.from_, given.data_window.until, what="dataWindow")
    return Amendment(subjects=[selector_of(s) for s in given.subjects] if given.subjects is not None else None,
                     fields=given.fields, data_window=window, legal_basis=given.legal_basis,
                     court_order_sha256=given.court_order_sha256)


@strawberry.type
class ConversationMutation:
    @strawberry.mutation(description="Reviewer: ask a PENDING request's authority a question; the request is "
                                     "NEEDS_CLARIFICATION until it answers.")
    def request_clarification(self, info: strawberry.Info[RequestContext, None], request_id: strawberry.ID,
                              question: str) -> LegalRequestType:
        context = info.context
        context.require(info)
        request = context.services.orders.request_clarification(context.caller.principal, str(request_id), question,
                                                                now=context.now, undo=context.undo,
                                                                entry=context.request_id)
        context.outcome.facts.append(facts.clarification_requested(request))
        return legal_request(request)

    @strawberry.mutation(description="Authority: answer the open question on its own request, optionally amending "
                                     "it in the same step; the request is PENDING again.")
    def answer_clarification(self, info: strawberry.Info[RequestContext, None], request_id: strawberry.ID,
                             answer: str, amendment: AmendmentInput | None = None) -> LegalRequestType:
        context = info.context
        context.require(info)
        request, changed = context.services.orders.answer_clarification(
            context.caller.principal, str(request_id), answer, amendment_of(amendment), now=context.now,
            undo=context.undo)
        context.outcome.facts.append(facts.clarification_answered(request, amended=bool(changed)))
        if changed:
            context.outcome.facts.append(facts.amended(request, changed))
        return legal_request(request)

    @strawberry.mutation(description="Authority: amend its own request while no order of it is ACTIVE; a new "
                                     "version, and orders drafted on the one before can no longer be approved.")
    def amend_request(self, info: strawberry.Info[RequestContext, None], request_id: strawberry.ID,
                      amendment: AmendmentInput) -> LegalRequestType:
        context = info.context
        context.require(info)
        given = amendment_of(amendment)
        assert given is not None  # the argument is required
        request, changed = context.services.orders.amend_request(context.caller.principal, str(request_id), given,
                                                                 now=context.now, undo=context.undo)
        context.outcome.facts.append(facts.amended(request, changed))
        return legal_request(request)

    @strawberry.mutation(description="Authority: withdraw its own request, with a reason; every order of it is "
                                     "revoked in the same step.")
    def withdraw_request(self, info: strawberry.Info[RequestContext, None], request_id: strawberry.ID,
                         reason: str) -> LegalRequestType:
        context = info.context
        context.require(info)
        withdrawal = context.services.orders.withdraw_request(context.caller.principal, str(request_id), reason,
                                                              now=context.now, undo=context.undo,
                                                              entry=context.request_id)
        context.outcome.facts.append(facts.withdrawn(withdrawal.request, withdrawal.revoked_orders))
        return legal_request(withdrawal.request)

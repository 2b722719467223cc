"""An authority's operations: its order, its subjects' sealed data, and submitting requests."""

from __future__ import annotations

import strawberry

from gateway.api.graphql.context import RequestContext
from gateway.api.graphql.types import (
    LegalRequestType,
    OffenseCategory,
    OrderType,
    SubjectSelector,
    SubjectType,
    TimeWindowInput,
    legal_request,
    order_type,
)
from gateway.errors import OrderNotFound
from gateway.orders.model import LegalProcess, LegalRequestSubmission
from gateway.transparency import facts
from gateway.values.selector import Selector
from gateway.values.times import format_time
from gateway.values.window import TimeWindow

__all__ = ["AuthorityMutation", "AuthorityQuery", "LegalRequestInput"]


@strawberry.input
class LegalRequestInput:
    case_reference: str
    court: str
    jurisdiction: str
    legal_basis: str
    offense_category: OffenseCategory
    subjects: list[SubjectSelector]
    fields: list[str]
    data_window: TimeWindowInput
    justification: str
    court_order_sha256: str | None = strawberry.field(
        default=None, description="Required unless emergency: an emergency may attach it later (attachCourtOrder).")
    emergency: bool = False
    legal_process: LegalProcess = LegalProcess.COURT_ORDER
    imminent_risk: str | None = strawberry.field(
        default=None, description="Emergency only: the imminent risk of death or serious physical injury.")
    non_disclosure_until: str | None = strawberry.field(
        default=None, description="RFC 3339: the court order forbids telling the user before this time.")


def selector_of(by: SubjectSelector) -> Selector:
    return Selector.of(by.id, by.username, by.phone_number)


@strawberry.type
class AuthorityQuery:
    @strawberry.field(description="Authority: the order named by the token's `ord` claim.")
    def order(self, info: strawberry.Info[RequestContext, None]) -> OrderType:
        context = info.context
        context.require(info)
        if context.order is None:  # pragma: no cover - authorize() loads it for every `order` selection
            raise OrderNotFound("the token names no order")
        return order_type(context.order, context.services.settings.approvals_required)

    @strawberry.field(description="Authority: one subject of the order named by the token's `ord` claim.")
    def subject(self, info: strawberry.Info[RequestContext, None], by: SubjectSelector) -> SubjectType:
        context = info.context
        context.require(info)
        return SubjectType(id=strawberry.ID(context.subject_for(selector_of(by))))


@strawberry.type
class AuthorityMutation:
    @strawberry.mutation(description="Authority: submit a legal request for review.")
    def submit_request(self, info: strawberry.Info[RequestContext, None], input: LegalRequestInput) -> LegalRequestType:
        context = info.context
        context.require(info)
        window = TimeWindow.parse(input.data_window.from_, input.data_window.until, what="dataWindow")
        secrecy = None
        if input.non_disclosure_until is not None:
            secrecy = TimeWindow.parse(format_time(context.now), input.non_disclosure_until,
                                       what="nonDisclosureUntil").end
        data = LegalRequestSubmission(
            case_reference=input.case_reference, court=input.court, jurisdiction=input.jurisdiction,
            legal_basis=input.legal_basis, offense_category=input.offense_category.value,
            court_order_sha256=input.court_order_sha256, subjects=[selector_of(s) for s in input.subjects],
            fields=input.fields, data_window=window, justification=input.justification, emergency=input.emergency,
            legal_process=LegalProcess(input.legal_process).value, imminent_risk=input.imminent_risk,
            non_disclosure_until=secrecy)
        request = context.services.orders.submit_request(context.caller.principal, data, now=context.now,
                                                         undo=context.undo, entry=context.request_id)
        context.outcome.facts.append(facts.submitted(context.caller.principal, request))
        return legal_request(request)

    @strawberry.mutation(description="Authority: attach the court order to its own emergency request in time.")
    def attach_court_order(self, info: strawberry.Info[RequestContext, None], request_id: strawberry.ID,
                           court_order_sha256: str) -> LegalRequestType:
        context = info.context
        context.require(info)
        request = context.services.orders.attach_court_order(context.caller.principal, str(request_id),
                                                             court_order_sha256, now=context.now, undo=context.undo,
                                                             entry=context.request_id)
        context.outcome.facts.append(facts.court_order_attached(request))
        return legal_request(request)

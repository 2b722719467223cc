"""Preservation holds (docs/PROTOCOL.md §16.2): authorities ask and extend, reviewers grant or
reject, both list them; reviewers and auditors see the counts per country. Nothing is disclosed."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.api.graphql.authority import selector_of
from gateway.api.graphql.context import RequestContext
from gateway.api.graphql.types import SubjectSelector
from gateway.errors import BadRequest
from gateway.lifecycle.preservation import Preservation, PreservationInput, Preservations, PreservationStatus
from gateway.principals.registry import Role
from gateway.transparency import facts
from gateway.transparency.facts import FactKind
from gateway.values.times import format_time, parse_time

__all__ = ["PreservationMutation", "PreservationQuery"]

strawberry.enum(PreservationStatus)


@strawberry.input(name="PreservationInput")
class PreservationInputType:
    subjects: list[SubjectSelector]
    case_reference: str
    jurisdiction: str
    legal_basis: str
    until: str = strawberry.field(description="RFC 3339; at most 90 days away.")


@strawberry.type(name="Preservation")
class PreservationType:
    id: strawberry.ID
    status: PreservationStatus
    authority_id: strawberry.ID
    country: str
    case_reference: str
    jurisdiction: str
    legal_basis: str
    requested_until: str
    granted_until: str | None
    extended: bool
    active: bool
    rejection_reason: str | None
    created_at: str
    subject_ids: list[strawberry.ID] = strawberry.field(description="Reviewers only: the subjects held.")
    unresolved_selectors: int = strawberry.field(description="Reviewers only: selectors that matched no subject.")


@strawberry.type(name="PreservationCount")
class PreservationCountType:
    country: str
    pending: int
    granted: int
    rejected: int
    active: int
    extended: int


def _type(hold: Preservation, now: datetime) -> PreservationType:
    return PreservationType(
        id=strawberry.ID(hold.id), status=PreservationStatus(hold.status),
        authority_id=strawberry.ID(hold.authority_id),
        country=hold.country, case_reference=hold.case_reference, jurisdiction=hold.jurisdiction,
        legal_basis=hold.legal_basis, requested_until=format_time(hold.requested_until),
        granted_until=format_time(hold.granted_until) if hold.granted_until else None, extended=hold.extended,
        active=hold.active(now), rejection_reason=hold.rejection_reason, created_at=format_time(hold.created_at),
        subject_ids=[strawberry.ID(s) for s in hold.subject_ids], unresolved_selectors=hold.unresolved_selectors)


def _holds(context: RequestContext) -> Preservations:
    return context.services.preservations


def _time(value: str, what: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError:
        raise BadRequest(f"{what} must be an RFC 3339 time, e.g. 2027-02-01T00:00:00Z") from None


@strawberry.type
class PreservationQuery:
    @strawberry.field(description="Reviewer: every preservation request; authority: its own.")
    def preservations(self, info: strawberry.Info[RequestContext, None],
                      status: PreservationStatus | None = None) -> list[PreservationType]:
        context = info.context
        context.require(info)
        own = context.caller.principal.id if context.role is Role.AUTHORITY else None
        found = _holds(context).find(status=status.value if status else None, authority_id=own)
        return [_type(h, context.now) for h in found]

    @strawberry.field(description="Reviewer, auditor: preservation requests per country, and holds active now.")
    def preservation_counts(self, info: strawberry.Info[RequestContext, None]) -> list[PreservationCountType]:
        context = info.context
        context.require(info)
        return [PreservationCountType(**row) for row in _holds(context).counts(context.now)]


@strawberry.type
class PreservationMutation:
    @strawberry.mutation(description="Authority: ask the platform to keep what it holds about these subjects.")
    def submit_preservation(self, info: strawberry.Info[RequestContext, None],
                            input: PreservationInputType) -> PreservationType:
        context = info.context
        context.require(info)
        data = PreservationInput(case_reference=input.case_reference, jurisdiction=input.jurisdiction,
                                 legal_basis=input.legal_basis, subjects=[selector_of(s) for s in input.subjects],
                                 until=_time(input.until, "until"))
        hold = _holds(context).submit(context.caller.principal, data, now=context.now, undo=context.undo)
        context.outcome.facts.append(facts.preservation(FactKind.PRESERVATION_SUBMITTED, hold.fact()))
        return _type(hold, context.now)

    @strawberry.mutation(description="Reviewer: grant a pending hold (at most 90 days).")
    def grant_preservation(self, info: strawberry.Info[RequestContext, None], id: strawberry.ID) -> PreservationType:
        context = info.context
        context.require(info)
        hold = _holds(context).grant(context.caller.principal, str(id), now=context.now, undo=context.undo,
                                     entry=context.request_id)
        context.outcome.facts.append(facts.preservation(FactKind.PRESERVATION_GRANTED, hold.fact()))
        return _type(hold, context.now)

    @strawberry.mutation(description="Reviewer: reject a pending hold, with a reason.")
    def reject_preservation(self, info: strawberry.Info[RequestContext, None], id: strawberry.ID,
                            reason: str) -> PreservationType:
        context = info.context
        context.require(info)
        hold = _holds(context).reject(context.caller.principal, str(id), reason, now=context.now, undo=context.undo)
        context.outcome.facts.append(facts.preservation(FactKind.PRESERVATION_REJECTED, hold.fact()))
        return _type(hold, context.now)

    @strawberry.mutation(description="Authority: extend its own active hold once, by at most 90 days.")
    def extend_preservation(self, info: strawberry.Info[RequestContext, None], id: strawberry.ID,
                            until: str) -> PreservationType:
        context = info.context
        context.require(info)
        hold = _holds(context).extend(context.caller.principal, str(id), _time(until, "until"), now=context.now,
                                      undo=context.undo, entry=context.request_id)
        context.outcome.facts.append(facts.preservation(FactKind.PRESERVATION_EXTENDED, hold.fact()))
        return _type(hold, context.now)

"""GraphQL object and input types shared by the areas (docs/PROTOCOL.md §5)."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

import strawberry

from gateway.orders.model import LegalProcess, LegalRequest, LegalRequestStatus, OffenseCategory, OrderState
from gateway.orders.policy import OrderStatus
from gateway.values.times import format_time

__all__ = ["ConsistencyProof", "InclusionProof", "LegalProcess", "LegalRequestStatus", "LegalRequestType",
           "OffenseCategory", "OrderStatus", "OrderType", "Sealed", "SubjectSelector", "SubjectType",
           "TimeWindowInput", "TimeWindowType", "legal_request", "order_type"]

# The domain's enums, exposed as GraphQL enums (strawberry.enum registers them in place).
strawberry.enum(OrderStatus)
strawberry.enum(LegalRequestStatus, name="RequestStatus")  # the wire name stays (schema.graphql)
strawberry.enum(OffenseCategory)
strawberry.enum(LegalProcess)


@strawberry.type(description="A value sealed to the authority's X25519 key (docs/PROTOCOL.md §4).")
class Sealed:
    algorithm: str
    recipient_key_id: str
    ciphertext: str


@strawberry.input(description="Exactly one of id, username or phoneNumber.")
class SubjectSelector:
    id: strawberry.ID | None = None
    username: str | None = None
    phone_number: str | None = None


@strawberry.input
class TimeWindowInput:
    from_: str = strawberry.field(name="from")
    until: str


@strawberry.type(name="TimeWindow")
class TimeWindowType:
    from_: str = strawberry.field(name="from")
    until: str


@strawberry.type(name="InclusionProof")
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: str
    hashes: list[str]
    checkpoint: str


@strawberry.type(name="AuditEntry", description="One audit log entry: its index, its exact JCS text and its "
                                                "RFC 9162 leaf hash SHA-256(0x00 || entry), base64.")
class AuditEntryView:
    index: int
    leaf_hash: str
    entry: str


@strawberry.type(name="ConsistencyProof")
class ConsistencyProof:
    from_size: int
    to_size: int
    hashes: list[str]
    checkpoint: str


@strawberry.type(name="EmergencyVerification")
class EmergencyVerificationType:
    by: strawberry.ID
    at: str
    method: str


@strawberry.type(name="LegalRequest")
class LegalRequestType:
    id: strawberry.ID
    status: LegalRequestStatus
    authority_id: strawberry.ID
    case_reference: str
    court: str
    jurisdiction: str
    legal_basis: str
    offense_category: OffenseCategory
    court_order_sha256: str | None
    fields: list[str]
    data_window: TimeWindowType
    justification: str
    emergency: bool
    legal_process: LegalProcess
    imminent_risk: str | None
    non_disclosure_until: str | None
    verification: EmergencyVerificationType | None
    created_at: str
    rejection_reason: str | None
    order_ids: list[strawberry.ID]
    resolved_subject_ids: list[strawberry.ID] = strawberry.field(
        description="Reviewers only: which subjects the selectors resolved to.")
    unresolved_selectors: int = strawberry.field(description="Reviewers only: selectors that matched no subject.")
    version: int = strawberry.field(description="1 as submitted, one more with each amendment (§17.2).")
    withdrawal_reason: str | None = strawberry.field(description="Why its authority withdrew it (§17.3).")
    request: strawberry.Private[LegalRequest]

    @strawberry.field(description="The clarification thread, oldest first (§17.1).")
    def clarifications(self) -> list[ClarificationType]:
        return clarifications(self.request)

    @strawberry.field(description="Every version, oldest first, the current one last, each with its diff "
                                  "against the one before (§17.2).")
    def versions(self) -> list[RequestVersionType]:
        return request_versions(self.request)


def legal_request(request: LegalRequest) -> LegalRequestType:
    details = request.details
    window = details["data_window"]
    return LegalRequestType(
        id=strawberry.ID(request.id), status=LegalRequestStatus(request.status),
        authority_id=strawberry.ID(request.authority_id), case_reference=details["case_reference"],
        court=details["court"], jurisdiction=details["jurisdiction"], legal_basis=details["legal_basis"],
        offense_category=OffenseCategory(details["offense_category"]),
        court_order_sha256=details.get("court_order_sha256"),
        fields=list(details["fields"]), data_window=TimeWindowType(from_=window["from"], until=window["until"]),
        justification=details["justification"], emergency=bool(details["emergency"]),
        legal_process=LegalProcess(request.legal_process),
        imminent_risk=details.get("imminent_risk"), non_disclosure_until=request.non_disclosure_until,
        verification=_verification(request),
        created_at=_unix(request.created_at), rejection_reason=request.rejection_reason,
        order_ids=[strawberry.ID(i) for i in request.order_ids],
        resolved_subject_ids=[strawberry.ID(i) for i in request.resolved_subject_ids],
        unresolved_selectors=request.unresolved_selectors, version=request.version,
        withdrawal_reason=details.get("withdrawal_reason"), request=request,
    )


def _verification(request: LegalRequest) -> EmergencyVerificationType | None:
    found = request.verification
    if found is None:
        return None
    return EmergencyVerificationType(by=strawberry.ID(str(found["by"])), at=str(found["at"]),
                                     method=str(found["method"]))


def _unix(seconds: int) -> str:
    from datetime import UTC, datetime

    return format_time(datetime.fromtimestamp(seconds, UTC))


def _disclose(info: strawberry.Info, subject: SubjectType, field: str) -> Sealed:
    from gateway.api.graphql.context import RequestContext

    context: RequestContext = info.context
    sealed = context.disclose(str(subject.id), field)
    return Sealed(algorithm=sealed.algorithm, recipient_key_id=sealed.recipient_key_id, ciphertext=sealed.ciphertext)


@strawberry.type(name="Subject", description="A platform user. Every data field is sealed to the authority.")
class SubjectType:
    id: strawberry.ID

    @strawberry.field(description="E.164 phone number, sealed.")
    def phone_number(self, info: strawberry.Info) -> Sealed | None:
        return _disclose(info, self, "phoneNumber")

    @strawberry.field(description="IP address events overlapping the order's data window, sealed.")
    def ip_addresses(self, info: strawberry.Info) -> Sealed | None:
        return _disclose(info, self, "ipAddresses")

    @strawberry.field(description="Devices seen within the order's data window, sealed.")
    def devices(self, info: strawberry.Info) -> Sealed | None:
        return _disclose(info, self, "devices")

    @strawberry.field(description="Usernames held within the order's data window, sealed.")
    def username_history(self, info: strawberry.Info) -> Sealed | None:
        return _disclose(info, self, "usernameHistory")


@strawberry.type(name="EmergencyTerms")
class EmergencyTermsType:
    lapses_at: str
    verified_by: strawberry.ID | None
    verified_at: str | None
    verification_method: str | None
    court_order_sha256: str | None = strawberry.field(description="Attached by the authority, if it was.")


def _emergency(state: OrderState) -> EmergencyTermsType | None:
    terms = state.document.emergency if state.document is not None else None
    if terms is None:
        return None
    court_order = None
    if state.continuation is not None:
        court_order = json.loads(state.continuation)["court_order"]["sha256"]
    return EmergencyTermsType(
        lapses_at=format_time(terms.lapses_at),
        verified_by=strawberry.ID(terms.verified_by) if terms.verified_by else None,
        verified_at=format_time(terms.verified_at) if terms.verified_at else None,
        verification_method=terms.method, court_order_sha256=court_order)


@strawberry.type(name="Order")
class OrderType:
    id: strawberry.ID
    status: OrderStatus
    authority_id: strawberry.ID
    request_id: strawberry.ID
    fields: list[str]
    subject_ids: list[strawberry.ID]
    data_window: TimeWindowType | None
    valid_until: str
    max_queries: int
    queries_used: int
    approvals: int = strawberry.field(description="Approvals that verify now, from distinct active reviewers.")
    approvals_required: int
    revoked_reason: str | None
    document: str = strawberry.field(description="The exact JCS text that approvals sign (docs/PROTOCOL.md §3); "
                                                 "an emergency order's continuation text once a court order is "
                                                 "attached (§16.1).")
    state: strawberry.Private[OrderState]
    emergency: EmergencyTermsType | None = strawberry.field(
        default=None, description="An emergency order's signed terms (docs/PROTOCOL.md §16.1).")
    non_disclosure_until: str | None = None

    @strawberry.field(description="Authority: the order's subjects, for disclosure of permitted fields.")
    def subjects(self, info: strawberry.Info) -> list[SubjectType]:
        from gateway.api.graphql.context import RequestContext

        context: RequestContext = info.context
        return [SubjectType(id=strawberry.ID(subject_id)) for subject_id in context.order_subjects()]


def order_type(state: OrderState, approvals_required: int) -> OrderType:
    raw = state.document.raw if state.document is not None else {}
    window = raw.get("data_window")
    return OrderType(
        id=strawberry.ID(state.id), status=state.status, authority_id=strawberry.ID(state.authority_id),
        request_id=strawberry.ID(state.request_id), fields=list(raw.get("fields", [])),
        subject_ids=[strawberry.ID(s) for s in raw.get("subjects", [])],
        data_window=TimeWindowType(from_=window["from"], until=window["until"]) if window else None,
        valid_until=str(raw.get("valid_until", "")), max_queries=int(raw.get("max_queries", 0)),
        queries_used=state.queries_used, approvals=state.verified_approvals,
        approvals_required=state.approvals_required or approvals_required,
        revoked_reason=state.revoked_reason, document=state.signing_text, state=state,
        emergency=_emergency(state), non_disclosure_until=raw.get("non_disclosure_until"),
    )


# -- the authority's side of a request (docs/PROTOCOL.md §17) -------------------------------------

_WIRE_NAMES = {"subjects": "subjects", "fields": "fields", "data_window": "dataWindow", "legal_basis": "legalBasis",
               "court_order_sha256": "courtOrderSha256", "selector_count": "selectorCount"}


@strawberry.enum(name="ClarificationKind")
class ClarificationKind(Enum):
    QUESTION = "QUESTION"
    ANSWER = "ANSWER"


@strawberry.type(name="Clarification", description="One message of a request's clarification thread: a "
                                                    "reviewer's question or its authority's answer.")
class ClarificationType:
    kind: ClarificationKind
    at: str
    text: str
    version: int = strawberry.field(description="The request version the message was written on; an answer "
                                                "that amended the request names the new one.")
    by: strawberry.ID = strawberry.field(description="Reviewers only: who wrote it.")


@strawberry.type(name="RequestChange", description="One field an amendment changed, its values as JSON text "
                                                   "(selectors themselves are never shown: `subjects` gives counts).")
class RequestChangeType:
    field: str
    before: str | None
    after: str | None


@strawberry.type(name="RequestVersion", description="One version of a request (docs/PROTOCOL.md §17.2).")
class RequestVersionType:
    version: int
    created_at: str
    fields: list[str]
    data_window: TimeWindowType
    legal_basis: str
    court_order_sha256: str | None
    selector_count: int
    changes: list[RequestChangeType] = strawberry.field(
        description="What this version changed against the one before it; empty for the first.")
    resolved_subject_ids: list[strawberry.ID] = strawberry.field(
        description="Reviewers only: which subjects this version's selectors resolved to.")
    unresolved_selectors: int = strawberry.field(description="Reviewers only: this version's selectors that "
                                                             "matched no subject.")
    subjects_added: list[strawberry.ID] = strawberry.field(
        description="Reviewers only: subjects this version names that the one before did not.")
    subjects_removed: list[strawberry.ID] = strawberry.field(
        description="Reviewers only: subjects the version before named that this one does not.")


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def request_versions(request: LegalRequest) -> list[RequestVersionType]:
    """Every version of ``request``, oldest first, each with its diff against the one before."""
    out: list[RequestVersionType] = []
    previous: dict[str, Any] | None = None
    for version in request.versions:
        changes: list[RequestChangeType] = []
        added: list[str] = []
        removed: list[str] = []
        resolved = [str(i) for i in version.get("resolved_subject_ids") or []]
        if previous is not None:
            for name in version.get("changed") or []:
                if name == "subjects":
                    changes.append(RequestChangeType(field="subjects", before=_json(previous["selector_count"]),
                                                     after=_json(version["selector_count"])))
                elif name in _WIRE_NAMES:
                    changes.append(RequestChangeType(field=_WIRE_NAMES[name], before=_json(previous.get(name)),
                                                     after=_json(version.get(name))))
            before = [str(i) for i in previous.get("resolved_subject_ids") or []]
            added = [i for i in resolved if i not in before]
            removed = [i for i in before if i not in resolved]
        window = version["data_window"]
        out.append(RequestVersionType(
            version=int(version["version"]), created_at=str(version.get("at") or _unix(request.created_at)),
            fields=list(version["fields"]), data_window=TimeWindowType(from_=window["from"], until=window["until"]),
            legal_basis=str(version["legal_basis"]), court_order_sha256=version.get("court_order_sha256"),
            selector_count=int(version["selector_count"]), changes=changes,
            resolved_subject_ids=[strawberry.ID(i) for i in resolved],
            unresolved_selectors=int(version.get("unresolved_selectors") or 0),
            subjects_added=[strawberry.ID(i) for i in added], subjects_removed=[strawberry.ID(i) for i in removed]))
        previous = version
    return out


def clarifications(request: LegalRequest) -> list[ClarificationType]:
    return [ClarificationType(kind=ClarificationKind(str(m["kind"])), at=str(m["at"]), text=str(m["text"]),
                              version=int(m["version"]), by=strawberry.ID(str(m["by"])))
            for m in request.clarifications]

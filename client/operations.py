"""The GraphQL operations the principals send (docs/PROTOCOL.md §5), and one function per call.

The operation texts are fixed strings; the only text spliced in at run time is a field name from
:data:`~client.wire.DISCLOSABLE_FIELDS`, checked first. Selector values travel only in variables.
``tests/client/test_wire_names.py`` validates every operation here against ``schema.graphql``.

What an authority may read of its requests leaves out ``resolvedSubjectIds`` and
``unresolvedSelectors``: to an authority they would say who is a user, so only the reviewers'
selection asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from client.errors import ClientError, UsageError
from client.http import ClientResult, GatewayClient
from client.wire import DISCLOSABLE_FIELDS, RequestStatus

__all__ = [
    "AMEND_REQUEST",
    "ANSWER_CLARIFICATION",
    "APPROVE_ORDER",
    "ATTACH_COURT_ORDER",
    "DRAFT_ORDER",
    "EXTEND_PRESERVATION",
    "GRANT_PRESERVATION",
    "LIST_PRESERVATIONS",
    "LIST_REQUESTS",
    "ORDER_BY_ID",
    "ORDER_SELECTION",
    "PRESERVATION_SELECTION",
    "REJECT_PRESERVATION",
    "REJECT_REQUEST",
    "REQUEST_BY_ID",
    "REQUEST_CLARIFICATION",
    "REQUEST_EVENTS",
    "REQUEST_SELECTION",
    "REVIEW_LIST_REQUESTS",
    "REVIEW_PRESERVATION_SELECTION",
    "REVIEW_REQUEST_BY_ID",
    "REVIEW_SELECTION",
    "REVOKE_ORDER",
    "SUBMIT_PRESERVATION",
    "SUBMIT_REQUEST",
    "VERIFY_EMERGENCY",
    "WITHDRAW_REQUEST",
    "QueryTarget",
    "amend_request",
    "answer_clarification",
    "approve_order",
    "attach_court_order",
    "disclosure_query",
    "draft_order",
    "extend_preservation",
    "get_order",
    "get_request",
    "grant_preservation",
    "list_preservations",
    "list_requests",
    "reject_preservation",
    "reject_request",
    "request_clarification",
    "request_events",
    "revoke_order",
    "send_query",
    "static_operations",
    "submit_preservation",
    "submit_request",
    "verify_emergency",
    "withdraw_request",
]

# -- selections -----------------------------------------------------------------------------------

REQUEST_SELECTION: Final = ("id status authorityId caseReference court jurisdiction legalBasis offenseCategory "
                            "courtOrderSha256 fields dataWindow { from until } justification emergency createdAt "
                            "rejectionReason orderIds imminentRisk nonDisclosureUntil version withdrawalReason "
                            "clarifications { kind at text version } versions { version createdAt fields "
                            "dataWindow { from until } legalBasis courtOrderSha256 selectorCount "
                            "changes { field before after } }")
# Who asked, and what each version resolved to, answer reviewers only (docs/PROTOCOL.md §17).
REVIEW_SELECTION: Final = (REQUEST_SELECTION + " resolvedSubjectIds unresolvedSelectors verification { by at method }"
                           " clarifications { by } versions { subjectsAdded subjectsRemoved }")
ORDER_SELECTION: Final = ("id status authorityId requestId fields subjectIds dataWindow { from until } validUntil "
                          "maxQueries queriesUsed approvals approvalsRequired revokedReason document")
PRESERVATION_SELECTION: Final = ("id status authorityId country caseReference jurisdiction legalBasis "
                                 "requestedUntil grantedUntil extended active rejectionReason createdAt")
REVIEW_PRESERVATION_SELECTION: Final = PRESERVATION_SELECTION + " subjectIds unresolvedSelectors"
_SEALED: Final = "{ algorithm recipientKeyId ciphertext }"


def _requests(selection: str) -> str:
    return f"query Requests($status: RequestStatus) {{ requests(status: $status) {{ {selection} }} }}"


def _request_by_id(selection: str) -> str:
    return f"query RequestById($id: ID!) {{ requestById(id: $id) {{ {selection} }} }}"


# -- an authority's operations --------------------------------------------------------------------

SUBMIT_REQUEST: Final = ("mutation SubmitRequest($input: LegalRequestInput!) "
                         f"{{ submitRequest(input: $input) {{ {REQUEST_SELECTION} }} }}")
LIST_REQUESTS: Final = _requests(REQUEST_SELECTION)
REQUEST_BY_ID: Final = _request_by_id(REQUEST_SELECTION)
ATTACH_COURT_ORDER: Final = ("mutation AttachCourtOrder($requestId: ID!, $hash: String!) "
                             "{ attachCourtOrder(requestId: $requestId, courtOrderSha256: $hash) "
                             f"{{ {REQUEST_SELECTION} }} }}")
ANSWER_CLARIFICATION: Final = ("mutation AnswerClarification($requestId: ID!, $answer: String!, "
                               "$amendment: AmendmentInput) { answerClarification(requestId: $requestId, "
                               f"answer: $answer, amendment: $amendment) {{ {REQUEST_SELECTION} }} }}")
AMEND_REQUEST: Final = ("mutation AmendRequest($requestId: ID!, $amendment: AmendmentInput!) "
                        f"{{ amendRequest(requestId: $requestId, amendment: $amendment) {{ {REQUEST_SELECTION} }} }}")
WITHDRAW_REQUEST: Final = ("mutation WithdrawRequest($requestId: ID!, $reason: String!) "
                           f"{{ withdrawRequest(requestId: $requestId, reason: $reason) {{ {REQUEST_SELECTION} }} }}")
REQUEST_EVENTS: Final = ("query RequestEvents($after: String, $limit: Int) { requestEvents(after: $after, "
                         "limit: $limit) { cursor events { id type timestamp requestId orderId state cursor } } }")
SUBMIT_PRESERVATION: Final = ("mutation SubmitPreservation($input: PreservationInput!) "
                              f"{{ submitPreservation(input: $input) {{ {PRESERVATION_SELECTION} }} }}")
EXTEND_PRESERVATION: Final = ("mutation ExtendPreservation($id: ID!, $until: String!) "
                              f"{{ extendPreservation(id: $id, until: $until) {{ {PRESERVATION_SELECTION} }} }}")

# -- a reviewer's operations ----------------------------------------------------------------------

REVIEW_LIST_REQUESTS: Final = _requests(REVIEW_SELECTION)
REVIEW_REQUEST_BY_ID: Final = _request_by_id(REVIEW_SELECTION)
ORDER_BY_ID: Final = f"query OrderById($id: ID!) {{ orderById(id: $id) {{ {ORDER_SELECTION} }} }}"
DRAFT_ORDER: Final = ("mutation DraftOrder($input: DraftOrderInput!) "
                      f"{{ draftOrder(input: $input) {{ {ORDER_SELECTION} }} }}")
APPROVE_ORDER: Final = ("mutation ApproveOrder($orderId: ID!, $signature: String!) "
                        f"{{ approveOrder(orderId: $orderId, signature: $signature) {{ {ORDER_SELECTION} }} }}")
REJECT_REQUEST: Final = ("mutation RejectRequest($requestId: ID!, $reason: String!) "
                         f"{{ rejectRequest(requestId: $requestId, reason: $reason) {{ {REVIEW_SELECTION} }} }}")
REVOKE_ORDER: Final = ("mutation RevokeOrder($orderId: ID!, $reason: String!) "
                       f"{{ revokeOrder(orderId: $orderId, reason: $reason) {{ {ORDER_SELECTION} }} }}")
VERIFY_EMERGENCY: Final = ("mutation VerifyEmergency($requestId: ID!, $method: VerificationMethod!, $note: String!) "
                           "{ verifyEmergency(requestId: $requestId, method: $method, note: $note) "
                           f"{{ {REVIEW_SELECTION} }} }}")
REQUEST_CLARIFICATION: Final = ("mutation RequestClarification($requestId: ID!, $question: String!) "
                                "{ requestClarification(requestId: $requestId, question: $question) "
                                f"{{ {REVIEW_SELECTION} }} }}")
LIST_PRESERVATIONS: Final = ("query Preservations($status: PreservationStatus) "
                             f"{{ preservations(status: $status) {{ {REVIEW_PRESERVATION_SELECTION} }} "
                             "preservationCounts { country pending granted rejected active extended } }")
GRANT_PRESERVATION: Final = ("mutation GrantPreservation($id: ID!) "
                             f"{{ grantPreservation(id: $id) {{ {REVIEW_PRESERVATION_SELECTION} }} }}")
REJECT_PRESERVATION: Final = ("mutation RejectPreservation($id: ID!, $reason: String!) "
                              f"{{ rejectPreservation(id: $id, reason: $reason) "
                              f"{{ {REVIEW_PRESERVATION_SELECTION} }} }}")


def static_operations() -> dict[str, str]:
    """Every fixed operation text of this module by its name (what the wire-name test validates)."""
    return {name: value for name, value in globals().items()
            if name.isupper() and isinstance(value, str) and value.startswith(("query ", "mutation "))}


# -- calls (also what `gateway demo run` makes) ---------------------------------------------------


def _call(client: GatewayClient, operation: str, variables: Mapping[str, Any], field: str, *,
          missing: str | None = None) -> dict[str, Any]:
    """The object ``field`` of the answer; a null one (a lookup of what the gateway does not show) is a
    :class:`ClientError` saying ``missing``."""
    found = client.execute(operation, variables).data[field]
    if found is None:
        raise ClientError(missing or f"the gateway answered no {field}")
    return dict(found)


def submit_request(client: GatewayClient, request: Mapping[str, Any]) -> dict[str, Any]:
    """``submitRequest``; the new request as the gateway returns it."""
    return _call(client, SUBMIT_REQUEST, {"input": dict(request)}, "submitRequest")


def request_events(client: GatewayClient, after: str | None, limit: int = 100) -> dict[str, Any]:
    """``requestEvents``: the authority's events after the cursor ``after`` (None: from the start),
    oldest first, and the cursor to continue from (docs/PROTOCOL.md §17.4)."""
    return _call(client, REQUEST_EVENTS, {"after": after, "limit": limit}, "requestEvents")


def list_requests(client: GatewayClient, status: RequestStatus | None = None, *,
                  reviewer: bool = False) -> list[dict[str, Any]]:
    """``requests``: an authority's own; a reviewer's (``reviewer=True``: with what resolved), all of them."""
    variables = {"status": str(status)} if status is not None else {}
    operation = REVIEW_LIST_REQUESTS if reviewer else LIST_REQUESTS
    return [dict(r) for r in client.execute(operation, variables).data["requests"]]


def get_request(client: GatewayClient, request_id: str, *, reviewer: bool = False) -> dict[str, Any]:
    """``requestById``: one of an authority's own requests, or any request for a reviewer; raises
    :class:`ClientError` when the gateway shows no such request."""
    return _call(client, REVIEW_REQUEST_BY_ID if reviewer else REQUEST_BY_ID, {"id": request_id}, "requestById",
                 missing=f"the gateway has no request {request_id}")


def attach_court_order(client: GatewayClient, request_id: str, court_order_sha256: str) -> dict[str, Any]:
    return _call(client, ATTACH_COURT_ORDER, {"requestId": request_id, "hash": court_order_sha256},
                 "attachCourtOrder")


def verify_emergency(client: GatewayClient, request_id: str, method: str, note: str) -> dict[str, Any]:
    return _call(client, VERIFY_EMERGENCY, {"requestId": request_id, "method": method, "note": note},
                 "verifyEmergency")


def answer_clarification(client: GatewayClient, request_id: str, answer: str,
                         amendment: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``answerClarification``: answer the open question on one's own request, amending it if given."""
    return _call(client, ANSWER_CLARIFICATION, {"requestId": request_id, "answer": answer,
                                                "amendment": dict(amendment) if amendment else None},
                 "answerClarification")


def amend_request(client: GatewayClient, request_id: str, amendment: Mapping[str, Any]) -> dict[str, Any]:
    """``amendRequest``: a new version of one's own request (``AmendmentInput`` variables)."""
    return _call(client, AMEND_REQUEST, {"requestId": request_id, "amendment": dict(amendment)}, "amendRequest")


def withdraw_request(client: GatewayClient, request_id: str, reason: str) -> dict[str, Any]:
    """``withdrawRequest``: withdraw one's own request; every order of it is revoked."""
    return _call(client, WITHDRAW_REQUEST, {"requestId": request_id, "reason": reason}, "withdrawRequest")


def request_clarification(client: GatewayClient, request_id: str, question: str) -> dict[str, Any]:
    """``requestClarification`` (reviewer): ask a PENDING request's authority a question."""
    return _call(client, REQUEST_CLARIFICATION, {"requestId": request_id, "question": question},
                 "requestClarification")


def get_order(client: GatewayClient, order_id: str) -> dict[str, Any]:
    """``orderById``; raises :class:`ClientError` when the gateway knows no such order."""
    return _call(client, ORDER_BY_ID, {"id": order_id}, "orderById", missing=f"the gateway has no order {order_id}")


def draft_order(client: GatewayClient, draft: Mapping[str, Any]) -> dict[str, Any]:
    return _call(client, DRAFT_ORDER, {"input": dict(draft)}, "draftOrder")


def approve_order(client: GatewayClient, order_id: str, signature: str) -> dict[str, Any]:
    return _call(client, APPROVE_ORDER, {"orderId": order_id, "signature": signature}, "approveOrder")


def reject_request(client: GatewayClient, request_id: str, reason: str) -> dict[str, Any]:
    return _call(client, REJECT_REQUEST, {"requestId": request_id, "reason": reason}, "rejectRequest")


def revoke_order(client: GatewayClient, order_id: str, reason: str) -> dict[str, Any]:
    return _call(client, REVOKE_ORDER, {"orderId": order_id, "reason": reason}, "revokeOrder")


def submit_preservation(client: GatewayClient, hold: Mapping[str, Any]) -> dict[str, Any]:
    return _call(client, SUBMIT_PRESERVATION, {"input": dict(hold)}, "submitPreservation")


def extend_preservation(client: GatewayClient, hold_id: str, until: str) -> dict[str, Any]:
    return _call(client, EXTEND_PRESERVATION, {"id": hold_id, "until": until}, "extendPreservation")


def grant_preservation(client: GatewayClient, hold_id: str) -> dict[str, Any]:
    return _call(client, GRANT_PRESERVATION, {"id": hold_id}, "grantPreservation")


def reject_preservation(client: GatewayClient, hold_id: str, reason: str | None) -> dict[str, Any]:
    return _call(client, REJECT_PRESERVATION, {"id": hold_id, "reason": reason}, "rejectPreservation")


def list_preservations(client: GatewayClient, status: str | None) -> dict[str, Any]:
    """``preservations`` and ``preservationCounts`` (a reviewer's)."""
    return client.execute(LIST_PRESERVATIONS, {"status": status} if status else {}).data


# -- the disclosure query -------------------------------------------------------------------------

TargetKind = Literal["id", "phoneNumber", "username"]


@dataclass(frozen=True)
class QueryTarget:
    """Which subject(s) a disclosure query asks for: one by ``id``, ``phoneNumber`` or ``username``
    (a ``SubjectSelector``), or ``all`` of the order's."""

    kind: TargetKind | Literal["all"]
    value: str | None = None

    @classmethod
    def from_options(cls, *, subject_id: str | None, phone: str | None, username: str | None,
                     all_subjects: bool) -> QueryTarget:
        options: tuple[tuple[TargetKind, str | None], ...] = (
            ("id", subject_id), ("phoneNumber", phone), ("username", username))
        given = [(kind, value) for kind, value in options if value]
        if len(given) + int(all_subjects) != 1:
            raise UsageError("choose the subject with exactly one of --subject-id, --phone, --username or --all")
        if all_subjects:
            return cls("all")
        kind, value = given[0]
        return cls(kind, value)


def disclosure_query(target: QueryTarget, fields: Sequence[str]) -> tuple[str, dict[str, Any] | None]:
    """The operation and its variables. Raises :class:`UsageError` for a field outside §5."""
    for field in fields:
        if field not in DISCLOSABLE_FIELDS:  # the only text spliced into the query: checked first
            raise UsageError(f"unknown field {field!r}; choose from {', '.join(DISCLOSABLE_FIELDS)}")
    if not fields:
        raise UsageError("name at least one field with --fields")
    selection = " ".join(f"{field} {_SEALED}" for field in fields)
    if target.kind == "all":
        return f"query Disclose {{ order {{ id subjectIds subjects {{ id {selection} }} }} }}", None
    return (f"query Disclose($by: SubjectSelector!) {{ subject(by: $by) {{ id {selection} }} }}",
            {"by": {target.kind: target.value}})


def send_query(client: GatewayClient, *, order_id: str, selector: QueryTarget, fields: Sequence[str]) -> ClientResult:
    """Send the disclosure query with ``ord`` = ``order_id``. Raises the client's errors."""
    operation, variables = disclosure_query(selector, fields)
    return client.execute(operation, variables, order_id=order_id)

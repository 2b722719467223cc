"""`gateway review …`: the platform's reviewers read requests, draft orders that narrow them, and
approve, reject or revoke (docs/PROTOCOL.md §3, §5). Reviewers never receive subject data.

An approval is signed here, with the reviewer's own key file, over
``"disclosure-gateway/order/v1" || 0x00 || document``, where ``document`` is the exact JCS text
the gateway returned, after showing it to the reviewer. The text is signed only if it is one
strict JSON object in canonical form naming the order asked for, so what was shown (parsed) and
what is signed (bytes) cannot differ.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from nacl.signing import SigningKey
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from client import operations
from client.cli import groups
from client.cli.common import (
    client_command,
    connect,
    console,
    err_console,
    fail,
    is_interactive,
    key_table,
    print_json,
)
from client.cli.group import Group
from client.cli.options import (
    DEFAULT_URL,
    CaCertOption,
    IdOption,
    KeyOption,
    UrlOption,
    fields_option,
    split_list,
    time_option,
)
from client.cli.tables import Col, print_table
from client.cli.views import add_list_and_show, preservation_rows, print_request
from client.cli.words import plain, plural
from client.errors import ClientError, UsageError
from client.keyfiles import signing_key_for
from client.operations import (
    approve_order,
    draft_order,
    get_order,
    get_request,
    grant_preservation,
    list_preservations,
    reject_preservation,
    reject_request,
    request_clarification,
    revoke_order,
)
from client.wire import PreservationStatus, VerificationMethod
from crypto.canonical import canonical_json, parse_json_object
from crypto.encoding import B64
from crypto.errors import CryptoError
from crypto.keys import key_id
from crypto.signing import ORDER_DOMAIN, sign_over

__all__ = [
    "app",
    "approval_signature",
    "checked_document",
    "document_rows",
    "draft_input",
    "order_rows",
    "order_summary",
]

app = typer.Typer(help=groups.REVIEW, cls=Group, no_args_is_help=True)


# -- what a command sends and signs (also what `gateway demo run` calls) ------------------------


def draft_input(request_id: str, *, valid_until: str, max_queries: int, subject_ids: list[str] | None = None,
                fields: list[str] | None = None, window_from: str | None = None,
                window_until: str | None = None) -> dict[str, Any]:
    """``DraftOrderInput``; what is left out is taken whole from the request (docs/PROTOCOL.md §5)."""
    if (window_from is None) != (window_until is None):
        raise UsageError("give both --from and --until to narrow the data window, or neither to keep the "
                         "request's")
    time_option(valid_until, "--valid-until")
    if window_from is not None and window_until is not None:
        time_option(window_from, "--from")
        time_option(window_until, "--until")
    draft: dict[str, Any] = {"requestId": request_id, "validUntil": valid_until, "maxQueries": max_queries}
    if subject_ids:
        draft["subjectIds"] = subject_ids
    if fields:
        draft["fields"] = fields
    if window_from is not None:
        draft["dataWindow"] = {"from": window_from, "until": window_until}
    return draft


def checked_document(order: Mapping[str, Any], order_id: str) -> dict[str, Any]:
    """The order's document, parsed, once it is safe to sign its text: strict JSON (no duplicate
    keys, which a display would show one way and a verifier read another), exactly canonical, and
    about ``order_id``. Raises :class:`ClientError` otherwise."""
    text = order.get("document")
    if not isinstance(text, str):
        raise ClientError(f"the gateway returned no document for order {order_id}")
    try:
        document = parse_json_object(text, what="order document")
        canonical = canonical_json(document).decode("utf-8") == text
    except CryptoError as exc:
        raise ClientError(f"the document of order {order_id} is not one strict JSON object ({exc.message}); "
                          "refusing to sign it") from None
    if not canonical:
        raise ClientError(f"the document of order {order_id} is not in RFC 8785 canonical form; refusing to sign it")
    if document.get("order_id") != order_id:
        raise ClientError(f"the document returned for order {order_id} names another order; refusing to sign it")
    return document


def approval_signature(document_text: str, signing_key: SigningKey) -> B64:
    """Base64 Ed25519 signature over ``ORDER_DOMAIN || 0x00 || document_text`` (docs/PROTOCOL.md §3)."""
    return sign_over(ORDER_DOMAIN, document_text.encode("utf-8"), signing_key)


# -- rendering ------------------------------------------------------------------------------------


def document_rows(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every key of an order document as a readable row; nothing is left out, since this is what
    the reviewer is about to sign."""
    rows: list[tuple[str, str]] = []
    for name, value in document.items():
        if isinstance(value, list):
            text = "\n".join(str(v) for v in value) if value else "(none)"
        elif isinstance(value, dict) and set(value) == {"from", "until"}:
            text = f"{value['from']} → {value['until']} (until exclusive)"
        elif isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)
        else:
            text = json.dumps(value, ensure_ascii=False)
        rows.append((name, text))
    return rows


def _approvals(order: Mapping[str, Any]) -> str:
    required = order.get("approvalsRequired")
    return (f"{plain(order.get('approvals'))} of {plural(required, 'approval')}" if isinstance(required, int)
            else f"{plain(order.get('approvals'))} of {plain(required)} approvals")


def _queries(order: Mapping[str, Any]) -> str:
    most = order.get("maxQueries")
    counted = plural(most, "query", "queries") if isinstance(most, int) else f"{plain(most)} queries"
    return f"{plain(order.get('queriesUsed'))} of {counted} used"


def order_summary(order: Mapping[str, Any]) -> str:
    return f"order {plain(order.get('id'))}: {plain(order.get('status'))} ({_approvals(order)}; {_queries(order)})"


def order_rows(order: Mapping[str, Any]) -> list[tuple[str, str]]:
    window = order.get("dataWindow") or {}
    rows = [
        ("order", plain(order.get("id"))), ("status", plain(order.get("status"))),
        ("approvals", f"{plain(order.get('approvals'))} of {plain(order.get('approvalsRequired'))} required"),
        ("request", plain(order.get("requestId"))), ("authority", plain(order.get("authorityId"))),
        ("fields", plain(order.get("fields"))),
        ("subjects", "\n".join(order.get("subjectIds") or []) or "(none)"),
        ("data window", f"{plain(window.get('from'), empty='?')} → {plain(window.get('until'), empty='?')}"),
        ("valid until", plain(order.get("validUntil"))),
        ("queries", _queries(order)),
    ]
    if order.get("revokedReason"):
        rows.append(("revoked because", plain(order["revokedReason"])))
    return rows


# -- commands -------------------------------------------------------------------------------------


add_list_and_show(app, reviewer=True,
                  list_help="List legal requests, with how many of their selectors resolved to subjects.",
                  show_help="Show a request, the subject ids its selectors resolved to and how many did not resolve.",
                  id_metavar="REQUEST_ID")


@app.command("draft")
@client_command
def draft(
    request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID")],
    principal_id: IdOption,
    key: KeyOption,
    valid_until: Annotated[str, typer.Option(help="when the order lapses, RFC 3339", show_default=False)],
    max_queries: Annotated[int, typer.Option(min=1, help="how many disclosing queries it allows",
                                             show_default=False)],
    subject_id: Annotated[list[str] | None, typer.Option(help="keep only these subjects (repeatable)")] = None,
    fields: Annotated[list[str] | None, typer.Option("--fields", help="keep only these fields (comma-separated)")]
    = None,
    window_from: Annotated[str | None, typer.Option("--from", help="narrower data window start")] = None,
    window_until: Annotated[str | None, typer.Option("--until", help="narrower data window end")] = None,
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the draft order as JSON")] = False,
) -> None:
    """Draft an order for a request: the same or narrower subjects, fields and window, never wider."""
    variables = draft_input(request_id, valid_until=valid_until, max_queries=max_queries,
                            subject_ids=split_list(subject_id), fields=fields_option(fields),
                            window_from=window_from, window_until=window_until)
    with connect(url, principal_id, key, cacert=cacert) as client:
        request = get_request(client, request_id, reviewer=True)
        if request.get("emergency") and not request.get("verification"):
            # The gateway would store such a draft, but no approval of it can ever count (§16.1).
            fail(f"request {request_id} is an emergency without a secondary verification yet, and no approval "
                 "of an order drafted before it counts; record it first with `gateway review verify-emergency "
                 f"{request_id} --method … --note …`, then draft")
        order = draft_order(client, variables)
    if as_json:
        print_json(order)
        return
    needs = order["approvalsRequired"]
    needs_text = plural(needs, "approval") if isinstance(needs, int) else f"{plain(needs)} approvals"
    console.print(f"drafted [bold]{escape(str(order['id']))}[/] ({escape(str(order['status']))}); it needs "
                  f"{escape(needs_text)} by distinct reviewers", markup=True)
    console.print(key_table(order_rows(order)))
    console.print(f"next: gateway review approve {escape(str(order['id']))} --id <reviewer> --key <prefix>",
                  markup=True, style="dim")


def _show_for_approval(order: Mapping[str, Any], document: Mapping[str, Any], signing_key: SigningKey, *,
                       to: Console = console) -> None:
    to.print(key_table(document_rows(document), title=f"order document {order.get('id')} — this is what you sign"))
    to.print(Text(f"status now: {plain(order.get('status'))} ({_approvals(order)}); "
                       f"signing key {key_id(signing_key.verify_key)}"))


@app.command("approve")
@client_command
def approve(
    order_id: Annotated[str, typer.Argument(metavar="ORDER_ID")],
    principal_id: IdOption,
    key: KeyOption,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="approve without asking (for scripts)")] = False,
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the approved order as JSON (the document "
                                                         "shown before asking goes to stderr)")] = False,
) -> None:
    """Show an order's document, ask, sign it locally with your key file and submit the approval."""
    signing_key = signing_key_for(key)
    if not yes and not is_interactive():
        fail("stdin is not a terminal, so there is no one to ask; pass --yes to approve without a prompt")
    with connect(url, principal_id, key, cacert=cacert) as client:
        order = get_order(client, order_id)
        document = checked_document(order, order_id)
        # With --json, stdout carries nothing but the JSON; what is signed is still shown first.
        _show_for_approval(order, document, signing_key, to=err_console if as_json else console)
        if not yes and not typer.confirm(f"Approve order {order_id} with your signature?", default=False):
            fail("not approved; nothing was sent", code=1)
        approved = approve_order(client, order_id, approval_signature(order["document"], signing_key))
    if as_json:
        print_json(approved)
        return
    console.print(f"approved: {order_summary(approved)}", markup=False)
    if _verified_by(document) == principal_id:
        console.print("your approval is recorded but does not count toward activation: you recorded this "
                      "emergency's secondary verification, and an emergency order needs approvals from reviewers "
                      "other than its verifier (docs/PROTOCOL.md §16.1)", markup=False)


def _verified_by(document: Mapping[str, Any]) -> object:
    """Who recorded the secondary verification of an emergency order's document (None otherwise)."""
    emergency = document.get("emergency")
    verification = emergency.get("verification") if isinstance(emergency, dict) else None
    return verification.get("by") if isinstance(verification, dict) else None


@app.command("reject")
@client_command
def reject(
    request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID")],
    principal_id: IdOption,
    key: KeyOption,
    reason: Annotated[str, typer.Option(help="why; the authority sees it", show_default=False)],
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
) -> None:
    """Reject a pending request, with a reason."""
    with connect(url, principal_id, key, cacert=cacert) as client:
        rejected = reject_request(client, request_id, reason)
    console.print(f"request {rejected['id']}: {rejected['status']}", markup=False)


@app.command("clarify")
@client_command
def clarify(
    request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID")],
    principal_id: IdOption,
    key: KeyOption,
    question: Annotated[str, typer.Option(help="what the authority should clarify; it sees the question",
                                          show_default=False)],
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
) -> None:
    """Ask a pending request's authority for clarification; the request waits for its answer."""
    with connect(url, principal_id, key, cacert=cacert) as client:
        asked = request_clarification(client, request_id, question)
    console.print(f"request {asked['id']}: {asked['status']}", markup=False)


@app.command("revoke")
@client_command
def revoke(
    order_id: Annotated[str, typer.Argument(metavar="ORDER_ID")],
    principal_id: IdOption,
    key: KeyOption,
    reason: Annotated[str, typer.Option(help="why; recorded with the order", show_default=False)],
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
) -> None:
    """Revoke an order; it takes effect on the next request."""
    with connect(url, principal_id, key, cacert=cacert) as client:
        revoked = revoke_order(client, order_id, reason)
    console.print(order_summary(revoked), markup=False)


@app.command("order")
@client_command
def order(
    order_id: Annotated[str, typer.Argument(metavar="ORDER_ID")],
    principal_id: IdOption,
    key: KeyOption,
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show an order's status, computed by the gateway now from its verified approvals."""
    with connect(url, principal_id, key, cacert=cacert) as client:
        found = get_order(client, order_id)
    if as_json:
        print_json(found)
        return
    console.print(key_table(order_rows(found)))


@app.command("verify-emergency")
@client_command
def verify_emergency(
    request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID")],
    principal_id: IdOption,
    key: KeyOption,
    method: Annotated[VerificationMethod, typer.Option(case_sensitive=False, show_default=False,
                                                       help="how you reached the authority back")],
    note: Annotated[str, typer.Option(help="whom you reached and how; stored encrypted", show_default=False)],
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the request as JSON")] = False,
) -> None:
    """Record an emergency request's secondary verification, before anyone drafts or approves its
    order. Reach the authority through a channel you did not take from the request itself."""
    with connect(url, principal_id, key, cacert=cacert) as client:
        found = operations.verify_emergency(client, request_id, str(method), note)
    print_request(found, as_json=as_json,
                  message=f"verification recorded for {escape(str(found['id']))}; orders drafted from now carry it, "
                          "and another reviewer's approval activates them")


@app.command("preservations")
@client_command
def preservations(
    principal_id: IdOption,
    key: KeyOption,
    status: Annotated[PreservationStatus | None, typer.Option(case_sensitive=False, help="only this status")] = None,
    grant: Annotated[str | None, typer.Option(metavar="PRESERVATION_ID", help="grant this pending hold")] = None,
    reject: Annotated[str | None, typer.Option(metavar="PRESERVATION_ID", help="reject this pending hold")] = None,
    reason: Annotated[str | None, typer.Option(help="with --reject: why; the authority sees it")] = None,
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List preservation requests and the counts per country; --grant or --reject one."""
    if grant is not None and reject is not None:
        raise UsageError("give at most one of --grant and --reject")
    if reject is not None and not reason:
        raise UsageError("--reject needs a --reason")
    with connect(url, principal_id, key, cacert=cacert) as client:
        if grant is not None:
            decided: dict[str, Any] | None = grant_preservation(client, grant)
        elif reject is not None:
            decided = reject_preservation(client, reject, reason)
        else:
            decided = None
        listing = list_preservations(client, str(status) if status else None)
    if as_json:
        print_json({"decided": decided, "preservations": listing["preservations"],
                    "counts": listing["preservationCounts"]} if decided else
                   {"preservations": listing["preservations"], "counts": listing["preservationCounts"]})
        return
    if decided is not None:
        console.print(key_table(preservation_rows(decided)))
    for hold in listing["preservations"]:
        console.print(key_table(preservation_rows(hold)))
    names = ("country", "pending", "granted", "rejected", "active", "extended")
    print_table(console, [Col(name, whole=name == "country") for name in names],
                [[plain(row.get(name)) for name in names] for row in listing["preservationCounts"]],
                title="preservation requests per country")

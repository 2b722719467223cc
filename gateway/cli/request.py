"""`gateway request …`: an authority submits legal requests and follows them (docs/PROTOCOL.md §5).

The court order itself never leaves the authority: only its SHA-256, computed here, is sent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from gateway.cli.common import console, print_json
from gateway.cli.remote import (
    DEFAULT_URL,
    IdOption,
    KeyOption,
    UrlOption,
    client_command,
    connect,
    fields_option,
    key_table,
)
from gateway.client import GatewayClient
from gateway.errors import OperatorError
from gateway.orders import LegalProcess, OffenseCategory, RequestStatus

__all__ = [
    "LIST_REQUESTS",
    "REQUEST_BY_ID",
    "SUBMIT_REQUEST",
    "OffenseCategory",
    "RequestStatus",
    "app",
    "court_order_sha256",
    "get_request",
    "list_requests",
    "request_input",
    "request_rows",
    "submit_request",
]

app = typer.Typer(help="Authorities: submit legal requests and follow their review.", no_args_is_help=True)

# What an authority may read of its requests; resolvedSubjectIds and unresolvedSelectors are for
# reviewers only (to an authority they would say who is a user), so they are never asked for here.
REQUEST_SELECTION = ("id status authorityId caseReference court jurisdiction legalBasis offenseCategory "
                     "courtOrderSha256 fields dataWindow { from until } justification emergency createdAt "
                     "rejectionReason orderIds imminentRisk nonDisclosureUntil")
SUBMIT_REQUEST = ("mutation SubmitRequest($input: LegalRequestInput!) "
                  f"{{ submitRequest(input: $input) {{ {REQUEST_SELECTION} }} }}")
LIST_REQUESTS = f"query Requests($status: RequestStatus) {{ requests(status: $status) {{ {REQUEST_SELECTION} }} }}"
REQUEST_BY_ID = f"query RequestById($id: ID!) {{ requestById(id: $id) {{ {REQUEST_SELECTION} }} }}"

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")



# -- operations (also what `gateway demo run` calls) ------------------------------------------------


def court_order_sha256(path: Path) -> str:
    """Lowercase hex SHA-256 of the court order file, read in chunks. Raises :class:`OperatorError`."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise OperatorError(f"cannot read the court order {path}: {exc.strerror or type(exc).__name__}") from None
    return digest.hexdigest()


def request_input(*, case_reference: str, court: str, jurisdiction: str, legal_basis: str,
                  offense_category: OffenseCategory | str, court_order_digest: str | None, phones: list[str],
                  usernames: list[str], subject_ids: list[str], fields: list[str], window_from: str,
                  window_until: str, justification: str, emergency: bool = False,
                  legal_process: LegalProcess | str = LegalProcess.COURT_ORDER,
                  imminent_risk: str | None = None, non_disclosure_until: str | None = None) -> dict[str, Any]:
    """The ``LegalRequestInput`` variables. Raises :class:`OperatorError` for no subjects or a bad
    digest; an emergency may come without a court order but not without its imminent risk."""
    if court_order_digest is not None and not _SHA256_HEX.fullmatch(court_order_digest):
        raise OperatorError("--court-order-sha256 must be 64 hex characters")
    if court_order_digest is None and not emergency:
        raise OperatorError("give the court order as --court-order FILE or --court-order-sha256 HEX; only an "
                            "--emergency request may come without one")
    if emergency and not imminent_risk:
        raise OperatorError("an --emergency request needs --imminent-risk: the risk of death or serious injury")
    subjects = ([{"phoneNumber": p} for p in phones] + [{"username": u} for u in usernames]
                + [{"id": s} for s in subject_ids])
    if not subjects:
        raise OperatorError("name at least one subject with --phone, --username or --subject-id")
    return {
        "caseReference": case_reference, "court": court, "jurisdiction": jurisdiction, "legalBasis": legal_basis,
        "offenseCategory": str(OffenseCategory(str(offense_category).upper())),
        "courtOrderSha256": court_order_digest.lower() if court_order_digest else None, "subjects": subjects,
        "fields": fields, "dataWindow": {"from": window_from, "until": window_until},
        "justification": justification, "emergency": emergency,
        "legalProcess": str(LegalProcess(str(legal_process).upper())), "imminentRisk": imminent_risk,
        "nonDisclosureUntil": non_disclosure_until,
    }


def submit_request(client: GatewayClient, request: Mapping[str, Any]) -> dict[str, Any]:
    """``submitRequest``; the new request as the gateway returns it."""
    return dict(client.execute(SUBMIT_REQUEST, {"input": dict(request)}).data["submitRequest"])


def list_requests(client: GatewayClient, status: RequestStatus | None = None) -> list[dict[str, Any]]:
    """``requests``: an authority's own; a reviewer's, all of them."""
    variables = {"status": str(status)} if status is not None else {}
    return [dict(r) for r in client.execute(LIST_REQUESTS, variables).data["requests"]]


def get_request(client: GatewayClient, request_id: str) -> dict[str, Any]:
    """``requestById``: one of an authority's own requests."""
    return dict(client.execute(REQUEST_BY_ID, {"id": request_id}).data["requestById"])


# -- rendering ------------------------------------------------------------------------------------


def _window(request: Mapping[str, Any]) -> str:
    window = request.get("dataWindow") or {}
    return f"{window.get('from', '?')} → {window.get('until', '?')}"


def request_rows(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label/value rows of a request, in reading order; reviewers' fields when present."""
    rows = [
        ("request", str(request.get("id"))), ("status", str(request.get("status"))),
        ("authority", str(request.get("authorityId"))), ("case reference", str(request.get("caseReference"))),
        ("court", str(request.get("court"))), ("jurisdiction", str(request.get("jurisdiction"))),
        ("legal basis", str(request.get("legalBasis"))), ("offense", str(request.get("offenseCategory"))),
        ("court order sha256", str(request.get("courtOrderSha256"))),
        ("fields", ", ".join(request.get("fields") or [])), ("data window", _window(request)),
        ("justification", str(request.get("justification"))),
        ("emergency", "yes" if request.get("emergency") else "no"), ("submitted", str(request.get("createdAt"))),
    ]
    if request.get("imminentRisk"):
        rows.append(("imminent risk", str(request["imminentRisk"])))
    if request.get("nonDisclosureUntil"):
        rows.append(("no notice to the user before", str(request["nonDisclosureUntil"])))
    if request.get("verification"):
        found = request["verification"]
        rows.append(("secondary verification", f"{found.get('method')} by {found.get('by')} at {found.get('at')}"))
    if request.get("rejectionReason"):
        rows.append(("rejected because", str(request["rejectionReason"])))
    if "resolvedSubjectIds" in request:
        resolved = request.get("resolvedSubjectIds") or []
        rows.append(("resolved subjects", "\n".join(resolved) if resolved else "(none)"))
        rows.append(("unresolved selectors", str(request.get("unresolvedSelectors"))))
    rows.append(("orders", "\n".join(request.get("orderIds") or []) or "(none yet)"))
    return rows


def requests_table(requests: Sequence[Mapping[str, Any]], *, reviewer: bool = False) -> Table:
    columns = ["request", "status", "authority", "case", "offense", "fields", "data window", "orders"]
    if reviewer:
        columns[6:6] = ["resolved", "unresolved"]
    table = Table()
    for name in columns:  # fold, never truncate: a cut-off id is useless
        table.add_column(name, overflow="fold")
    for r in requests:
        cells = [r.get("id"), r.get("status"), r.get("authorityId"), r.get("caseReference"),
                 r.get("offenseCategory"), ", ".join(r.get("fields") or []), _window(r),
                 "\n".join(r.get("orderIds") or []) or "-"]
        if reviewer:
            cells[6:6] = [str(len(r.get("resolvedSubjectIds") or [])), str(r.get("unresolvedSelectors"))]
        table.add_row(*(Text(str(c)) for c in cells))
    return table


# -- commands -------------------------------------------------------------------------------------


@app.command("submit")
@client_command
def submit(
    principal_id: IdOption,
    key: KeyOption,
    case_reference: Annotated[str, typer.Option(help="your case or file number", show_default=False)],
    court: Annotated[str, typer.Option(help="the court that issued the order", show_default=False)],
    jurisdiction: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2, e.g. DE", show_default=False)],
    legal_basis: Annotated[str, typer.Option(help="e.g. '§ 100g StPO'", show_default=False)],
    offense_category: Annotated[OffenseCategory, typer.Option(case_sensitive=False, show_default=False)],
    fields: Annotated[list[str], typer.Option("--fields", help="comma-separated: phoneNumber,ipAddresses,"
                                              "devices,usernameHistory", show_default=False)],
    window_from: Annotated[str, typer.Option("--from", help="data window start, RFC 3339, e.g. "
                                             "2026-09-01T00:00:00Z", show_default=False)],
    window_until: Annotated[str, typer.Option("--until", help="data window end (exclusive), RFC 3339",
                                              show_default=False)],
    justification: Annotated[str, typer.Option(help="why these data are needed", show_default=False)],
    court_order: Annotated[Path | None, typer.Option(help="the court order document; only its SHA-256 is sent",
                                                     show_default=False)] = None,
    court_order_sha256_hex: Annotated[str | None, typer.Option(
        "--court-order-sha256", metavar="HEX", help="the court order's SHA-256, instead of --court-order")] = None,
    phone: Annotated[list[str] | None, typer.Option(help="a subject's phone number (repeatable)")] = None,
    username: Annotated[list[str] | None, typer.Option(help="a subject's username (repeatable)")] = None,
    subject_id: Annotated[list[str] | None, typer.Option(help="a gateway subject id (repeatable)")] = None,
    emergency: Annotated[bool, typer.Option("--emergency", help="an emergency: imminent risk of death or serious "
                                            "injury; may come without a court order")] = False,
    legal_process: Annotated[LegalProcess, typer.Option(case_sensitive=False, help="the kind of legal process "
                                                        "the request rests on")] = LegalProcess.COURT_ORDER,
    imminent_risk: Annotated[str | None, typer.Option(help="--emergency: the imminent risk, stated")] = None,
    non_disclosure_until: Annotated[str | None, typer.Option(
        help="RFC 3339: the court order forbids telling the user before this")] = None,
    url: UrlOption = DEFAULT_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print the new request as JSON")] = False,
) -> None:
    """Submit a legal request for review. Selectors are sent to the gateway but never echoed back."""
    if court_order is not None and court_order_sha256_hex is not None:
        raise OperatorError("give the court order as exactly one of --court-order FILE or --court-order-sha256 HEX")
    digest = court_order_sha256(court_order) if court_order is not None else court_order_sha256_hex
    variables = request_input(
        case_reference=case_reference, court=court, jurisdiction=jurisdiction, legal_basis=legal_basis,
        offense_category=offense_category, court_order_digest=digest, phones=phone or [], usernames=username or [],
        subject_ids=subject_id or [], fields=fields_option(fields), window_from=window_from,
        window_until=window_until, justification=justification, emergency=emergency, legal_process=legal_process,
        imminent_risk=imminent_risk, non_disclosure_until=non_disclosure_until)
    with connect(url, principal_id, key) as client:
        created = submit_request(client, variables)
    if as_json:
        print_json(created)
        return
    console.print(f"submitted request [bold]{escape(str(created['id']))}[/] ({escape(str(created['status']))}); "
                  "a reviewer at the platform will draft an order or reject it", markup=True)
    console.print(key_table(request_rows(created)))


@app.command("list")
@client_command
def list_(
    principal_id: IdOption,
    key: KeyOption,
    status: Annotated[RequestStatus | None, typer.Option(case_sensitive=False, help="only this status")] = None,
    url: UrlOption = DEFAULT_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List your requests and their status."""
    with connect(url, principal_id, key) as client:
        found = list_requests(client, status)
    if as_json:
        print_json(found)
    elif not found:
        console.print("no requests" + (f" with status {status}" if status else ""))
    else:
        console.print(requests_table(found))


@app.command("show")
@client_command
def show(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="the request id (req_…)")],
    principal_id: IdOption,
    key: KeyOption,
    url: UrlOption = DEFAULT_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show one of your requests, with its status and orders."""
    with connect(url, principal_id, key) as client:
        found = get_request(client, request_id)
    if as_json:
        print_json(found)
    else:
        console.print(key_table(request_rows(found)))


ATTACH_COURT_ORDER = ("mutation AttachCourtOrder($requestId: ID!, $hash: String!) "
                      "{ attachCourtOrder(requestId: $requestId, courtOrderSha256: $hash) "
                      f"{{ {REQUEST_SELECTION} }} }}")
PRESERVATION_SELECTION = ("id status authorityId country caseReference jurisdiction legalBasis requestedUntil "
                          "grantedUntil extended active rejectionReason createdAt")
SUBMIT_PRESERVATION = ("mutation SubmitPreservation($input: PreservationInput!) "
                       f"{{ submitPreservation(input: $input) {{ {PRESERVATION_SELECTION} }} }}")
EXTEND_PRESERVATION = ("mutation ExtendPreservation($id: ID!, $until: String!) "
                       f"{{ extendPreservation(id: $id, until: $until) {{ {PRESERVATION_SELECTION} }} }}")


def preservation_rows(hold: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [(label, str(hold.get(key))) for label, key in (
        ("preservation", "id"), ("status", "status"), ("authority", "authorityId"), ("country", "country"),
        ("case reference", "caseReference"), ("jurisdiction", "jurisdiction"), ("legal basis", "legalBasis"),
        ("requested until", "requestedUntil"), ("granted until", "grantedUntil"), ("active", "active"),
        ("extended", "extended"), ("submitted", "createdAt"))]
    if hold.get("rejectionReason"):
        rows.append(("rejected because", str(hold["rejectionReason"])))
    if "subjectIds" in hold:
        rows.append(("subjects held", "\n".join(hold.get("subjectIds") or []) or "(none)"))
        rows.append(("unresolved selectors", str(hold.get("unresolvedSelectors"))))
    return rows


@app.command("attach-court-order")
@client_command
def attach_court_order(
    request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID", help="your emergency request (req_…)")],
    principal_id: IdOption,
    key: KeyOption,
    court_order: Annotated[Path | None, typer.Option(help="the court order document; only its SHA-256 is sent",
                                                     show_default=False)] = None,
    court_order_sha256_hex: Annotated[str | None, typer.Option(
        "--court-order-sha256", metavar="HEX", help="the court order's SHA-256, instead of --court-order")] = None,
    url: UrlOption = DEFAULT_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print the request as JSON")] = False,
) -> None:
    """Attach the court order to an emergency request before its orders lapse."""
    if (court_order is None) == (court_order_sha256_hex is None):
        raise OperatorError("give the court order as exactly one of --court-order FILE or --court-order-sha256 HEX")
    digest = court_order_sha256(court_order) if court_order is not None else str(court_order_sha256_hex)
    if not _SHA256_HEX.fullmatch(digest):
        raise OperatorError("--court-order-sha256 must be 64 hex characters")
    with connect(url, principal_id, key) as client:
        found = dict(client.execute(ATTACH_COURT_ORDER, {"requestId": request_id, "hash": digest.lower()})
                     .data["attachCourtOrder"])
    if as_json:
        print_json(found)
        return
    console.print(f"court order attached to {escape(str(found['id']))}; its orders continue once reviewers "
                  "approve them again", markup=True)
    console.print(key_table(request_rows(found)))


@app.command("preserve")
@client_command
def preserve(
    principal_id: IdOption,
    key: KeyOption,
    until: Annotated[str, typer.Option(help="keep the data until, RFC 3339 (at most 90 days)", show_default=False)],
    case_reference: Annotated[str | None, typer.Option(help="your case or file number")] = None,
    jurisdiction: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2, e.g. DE")] = None,
    legal_basis: Annotated[str | None, typer.Option(help="e.g. '§ 100g StPO'")] = None,
    phone: Annotated[list[str] | None, typer.Option(help="a subject's phone number (repeatable)")] = None,
    username: Annotated[list[str] | None, typer.Option(help="a subject's username (repeatable)")] = None,
    subject_id: Annotated[list[str] | None, typer.Option(help="a gateway subject id (repeatable)")] = None,
    extend: Annotated[str | None, typer.Option(metavar="PRESERVATION_ID",
                                               help="extend this granted hold (once) to --until instead")] = None,
    url: UrlOption = DEFAULT_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print the preservation request as JSON")] = False,
) -> None:
    """Ask the platform to preserve what it holds about subjects; nothing is disclosed."""
    with connect(url, principal_id, key) as client:
        if extend is not None:
            found = dict(client.execute(EXTEND_PRESERVATION, {"id": extend, "until": until})
                         .data["extendPreservation"])
        else:
            subjects = ([{"phoneNumber": p} for p in phone or []] + [{"username": u} for u in username or []]
                        + [{"id": s} for s in subject_id or []])
            if not subjects:
                raise OperatorError("name at least one subject with --phone, --username or --subject-id")
            if not (case_reference and jurisdiction and legal_basis):
                raise OperatorError("a preservation request needs --case-reference, --jurisdiction and --legal-basis")
            variables = {"input": {"caseReference": case_reference, "jurisdiction": jurisdiction,
                                   "legalBasis": legal_basis, "until": until, "subjects": subjects}}
            found = dict(client.execute(SUBMIT_PRESERVATION, variables).data["submitPreservation"])
    if as_json:
        print_json(found)
        return
    console.print(key_table(preservation_rows(found)))

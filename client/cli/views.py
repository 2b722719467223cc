"""Legal and preservation requests on the screen, for authorities and reviewers alike: the rows and
tables they are drawn as, and the `list` and `show` commands both `gateway request` and `gateway review` offer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from client.cli.common import client_command, connect, console, key_table, print_json
from client.cli.options import DEFAULT_URL, IdOption, KeyOption, UrlOption
from client.operations import get_request, list_requests
from client.wire import RequestStatus

__all__ = ["add_list_and_show", "preservation_rows", "print_request", "request_rows", "requests_table"]

StatusOption = Annotated[RequestStatus | None, typer.Option(case_sensitive=False, help="only this status")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


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


def preservation_rows(hold: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label/value rows of a preservation request; the held subjects when a reviewer reads it."""
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


def print_request(request: Mapping[str, Any], *, as_json: bool, message: str | None = None) -> None:
    """What a command that changed a request prints: the request as JSON, or ``message`` (markup)
    and the request's rows."""
    if as_json:
        print_json(request)
        return
    if message is not None:
        console.print(message, markup=True)
    console.print(key_table(request_rows(request)))


def add_list_and_show(app: typer.Typer, *, reviewer: bool, list_help: str, show_help: str, id_metavar: str,
                      id_help: str | None = None) -> None:
    """Add `list` and `show` to ``app``: an authority's own requests, or (``reviewer``) every request
    with the subject ids its selectors resolved to."""

    @app.command("list", help=list_help)
    @client_command
    def list_(principal_id: IdOption, key: KeyOption, status: StatusOption = None, url: UrlOption = DEFAULT_URL,
              as_json: JsonOption = False) -> None:
        with connect(url, principal_id, key) as client:
            found = list_requests(client, status, reviewer=reviewer)
        if as_json:
            print_json(found)
        elif not found:
            console.print("no requests" + (f" with status {status}" if status else ""))
        else:
            console.print(requests_table(found, reviewer=reviewer))

    @app.command("show", help=show_help)
    @client_command
    def show(request_id: str = typer.Argument(metavar=id_metavar, help=id_help),
             *, principal_id: IdOption, key: KeyOption, url: UrlOption = DEFAULT_URL,
             as_json: JsonOption = False) -> None:
        with connect(url, principal_id, key) as client:
            found = get_request(client, request_id, reviewer=reviewer)
        if as_json:
            print_json(found)
        else:
            console.print(key_table(request_rows(found)))


"""Legal and preservation requests on the screen, for authorities and reviewers alike: the rows and
tables they are drawn as, and the `list` and `show` commands both `gateway request` and `gateway review` offer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console

from client.cli.common import client_command, connect, console, key_table, print_json
from client.cli.options import DEFAULT_URL, CaCertOption, IdOption, KeyOption, UrlOption
from client.cli.tables import Col, print_table
from client.cli.words import plain
from client.operations import get_request, list_requests
from client.wire import RequestStatus

__all__ = ["add_list_and_show", "conversation_rows", "preservation_rows", "print_request", "print_requests",
           "request_rows"]

StatusOption = Annotated[RequestStatus | None, typer.Option(case_sensitive=False, help="only this status")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def _window(request: Mapping[str, Any]) -> str:
    window = request.get("dataWindow") or {}
    return f"{plain(window.get('from'), empty='?')} → {plain(window.get('until'), empty='?')}"


def request_rows(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label/value rows of a request, in reading order; reviewers' fields when present."""
    rows = [(label, plain(request.get(key))) for label, key in (
        ("request", "id"), ("status", "status"), ("authority", "authorityId"), ("case reference", "caseReference"),
        ("court", "court"), ("jurisdiction", "jurisdiction"), ("legal basis", "legalBasis"),
        ("offense", "offenseCategory"), ("court order sha256", "courtOrderSha256"), ("fields", "fields"))]
    rows += [("data window", _window(request)), ("justification", plain(request.get("justification"))),
             ("emergency", plain(bool(request.get("emergency")))), ("submitted", plain(request.get("createdAt")))]
    if request.get("imminentRisk"):
        rows.append(("imminent risk", plain(request["imminentRisk"])))
    if request.get("nonDisclosureUntil"):
        rows.append(("no notice to the user before", plain(request["nonDisclosureUntil"])))
    if request.get("verification"):
        found = request["verification"]
        rows.append(("secondary verification",
                     f"{plain(found.get('method'))} by {plain(found.get('by'))} at {plain(found.get('at'))}"))
    if request.get("rejectionReason"):
        rows.append(("rejected because", plain(request["rejectionReason"])))
    if "resolvedSubjectIds" in request:
        resolved = request.get("resolvedSubjectIds") or []
        rows.append(("resolved subjects", "\n".join(resolved) if resolved else "(none)"))
        rows.append(("unresolved selectors", plain(request.get("unresolvedSelectors"))))
    rows.append(("orders", "\n".join(request.get("orderIds") or []) or "(none yet)"))
    rows += conversation_rows(request)
    return rows


def conversation_rows(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The authority's side of a request (docs/PROTOCOL.md §17): its version and what each
    amendment changed, the clarification thread, and a withdrawal's reason."""
    rows: list[tuple[str, str]] = []
    versions = request.get("versions") or []
    if request.get("version") is not None:
        rows.append(("version", plain(request.get("version"))))
    for version in versions[1:]:
        changes = [f"{plain(c.get('field'))}: {plain(c.get('before'))} → {plain(c.get('after'))}"
                   for c in version.get("changes") or []]
        if version.get("subjectsAdded") or version.get("subjectsRemoved"):
            changes.append(f"subjects added: {plain(version.get('subjectsAdded'))}; "
                           f"removed: {plain(version.get('subjectsRemoved'))}")
        rows.append((f"amended (version {plain(version.get('version'))}, {plain(version.get('createdAt'))})",
                     "\n".join(changes) or "(no change shown)"))
    for message in request.get("clarifications") or []:
        who = f" by {plain(message['by'])}" if message.get("by") else ""
        rows.append((f"{str(message.get('kind', '')).lower()} (version {plain(message.get('version'))}, "
                     f"{plain(message.get('at'))}{who})", plain(message.get("text"))))
    if request.get("withdrawalReason"):
        rows.append(("withdrawn because", plain(request["withdrawalReason"])))
    return rows


def print_requests(requests: Sequence[Mapping[str, Any]], *, reviewer: bool = False, target: Console = console) -> None:
    """One row a request; ids, codes and times are never broken (a record a request when the
    terminal is too narrow for that)."""
    columns = [Col("request", whole=True), Col("status", whole=True), Col("authority", whole=True), Col("case"),
               Col("offense", whole=True), Col("fields"), Col("data window"), Col("orders", whole=True)]
    if reviewer:
        columns[6:6] = [Col("resolved"), Col("unresolved")]
    rows = []
    for r in requests:
        cells = [plain(r.get("id")), plain(r.get("status")), plain(r.get("authorityId")),
                 plain(r.get("caseReference")), plain(r.get("offenseCategory")), plain(r.get("fields")),
                 _window(r), "\n".join(r.get("orderIds") or []) or "-"]
        if reviewer:
            cells[6:6] = [str(len(r.get("resolvedSubjectIds") or [])), plain(r.get("unresolvedSelectors"))]
        rows.append(cells)
    print_table(target, columns, rows)


def preservation_rows(hold: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label/value rows of a preservation request; the held subjects when a reviewer reads it."""
    rows = [(label, plain(hold.get(key))) for label, key in (
        ("preservation", "id"), ("status", "status"), ("authority", "authorityId"), ("country", "country"),
        ("case reference", "caseReference"), ("jurisdiction", "jurisdiction"), ("legal basis", "legalBasis"),
        ("requested until", "requestedUntil"), ("granted until", "grantedUntil"), ("active", "active"),
        ("extended", "extended"), ("submitted", "createdAt"))]
    if hold.get("rejectionReason"):
        rows.append(("rejected because", plain(hold["rejectionReason"])))
    if "subjectIds" in hold:
        rows.append(("subjects held", "\n".join(hold.get("subjectIds") or []) or "(none)"))
        rows.append(("unresolved selectors", plain(hold.get("unresolvedSelectors"))))
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
              cacert: CaCertOption = None,
              as_json: JsonOption = False) -> None:
        with connect(url, principal_id, key, cacert=cacert) as client:
            found = list_requests(client, status, reviewer=reviewer)
        if as_json:
            print_json(found)
        elif not found:
            console.print("no requests" + (f" with status {status}" if status else ""))
        else:
            print_requests(found, reviewer=reviewer)

    @app.command("show", help=show_help)
    @client_command
    def show(request_id: str = typer.Argument(metavar=id_metavar, help=id_help),
             *, principal_id: IdOption, key: KeyOption, url: UrlOption = DEFAULT_URL, cacert: CaCertOption = None,
             as_json: JsonOption = False) -> None:
        with connect(url, principal_id, key, cacert=cacert) as client:
            found = get_request(client, request_id, reviewer=reviewer)
        if as_json:
            print_json(found)
        else:
            console.print(key_table(request_rows(found)))


"""`gateway request …`: an authority submits legal requests and follows them (docs/PROTOCOL.md §5).

The court order itself never leaves the authority: only its SHA-256, computed here, is sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from client import operations
from client.cli import groups
from client.cli.common import client_command, connect, console, err_console, key_table, print_json
from client.cli.group import Group
from client.cli.options import (
    DEFAULT_URL,
    CaCertOption,
    IdOption,
    KeyOption,
    UrlOption,
    fields_option,
    phones_option,
    time_option,
)
from client.cli.views import add_list_and_show, preservation_rows, print_request
from client.errors import UsageError
from client.http import GatewayClient
from client.operations import (
    amend_request,
    answer_clarification,
    extend_preservation,
    submit_preservation,
    submit_request,
    withdraw_request,
)
from client.wire import LegalProcess, OffenseCategory

__all__ = ["amendment_input", "app", "court_order_sha256", "request_input"]

app = typer.Typer(help=groups.REQUEST, cls=Group, no_args_is_help=True)

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


# -- what a command sends (also what `gateway demo run` calls) -----------------------------------


def court_order_sha256(path: Path) -> str:
    """Lowercase hex SHA-256 of the court order file, read in chunks. Raises :class:`UsageError`."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise UsageError(f"cannot read the court order {path}: {exc.strerror or type(exc).__name__}") from None
    return digest.hexdigest()


def request_input(*, case_reference: str, court: str, jurisdiction: str, legal_basis: str,
                  offense_category: OffenseCategory | str, court_order_digest: str | None, phones: list[str],
                  usernames: list[str], subject_ids: list[str], fields: list[str], window_from: str,
                  window_until: str, justification: str, emergency: bool = False,
                  legal_process: LegalProcess | str = LegalProcess.COURT_ORDER,
                  imminent_risk: str | None = None, non_disclosure_until: str | None = None) -> dict[str, Any]:
    """The ``LegalRequestInput`` variables. Raises :class:`UsageError` for no subjects, a bad digest,
    a time or a phone number the gateway would not read; an emergency may come without a court order
    but not without its imminent risk."""
    time_option(window_from, "--from")
    time_option(window_until, "--until")
    if non_disclosure_until is not None:
        time_option(non_disclosure_until, "--non-disclosure-until")
    phones_option(phones)
    if court_order_digest is not None and not _SHA256_HEX.fullmatch(court_order_digest):
        raise UsageError("--court-order-sha256 must be 64 hex characters")
    if court_order_digest is None and not emergency:
        raise UsageError("give the court order as --court-order FILE or --court-order-sha256 HEX; only an "
                         "--emergency request may come without one")
    if emergency and not imminent_risk:
        raise UsageError("an --emergency request needs --imminent-risk: the risk of death or serious injury")
    subjects = ([{"phoneNumber": p} for p in phones] + [{"username": u} for u in usernames]
                + [{"id": s} for s in subject_ids])
    if not subjects:
        raise UsageError("name at least one subject with --phone, --username or --subject-id")
    return {
        "caseReference": case_reference, "court": court, "jurisdiction": jurisdiction, "legalBasis": legal_basis,
        "offenseCategory": str(OffenseCategory(str(offense_category).upper())),
        "courtOrderSha256": court_order_digest.lower() if court_order_digest else None, "subjects": subjects,
        "fields": fields, "dataWindow": {"from": window_from, "until": window_until},
        "justification": justification, "emergency": emergency,
        "legalProcess": str(LegalProcess(str(legal_process).upper())), "imminentRisk": imminent_risk,
        "nonDisclosureUntil": non_disclosure_until,
    }


def amendment_input(*, phones: list[str], usernames: list[str], subject_ids: list[str], fields: list[str],
                    window_from: str | None, window_until: str | None, legal_basis: str | None,
                    court_order_digest: str | None) -> dict[str, Any]:
    """The ``AmendmentInput`` variables: only what is given changes (docs/PROTOCOL.md §17.2); given
    selectors replace all the current ones. Raises :class:`UsageError` for nothing to change, half a
    window, a bad time, phone number or digest."""
    phones_option(phones)
    amendment: dict[str, Any] = {}
    subjects = ([{"phoneNumber": p} for p in phones] + [{"username": u} for u in usernames]
                + [{"id": s} for s in subject_ids])
    if subjects:
        amendment["subjects"] = subjects
    if fields:
        amendment["fields"] = fields
    if (window_from is None) != (window_until is None):
        raise UsageError("a new data window needs both --from and --until")
    if window_from is not None and window_until is not None:
        time_option(window_from, "--from")
        time_option(window_until, "--until")
        amendment["dataWindow"] = {"from": window_from, "until": window_until}
    if legal_basis is not None:
        amendment["legalBasis"] = legal_basis
    if court_order_digest is not None:
        if not _SHA256_HEX.fullmatch(court_order_digest):
            raise UsageError("--court-order-sha256 must be 64 hex characters")
        amendment["courtOrderSha256"] = court_order_digest.lower()
    return amendment


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
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the new request as JSON")] = False,
) -> None:
    """Submit a legal request for review. Selectors are sent to the gateway but never echoed back."""
    if court_order is not None and court_order_sha256_hex is not None:
        raise UsageError("give the court order as exactly one of --court-order FILE or --court-order-sha256 HEX")
    digest = court_order_sha256(court_order) if court_order is not None else court_order_sha256_hex
    variables = request_input(
        case_reference=case_reference, court=court, jurisdiction=jurisdiction, legal_basis=legal_basis,
        offense_category=offense_category, court_order_digest=digest, phones=phone or [], usernames=username or [],
        subject_ids=subject_id or [], fields=fields_option(fields, required=True), window_from=window_from,
        window_until=window_until, justification=justification, emergency=emergency, legal_process=legal_process,
        imminent_risk=imminent_risk, non_disclosure_until=non_disclosure_until)
    with connect(url, principal_id, key, cacert=cacert) as client:
        created = submit_request(client, variables)
    shown = f"[bold]{escape(str(created['id']))}[/] ({escape(str(created['status']))})"
    print_request(created, as_json=as_json,
                  message=f"submitted request {shown}; a reviewer at the platform will draft an order or reject it")


add_list_and_show(app, reviewer=False, list_help="List your requests and their status.",
                  show_help="Show one of your requests, with its status and orders.", id_metavar="ID",
                  id_help="the request id (lrq_…)")


@app.command("attach-court-order")
@client_command
def attach_court_order(
    request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID", help="your emergency request (lrq_…)")],
    principal_id: IdOption,
    key: KeyOption,
    court_order: Annotated[Path | None, typer.Option(help="the court order document; only its SHA-256 is sent",
                                                     show_default=False)] = None,
    court_order_sha256_hex: Annotated[str | None, typer.Option(
        "--court-order-sha256", metavar="HEX", help="the court order's SHA-256, instead of --court-order")] = None,
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the request as JSON")] = False,
) -> None:
    """Attach the court order to an emergency request before its orders lapse."""
    if (court_order is None) == (court_order_sha256_hex is None):
        raise UsageError("give the court order as exactly one of --court-order FILE or --court-order-sha256 HEX")
    digest = court_order_sha256(court_order) if court_order is not None else str(court_order_sha256_hex)
    if not _SHA256_HEX.fullmatch(digest):
        raise UsageError("--court-order-sha256 must be 64 hex characters")
    with connect(url, principal_id, key, cacert=cacert) as client:
        found = operations.attach_court_order(client, request_id, digest.lower())
    print_request(found, as_json=as_json,
                  message=f"court order attached to {escape(str(found['id']))}; its orders continue once reviewers "
                          "approve them again")


PhoneOption = Annotated[list[str] | None, typer.Option("--phone", help="a subject's phone number (repeatable); "
                                                      "given selectors replace all the current ones")]
UsernameOption = Annotated[list[str] | None, typer.Option("--username", help="a subject's username (repeatable)")]
SubjectIdOption = Annotated[list[str] | None, typer.Option("--subject-id", help="a gateway subject id (repeatable)")]
FieldsOption = Annotated[list[str] | None, typer.Option("--fields", help="the new fields, comma-separated")]
FromOption = Annotated[str | None, typer.Option("--from", help="the new data window's start, RFC 3339")]
UntilOption = Annotated[str | None, typer.Option("--until", help="the new data window's end (exclusive)")]
LegalBasisOption = Annotated[str | None, typer.Option("--legal-basis", help="the new legal basis")]
CourtOrderOption = Annotated[Path | None, typer.Option("--court-order", help="a new court order document; only "
                                                       "its SHA-256 is sent")]
CourtOrderHexOption = Annotated[str | None, typer.Option("--court-order-sha256", metavar="HEX",
                                                         help="the new court order's SHA-256")]


def _amendment(phone: list[str] | None, username: list[str] | None, subject_id: list[str] | None,
               fields: list[str] | None, window_from: str | None, window_until: str | None, legal_basis: str | None,
               court_order: Path | None, court_order_hex: str | None) -> dict[str, Any]:
    if court_order is not None and court_order_hex is not None:
        raise UsageError("give the court order as at most one of --court-order FILE or --court-order-sha256 HEX")
    digest = court_order_sha256(court_order) if court_order is not None else court_order_hex
    return amendment_input(phones=phone or [], usernames=username or [], subject_ids=subject_id or [],
                           fields=fields_option(fields), window_from=window_from, window_until=window_until,
                           legal_basis=legal_basis, court_order_digest=digest)


@app.command("clarify-answer")
@client_command
def clarify_answer(
    request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID", help="your request (lrq_…)")],
    principal_id: IdOption,
    key: KeyOption,
    answer: Annotated[str, typer.Option(help="your answer to the reviewers' question", show_default=False)],
    phone: PhoneOption = None,
    username: UsernameOption = None,
    subject_id: SubjectIdOption = None,
    fields: FieldsOption = None,
    window_from: FromOption = None,
    window_until: UntilOption = None,
    legal_basis: LegalBasisOption = None,
    court_order: CourtOrderOption = None,
    court_order_sha256_hex: CourtOrderHexOption = None,
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the request as JSON")] = False,
) -> None:
    """Answer the open question on your request; amend it in the same step with any amend option."""
    amendment = _amendment(phone, username, subject_id, fields, window_from, window_until, legal_basis,
                           court_order, court_order_sha256_hex)
    with connect(url, principal_id, key, cacert=cacert) as client:
        found = answer_clarification(client, request_id, answer, amendment or None)
    print_request(found, as_json=as_json,
                  message=f"answered; request {escape(str(found['id']))} is {escape(str(found['status']))} again "
                          f"(version {escape(str(found.get('version')))})")


@app.command("amend")
@client_command
def amend(
    request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID", help="your request (lrq_…)")],
    principal_id: IdOption,
    key: KeyOption,
    phone: PhoneOption = None,
    username: UsernameOption = None,
    subject_id: SubjectIdOption = None,
    fields: FieldsOption = None,
    window_from: FromOption = None,
    window_until: UntilOption = None,
    legal_basis: LegalBasisOption = None,
    court_order: CourtOrderOption = None,
    court_order_sha256_hex: CourtOrderHexOption = None,
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the request as JSON")] = False,
) -> None:
    """Amend your request while none of its orders is ACTIVE: a new version; orders drafted on the
    version before can no longer be approved."""
    amendment = _amendment(phone, username, subject_id, fields, window_from, window_until, legal_basis,
                           court_order, court_order_sha256_hex)
    if not amendment:
        raise UsageError("name what to change: --phone/--username/--subject-id, --fields, --from and --until, "
                         "--legal-basis or --court-order")
    with connect(url, principal_id, key, cacert=cacert) as client:
        found = amend_request(client, request_id, amendment)
    print_request(found, as_json=as_json,
                  message=f"request {escape(str(found['id']))} is now version {escape(str(found.get('version')))}; "
                          "reviewers draft its orders anew")


@app.command("withdraw")
@client_command
def withdraw(
    request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID", help="your request (lrq_…)")],
    principal_id: IdOption,
    key: KeyOption,
    reason: Annotated[str, typer.Option(help="why; stored encrypted, shown to reviewers", show_default=False)],
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the request as JSON")] = False,
) -> None:
    """Withdraw your request: every order of it is revoked at once."""
    with connect(url, principal_id, key, cacert=cacert) as client:
        found = withdraw_request(client, request_id, reason)
    print_request(found, as_json=as_json,
                  message=f"request {escape(str(found['id']))} withdrawn; its orders are revoked")


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
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the preservation request as JSON")] = False,
) -> None:
    """Ask the platform to preserve what it holds about subjects; nothing is disclosed."""
    time_option(until, "--until")
    phones_option(phone)
    with connect(url, principal_id, key, cacert=cacert) as client:
        if extend is not None:
            found = extend_preservation(client, extend, until)
        else:
            subjects = ([{"phoneNumber": p} for p in phone or []] + [{"username": u} for u in username or []]
                        + [{"id": s} for s in subject_id or []])
            if not subjects:
                raise UsageError("name at least one subject with --phone, --username or --subject-id")
            if not (case_reference and jurisdiction and legal_basis):
                raise UsageError("a preservation request needs --case-reference, --jurisdiction and --legal-basis")
            found = submit_preservation(client, {"caseReference": case_reference, "jurisdiction": jurisdiction,
                                                 "legalBasis": legal_basis, "until": until, "subjects": subjects})
    if as_json:
        print_json(found)
        return
    console.print(key_table(preservation_rows(found)))


# -- following the events (docs/PROTOCOL.md §17.4) ------------------------------------------------


def follow_events(client: GatewayClient, *, after: str | None, interval: float, max_interval: float,
                  show: Callable[[dict[str, Any]], None], sleep: Callable[[float], None] = time.sleep,
                  once: bool = False) -> str | None:
    """Read the feed from ``after``, ``show`` each event as it comes, and poll again: after
    ``interval`` seconds while events come, the wait doubling up to ``max_interval`` while none do.
    With ``once``, one page and back. Returns the last cursor; Ctrl-C ends it (the caller exits 0)."""
    wait = interval
    cursor = after
    while True:
        page = operations.request_events(client, cursor)
        for event in page["events"]:
            show(event)
        cursor = str(page["cursor"])
        if once:
            return cursor
        # Back-off while the feed is quiet; as soon as something comes, back to the short wait.
        wait = interval if page["events"] else min(max_interval, wait * 2)
        try:
            sleep(wait)
        except KeyboardInterrupt:
            return cursor


def _show_event(as_json: bool) -> Callable[[dict[str, Any]], None]:
    def show(event: dict[str, Any]) -> None:
        if as_json:
            sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
            sys.stdout.flush()
            return
        parts = [event["timestamp"], event["type"], event.get("requestId") or "-", event.get("orderId") or "-",
                 event.get("state") or "-"]
        console.print("  ".join(escape(str(p)) for p in parts), highlight=False)

    return show


@app.command("watch")
@client_command
def watch(
    principal_id: IdOption,
    key: KeyOption,
    after: Annotated[str | None, typer.Option(help="start after this cursor (a cursor printed before); default: "
                                              "from your first event")] = None,
    interval: Annotated[float, typer.Option(min=0.1, help="seconds between polls while events come")] = 2.0,
    max_interval: Annotated[float, typer.Option(min=0.1, help="the longest wait between polls while none do")] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="print what is there now and stop")] = False,
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line, as each event comes")] = False,
) -> None:
    """Follow your requests' and orders' events (order ACTIVE, rejected, revoked, lapsing, lapsed,
    exhausted, ...) as they come, until Ctrl-C; for authorities without a webhook."""
    if max_interval < interval:
        raise UsageError("--max-interval must be at least --interval")
    with connect(url, principal_id, key, cacert=cacert) as client:
        try:
            cursor = follow_events(client, after=after, interval=interval, max_interval=max_interval,
                                   show=_show_event(as_json), once=once)
        except KeyboardInterrupt:
            cursor = None  # interrupted mid-request: nothing was half printed
    if not as_json and cursor is not None:
        err_console.print(f"stopped; continue with --after {escape(cursor)}", style="dim")

"""`gateway query` and `gateway open`: an authority asks for its order's subjects and opens what
comes back (docs/PROTOCOL.md §4, §5).

Every sealed value is opened and verified (gateway signature; request, order, subject and field
as asked) before anything is shown, and one failure shows nothing (exit 1). Selector values travel
only in the GraphQL variables, never in the query text, which is built from field names checked
against the schema's list.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from nacl.public import PrivateKey
from nacl.signing import VerifyKey
from rich.markup import escape

from client.cli.common import client_command, connect, console, err_console, warn_if_interceptable
from client.cli.options import (
    DEFAULT_URL,
    CaCertOption,
    IdOption,
    KeyOption,
    UrlOption,
    fields_option,
    gateway_key_option,
    phones_option,
)
from client.cli.tables import Col, print_table
from client.cli.words import plain, plural
from client.errors import UnsealError, UsageError
from client.http import ClientResult, GatewayClient, fetch_discovery
from client.keyfiles import sealing_key_for
from client.operations import QueryTarget, disclosure_query, send_query
from client.unseal import OpenedResponse, open_response, response_parts

__all__ = [
    "open_",
    "open_result",
    "print_opened",
    "query",
    "query_subjects",
    "render_value",
    "value_rows",
]


def open_result(result: ClientResult, *, sealing_key: PrivateKey, gateway_key: VerifyKey, order_id: str,
                selector: QueryTarget, fields: Sequence[str]) -> OpenedResponse:
    """Open and verify every value of a served query against what was asked. Raises :class:`UnsealError`."""
    if result.audit is None:
        raise UnsealError("the response carries no extensions.audit.request_id, so its values cannot be tied "
                          "to an audit entry")
    return open_response(result.data, result.audit.request_id, sealing_key=sealing_key, gateway_key=gateway_key,
                         order_id=order_id, fields=fields,
                         subject_id=selector.value if selector.kind == "id" else None)


def query_subjects(client: GatewayClient, *, order_id: str, selector: QueryTarget, fields: Sequence[str],
                   sealing_key: PrivateKey) -> tuple[ClientResult, OpenedResponse]:
    """Send, then open and verify: what `gateway query` does, for callers such as the demo."""
    result = send_query(client, order_id=order_id, selector=selector, fields=fields)
    return result, open_result(result, sealing_key=sealing_key, gateway_key=client.gateway_key,
                               order_id=order_id, selector=selector, fields=fields)


# -- rendering ------------------------------------------------------------------------------------


def _span(first: object, last: object) -> str:
    return f"{plain(first, empty='?')} → {plain(last, empty='now')}"


def render_value(field: str, value: Any) -> list[tuple[str, str]]:
    """``(value, seen)`` rows for one disclosed value: one row, or one per list item (docs/PROTOCOL.md §4)."""
    if field == "phoneNumber" and isinstance(value, str):
        return [(value, "")]
    if value is None:
        return [("(none)", "")]
    if not isinstance(value, list):
        return [(json.dumps(value, ensure_ascii=False), "")]
    if not value:
        return [("(none in the order's data window)", "")]
    rows: list[tuple[str, str]] = []
    for item in value:
        if not isinstance(item, Mapping):
            rows.append((json.dumps(item, ensure_ascii=False), ""))
        elif field == "ipAddresses":
            ip, port = str(item.get("ip")), item.get("port")
            where = ip if port is None else (f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}")
            rows.append((where, _span(item.get("first_seen"), item.get("last_seen"))))
        elif field == "devices":
            rows.append((f"{item.get('model')} ({item.get('platform')}), {item.get('app')} {item.get('app_version')}",
                         _span(item.get("first_seen"), item.get("last_seen"))))
        elif field == "usernameHistory":
            rows.append((str(item.get("username")), _span(item.get("from"), item.get("until"))))
        else:
            rows.append((json.dumps(item, ensure_ascii=False), ""))
    return rows


VALUE_COLUMNS = (Col("subject", whole=True), Col("field", whole=True), Col("value"), Col("seen"))
"""Subject ids and field names stay whole; a value folds only where it is longer than the terminal
(never cut short: an IPv6 address ending in "…" would be a different address)."""


def value_rows(opened: OpenedResponse) -> list[list[str]]:
    """Subject, field, value and when it was seen; list values as sub-rows. Values are plain text."""
    rows: list[list[str]] = []
    previous_subject = None
    for item in opened.values:
        for number, (value, seen) in enumerate(render_value(item.field, item.value)):
            subject = item.subject_id if number == 0 and item.subject_id != previous_subject else ""
            rows.append([subject, item.field if number == 0 else "", value, seen])
        previous_subject = item.subject_id
    return rows


def print_opened(opened: OpenedResponse, result_audit: Mapping[str, Any] | None, *, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(opened.as_json() | {"audit": result_audit}))
        return
    print_table(console, VALUE_COLUMNS, value_rows(opened), title=f"order {opened.order_id}")
    where = f" (audit entry {result_audit['index']})" if result_audit else ""
    console.print(f"opened and verified {plural(len(opened.values), 'sealed value')} of request "
                  f"{escape(opened.request_id)}{escape(where)}: gateway signature, order, subject, field and request "
                  "all check out", markup=True, style="green")


def _write_new_file(path: Path, data: bytes) -> None:
    # Owner-only: ciphertext now, but it is evidence, and `open` will turn it into plaintext.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


# -- commands -------------------------------------------------------------------------------------


@client_command
def query(
    order_id: Annotated[str, typer.Option("--order", metavar="ID", help="your active order (ord_…)",
                                          show_default=False)],
    principal_id: IdOption,
    key: KeyOption,
    fields: Annotated[list[str], typer.Option("--fields", help="comma-separated, within the order's fields",
                                              show_default=False)],
    subject_id: Annotated[str | None, typer.Option(help="select the subject by gateway subject id")] = None,
    phone: Annotated[str | None, typer.Option(help="select the subject by phone number")] = None,
    username: Annotated[str | None, typer.Option(help="select the subject by username")] = None,
    all_subjects: Annotated[bool, typer.Option("--all", help="every subject of the order")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the verified records as JSON")] = False,
    save: Annotated[Path | None, typer.Option(help="also write the raw response (ciphertext) to this new file; "
                                              "`gateway open FILE` verifies it again later")] = None,
    gateway_key: Annotated[str | None, typer.Option(help="pin the gateway's signing key (base64)")] = None,
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
) -> None:
    """Query subjects of your order; open and verify every sealed value, then print them."""
    selector = QueryTarget.from_options(subject_id=subject_id, phone=phone, username=username,
                                     all_subjects=all_subjects)
    wanted = fields_option(fields, required=True)
    phones_option([phone] if phone is not None else None)
    # Everything that could fail locally fails before the query is sent and counted.
    sealing_key = sealing_key_for(key)
    pinned = gateway_key_option(gateway_key)
    disclosure_query(selector, wanted)
    if save is not None and (save.exists() or not save.parent.is_dir()):
        raise UsageError(f"--save {save}: the file exists already or its directory does not; "
                         "choose a new file so no earlier response is overwritten")
    with connect(url, principal_id, key, gateway_key=pinned, cacert=cacert) as client:
        result = send_query(client, order_id=order_id, selector=selector, fields=wanted)
        if save is not None:
            _write_new_file(save, result.raw)
            # stderr: stdout stays the table or, with --json, nothing but JSON.
            err_console.print(f"saved the raw response to {escape(str(save))}", markup=True, style="dim")
        opened = open_result(result, sealing_key=sealing_key, gateway_key=client.gateway_key, order_id=order_id,
                             selector=selector, fields=wanted)
    print_opened(opened, result.audit.as_json() if result.audit else None, as_json=as_json)


@client_command
def open_(
    file: Annotated[Path, typer.Argument(help="a response saved by `gateway query --save`", show_default=False)],
    key: KeyOption,
    gateway_key: Annotated[str | None, typer.Option(help="the gateway's signing key (base64); without it, "
                                                    "it is fetched from --url")] = None,
    order_id: Annotated[str | None, typer.Option("--order", metavar="ID", help="require this order")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the verified records as JSON")] = False,
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
) -> None:
    """Open and verify a saved query response with your sealing key and the gateway's signing key."""
    sealing_key = sealing_key_for(key)
    try:
        document = json.loads(file.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror or type(exc).__name__}") from None
    except (ValueError, RecursionError):
        raise UnsealError(f"{file} is not a JSON response saved by `gateway query --save`") from None
    pinned = gateway_key_option(gateway_key)
    if pinned is None:
        warn_if_interceptable(url, False)
        pinned = fetch_discovery(url, ca_file=cacert).gateway_signing_key
    data, request_id = response_parts(document)
    opened = open_response(data, request_id, sealing_key=sealing_key, gateway_key=pinned, order_id=order_id)
    extensions = document.get("extensions", {})
    print_opened(opened, extensions.get("audit") if isinstance(extensions, dict) else None, as_json=as_json)

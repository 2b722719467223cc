"""`gateway audit monitor URL --state DIR`: follow a gateway's log from outside (docs/PROTOCOL.md §15).

Exit status: 0 when the log's new checkpoint verified and is consistent with the last one this
state verified; 1 on any inconsistency (the message names the tree sizes); 2 when the check could
not be made (network, configuration). With ``--follow`` it checks every ``--interval`` seconds and
logs an ``ALARM`` line for each inconsistency instead of exiting (``--checks N``: stop after N
checks, then exit 1 if any raised an alarm, 2 if any could not be made).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from client.cli.options import CaCertOption
from client.cli.words import plural
from client.errors import ClientError
from client.http import fetch_discovery, make_http_client
from client.monitor import Auditor, MonitorConfig, MonitorReport
from client.monitor import follow as follow_log
from crypto.cosignature import parse_cosigner_key
from crypto.keys import read_signing_key
from crypto.note import parse_verifier_key
from gateway.cli.common import console, err_console, fail, handle_errors

__all__ = ["monitor"]


@handle_errors
def monitor(
    url: Annotated[str, typer.Argument(help="the gateway's base URL", show_default=False)],
    state: Annotated[Path, typer.Option(help="where the last verified checkpoint is kept")],
    log_key: Annotated[str, typer.Option(help="the log's checkpoint_verifier_key, obtained out of band")],
    witness: Annotated[list[str] | None, typer.Option(help="a trusted witness's cosigner verifier key; "
                                                           "repeatable")] = None,
    quorum: Annotated[int | None, typer.Option(help="valid cosignatures required (default: every --witness)",
                                               min=0)] = None,
    entries: Annotated[bool, typer.Option(help="also check every new entry against the tiles (needs an "
                                               "auditor's key)")] = False,
    auditor_id: Annotated[str | None, typer.Option(help="your auditor principal id")] = None,
    auditor_key: Annotated[Path | None, typer.Option(help="your auditor signing key file")] = None,
    follow: Annotated[bool, typer.Option(help="keep checking; log ALARM lines instead of exiting")] = False,
    interval: Annotated[float, typer.Option(help="seconds between checks with --follow", min=0.1)] = 10.0,
    checks: Annotated[int | None, typer.Option(help="with --follow, stop after this many checks (default: never)",
                                               min=1)] = None,
    cacert: CaCertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print each check as one JSON object a line: "
                                                         "result (consistent, alarm, error) and its details")] = False,
) -> None:
    """Check the log's latest checkpoint: signature, witness quorum, consistency with the last one
    verified, and optionally every new entry."""
    if checks is not None and not follow:
        fail("--checks counts the checks of --follow; add --follow, or leave --checks out for one check")
    witnesses = [parse_cosigner_key(w) for w in witness or []]
    needed = len(witnesses) if quorum is None else quorum
    if needed > len(witnesses):
        fail(f"--quorum {needed} is more than the {len(witnesses)} witnesses given")
    auditor = None
    if entries:
        if auditor_id is None or auditor_key is None:
            fail("--entries needs --auditor-id and --auditor-key")
        try:
            audience = fetch_discovery(url, ca_file=cacert).gateway_id
        except ClientError as exc:
            fail(str(exc))
        auditor = Auditor(auditor_id, read_signing_key(auditor_key), audience)
    config = MonitorConfig(url=url, log_key=parse_verifier_key(log_key), witnesses=witnesses, quorum=needed,
                           auditor=auditor)

    def json_line(value: dict[str, object]) -> None:
        typer.echo(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def report_line(report: MonitorReport) -> None:
        if as_json:
            json_line({"result": "consistent", "tree_size": report.size, "previous_size": report.previous_size,
                       "cosigned_by": report.cosigned_by,
                       "entries_checked": report.entries_checked if entries else None})
            return
        since = "first check" if report.previous_size is None else f"from tree size {report.previous_size}"
        console.print(f"log consistent: tree size {report.size} ({since}), cosigned by "
                      f"{', '.join(report.cosigned_by) or 'no witness'}"
                      + (f", {plural(report.entries_checked, 'entry')} checked" if entries else ""))

    try:
        http = make_http_client(timeout=30, ca_file=cacert)
    except ClientError as exc:
        fail(exc.message)
    with http:
        # Without --follow: one check, and the same exit status as after --checks 1.
        summary = follow_log(
            config, state, http, clock=time.time, sleep=time.sleep, interval=interval,
            checks=checks if follow else 1, check_entries=entries, on_report=report_line,
            on_alarm=lambda exc: json_line({"result": "alarm", "message": str(exc)}) if as_json
            else err_console.print(f"[bold red]ALARM[/] {escape(str(exc))}"),
            on_error=lambda exc: json_line({"result": "error", "message": str(exc)}) if as_json
            else err_console.print(f"[yellow]could not check:[/] {escape(str(exc))}"))
    if summary.alarms:
        raise typer.Exit(1)
    if summary.errors:
        raise typer.Exit(2)

"""`gateway retention run` and `gateway notices …`: the operator's side of a request's later life
(docs/PROTOCOL.md §16.3, §16.4), on the gateway host with direct database access. Each run or
delivery appends one audit entry through the audit log's one writer."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from client.cli.group import Group
from client.cli.words import plural
from gateway.cli import groups
from gateway.cli.common import console, handle_errors, print_json, running_services

__all__ = ["notices_app", "retention_app"]

retention_app = typer.Typer(help=groups.RETENTION, cls=Group, no_args_is_help=True)
notices_app = typer.Typer(help=groups.NOTICES, cls=Group, no_args_is_help=True)


@retention_app.command("run")
@handle_errors
def retention_run(
    as_json: Annotated[bool, typer.Option("--json", help="print the counts as JSON")] = False,
) -> None:
    """Delete IP events older than GATEWAY_IP_RETENTION_DAYS (and devices and former usernames
    when their settings are set), except for subjects under an active preservation hold. The
    serving process also does this once an hour."""
    from gateway.lifecycle.retention import Cutoffs, run_retention
    from gateway.services import utc_now

    with running_services() as services:
        now = utc_now()
        report, receipt = run_retention(
            db=services.db, subjects=services.subjects,
            holds=services.preservations, audit=services.audit,
            cutoffs=Cutoffs.at(now, services.settings), now=now,
            copies_only=services.settings.subject_source == "sql")
    counts = report.counts() | {"audit_index": receipt.index}
    if as_json:
        print_json(counts)
        return
    console.print(f"retention: {plural(report.ip_events_deleted, 'IP event')}, "
                  f"{plural(report.devices_deleted, 'device')} and "
                  f"{plural(report.username_history_deleted, 'former username')} deleted from "
                  f"{report.subjects_changed} of {plural(report.subjects_scanned, 'subject')}; "
                  f"{plural(report.subjects_held, 'subject')} kept under preservation holds; "
                  f"audit entry {receipt.index}", markup=False)


@notices_app.command("due")
@handle_errors
def notices_due() -> None:
    """Print the notices due now as JSON Lines, for the platform's messaging system to deliver
    (none: no line on stdout, and a line on stderr that says so)."""
    from gateway.services import utc_now

    with running_services() as services:
        due = services.notices.due(utc_now())
    for notice in due:
        typer.echo(json.dumps(notice.as_json(), sort_keys=True))
    if not due:  # on stderr, so a pipe of JSON Lines still reads no line
        typer.echo("no notices are due", err=True)


@notices_app.command("mark-sent")
@handle_errors
def notices_mark_sent(
    ids: Annotated[list[str], typer.Argument(metavar="ID…", help="notice ids from `gateway notices due`")],
) -> None:
    """Record that these notices were delivered (one audit entry); they are no longer due."""
    from gateway.services import utc_now

    with running_services() as services:
        marked = services.notices.mark_sent(ids, now=utc_now())
    console.print(f"{plural(len(marked), 'notice')} recorded as sent", markup=False)

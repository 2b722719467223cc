"""`gateway audit …`: verify the log, export and check inclusion proofs, list entries, checkpoint.

``verify``, ``proof``, ``show`` and ``checkpoint`` are operator commands with direct database access
(docs/PROTOCOL.md §9). ``check-proof`` is for outsiders: it needs no database, no configuration and no
gateway key, only the proof file and the verifier key from ``/.well-known/disclosure-gateway``.

Exit status: 0 when the command did what it says (for ``verify`` and ``check-proof``: everything
verifies); 1 when the log or the proof does not verify, with what failed first; 2 for bad usage
or configuration (missing database, unreadable file, malformed key); 4 when the database cannot be
reached.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from client.cli.group import Group
from client.cli.tables import Col, print_table
from client.cli.words import plain, plural
from client.proof import check_saved_proof, discovered_schedule, read_proof, read_text
from crypto.encoding import b64encode
from crypto.errors import CryptoError
from crypto.key_schedule import ScheduledVerifier, single
from crypto.note import parse_checkpoint, parse_verifier_key
from gateway.audit.model import Decision
from gateway.cli import groups, monitor
from gateway.cli.common import console, err_console, fail, handle_errors, open_database, print_json, settings
from gateway.errors import LogVerificationError, OperatorError
from gateway.values.times import epoch_micros

# The log, the database and the keys are imported by the commands that use them: a help needs none.
if TYPE_CHECKING:
    from sqlalchemy import Connection, Table

    from gateway.audit.current_key import CurrentKey
    from gateway.config import Settings

__all__ = ["app"]

app = typer.Typer(help=groups.AUDIT, cls=Group, no_args_is_help=True)



def _entries_table() -> Table:
    from gateway.store.tables import AuditEntry

    return AuditEntry.__table__  # type: ignore[attr-defined,no-any-return]


_LONG = 20_000  # entries from which a scan shows a progress bar
_SCAN_WINDOW = 10_000


def _progress(total: int) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err_console, transient=True, disable=total < _LONG)


@contextmanager
def _connection(config: Settings) -> Iterator[Connection]:
    db = open_database(config)
    try:
        with db.engine.connect() as connection:
            yield connection
    finally:
        db.dispose()


def _current_key(config: Settings, connection: Connection | None = None) -> CurrentKey:
    """The gateway's signing key as the log's key record names it: a rotation whose files are not
    in this keys directory yet (the next key only staged here) is taken as a serving process takes it."""
    from gateway.audit.current_key import CurrentKey
    from gateway.keys.keyring import load_gateway_keys

    current = CurrentKey(load_gateway_keys(config), origin=config.origin, reload=lambda: load_gateway_keys(config))
    if connection is not None:
        current.follow(connection)
    return current


def _own_verifiers(config: Settings, connection: Connection) -> list[ScheduledVerifier]:
    from gateway.audit.signers import schedule_for

    return schedule_for(_current_key(config, connection).keys, config.origin)


@app.command("verify")
@handle_errors
def verify(
    verifier_key: Annotated[str | None, typer.Option(
        help="verify checkpoints with this verifier key (as /.well-known/disclosure-gateway gives it) "
             "instead of the gateway's own key file")] = None,
    checkpoint: Annotated[list[Path] | None, typer.Option(
        help="a signed checkpoint kept outside the database (e.g. fetched from GET /audit/checkpoint); "
             "the log must contain it. Repeatable.")] = None,
    jobs: Annotated[int | None, typer.Option(
        min=1, help="worker processes checking entries (default: the CPUs this process may use); "
                    "the result does not depend on it")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object: verified, and what verified "
                                                         "(entries, root_hash, checkpoints, outside_checkpoints) "
                                                         "or what did not (where, reason)")] = False,
) -> None:
    """Recompute the whole log from its entries and check every stored checkpoint (docs/PROTOCOL.md §9).

    Exit 0 only when everything verifies; otherwise print the first entry or checkpoint that does
    not hold and exit 1."""
    from gateway.audit.checkpoints import log_size
    from gateway.audit.entry_pool import usable_cpus
    from gateway.audit.verify import verify_log

    config = settings()
    given = single(parse_verifier_key(verifier_key)) if verifier_key is not None else None
    trusted = [read_text(path) for path in checkpoint or []]
    with _connection(config) as connection:
        verifier = given if given is not None else _own_verifiers(config, connection)
        total = log_size(connection)
        with _progress(total) as bar:
            task = bar.add_task("verifying", total=total)
            try:
                report = verify_log(connection, verifier, origin=config.origin, trusted=trusted,
                                    jobs=jobs or usable_cpus(),
                                    progress=lambda done, _: bar.update(task, completed=done))
            except LogVerificationError as exc:
                if as_json:
                    print_json({"verified": False, "where": exc.where, "reason": exc.reason})
                else:
                    err_console.print(f"[bold red]audit log does NOT verify[/] at {escape(exc.where)}: "
                                      f"{escape(exc.reason)}")
                raise typer.Exit(1) from None
    if as_json:
        print_json({"verified": True, "entries": report.entries, "root_hash": b64encode(report.root_hash),
                    "checkpoints": report.checkpoints, "outside_checkpoints": report.trusted})
        return
    console.print(f"audit log verifies: {plural(report.entries, 'entry')}, root {b64encode(report.root_hash)}, "
                  f"{plural(report.checkpoints, 'stored checkpoint')}"
                  + (f", {plural(report.trusted, 'outside checkpoint')}" if trusted else ""))


@app.command("proof")
@handle_errors
def proof(
    index: Annotated[int, typer.Argument(help="the entry's index", min=0)],
    tree_size: Annotated[int | None, typer.Option(help="prove against this tree size (default: the whole log)",
                                                  min=1)] = None,
    out: Annotated[Path | None, typer.Option(help="write the proof to this file instead of printing it")] = None,
) -> None:
    """Export the inclusion proof of one entry, with the entry and a signed checkpoint, as JSON that
    `gateway audit check-proof` (or any RFC 9162 verifier) checks offline."""
    from gateway.audit import proofs

    config = settings()
    with _connection(config) as connection:
        key = _current_key(config, connection).signing_key
        data = proofs.inclusion(connection, index, tree_size, origin=config.origin, key=key)
        entry = proofs.stored_entry(connection, index)
    document = {"index": data.index, "tree_size": data.tree_size, "leaf_hash": b64encode(data.leaf_hash),
                "hashes": [b64encode(h) for h in data.hashes], "checkpoint": data.checkpoint, "entry": entry.text}
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    err_console.print(f"wrote the proof of entry {data.index} in a tree of {plural(data.tree_size, 'entry')} "
                      f"to {escape(str(out))}")


@app.command("check-proof")
@handle_errors
def check_proof(
    file: Annotated[Path, typer.Argument(help="a proof written by `gateway audit proof`", show_default=False)],
    verifier_key: Annotated[list[str] | None, typer.Option(
        help="the gateway's checkpoint_verifier_key (from /.well-known/disclosure-gateway); repeatable, "
             "trusted for every tree size")] = None,
    discovery: Annotated[Path | None, typer.Option(
        help="the saved /.well-known/disclosure-gateway document: its checkpoint_verifier_keys, each trusted "
             "for the tree sizes it lists (across signing-key rotations)")] = None,
    origin: Annotated[str | None, typer.Option(help="require this checkpoint origin")] = None,
) -> None:
    """Check a saved inclusion proof offline: the checkpoint's signature, the entry's leaf hash and
    the audit path to the signed root. Needs no database. Exit 0 when it holds, 1 when it does not."""
    verifier = [s for key in verifier_key or [] for s in single(parse_verifier_key(key))]  # malformed: exit 2
    if discovery is not None:
        verifier += discovered_schedule(discovery)
    if not verifier:
        fail("give --verifier-key or --discovery")
    saved = read_proof(file)
    try:
        statement = check_saved_proof(saved, verifier, origin)
    except (CryptoError, ValueError) as exc:
        message = exc.message if isinstance(exc, CryptoError) else str(exc)
        err_console.print(f"[bold red]proof does NOT hold:[/] {escape(message)}")
        raise typer.Exit(1) from None
    console.print(statement)


def _micros(text: str, option: str) -> int:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} must be an RFC 3339 time such as 2026-11-22T10:00:00Z")
    if moment.tzinfo is None:
        fail(f"{option} needs a time zone, e.g. a trailing Z for UTC")
    return epoch_micros(moment)


@app.command("show")
@handle_errors
def show(
    order: Annotated[str | None, typer.Option(help="only entries of this order id")] = None,
    principal: Annotated[str | None, typer.Option(help="only entries of this principal id")] = None,
    decision: Annotated[Decision | None, typer.Option(help="only entries with this decision")] = None,
    since: Annotated[str | None, typer.Option(help="only entries at or after this RFC 3339 time")] = None,
    until: Annotated[str | None, typer.Option(help="only entries before this RFC 3339 time")] = None,
    limit: Annotated[int, typer.Option(help="show at most this many entries", min=1)] = 100,
    newest_first: Annotated[bool, typer.Option(help="start from the end of the log")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the entries' exact JSON, one per line")] = False,
) -> None:
    """List audit entries, filtered by order, principal, decision and time."""
    from sqlalchemy import select

    from gateway.audit.checkpoints import log_size

    _entries = _entries_table()
    config = settings()
    conditions = []
    if order is not None:
        conditions.append(_entries.c.order_id == order)
    if principal is not None:
        conditions.append(_entries.c.principal == principal)
    if decision is not None:
        conditions.append(_entries.c.decision == decision.value)
    if since is not None:
        conditions.append(_entries.c.time_us >= _micros(since, "--since"))
    if until is not None:
        conditions.append(_entries.c.time_us < _micros(until, "--until"))
    rows: list[list[str]] = []
    shown = 0
    with _connection(config) as connection:
        total = log_size(connection)
        with _progress(total) as bar:
            task = bar.add_task("scanning", total=total)
            # Index windows rather than OFFSET: each is a primary-key range, and the bar shows how far.
            starts = range(0, total, _SCAN_WINDOW)
            for start in reversed(starts) if newest_first else starts:
                query = (select(_entries.c.idx, _entries.c.entry)
                         .where(_entries.c.idx >= start, _entries.c.idx < start + _SCAN_WINDOW, *conditions)
                         .order_by(_entries.c.idx.desc() if newest_first else _entries.c.idx)
                         .limit(limit - shown))
                for _, text in connection.execute(query):
                    shown += 1
                    if as_json:
                        typer.echo(text)
                    else:
                        rows.append(_row(text))
                bar.advance(task, min(_SCAN_WINDOW, total - start))
                if shown >= limit:
                    break
    if not as_json:
        print_table(console, _SHOW_COLUMNS, rows)
        console.print(f"{plural(shown, 'entry', 'entries')} shown" + (" (limit reached)" if shown >= limit else ""))


# Ids, codes and times never break; the record layout takes over on a terminal too narrow for them.
_SHOW_COLUMNS = (Col("index", whole=True), Col("time", whole=True), Col("decision", whole=True),
                 Col("code", whole=True), Col("principal", whole=True), Col("order", whole=True), Col("fields"),
                 Col("subjects"), Col("request"))


def _row(text: str) -> list[str]:
    document = json.loads(text)
    subjects = document.get("subjects") or []
    return [plain(document.get("index")), plain(document.get("time")), plain(document.get("decision")),
            plain(document.get("code"), empty=""), plain(document.get("principal"), empty=""),
            plain(document.get("order_id"), empty=""), plain(document.get("fields"), empty=""),
            str(len(subjects)) if len(subjects) > 3 else plain(subjects, empty=""),
            plain(document.get("request_id")) + (f" (count {document['count']})" if "count" in document else "")]


@app.command("checkpoint")
@handle_errors
def checkpoint(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object: the checkpoint note and its "
                                                         "origin, tree_size and root_hash (null before the first)"
                                          )] = False,
) -> None:
    """Sign and store a checkpoint of the log as it is now (if it grew since the last), and print the latest."""
    from gateway.audit.checkpoints import CheckpointPolicy
    from gateway.audit.writer import AuditWriter

    config = settings()
    open_database(config).dispose()  # refuses an uninitialised or outdated database, with its message
    writer = AuditWriter(config.sqlalchemy_url, checkpoint_key=_current_key(config), origin=config.origin,
                         policy=CheckpointPolicy(config.checkpoint_every_entries, config.checkpoint_every_seconds))
    try:
        note = writer.checkpoint_now()
    finally:
        writer.close()
    if as_json:
        signed = parse_checkpoint(note.split("\n\n", 1)[0] + "\n") if note else None
        print_json({"checkpoint": note, "origin": signed.origin if signed else None,
                    "tree_size": signed.size if signed else None,
                    "root_hash": b64encode(signed.root_hash) if signed else None})
        return
    typer.echo(note or "", nl=False)


@app.command("export")
@handle_errors
def export(
    out: Annotated[Path, typer.Option(help="write the entries to this file, one JCS entry per line",
                                      show_default=False)],
    to: Annotated[int | None, typer.Option(help="export entries 0..TO-1 (default: the whole log now); give a "
                                                "report's checkpoint tree_size to verify that report", min=1)] = None,
) -> None:
    """Export the entries up to a tree size as JSON Lines: each line the exact text that was hashed.
    Entries hold no plaintext subject data (docs/PROTOCOL.md §7), so the file may be given to an
    auditor; `gateway transparency verify` and any RFC 9162 tool recompute the tree from it."""
    from sqlalchemy import select

    from gateway.audit import proofs

    _entries = _entries_table()
    config = settings()
    with _connection(config) as connection:
        size = proofs.checked_tree_size(connection, to, name="--to")
        with _progress(size) as bar, out.open("w", encoding="utf-8", newline="\n") as sink:
            task = bar.add_task("exporting", total=size)
            for start in range(0, size, _SCAN_WINDOW):
                end = min(size, start + _SCAN_WINDOW)
                rows = connection.execute(select(_entries.c.idx, _entries.c.entry)
                                          .where(_entries.c.idx >= start, _entries.c.idx < end)
                                          .order_by(_entries.c.idx)).all()
                for offset, (index, text) in enumerate(rows):
                    if int(index) != start + offset:
                        raise OperatorError(f"audit entry {start + offset} is missing; run `gateway audit verify`")
                    sink.write(text + "\n")
                if len(rows) != end - start:
                    raise OperatorError(f"audit entry {start + len(rows)} is missing; run `gateway audit verify`")
                bar.advance(task, len(rows))
    err_console.print(f"exported entries 0..{size - 1} to {escape(str(out))}")


# An outsider's command (client.monitor), offered beside the operator's checks of the same log.
app.command("monitor")(monitor.monitor)

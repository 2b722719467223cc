"""`gateway subjects …`: import the platform's subjects into the encrypted store, all or nothing
(docs/PROTOCOL.md §9), and keep it current line by line: `upsert`, `append-events`, `delete` (§9.3)."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from client.cli.common import CHECK_FAILED
from client.cli.group import Group
from client.cli.words import plural
from gateway.cli import groups
from gateway.cli.common import console, err_console, fail, handle_errors, open_database, print_json, settings
from gateway.errors import SubjectImportError, SubjectLineError

if TYPE_CHECKING:  # the store and the keys are imported when a command runs
    from gateway.config import Settings
    from gateway.subjects.ingest import Ingestion, IngestReport, Line
    from gateway.subjects.store import ImportReport, SubjectStore

__all__ = ["app", "import_report_line", "subject_store"]

app = typer.Typer(help=groups.SUBJECTS, cls=Group, no_args_is_help=True)

_BOM = b"\xef\xbb\xbf"


@contextmanager
def subject_store(config: Settings | None = None) -> Iterator[SubjectStore]:
    """The subject store of ``config`` (default: the configured gateway); raises
    :class:`OperatorError` when the gateway is not initialised or its keys are missing."""
    from gateway.keys.keyring import load_gateway_keys
    from gateway.keys.vault import Vault
    from gateway.subjects.store import SubjectStore

    config = config or settings()
    vault = Vault.from_keys(load_gateway_keys(config))
    db = open_database(config)
    try:
        yield SubjectStore(db, vault)
    finally:
        db.dispose()


def import_report_line(report: ImportReport) -> str:
    """``imported N subjects in S s (R subjects/s)``."""
    if report.subjects == 0:
        return "imported 0 subjects: there were no lines"
    return f"imported {plural(report.subjects, 'subject')} in {report.seconds:.1f} s ({report.rate:,.0f} subjects/s)"


def _lines(handle: BinaryIO, advance: Callable[[int], None]) -> Iterator[str]:
    """The file's lines as text, without reading more than one line (of bounded length) at a time.

    Bytes that are not UTF-8 are decoded with ``surrogateescape`` so the parser can report the
    line by number ("not valid UTF-8") instead of this reader failing without one."""
    from gateway.subjects.parsing import MAX_LINE_CHARS

    line_number = 0
    while True:
        raw = handle.readline(MAX_LINE_CHARS + 1)
        if not raw:
            return
        line_number += 1
        advance(len(raw))
        if len(raw) > MAX_LINE_CHARS:
            raise SubjectImportError(line_number, f"line is longer than {MAX_LINE_CHARS} bytes")
        if line_number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        yield raw.decode("utf-8", "surrogateescape")


@app.command("import")
@handle_errors
def import_(
    file: Annotated[Path, typer.Argument(help="JSON Lines, one subject a line (docs/PROTOCOL.md §9)",
                                         show_default=False)],
) -> None:
    """Import subjects, all or nothing: a bad line is reported by number and nothing is stored."""
    try:
        handle = file.open("rb")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        fail(escape(f"cannot read {file}: {reason}"))
    with handle, subject_store() as store:
        size = os.fstat(handle.fileno()).st_size
        read = 0

        def advance(count: int) -> None:
            nonlocal read
            read += count

        columns = (TextColumn("importing"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=err_console, transient=True,
                      disable=not err_console.is_terminal) as bar:
            task = bar.add_task("import", total=size or None)
            try:
                # The bar moves once per stored batch, not per line: free at any import rate.
                report = store.import_lines(_lines(handle, advance),
                                            progress=lambda _done: bar.update(task, completed=read))
            except SubjectImportError as exc:
                bar.stop()
                fail(escape(f"line {exc.line_number}: {exc.reason} — nothing from {file} was imported"))
            except OSError as exc:
                bar.stop()
                fail(escape(f"reading {file} failed: {exc.strerror or type(exc).__name__} "
                            "— nothing from it was imported"))
    console.print(import_report_line(report), markup=False)


@app.command("count")
@handle_errors
def count() -> None:
    """Print how many subjects the store holds."""
    with subject_store() as store:
        console.print(str(store.count()))


# -- live ingestion (docs/PROTOCOL.md §9.3) -------------------------------------------------------

_SOURCE_HELP = "JSON Lines, one a line, or - for standard input"


def _open_source(source: str) -> BinaryIO:
    if source == "-":
        return sys.stdin.buffer
    try:
        return Path(source).open("rb")
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror or type(exc).__name__}")


def _ingest_lines(handle: BinaryIO) -> Iterator[Line]:
    """The stream's lines as text, one bounded line at a time. A line longer than the limit is
    skipped to its end and given as the refusal of that line; bytes that are not UTF-8 are decoded
    with ``surrogateescape`` so that the parser refuses the line by number ("not valid UTF-8")."""
    from gateway.subjects.parsing import MAX_LINE_CHARS

    line_number = 0
    while True:
        raw = handle.readline(MAX_LINE_CHARS + 1)
        if not raw:
            return
        line_number += 1
        if len(raw) > MAX_LINE_CHARS and not raw.endswith(b"\n"):
            while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield SubjectLineError(line_number, f"line is longer than {MAX_LINE_CHARS} bytes")
            continue
        if line_number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        yield raw.decode("utf-8", "surrogateescape")


def _run_ingestion(source: str, as_json: bool, verb: str,
                   apply: Callable[..., IngestReport]) -> None:
    """Stream ``source`` through ``apply`` (an :class:`Ingestion` method): refused lines on stderr as
    they come, progress on a terminal, the summary on stdout; exit 1 when a line was refused."""
    handle = _open_source(source)

    def reject(line_number: int, reason: str) -> None:
        if as_json:
            err_console.print(json.dumps({"line": line_number, "reason": reason}), markup=False, highlight=False,
                              soft_wrap=True)
        else:
            err_console.print(f"line {line_number}: {reason}", markup=False, highlight=False, soft_wrap=True)

    columns = (TextColumn(verb), TextColumn("{task.fields[applied]:,} applied"),
               TextColumn("{task.fields[rejected]:,} rejected"), TextColumn("{task.fields[rate]:,.0f} lines/s"))
    with Progress(*columns, console=err_console, transient=True,
                  disable=not err_console.is_terminal) as bar:
        task = bar.add_task(verb, total=None, applied=0, rejected=0, rate=0.0)

        def progress(report: IngestReport) -> None:
            bar.update(task, applied=report.applied, rejected=report.rejected,
                       rate=report.rate if report.seconds > 0 else 0.0)

        try:
            report = apply(_ingest_lines(handle), reject=reject, progress=progress)
        except OSError as exc:
            bar.stop()
            fail(f"reading {source} failed: {exc.strerror or type(exc).__name__}; the lines before were applied")
        finally:
            if handle is not sys.stdin.buffer:
                handle.close()
    if as_json:
        print_json(report.as_json())
    else:
        rate = f" ({report.rate:,.0f} lines/s)" if report.seconds > 0 and report.applied else ""
        console.print(f"applied {plural(report.applied, 'line')}, rejected {report.rejected}, "
                      f"in {report.seconds:.1f} s{rate}", markup=False)
    if report.rejected:
        raise typer.Exit(CHECK_FAILED)


@contextmanager
def _ingestion() -> Iterator[Ingestion]:
    from gateway.subjects.ingest import Ingestion
    from gateway.subjects.pipeline import default_workers

    with subject_store() as store:
        store.convert_documents()  # a database of the previous layout whose conversion was interrupted
        # What is loaded by now (modules, metadata, settings) outlives the ingestion: left out of the
        # collector's full passes, which otherwise walk all of it again every few batches. Thawed
        # after, for a caller that goes on (a test runs the command in its own process).
        gc.freeze()
        try:
            yield Ingestion(store, workers=default_workers())
        finally:
            gc.unfreeze()


@app.command("upsert")
@handle_errors
def upsert(
    source: Annotated[str, typer.Argument(help=_SOURCE_HELP + " (one subject a line, as `import`)",
                                          show_default=False, metavar="FILE|-")],
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Add or update subjects line by line, committed in batches: a line replaces the subject's
    phone, username and created_at and adds the history it does not have. A bad line is reported
    by number and skipped; the others are applied."""
    with _ingestion() as ingestion:
        _run_ingestion(source, as_json, "upserting", ingestion.upsert_lines)


@app.command("append-events")
@handle_errors
def append_events(
    source: Annotated[str, typer.Argument(help=_SOURCE_HELP + " (one event a line)", show_default=False,
                                          metavar="FILE|-")],
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Append IP, device and username events of stored subjects, committed in batches: a line about
    an unknown subject, or a bad line, is reported by number and skipped; the others are applied."""
    with _ingestion() as ingestion:
        _run_ingestion(source, as_json, "appending", ingestion.append_lines)


@app.command("delete")
@handle_errors
def delete(
    subject_id: Annotated[str, typer.Argument(help="the subject's id", show_default=False, metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Delete a subject and all its data (the account is gone), recorded in the audit log; refused
    while a preservation hold names it."""
    from gateway.lifecycle.erasure import delete_subject
    from gateway.services import Services, utc_now

    config = settings()
    open_database(config).dispose()  # refuses a missing or outdated schema with its message
    services = Services.build(config)
    try:
        deleted, receipt = delete_subject(db=services.db, subjects=services.subjects, holds=services.preservations,
                                          audit=services.audit, subject_id=subject_id, now=utc_now())
    finally:
        services.close()
    if as_json:
        print_json({"deleted": True, "events_deleted": deleted, "audit_index": receipt.index})
        return
    console.print(f"deleted the subject and {plural(deleted, 'event')}; audit entry {receipt.index}", markup=False)

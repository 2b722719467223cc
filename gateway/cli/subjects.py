"""`gateway subjects …`: import the platform's subjects into the encrypted store (docs/PROTOCOL.md §9)."""

from __future__ import annotations

import os
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

from client.cli.words import plural
from gateway.cli.common import console, err_console, fail, handle_errors, open_database, settings
from gateway.errors import SubjectImportError

if TYPE_CHECKING:  # the store and the keys are imported when a command runs
    from gateway.config import Settings
    from gateway.subjects.store import ImportReport, SubjectStore

__all__ = ["app", "import_report_line", "subject_store"]

app = typer.Typer(help="Import and count the platform's subjects, stored encrypted with blind-index lookups.",
                  no_args_is_help=True)

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

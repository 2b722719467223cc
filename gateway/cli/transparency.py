"""`gateway transparency …`: generate, store and verify transparency reports (docs/PROTOCOL.md §10).

``report`` is an operator command with direct database access: it signs with the gateway's key.
``verify`` is for anyone: it needs no database and no configuration, only report.json, the
entries from `gateway audit export` and the verifier key from ``/.well-known/disclosure-gateway``.

Exit status: 0 when the command did what it says (for ``verify``: everything matches); 1 when the
report does not verify, naming the first figure or check that differs; 2 for bad usage.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from client.cli.group import Group
from client.cli.words import plural
from crypto.note import parse_verifier_key
from gateway.cli import groups
from gateway.cli.common import console, err_console, fail, handle_errors, open_database, print_json, settings
from gateway.errors import FiguresError, OperatorError, ReportVerificationError
from gateway.transparency.period import parse_period, span

if TYPE_CHECKING:  # the figures and the log are imported when a command runs
    from gateway.transparency.period import Period

__all__ = ["app"]

app = typer.Typer(help=groups.TRANSPARENCY, cls=Group, no_args_is_help=True)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err_console, transient=True)


def _period(period: str | None, start: str | None, until: str | None) -> Period:
    if period is not None and (start is not None or until is not None):
        fail("give either --period or --from and --until, not both")
    if period is not None:
        return parse_period(period)
    if start is None or until is None:
        fail("give --period (2026-H2, 2026-Q3, 2026, 2026-07) or both --from and --until (YYYY-MM-DD)")
    return span(start, until)


@app.command("report")
@handle_errors
def report(
    out: Annotated[Path, typer.Option(help="write report.json, report.csv and report.html into this folder",
                                      show_default=False)],
    period: Annotated[str | None, typer.Option(help="2026-H2, 2026-Q3, 2026 or 2026-07")] = None,
    start: Annotated[str | None, typer.Option("--from", help="first day (YYYY-MM-DD, UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="day after the last (YYYY-MM-DD, UTC)")] = None,
    tree_size: Annotated[int | None, typer.Option(help="compute at the checkpoint of this many entries "
                                                       "(default: the whole log now)", min=1)] = None,
    band_below: Annotated[int, typer.Option(help="publish counts below N as the band 0-(N-1); 0: exact counts",
                                            min=0, max=1000)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object: period, version, supersedes, "
                                                         "tree_size, new, files")] = False,
) -> None:
    """Compute the period's figures from the audit log up to one signed checkpoint, sign the report
    with the gateway's key, store it (a new version if the checkpoint is later than the stored one's)
    and write its three files."""
    from gateway.keys.keyring import load_gateway_keys
    from gateway.services import utc_now
    from gateway.transparency.figures import Banding
    from gateway.transparency.publish import generate_report

    chosen = _period(period, start, until)
    config = settings()
    key = load_gateway_keys(config).signing_key
    db = open_database(config)
    try:
        with db.engine.begin() as connection, _progress() as bar:
            task = bar.add_task(f"scanning the log for {chosen.name}", total=None)
            stored, new = generate_report(
                connection, period=chosen, banding=Banding(band_below), origin=config.origin, key=key, now=utc_now(),
                tree_size=tree_size, progress=lambda done, total: bar.update(task, completed=done, total=total))
    except FiguresError as exc:
        raise OperatorError(f"the log's facts cannot be counted: {exc}") from exc
    finally:
        db.dispose()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in (("report.json", stored.json), ("report.csv", stored.csv), ("report.html", stored.html)):
            (out / name).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise OperatorError(f"cannot write into {out}: {type(exc).__name__}") from exc
    if as_json:
        print_json({"period": stored.period, "version": stored.version, "supersedes": stored.supersedes,
                    "tree_size": stored.tree_size, "new": new,
                    "files": [str(out / name) for name in ("report.json", "report.csv", "report.html")]})
        return
    state = "stored as" if new else "unchanged since the log has not moved: stored"
    supersedes = f", superseding version {stored.supersedes}" if stored.supersedes else ""
    console.print(f"report {escape(stored.period)} at tree size {stored.tree_size} {state} version {stored.version}"
                  f"{supersedes}; wrote report.json, report.csv, report.html to {escape(str(out))}")


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        yield from source


@app.command("verify")
@handle_errors
def verify(
    report_file: Annotated[Path, typer.Argument(metavar="REPORT", help="report.json", show_default=False)],
    entries: Annotated[Path, typer.Option(help="the entries from `gateway audit export --to TREE_SIZE`",
                                          show_default=False)],
    verifier_key: Annotated[str, typer.Option(help="the gateway's checkpoint_verifier_key "
                                                   "(from /.well-known/disclosure-gateway)", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object: verified, and the period, version, "
                                                         "tree_size, root_hash, figures and signed_by, or the reason "
                                                         "it does not verify")] = False,
) -> None:
    """Recompute every leaf, the root and every figure from the exported entries, and check the
    report's checkpoint and signature with the verifier key. Needs no database. Exit 0 only if all
    match; otherwise name the first figure or check that differs and exit 1."""
    from gateway.transparency.verify import verify_report

    verifier = parse_verifier_key(verifier_key)  # a malformed key is bad usage: exit 2
    try:
        text = report_file.read_bytes()
        entries.stat()
    except OSError as exc:
        raise OperatorError(f"cannot read the report or the entries: {type(exc).__name__}") from exc
    try:
        with _progress() as bar:
            task = bar.add_task("recomputing", total=None)
            result = verify_report(text, _lines(entries), verifier,
                                   progress=lambda done: bar.update(task, completed=done))
    except ReportVerificationError as exc:
        if as_json:
            print_json({"verified": False, "reason": exc.reason})
        else:
            err_console.print(f"[bold red]report does NOT verify:[/] {escape(exc.reason)}")
        raise typer.Exit(1) from None
    except OSError as exc:
        raise OperatorError(f"cannot read {entries}: {type(exc).__name__}") from exc
    if as_json:
        print_json({"verified": True, "period": result.period, "version": result.version,
                    "tree_size": result.tree_size, "root_hash": result.root_hash, "figures": result.figures,
                    "signed_by": verifier.name})
        return
    console.print(f"report {escape(result.period)} version {result.version} verifies: "
                  f"{plural(result.figures, 'figure')} recomputed from {plural(result.tree_size, 'entry')}, "
                  f"root {result.root_hash}, signed by {verifier.name}")

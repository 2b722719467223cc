"""Generating a report from the stored log: scan the entries up to one signed checkpoint, compute
the figures, sign, render and store (§10.4, §10.6)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from nacl.signing import SigningKey
from sqlalchemy import Connection, select

from crypto.canonical import canonical_json, parse_json_object
from crypto.encoding import b64encode
from crypto.note import NoteVerifier, verify_checkpoint
from gateway.audit import proofs
from gateway.audit.checkpoints import note_name
from gateway.errors import BadRequest
from gateway.store.tables import AuditEntry
from gateway.transparency.figures import Banding, Tally
from gateway.transparency.period import Period
from gateway.transparency.render import CheckpointInfo, report_body, report_csv, report_html
from gateway.transparency.signing import sign_report
from gateway.transparency.store import StoredReport, insert_report, latest_report
from gateway.values.times import rfc3339_us

__all__ = ["ProgressCallback", "generate_report", "report_json_text"]

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_CHUNK = 2000

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(entries scanned, entries to scan)`` after each chunk."""


def report_json_text(report: dict[str, object]) -> str:
    """report.json as written: indented for people; the signature covers its JCS form, not this."""
    return json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _scan(connection: Connection, size: int, tally: Tally, progress: ProgressCallback | None) -> None:
    done = 0
    while done < size:
        rows = connection.execute(select(_entries.c.idx, _entries.c.entry)
                                  .where(_entries.c.idx >= done, _entries.c.idx < size)
                                  .order_by(_entries.c.idx).limit(_CHUNK)).all()
        for row in rows:
            if int(row.idx) != done:
                raise BadRequest(f"audit entry {done} is missing; run `gateway audit verify`")
            tally.add(parse_json_object(str(row.entry), what="audit entry"))
            done += 1
        if not rows:
            raise BadRequest(f"audit entry {done} is missing; run `gateway audit verify`")
        if progress is not None:
            progress(done, size)


def generate_report(connection: Connection, *, period: Period, banding: Banding, origin: str, key: SigningKey,
                    now: datetime, tree_size: int | None = None,
                    progress: ProgressCallback | None = None) -> tuple[StoredReport, bool]:
    """The report of ``period`` at the checkpoint of ``tree_size`` entries (default: the whole log
    now), stored unless the latest stored version has that checkpoint and banding already. Return
    it and whether it is new. Raise :class:`BadRequest` for a size outside the log or below the
    latest version's (a report is only ever superseded by one at a later checkpoint)."""
    size = proofs.checked_tree_size(connection, tree_size)
    banding_text = canonical_json(banding.document()).decode("utf-8")
    latest = latest_report(connection, period.name)
    if latest is not None:
        if latest.tree_size == size and latest.banding == banding_text:
            return latest, False
        if size < latest.tree_size:
            raise BadRequest(f"version {latest.version} of {period.name} is at tree size {latest.tree_size}; "
                             "a new version must be at that checkpoint or a later one")
    note = proofs.signed_checkpoint(connection, size, origin=origin, key=key)
    checkpoint = verify_checkpoint(note, NoteVerifier.for_key(note_name(origin), bytes(key.verify_key)),
                                   origin=origin)
    tally = Tally(period, banding)
    _scan(connection, size, tally, progress)
    version = 1 if latest is None else latest.version + 1
    body = report_body(period=period, banding=banding, figures=tally.figures(), version=version,
                       supersedes=None if latest is None else latest.version, generated_at=rfc3339_us(now),
                       checkpoint=CheckpointInfo(origin=checkpoint.origin, tree_size=checkpoint.size,
                                                 root_hash=b64encode(checkpoint.root_hash), note=note))
    report = sign_report(body, key)
    stored = StoredReport(period=period.name, version=version, supersedes=body["supersedes"], tree_size=size,
                          banding=banding_text, created_at=int(now.timestamp()), json=report_json_text(report),
                          csv=report_csv(report), html=report_html(report))
    insert_report(connection, stored)
    return stored, True

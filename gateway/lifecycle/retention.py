"""Retention (docs/PROTOCOL.md §16.3): the platform keeps IP events only "for a short period".

:func:`expire` is the pure rule: IP events last seen before the IP cutoff go, and so do devices
and former usernames past theirs when those are configured (off by default). :func:`run_retention`
applies it to the stored rows by time range (``DELETE … WHERE last_seen < cutoff``, a batch per
transaction, no document rewritten), except those of subjects under an active preservation hold,
and appends ONE audit entry with counts only. With the ``sql`` source (``copies_only``) the
embedded store holds only the copies preservation holds keep (:mod:`gateway.lifecycle.preserved`):
a copy no active hold names is deleted whole, and a held one is kept whole.

Deleted means gone from the database file, not hidden. On SQLite the run turns on
``secure_delete`` (freed cells and pages are overwritten with zeros) and then checkpoints the WAL
with TRUNCATE, so neither the main file nor the WAL still holds the old ciphertext. On PostgreSQL
the run VACUUMs the table so the dead row versions are reclaimed; their bytes stay on disk until
PostgreSQL reuses the pages (VACUUM FULL would rewrite the table, under an exclusive lock).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text

from gateway.audit.model import AuditEvent, AuditReceipt, Decision
from gateway.audit.writer import AuditWriter
from gateway.config import Settings
from gateway.lifecycle.preservation import Preservations
from gateway.lifecycle.preserved import drop_copy
from gateway.store.engine import Database
from gateway.subjects.record import SubjectRecord
from gateway.subjects.store import SubjectStore
from gateway.transparency import facts
from gateway.values.ids import RETENTION_RUN, new_id
from gateway.values.times import epoch_micros, format_time

__all__ = ["Cutoffs", "PurgeReport", "expire", "run_retention"]

log = logging.getLogger("gateway.retention")


@dataclass(frozen=True)
class Cutoffs:
    """Events that ended before these times are deleted; ``None`` keeps that kind for ever."""

    ip_events: datetime
    devices: datetime | None = None
    username_history: datetime | None = None

    @classmethod
    def at(cls, now: datetime, settings: Settings) -> Cutoffs:
        def days(value: int | None) -> datetime | None:
            return None if value is None else now - timedelta(days=value)

        return cls(now - timedelta(days=settings.ip_retention_days), days(settings.device_retention_days),
                   days(settings.username_history_retention_days))


@dataclass
class PurgeReport:
    """What one run did, in counts: the only thing its audit entry says."""

    subjects_scanned: int = 0
    subjects_changed: int = 0
    subjects_held: int = 0
    ip_events_deleted: int = 0
    devices_deleted: int = 0
    username_history_deleted: int = 0
    events_kept_for_holds: int = 0
    copies_deleted: int = 0
    file_compacted: bool = False

    def counts(self) -> dict[str, int]:
        return {k: int(v) for k, v in dataclasses.asdict(self).items()}


def expire(record: SubjectRecord, cutoffs: Cutoffs) -> tuple[SubjectRecord, tuple[int, int, int]]:
    """``record`` without what is past retention, and how many (IP events, devices, usernames) went.
    A former username ends at its ``until``; the current one (no ``until``) is never past."""
    ips = tuple(e for e in record.ip_events if e.last_seen >= cutoffs.ip_events)
    devices = record.devices
    if cutoffs.devices is not None:
        devices = tuple(d for d in record.devices if d.last_seen >= cutoffs.devices)
    history = record.username_history
    if cutoffs.username_history is not None:
        cutoff = cutoffs.username_history
        history = tuple(u for u in record.username_history if u.until is None or u.until >= cutoff)
    kept = dataclasses.replace(record, ip_events=ips, devices=devices, username_history=history)
    return kept, (len(record.ip_events) - len(ips), len(record.devices) - len(devices),
                  len(record.username_history) - len(history))


def run_retention(*, db: Database, subjects: SubjectStore, holds: Preservations, audit: AuditWriter,
                  cutoffs: Cutoffs, now: datetime, copies_only: bool = False) -> tuple[PurgeReport, AuditReceipt]:
    """Delete every row past its cutoff but those of subjects under a hold active at ``now``; append
    one audit entry of counts. ``copies_only`` (the sql source): the store holds preserved copies,
    and an unheld one is deleted whole. Raises ``AuditUnavailable`` when the entry cannot be made
    durable (the purge stands: deleting past retention is owed whatever the log).

    ``subjects_scanned`` counts the stored subjects, ``subjects_changed`` those that lost a row."""
    subjects.convert_documents()  # a database of the previous layout, its conversion interrupted
    report = PurgeReport(subjects_scanned=subjects.count())
    held = frozenset(s for s in holds.held_subjects(now) if subjects.exists(s))
    report.subjects_held = len(held)
    changed: set[str] = set()
    if copies_only:  # a held copy is kept whole; an unheld one goes whole
        report.copies_deleted = _drop_unheld_copies(db, subjects, held)
    else:
        changed = _delete_expired_rows(subjects, cutoffs, held, report)
    report.subjects_changed = len(changed)
    if changed or report.copies_deleted:
        report.file_compacted = _compact(db)
    cutoff_times = {"ip_events": format_time(cutoffs.ip_events),
                    "devices": format_time(cutoffs.devices) if cutoffs.devices else None,
                    "username_history": format_time(cutoffs.username_history) if cutoffs.username_history else None}
    event = AuditEvent(request_id=new_id(RETENTION_RUN), time=now, decision=Decision.SERVED,
                       facts=[facts.retention_purge(report.counts(), cutoff=cutoff_times)])
    return report, audit.append_sync(event)


def _delete_expired_rows(subjects: SubjectStore, cutoffs: Cutoffs, held: frozenset[str],
                         report: PurgeReport) -> set[str]:
    """Delete, by time range, every row past its kind's cutoff but the held subjects'; count them in
    ``report`` and return whose rows went."""
    changed: set[str] = set()
    for kind, cutoff, counter in (("ip", cutoffs.ip_events, "ip_events_deleted"),
                                  ("device", cutoffs.devices, "devices_deleted"),
                                  ("username", cutoffs.username_history, "username_history_deleted")):
        if cutoff is None:
            continue
        # The open-ended current username ends at events.OPEN, after every cutoff.
        for deleted, whose in subjects.expired_batches(kind, epoch_micros(cutoff), keep=held):
            setattr(report, counter, getattr(report, counter) + deleted)
            changed |= whose
        report.events_kept_for_holds += subjects.count_expired(kind, epoch_micros(cutoff), held)
    return changed


def _drop_unheld_copies(db: Database, subjects: SubjectStore, held: frozenset[str]) -> int:
    """Delete every stored copy no active hold names, a transaction per batch of ids; how many."""
    deleted = 0
    after = ""
    while batch := subjects.ids(after=after):
        after = batch[-1]
        with db.writes() as connection:
            if db.dialect == "sqlite":
                connection.exec_driver_sql("PRAGMA secure_delete=ON")
            deleted += sum(int(drop_copy(subjects, connection, subject_id)) for subject_id in batch
                           if subject_id not in held)
    return deleted


def _compact(db: Database) -> bool:
    """Make the deletions physical; True when the database confirms it (no reader held it back)."""
    try:
        if db.dialect == "sqlite":
            with db.engine.connect() as connection:
                busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return busy is not None and busy[0] == 0
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM subject_events"))
            connection.execute(text("VACUUM subjects"))
        return True
    except Exception as exc:  # the purge itself committed; the next run compacts again
        log.warning("retention could not compact the database: %s", type(exc).__name__)
        return False

"""A database written by the previous release (schema 0008, each subject one sealed document) is
upgraded by `gateway init`: migration 0009 adds the event table, and the conversion, which holds the
at-rest key, splits every document into a head and event rows. Before the conversion and after it,
every field of every subject answers exactly what the previous release answered, in every window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import func, select, text

from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys
from gateway.keys.vault import Vault
from gateway.maintenance.initialize import initialize
from gateway.store import migrate
from gateway.store.engine import Database
from gateway.store.tables import metadata
from gateway.subjects.parsing import parse_subject
from gateway.subjects.record import SubjectRecord
from gateway.subjects.store import SubjectStore
from gateway.subjects.synthetic import generate_subjects
from tests.support.legacy_store import write_previous_layout

FIELDS = ("phoneNumber", "ipAddresses", "devices", "usernameHistory")


def windows(record: SubjectRecord) -> list[tuple[datetime, datetime]]:
    """The windows where an answer can go wrong: ending just at, starting just at, and spanning each
    bound of each of the record's events (an event [first_seen, last_seen] overlaps [from, until)
    iff first_seen < until and last_seen >= from), beside the whole range and a coarse grid over the
    eight years the synthetic histories span."""
    start, tick, day = datetime(2019, 1, 1, tzinfo=UTC), timedelta(microseconds=1), timedelta(days=1)
    found = [(start, datetime(2100, 1, 1, tzinfo=UTC))]
    found += [(start + timedelta(days=d), start + timedelta(days=d + 120)) for d in range(0, 365 * 8, 270)]
    bounds = {b for e in (*record.ip_events, *record.devices) for b in (e.first_seen, e.last_seen)}
    bounds |= {b for u in record.username_history for b in (u.from_, u.until) if b is not None}
    for bound in sorted(bounds):
        found += [(bound - day, bound), (bound - tick, bound), (bound, bound + tick), (bound, bound + day),
                  (bound - day, bound + day)]
    return found


def assert_same_answers(store: SubjectStore, records: list[SubjectRecord]) -> None:
    for record in records:
        for window in windows(record):
            for field in FIELDS:
                assert store.read_field(record.id, field, window) == record.field_value(field, window), \
                    (record.id, field, window)
        assert store.get(record.id) == record


def test_a_database_of_the_previous_release_answers_the_same_after_the_upgrade(settings: Settings) -> None:
    records = [parse_subject(s) for s in generate_subjects(12, seed=29, ip_events=9)]
    db = Database(settings.sqlalchemy_url)
    vault = Vault.from_keys(load_gateway_keys(settings))
    try:
        config = migrate._config()
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0008")
        with db.engine.begin() as connection:
            write_previous_layout(connection, vault, records)
        # The migration alone: the store reads the previous layout from its documents.
        migrate.upgrade(db)
        store = SubjectStore(db, vault, batch_size=5)
        assert len(store.legacy_ids(limit=100)) == 12
        assert_same_answers(store, records)
        # `gateway init` converts them, and the answers stay the same.
        initialize(settings)
        assert store.legacy_ids() == []
        with db.engine.connect() as connection:
            events = connection.execute(select(func.count()).select_from(metadata.tables["subject_events"]))
            assert events.scalar_one() == sum(len(r.ip_events) + len(r.devices) + len(r.username_history)
                                              for r in records)
            layouts = connection.execute(text("SELECT DISTINCT layout FROM subjects")).scalars().all()
            assert layouts == [2]
        assert_same_answers(store, records)
        for record in records:
            assert store.find_by_phone(record.phone) == record.id
        assert store.convert_documents() == 0  # idempotent: init again changes nothing
    finally:
        db.dispose()

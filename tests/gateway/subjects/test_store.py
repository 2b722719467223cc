"""The encrypted subject store, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import sqlalchemy
from sqlalchemy import func, select, text

from gateway.config import Settings
from gateway.errors import StoreIntegrityError, SubjectImportError
from gateway.keys.keyring import load_gateway_keys
from gateway.keys.vault import Vault
from gateway.store.engine import Database
from gateway.store.tables import metadata
from gateway.subjects.normalise import normalise_phone
from gateway.subjects.parsing import parse_subject
from gateway.subjects.store import SubjectStore
from gateway.subjects.synthetic import generate_subjects

Subject = dict[str, Any]
SUBJECTS = metadata.tables["subjects"]
INDEX = metadata.tables["subject_index"]


@pytest.fixture
def make_store(settings: Settings, db: Database) -> Callable[..., SubjectStore]:
    """Factory: a store over the parametrised database with the gateway's own keys."""
    vault = Vault.from_keys(load_gateway_keys(settings))
    return lambda **kwargs: SubjectStore(db, vault, **kwargs)


@pytest.fixture
def store(make_store: Callable[..., SubjectStore]) -> SubjectStore:
    return make_store()


def lines(subjects: list[Subject]) -> Iterator[str]:
    return (json.dumps(subject) + "\n" for subject in subjects)


def row_counts(db: Database) -> tuple[int, int]:
    with db.engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(SUBJECTS)).scalar_one(),
                conn.execute(select(func.count()).select_from(INDEX)).scalar_one())


def test_import_reports_count_and_rate(store: SubjectStore) -> None:
    report = store.import_lines(lines(list(generate_subjects(30, ip_events=3))))
    assert report.subjects == 30
    assert report.seconds > 0
    assert report.rate > 0
    assert store.count() == 30


def test_lookups_find_subject_by_phone_in_other_formatting_and_username_in_other_case(
    store: SubjectStore,
) -> None:
    subjects = list(generate_subjects(20, ip_events=2))
    store.import_lines(lines(subjects))
    for subject in subjects:
        number = phonenumbers.parse(subject["phone"], None)
        # Dashes instead of the spaces or none the generator used: a formatting not imported.
        other_format = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        assert store.find_by_phone(other_format.replace(" ", "-")) == subject["id"]
        assert store.find_by_phone(normalise_phone(subject["phone"])) == subject["id"]
        assert store.find_by_username(subject["username"].upper()) == subject["id"]
        assert store.find_by_username(subject["username"].lower()) == subject["id"]


def test_get_returns_the_normalised_record(store: SubjectStore) -> None:
    subjects = list(generate_subjects(5))
    store.import_lines(lines(subjects))
    for subject in subjects:
        assert store.get(subject["id"]) == parse_subject(subject)


def test_unknown_and_invalid_lookups_find_nothing(store: SubjectStore) -> None:
    store.import_lines(lines(list(generate_subjects(3, ip_events=1))))
    assert store.get("sub_000000000000") is None
    assert store.get("not a subject id!") is None
    assert not store.exists("sub_000000000000")
    assert store.find_by_phone("+1 201-555-0199") is None
    assert store.find_by_phone("call me maybe") is None
    assert store.find_by_phone("") is None
    assert store.find_by_username("nobody_here") is None
    assert store.find_by_username("not a username!") is None


def test_exists_and_count(store: SubjectStore) -> None:
    subjects = list(generate_subjects(4, ip_events=1))
    assert store.count() == 0
    store.import_lines(lines(subjects))
    assert store.exists(subjects[0]["id"])
    assert store.count() == 4


def test_former_usernames_are_not_indexed(store: SubjectStore) -> None:
    subject = next(generate_subjects(1))
    subject["username_history"] = [
        {"username": "former_name_1", "from": "2025-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"username": subject["username"], "from": "2026-01-01T00:00:00Z"},
    ]
    store.import_lines(lines([subject]))
    assert store.find_by_username("former_name_1") is None
    assert store.find_by_username(subject["username"]) == subject["id"]


def test_progress_reports_running_totals_per_batch(make_store: Callable[..., SubjectStore]) -> None:
    seen: list[int] = []
    make_store(batch_size=10).import_lines(lines(list(generate_subjects(25, ip_events=1))), progress=seen.append)
    assert seen == [10, 20, 25]


def _needles(subjects: list[Subject]) -> set[str]:
    """Every phone number (as given, E.164, national digits), IP address and username imported."""
    found: set[str] = set()
    for subject in subjects:
        number = phonenumbers.parse(subject["phone"], None)
        found |= {subject["phone"], normalise_phone(subject["phone"]), str(number.national_number),
                  subject["username"], subject["username"].casefold()}
        found |= {event["ip"] for event in subject["ip_events"]}
        found |= {record["username"] for record in subject["username_history"]}
    return found


def _scan(haystack: bytes, needles: set[str], where: str) -> None:
    text_forms = (haystack, haystack.hex().encode("ascii"))
    for needle in needles:
        raw = needle.encode("utf-8")
        for form, probe in zip(text_forms, (raw, raw.hex().encode("ascii")), strict=True):
            assert probe not in form, f"plaintext subject data ({len(needle)} characters) found in {where}"


def test_no_phone_number_ip_or_username_is_stored_in_plaintext(
    store: SubjectStore, db: Database, db_kind: str, tmp_path: Path
) -> None:
    subjects = list(generate_subjects(150, seed=11, ip_events=5))
    store.import_lines(lines(subjects))
    needles = _needles(subjects)
    assert len(needles) > 700

    if db_kind == "sqlite":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()
        database = Path(str(db.engine.url.database))
        assert database.stat().st_size > 150 * 200
        # Every file the gateway wrote: the database, its -wal/-shm, the key files.
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert database in files
        for path in files:
            _scan(path.read_bytes(), needles, path.name)
    else:
        with db.engine.connect() as conn:
            tables = conn.execute(text("SELECT table_name FROM information_schema.tables "
                                       "WHERE table_schema = current_schema()")).scalars().all()
            assert {"subjects", "subject_index"} <= set(tables)
            for table in tables:
                columns = conn.execute(
                    text("SELECT column_name FROM information_schema.columns "
                         "WHERE table_schema = current_schema() AND table_name = :t"), {"t": table}
                ).scalars().all()
                # Every column in PostgreSQL's own text form (bytea as \x hex) ...
                as_text = ", ".join(f'CAST("{c}" AS TEXT)' for c in columns)
                parts = ["\x00".join(v or "" for v in row).encode("utf-8")
                         for row in conn.execute(text(f'SELECT {as_text} FROM "{table}"'))]
                # ... and as the driver's raw values, bytea decoded.
                for row in conn.execute(sqlalchemy.table(table, *map(sqlalchemy.column, columns)).select()):
                    for value in row:
                        raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                        parts += [raw, raw.decode("latin-1").encode("utf-8")]
                _scan(b"\x00".join(parts), needles, table)

    # The scan itself finds what it looks for.
    needle = sorted(needles)[0]
    with pytest.raises(AssertionError, match="plaintext subject data"):
        _scan(b"\x00" + needle.encode("utf-8") + b"\x00", needles, "self-test")


def test_bad_line_737_of_1000_leaves_an_empty_store_empty(store: SubjectStore, db: Database) -> None:
    subjects = list(generate_subjects(1000, seed=5, ip_events=2))
    subjects[736]["ip_events"][1]["ip"] = "203.0.113.256"
    with pytest.raises(SubjectImportError, match=r"^line 737: field 'ip_events\[1\]\.ip' is not a valid IP address$"):
        store.import_lines(lines(subjects))
    assert row_counts(db) == (0, 0)


def test_bad_line_737_of_1000_leaves_a_populated_store_exactly_as_it_was(store: SubjectStore, db: Database) -> None:
    store.import_lines(lines(list(generate_subjects(40, seed=1, ip_events=2))))
    before = row_counts(db)
    with db.engine.connect() as conn:
        rows_before = sorted(conn.execute(select(SUBJECTS)).all())
    assert before == (40, 80)

    subjects = list(generate_subjects(1000, seed=2, ip_events=2))
    subjects[736]["created_at"] = "2026-13-01T00:00:00Z"
    with pytest.raises(SubjectImportError, match=r"^line 737: field 'created_at' is not an RFC 3339 time"):
        store.import_lines(lines(subjects))
    assert row_counts(db) == before
    with db.engine.connect() as conn:
        assert sorted(conn.execute(select(SUBJECTS)).all()) == rows_before


def test_duplicate_phone_within_the_file_is_refused_with_its_line_number(store: SubjectStore, db: Database) -> None:
    subjects = list(generate_subjects(5, ip_events=1))
    number = phonenumbers.parse(subjects[0]["phone"], None)
    subjects[2]["phone"] = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    with pytest.raises(SubjectImportError, match=r"^line 3: field 'phone' is the same as line 1's$") as caught:
        store.import_lines(lines(subjects))
    assert str(number.national_number) not in str(caught.value)
    assert row_counts(db) == (0, 0)


def test_duplicate_username_in_other_case_within_the_file_is_refused(store: SubjectStore) -> None:
    subjects = list(generate_subjects(5, ip_events=1))
    subjects[3]["username"] = subjects[1]["username"].swapcase()
    with pytest.raises(SubjectImportError, match=r"^line 4: field 'username' is the same as line 2's$"):
        store.import_lines(lines(subjects))


def test_duplicate_id_within_the_file_is_refused(store: SubjectStore) -> None:
    subjects = list(generate_subjects(3, ip_events=1))
    subjects[2]["id"] = subjects[0]["id"]
    with pytest.raises(SubjectImportError, match=r"^line 3: field 'id' is the same as line 1's$"):
        store.import_lines(lines(subjects))


def test_duplicates_across_batches_are_found_in_the_open_transaction(
    make_store: Callable[..., SubjectStore], db: Database
) -> None:
    subjects = list(generate_subjects(30, ip_events=1))
    subjects[24]["phone"] = subjects[3]["phone"]
    with pytest.raises(SubjectImportError, match=r"^line 25: field 'phone' is already used by another subject"):
        make_store(batch_size=10).import_lines(lines(subjects))
    assert row_counts(db) == (0, 0)


@pytest.mark.parametrize(("field", "message"), [
    ("id", "field 'id': a subject with this id already exists"),
    ("phone", "field 'phone' is already used by another subject"),
    ("username", "field 'username' is already used by another subject"),
])
def test_subject_clashing_with_the_store_is_refused(store: SubjectStore, db: Database, field: str,
                                                     message: str) -> None:
    existing = list(generate_subjects(3, seed=1, ip_events=1))
    store.import_lines(lines(existing))
    new = list(generate_subjects(4, seed=2, ip_events=1))
    new[2][field] = existing[1][field]
    with pytest.raises(SubjectImportError, match=f"^line 3: {message}"):
        store.import_lines(lines(new))
    assert row_counts(db) == (3, 6)


def test_the_first_bad_line_is_reported_when_a_later_one_is_also_bad(store: SubjectStore) -> None:
    existing = list(generate_subjects(2, seed=1, ip_events=1))
    store.import_lines(lines(existing))
    new = [json.dumps(s) for s in generate_subjects(10, seed=2, ip_events=1)]
    new[4] = new[4].replace(json.loads(new[4])["id"], existing[0]["id"])  # clashes with the store
    new[6] = "{not json"
    with pytest.raises(SubjectImportError, match=r"^line 5: field 'id': a subject with this id already exists"):
        store.import_lines(new)


def test_ciphertext_moved_to_another_subject_does_not_open(store: SubjectStore, db: Database) -> None:
    first, second = generate_subjects(2, ip_events=1)
    store.import_lines(lines([first, second]))
    with db.engine.begin() as conn:
        sealed = conn.execute(select(SUBJECTS.c.sealed).where(SUBJECTS.c.id == first["id"])).scalar_one()
        conn.execute(SUBJECTS.update().where(SUBJECTS.c.id == second["id"]).values(sealed=sealed))
    assert store.get(first["id"]) is not None
    with pytest.raises(StoreIntegrityError, match=r"^stored subject data failed its integrity check$"):
        store.get(second["id"])

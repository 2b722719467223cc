"""The embedded store's writer as it was before schema revision 0009 (kept to build a database of
the previous release): each subject ONE sealed document of its whole history, under ``subject:ID``,
and the same blind indexes."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

from gateway.keys.contexts import subject_context
from gateway.keys.vault import Vault
from gateway.subjects.normalise import normalise_username
from gateway.subjects.record import SubjectRecord, encode_document


def write_previous_layout(connection: Connection, vault: Vault, records: Iterable[SubjectRecord]) -> None:
    """Insert ``records`` as the previous release's ``import`` did (its tables, its rows)."""
    for record in records:
        connection.execute(text("INSERT INTO subjects (id, sealed) VALUES (:i, :s)"),
                           {"i": record.id, "s": vault.seal(encode_document(record.to_document()),
                                                            context=subject_context(record.id))})
        for kind, value in (("phone", record.phone), ("username", normalise_username(record.username))):
            connection.execute(text("INSERT INTO subject_index (kind, digest, subject_id) VALUES (:k, :d, :i)"),
                               {"k": kind, "d": vault.blind_index(kind, value), "i": record.id})

"""Subjects: the platform users whose data the gateway can disclose, and their encrypted store.

- :mod:`~gateway.subjects.normalise` — phone numbers, usernames and IP addresses in one form.
- :mod:`~gateway.subjects.record` — :class:`SubjectRecord` and its §4 values.
- :mod:`~gateway.subjects.parsing` — one JSON Lines import line into a record.
- :mod:`~gateway.subjects.events` — a subject's history as sealed rows found by (subject, kind, time).
- :mod:`~gateway.subjects.store` — :class:`SubjectStore`, sealed rows and blind indexes.
- :mod:`~gateway.subjects.ingest` — live ingestion: ``upsert`` and ``append-events``, line by line.
- :mod:`~gateway.subjects.source` — :class:`SubjectSource`, the one interface every reader of subjects
  uses; the store above is its ``embedded`` implementation.
- :mod:`~gateway.subjects.mapping` — the ``sql`` source's TOML mapping, one checked SELECT per purpose.
- :mod:`~gateway.subjects.sql_source` — :class:`SqlSource`, the platform's own database (docs/PROTOCOL.md §9.2).

Imports: the value layer, ``errors``, ``crypto``, phonenumbers; only ``store``, ``events`` and
``ingest`` import ``gateway.store`` or ``gateway.keys.vault``, and only they, ``mapping`` and
``sql_source`` import SQLAlchemy. Nothing here imports orders, the API or the CLI.

A subject is imported from one line of JSON Lines (docs/PROTOCOL.md §9)::

    {"id","username","phone","created_at",
     "ip_events":[{"ip","port"?,"first_seen","last_seen"}],
     "devices":[{"model","platform","app","app_version","first_seen","last_seen"}],
     "username_history":[{"username","from","until"?}]}

Every key is required except ``port`` and ``until``; the lists may be empty; no other key is
allowed. ``id`` is 1–64 of ``A–Z a–z 0–9 _ -``; usernames 1–64 of ``A–Z a–z 0–9 _``; device
texts 1–200 characters without control characters; ``port`` 1–65535; ``first_seen <= last_seen``
and ``from <= until``. Values are normalised on import: phone numbers to E.164 (they must carry
their ``+`` country code and be valid numbers), IP addresses to their compressed canonical text
(no zone index), times to UTC. Usernames are stored as given.

Storage. The current phone, username and created_at are one canonical-JSON head
(:func:`encode_document`) sealed by :class:`~gateway.keys.vault.Vault` and bound to the id
(``subjects.sealed``); every IP event, device and username record is a sealed row of its own
(``subject_events``), bound to the id, its kind and its times (:mod:`~gateway.subjects.events`).
Subject ids are stored as they are, as before; event times are plaintext columns, so that windows
and retention are index ranges: a reader of the database learns when a subject had events, never
what they were. Lookups go through
keyed blind indexes (``subject_index``) of exactly two things: the current ``phone`` (E.164)
and the current ``username`` (casefolded), each unique across subjects. Former usernames in
``username_history`` are *not* indexed: a name can pass from one user to another, so a former
name does not identify one subject, and indexing it would make the index an oracle for who once
used a name. A reviewer resolving a request by a former name does so out of band.

Times are parsed and written by :mod:`gateway.values.times`: RFC 3339 in, UTC out, in the form
that leaves the gateway in sealed values (docs/PROTOCOL.md §4).

Errors never carry subject data. A bad line raises :class:`~gateway.errors.SubjectLineError` naming the line and
the field, never the value ("field 'phone' is not a valid phone number", not the number), and the
library exceptions that would quote the value are dropped before the error is raised.
"""


"""`gateway keys rotate signing|at-rest|blind-index` (docs/PROTOCOL.md §13).

- **signing**, with the gateway serving: the next key is staged, the old key signs a checkpoint of
  the log as it is and the log's key record retires it at that size, in one transaction under the
  log's lock; every process then takes the next key over (gateway/audit/current_key.py), and the
  files follow (``checkpoint.history.json``, ``checkpoint.sign.key``). Discovery lists both keys, so
  checkpoints and disclosure records signed before the rotation still verify.
- The other two are run with the gateway stopped (every replica): a running process keeps the
  keys it started with.
- **at-rest**: a new key is written as ``at-rest.key.next``; every subject and every request's
  sealed selectors are re-sealed under it in batches, each batch one transaction; only when all are
  done does it replace ``at-rest.key``. Interrupted, the vault opens both (``gateway.keys.vault``) and
  the next run skips what is already re-sealed.
- **blind-index**: likewise ``blind-index.key.next``; every subject's index rows are recomputed
  under it (idempotent, so an interrupted run is simply run again), then it replaces the old key.
  The gateway refuses to start while this one is under way: a lookup would miss what is not yet
  re-indexed.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import VerifyKey
from sqlalchemy import Table, delete, func, insert, select, update

from crypto.encoding import b64encode
from crypto.keys import SECRET_KIND, SIGNING_KIND, generate_secret, generate_signing_key, write_key_file
from gateway.audit.checkpoints import lock_log, log_size, make_checkpoint
from gateway.audit.key_record import current_span, hand_over, read_record, seed_record
from gateway.audit.usage import usage_key, usage_mac
from gateway.audit.writer import writer_engine
from gateway.config import Settings
from gateway.errors import OperatorError, StoreIntegrityError
from gateway.keys.contexts import hold_context, request_context, subject_context, subject_event_context
from gateway.keys.keyring import KEY_FILES, NEXT_SUFFIX, RetiredSigningKey, load_gateway_keys, write_history
from gateway.keys.vault import Vault
from gateway.store.engine import Database
from gateway.store.tables import LegalRequestRow, OrderRow, PreservationRow, Subject, SubjectEvent, SubjectIndex
from gateway.subjects.normalise import normalise_username
from gateway.subjects.store import SubjectStore

__all__ = ["Progress", "SigningRotation", "rotate_at_rest", "rotate_blind_index", "rotate_signing"]

Progress = Callable[[str, int, int], None]
"""``progress(what, done, total)`` after each batch."""

_subjects: Table = Subject.__table__  # type: ignore[attr-defined]
_preservations: Table = PreservationRow.__table__  # type: ignore[attr-defined]
_index: Table = SubjectIndex.__table__  # type: ignore[attr-defined]
_events: Table = SubjectEvent.__table__  # type: ignore[attr-defined]
_requests: Table = LegalRequestRow.__table__  # type: ignore[attr-defined]
_orders: Table = OrderRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SigningRotation:
    old_key: VerifyKey
    new_key: VerifyKey
    tree_size: int | None  # where the new key took over; None when it was only staged


def rotate_signing(settings: Settings, *, stage_only: bool = False) -> SigningRotation:
    """Retire the signing key at the log's current size and put the staged next key in its place,
    with the gateway serving (docs/PROTOCOL.md §13).

    The next key is staged first as ``checkpoint.sign.key.next`` (kept if one is staged already;
    ``stage_only`` stops there). Then, in one transaction under the log's lock: the old key signs
    the log as it is (size N), the log's key record retires it at N and names the next key current
    (gateway/audit/key_record.py). From that commit on no process can store a checkpoint signed by
    the old key past N; every process that finds the next key in its keys directory takes it over.
    Last, the files: the old key joins ``checkpoint.history.json`` and the next key replaces
    ``checkpoint.sign.key``. Interrupted at any point, running it again finishes what is left."""
    keys = load_gateway_keys(settings)
    key_path = settings.keys_dir / KEY_FILES["checkpoint"]
    staged = keys.signing_next
    if staged is None:
        staged = generate_signing_key()
        write_key_file(key_path.with_name(key_path.name + NEXT_SUFFIX), SIGNING_KIND, bytes(staged))
    old = keys.signing_key.verify_key
    if stage_only:
        return SigningRotation(old, staged.verify_key, None)
    engine = writer_engine(settings.sqlalchemy_url)
    try:
        with engine.begin() as connection:
            lock_log(connection)
            seed_record(connection, keys)
            current = current_span(read_record(connection))
            if current is not None and current.public_key == bytes(staged.verify_key):
                size = current.from_size  # the handover committed before: only the files are left
            elif current is not None and current.public_key == bytes(old):
                # The old key's last word: the log as it is now.
                make_checkpoint(connection, origin=settings.origin, key=keys.signing_key, force=True)
                size = log_size(connection)
                hand_over(connection, origin=settings.origin, old=old, new=staged, size=size)
            else:
                raise OperatorError(
                    "the log's current signing key is "
                    f"{'none' if current is None else b64encode(current.public_key)}, neither this gateway's "
                    f"checkpoint.sign.key nor its staged next key, in {settings.keys_dir.resolve()}: a rotation "
                    "was made with other key files. Restore those (`gateway keys restore`) and run it there")
    finally:
        engine.dispose()
    retired = keys.retired_signing_keys
    if not retired or bytes(retired[-1].verify_key) != bytes(old):
        retired = (*retired, RetiredSigningKey(old, keys.signing_from_size, size))
    # History first: a crash before the key is replaced leaves the old key valid both as retired and
    # as current, which verifies the same, and the rotation can simply be run again.
    write_history(settings.keys_dir, retired)
    _finish(key_path)
    return SigningRotation(old, staged.verify_key, size)


def _finish(path: Path) -> None:
    os.replace(path.with_name(path.name + NEXT_SUFFIX), path)


def rotate_at_rest(settings: Settings, *, progress: Progress | None = None, batch_size: int = 500) -> int:
    """Re-seal every subject and every request's selectors under a new at-rest key; return how many
    rows were re-sealed. Resumes an interrupted run. :class:`OperatorError` if a row opens with
    neither key (that row was altered, or sealed by another gateway: nothing is replaced)."""
    path = settings.keys_dir / KEY_FILES["at_rest"]
    following = path.with_name(path.name + NEXT_SUFFIX)
    if not following.exists():
        write_key_file(following, SECRET_KIND, generate_secret())
    keys = load_gateway_keys(settings)
    vault = Vault.from_keys(keys)  # seals with the new key, opens with either
    db = Database(settings.sqlalchemy_url)
    resealed = 0
    try:
        for what, table, column, context in (
                ("subjects", _subjects, "sealed", subject_context),
                ("requests", _requests, "selectors_sealed", request_context),
                ("preservations", _preservations, "selectors_sealed", hold_context)):
            resealed += _reseal(db, vault, what, table, column, context, progress, batch_size)
        resealed += _reseal_events(db, vault, progress, batch_size * 10)
        _remac_usage(db, old=keys.at_rest_key, new=keys.at_rest_next)
    finally:
        db.dispose()
    _finish(path)
    return resealed


def _remac_usage(db: Database, *, old: bytes, new: bytes | None) -> None:
    """Order usage MACs are keyed from the at-rest key (gateway/audit/usage.py): carry over those that verify
    under the old key, and drop the rest so that readers count the log, as they would anyway. A MAC is
    never made for a count it did not already vouch for."""
    assert new is not None  # written before the re-sealing began
    old_key, new_key = usage_key(old), usage_key(new)
    with db.engine.begin() as connection:
        rows = connection.execute(select(_orders.c.id, _orders.c.queries_used, _orders.c.usage_index,
                                         _orders.c.usage_mac).where(_orders.c.usage_mac.is_not(None))).all()
        for order_id, used, index, mac in rows:
            if index is None:
                continue
            if hmac.compare_digest(usage_mac(new_key, order_id, int(used), int(index)), bytes(mac)):
                continue  # carried over by an interrupted run
            vouched = hmac.compare_digest(usage_mac(old_key, order_id, int(used), int(index)), bytes(mac))
            connection.execute(update(_orders).where(_orders.c.id == order_id).values(
                usage_mac=usage_mac(new_key, order_id, int(used), int(index)) if vouched else None))


def _reseal_events(db: Database, vault: Vault, progress: Progress | None, batch_size: int) -> int:
    """:func:`_reseal` for ``subject_events``, whose rows are bound to their subject, kind and times."""
    with db.engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(_events)).scalar_one())
    e = _events.c
    done = resealed = after = 0
    while True:
        with db.engine.begin() as connection:
            rows = connection.execute(select(e.id, e.subject_id, e.kind, e.first_seen, e.last_seen, e.sealed)
                                      .where(e.id > after).order_by(e.id).limit(batch_size)).all()
            for row_id, subject_id, kind, first_seen, last_seen, sealed in rows:
                context = subject_event_context(subject_id, kind, int(first_seen), int(last_seen))
                if vault.opens_with_current_key(bytes(sealed), context=context):
                    continue
                try:
                    plaintext = vault.open(bytes(sealed), context=context)
                except StoreIntegrityError:
                    raise OperatorError("a stored row of subject events opens with neither the old nor the new "
                                        "at-rest key; the rotation stopped and can be resumed once it is restored "
                                        "from a backup") from None
                connection.execute(update(_events).where(e.id == row_id)
                                   .values(sealed=vault.seal(plaintext, context=context)))
                resealed += 1
        if not rows:
            break
        done += len(rows)
        after = int(rows[-1][0])
        if progress is not None:
            progress("subject events", done, total)
    return resealed


def _reseal(db: Database, vault: Vault, what: str, t: Table, column: str,
            context: Callable[[str], bytes], progress: Progress | None, batch_size: int) -> int:
    with db.engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(t)).scalar_one())
    done = resealed = 0
    after = ""
    while True:
        with db.engine.begin() as connection:
            rows = connection.execute(select(t.c.id, t.c[column]).where(t.c.id > after)
                                      .order_by(t.c.id).limit(batch_size)).all()
            for row_id, sealed in rows:
                if vault.opens_with_current_key(bytes(sealed), context=context(row_id)):
                    continue
                try:
                    plaintext = vault.open(bytes(sealed), context=context(row_id))
                except StoreIntegrityError:
                    raise OperatorError(f"a stored row of {what} opens with neither the old nor the new at-rest "
                                        "key; the rotation stopped and can be resumed once it is restored "
                                        "from a backup") from None
                connection.execute(update(t).where(t.c.id == row_id)
                                   .values({column: vault.seal(plaintext, context=context(row_id))}))
                resealed += 1
        if not rows:
            break
        done += len(rows)
        after = rows[-1][0]
        if progress is not None:
            progress(what, done, total)
    return resealed


def rotate_blind_index(settings: Settings, *, progress: Progress | None = None, batch_size: int = 500) -> int:
    """Recompute every subject's blind-index rows under a new key; return how many subjects.
    Idempotent: an interrupted run is run again."""
    path = settings.keys_dir / KEY_FILES["blind_index"]
    following = path.with_name(path.name + NEXT_SUFFIX)
    if not following.exists():
        write_key_file(following, SECRET_KIND, generate_secret())
    keys = load_gateway_keys(settings)
    assert keys.blind_index_next is not None  # written just above
    store_vault = Vault.from_keys(keys)
    indexer = Vault(keys.at_rest_next or keys.at_rest_key, keys.blind_index_next)
    db = Database(settings.sqlalchemy_url)
    store = SubjectStore(db, store_vault)
    done = 0
    try:
        with db.engine.connect() as connection:
            total = int(connection.execute(select(func.count()).select_from(_subjects)).scalar_one())
        after = ""
        while True:
            with db.engine.connect() as connection:
                ids = list(connection.execute(select(_subjects.c.id).where(_subjects.c.id > after)
                                              .order_by(_subjects.c.id).limit(batch_size)).scalars())
            if not ids:
                break
            rows = []
            with db.engine.connect() as connection:
                heads = [store.head(connection, subject_id) for subject_id in ids]
            for subject_id, record in zip(ids, heads, strict=True):
                if record is None:  # pragma: no cover - deleted meanwhile
                    continue
                rows += [{"kind": "phone", "digest": indexer.blind_index("phone", record.phone),
                          "subject_id": subject_id},
                         {"kind": "username", "subject_id": subject_id,
                          "digest": indexer.blind_index("username", normalise_username(record.username))}]
            with db.engine.begin() as connection:
                connection.execute(delete(_index).where(_index.c.subject_id.in_(ids)))
                if rows:
                    connection.execute(insert(_index), rows)
            done += len(ids)
            after = ids[-1]
            if progress is not None:
                progress("subjects", done, total)
    finally:
        db.dispose()
    _finish(path)
    return done

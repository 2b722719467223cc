"""Submitting checkpoints to witnesses (c2sp.org/tlog-witness ``add-checkpoint``), off the request path.

One :class:`WitnessFeeder` thread per configured witness. When the checkpointer signs (or every
few seconds), it takes the latest stored checkpoint and, if the witness has not cosigned it, POSTs
``old <size>\\n``, the consistency proof lines from that size, a blank line and the checkpoint. The
old size is the last size the witness cosigned for this log: learned from its 200s and 409s (a 409
body names it), zero at first. A 200's lines are verified as cosignature/v1 with the witness's
configured key before they are stored; anything else is logged (sizes only) and retried later,
after a pause that doubles with each refusal in a row (:meth:`WitnessFeeder.pause_after`), so a
witness that keeps refusing is not hammered.

Every answer that proves the witness has cosigned a tree this log is not an extension of is logged
as an ``ALARM`` line naming the sizes, since only a rolled-back or forked log produces it:

- a 409 naming a size larger than any checkpoint the log holds (it was rolled back);
- a 422 (the consistency proof from the size it cosigned does not verify, or, for an equal size,
  the roots differ);
- a 409 naming the very size it was sent as the old size, for a checkpoint of that size: the old
  size matched, so the roots differ. tlog-witness prescribes 422 for an equal size with another
  root (transparency-dev's witness answers so); its earlier text prescribed 409, and both answers
  prove the same fork.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine, func, select

from crypto import merkle
from crypto.cosignature import CosignerVerifier, parse_cosigner_key, signature_lines, split_note, verify_cosignatures
from crypto.encoding import b64encode
from crypto.errors import CryptoError
from gateway.audit.cosigned import store_cosignature
from gateway.audit.tree import DbTreeSource, prefetched
from gateway.config import WitnessConfig
from gateway.store.tables import AuditCheckpoint, AuditCosignature

__all__ = ["SubmitOutcome", "WitnessFeeder", "add_checkpoint_body"]

log = logging.getLogger("gateway.audit.witness")

_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_cosignatures = AuditCosignature.__table__  # type: ignore[attr-defined]
_SIZE = re.compile(r"(0|[1-9][0-9]{0,19})\n")
_IDLE_SECONDS = 5.0
# The pause after a submission that came to a problem: the first, doubled for each one in a row, up
# to the longest. An outage heals by itself, so it is retried soon; a fork does not, so its alarm
# repeats (and the witness is asked again) ever more rarely.
_RETRY_SECONDS = (1.0, 30.0)
_FORK_RETRY_SECONDS = (5.0, 600.0)
_TLOG_SIZE = "text/x.tlog.size"


def add_checkpoint_body(old_size: int, proof: list[bytes], note: str) -> bytes:
    """The ``add-checkpoint`` request body (c2sp.org/tlog-witness)."""
    lines = [f"old {old_size}\n", *(b64encode(h) + "\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode("utf-8")


@dataclass(frozen=True)
class SubmitOutcome:
    """What one submission came to: ``cosigned`` the size now cosigned, or a ``problem``; ``fork``
    when the answer proves a fork or a rollback (its ``problem`` is the ``ALARM`` line logged)."""

    status: int | None
    cosigned: int | None = None
    problem: str | None = None
    fork: bool = False


class WitnessFeeder:
    """Keeps one witness cosigning the log's latest checkpoint."""

    def __init__(self, config: WitnessConfig, engine: Engine, *, timeout: float = 5.0,
                 client: httpx.Client | None = None) -> None:
        self.config = config
        self.verifier: CosignerVerifier = parse_cosigner_key(config.vkey)
        self.engine = engine
        self.client = client or httpx.Client(timeout=timeout)
        self.known_size = 0  # the last size the witness cosigned for this log, as far as we know
        self.refusals = 0  # submissions in a row that came to a problem
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.verifier.name

    def notify(self) -> None:
        self._wake.set()

    def _latest(self) -> tuple[int, str] | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(_checkpoints.c.tree_size, _checkpoints.c.note)
                                     .order_by(_checkpoints.c.tree_size.desc()).limit(1)).first()
            if row is None:
                return None
            done = connection.execute(select(_cosignatures.c.tree_size).where(
                _cosignatures.c.tree_size == row.tree_size, _cosignatures.c.witness == self.name)).first()
        return None if done is not None else (int(row.tree_size), str(row.note))

    def _proof(self, old_size: int, size: int) -> list[bytes]:
        if old_size == 0 or old_size == size:
            return []
        with self.engine.connect() as connection:
            source = DbTreeSource(connection)
            return prefetched(source, lambda s: merkle.consistency_proof(s, old_size, size))

    def _log_size(self) -> int:
        with self.engine.connect() as connection:
            size = connection.execute(select(func.max(_checkpoints.c.tree_size))).scalar_one_or_none()
        return 0 if size is None else int(size)

    def submit_latest(self) -> SubmitOutcome | None:
        """Submit the latest checkpoint if this witness has not cosigned it; None if it has."""
        latest = self._latest()
        if latest is None:
            return None
        outcome = self.submit(*latest)
        if outcome.status == 409 and outcome.problem is None:
            # Once more, from the size the witness named, with the latest checkpoint read again: another
            # gateway process may have had a newer one cosigned meanwhile.
            latest = self._latest()
            if latest is None:
                return outcome
            outcome = self.submit(*latest)
        return outcome

    def _alarm(self, status: int | None, problem: str) -> SubmitOutcome:
        line = f"ALARM: witness {self.name} {problem}"
        log.error(line)
        return SubmitOutcome(status, problem=line, fork=True)

    def _ahead(self, status: int | None, cosigned: int, size: int) -> SubmitOutcome:
        """The witness has cosigned ``cosigned``, larger than ``size``, the checkpoint in hand."""
        if self._log_size() >= cosigned:
            return SubmitOutcome(status)  # not a rollback: another gateway process's newer checkpoint
        return self._alarm(status, f"has cosigned tree size {cosigned}, larger than this log's latest "
                                   f"checkpoint at size {size}: the log was rolled back or forked")

    def _other_root(self, status: int, size: int) -> SubmitOutcome:
        return self._alarm(status, f"has cosigned another tree of size {size} than this log's checkpoint "
                                   "at that size: the log was forked")

    def submit(self, size: int, note: str) -> SubmitOutcome:
        """Submit the checkpoint ``note`` of tree size ``size`` from the last size the witness cosigned."""
        old = self.known_size
        if old > size:
            return self._ahead(None, old, size)
        body = add_checkpoint_body(old, self._proof(old, size), note)
        try:
            response = self.client.post(self.config.url + "/add-checkpoint", content=body)
        except httpx.HTTPError as exc:
            log.warning("witness %s unreachable: %s", self.name, type(exc).__name__)
            return SubmitOutcome(None, problem="unreachable")
        if response.status_code == 200:
            return self._cosigned(size, note, response.text)
        if response.status_code == 409:
            match = _SIZE.fullmatch(response.text)
            media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if match is None or media_type != _TLOG_SIZE:
                log.warning("witness %s answered 409 without a text/x.tlog.size body", self.name)
                return SubmitOutcome(409, problem="malformed 409")
            named = int(match.group(1))
            if named == old:
                # A 409 says the old size is not the one it cosigned; naming that very size, it can
                # only mean the old size matched and the roots did not.
                if old == size:
                    return self._other_root(409, size)
                log.warning("witness %s answered 409 naming the old size %d it was sent", self.name, old)
                return SubmitOutcome(409, problem="409 naming the old size sent")
            self.known_size = named
            if named > size:
                return self._ahead(409, named, size)
            return SubmitOutcome(409)
        if response.status_code == 422:
            if old == size:
                return self._other_root(422, size)
            return self._alarm(422, f"refused the checkpoint at tree size {size} as inconsistent with tree size "
                                    f"{old} it cosigned: the log was rewritten below size {old}")
        log.warning("witness %s refused the checkpoint at tree size %d with HTTP %d", self.name, size,
                    response.status_code)
        return SubmitOutcome(response.status_code, problem=f"HTTP {response.status_code}")

    def _cosigned(self, size: int, note: str, body: str) -> SubmitOutcome:
        try:
            text, _ = split_note(note)
            found = verify_cosignatures(text, signature_lines(body), [self.verifier])
        except CryptoError as exc:
            log.error("witness %s returned a cosignature that does not verify: %s", self.name, exc.message)
            return SubmitOutcome(200, problem="bad cosignature")
        if not found:
            log.error("witness %s returned no cosignature by its configured key", self.name)
            return SubmitOutcome(200, problem="no cosignature")
        store_cosignature(self.engine, size, found[0])
        self.known_size = size
        return SubmitOutcome(200, cosigned=size)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"witness-{self.name}", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.client.close()

    def pause_after(self, outcome: SubmitOutcome | None) -> float:
        """The seconds to wait before the next submission after ``outcome``: none after a success or
        nothing to do; after a problem, the first pause of its kind doubled for each problem in a row."""
        if outcome is None or outcome.problem is None:
            self.refusals = 0
            return 0.0
        self.refusals += 1
        first, longest = _FORK_RETRY_SECONDS if outcome.fork else _RETRY_SECONDS
        return min(longest, first * 2.0 ** min(self.refusals - 1, 32))

    def step(self) -> float:
        """One round of the feeder's thread: submit the latest checkpoint if it is due; return
        :meth:`pause_after` its outcome."""
        try:
            outcome = self.submit_latest()
        except Exception as exc:  # logged without values; retried after the pause
            log.error("submitting to witness %s failed: %s", self.name, type(exc).__name__)
            outcome = SubmitOutcome(None, problem="error")
        return self.pause_after(outcome)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(_IDLE_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            pause = self.step()
            if pause:
                self._stop.wait(pause)  # new checkpoints do not cut it short: a refusing witness is not hammered

"""Submitting checkpoints to witnesses (c2sp.org/tlog-witness ``add-checkpoint``), off the request path.

One :class:`WitnessFeeder` thread per configured witness. When the checkpointer signs (or every
few seconds), it takes the latest stored checkpoint and, if the witness has not cosigned it, POSTs
``old <size>\\n``, the consistency proof lines from that size, a blank line and the checkpoint. The
old size is the last size the witness cosigned for this log: learned from its 200s and 409s (a 409
body names it), zero at first. A 200's lines are verified as cosignature/v1 with the witness's
configured key before they are stored; anything else is logged (sizes only) and retried later.

A witness that has cosigned a larger tree than this log now holds, or answers 422 (its cosigned
tree is not a prefix of ours), has seen a different log: that is logged as an alarm, since only a
rolled-back or forked log produces it.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine, select

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


def add_checkpoint_body(old_size: int, proof: list[bytes], note: str) -> bytes:
    """The ``add-checkpoint`` request body (c2sp.org/tlog-witness)."""
    lines = [f"old {old_size}\n", *(b64encode(h) + "\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode("utf-8")


@dataclass(frozen=True)
class SubmitOutcome:
    """What one submission came to: ``cosigned`` the size now cosigned, or a ``problem``."""

    status: int | None
    cosigned: int | None = None
    problem: str | None = None


class WitnessFeeder:
    """Keeps one witness cosigning the log's latest checkpoint."""

    def __init__(self, config: WitnessConfig, engine: Engine, *, timeout: float = 5.0,
                 client: httpx.Client | None = None) -> None:
        self.config = config
        self.verifier: CosignerVerifier = parse_cosigner_key(config.vkey)
        self.engine = engine
        self.client = client or httpx.Client(timeout=timeout)
        self.known_size = 0  # the last size the witness cosigned for this log, as far as we know
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

    def submit_latest(self) -> SubmitOutcome | None:
        """Submit the latest checkpoint if this witness has not cosigned it; None if it has."""
        latest = self._latest()
        if latest is None:
            return None
        size, note = latest
        outcome = self._submit(size, note)
        if outcome.status == 409 and outcome.problem is None:
            outcome = self._submit(size, note)  # once more, from the size the witness named
        return outcome

    def _submit(self, size: int, note: str) -> SubmitOutcome:
        old = self.known_size
        if old > size:
            problem = (f"ALARM: witness {self.name} has cosigned tree size {old}, larger than this log's "
                       f"latest checkpoint at size {size}: the log was rolled back or forked")
            log.error(problem)
            return SubmitOutcome(None, problem=problem)
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
            if match is None or not response.headers.get("content-type", "").startswith("text/x.tlog.size"):
                log.warning("witness %s answered 409 without a text/x.tlog.size body", self.name)
                return SubmitOutcome(409, problem="malformed 409")
            self.known_size = int(match.group(1))
            if self.known_size > size:
                return self._submit(size, note)  # the alarm
            return SubmitOutcome(409)
        if response.status_code == 422:
            problem = (f"ALARM: witness {self.name} refused the checkpoint at tree size {size} as inconsistent "
                       f"with tree size {old} it cosigned: the log was rewritten below size {old}")
            log.error(problem)
            return SubmitOutcome(422, problem=problem)
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

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(_IDLE_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                outcome = self.submit_latest()
            except Exception as exc:  # logged without values; retried on the next wake
                log.error("submitting to witness %s failed: %s", self.name, type(exc).__name__)
                outcome = SubmitOutcome(None, problem="error")
            if outcome is not None and outcome.problem:
                self._stop.wait(1.0)  # a witness that refuses or is down is not hammered

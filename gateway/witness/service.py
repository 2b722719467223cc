"""The witness's decisions and state (c2sp.org/tlog-witness ``add-checkpoint``).

:meth:`Witness.add_checkpoint` takes a request body and the current time and returns the HTTP
answer the spec prescribes: 400 malformed or an old size past the checkpoint, 403 no valid
signature by the log's key, 404 unknown origin, 409 (body: the size it last cosigned,
``text/x.tlog.size``) when the old size is not that size, 422 when the consistency proof, the
empty tree's root or an equal size's root does not hold, 200 with one cosignature/v1 line.

Checking the old size and recording the new checkpoint happen under one lock, and the record is
on disk (written to a temporary file, fsynced, renamed) before the 200 leaves, so a witness never
cosigns two trees that are not consistent with each other, even across a restart. One witness
process per state directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from crypto import merkle
from crypto.cosignature import CosignerVerifier, cosign, cosigner_key_string, split_note
from crypto.encoding import b64decode, b64encode
from crypto.errors import CryptoError
from crypto.keys import generate_signing_key, read_signing_key, write_key_file
from crypto.note import NoteVerifier, parse_checkpoint, parse_verifier_key, verify_note
from gateway.errors import OperatorError

__all__ = ["Answer", "Witness", "init_witness", "origin_hash"]

log = logging.getLogger("gateway.witness")

_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")
_MAX_PROOF_LINES = 63
_KEY_FILE = "witness.sign.key"
_CONFIG_FILE = "witness.json"


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class _Latest:
    size: int
    root: bytes
    note: str  # the checkpoint with the log's signature and this witness's cosignature


def origin_hash(origin: str) -> str:
    """The lowercase hex SHA-256 of an origin: its path element on the monitoring prefix."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


def init_witness(state: Path, name: str) -> str:
    """Create the state directory with a new key for the witness ``name`` (unless one exists);
    return its cosigner vkey."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    (state / "logs").mkdir(exist_ok=True, mode=0o700)
    config = state / _CONFIG_FILE
    if not config.exists():
        CosignerVerifier.for_key(name, bytes(32))  # checks the name before anything is written
        write_key_file(state / _KEY_FILE, "ed25519-signing", bytes(generate_signing_key()))
        config.write_text(json.dumps({"name": name}) + "\n", encoding="utf-8")
    return Witness.load(state, []).vkey


class Witness:
    """A witness for the logs whose checkpoint verifier keys it was given."""

    def __init__(self, state: Path, name: str, key: SigningKey, logs: list[NoteVerifier]) -> None:
        self.state = state
        self.name = name
        self.key = key
        self.logs = {v.name: v for v in logs}  # origin → the log's key (the key name is the origin)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, state: Path, log_keys: list[str]) -> Witness:
        """The witness in ``state`` (see :func:`init_witness`) trusting the logs ``log_keys``."""
        try:
            name = json.loads((state / _CONFIG_FILE).read_text(encoding="utf-8"))["name"]
            key = read_signing_key(state / _KEY_FILE)
            logs = [parse_verifier_key(k) for k in log_keys]
        except (OSError, ValueError, KeyError) as exc:
            raise OperatorError(f"no witness in {state}; run `gateway witness init` ({type(exc).__name__})") from exc
        except CryptoError as exc:
            raise OperatorError(exc.message) from exc
        return cls(state, str(name), key, logs)

    @property
    def vkey(self) -> str:
        return cosigner_key_string(self.name, bytes(self.key.verify_key))

    def _path(self, origin: str) -> Path:
        return self.state / "logs" / f"{origin_hash(origin)}.json"

    def latest(self, origin: str) -> _Latest | None:
        path = self._path(origin)
        if not path.exists():
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        return _Latest(int(record["size"]), b64decode(record["root"], length=32), str(record["note"]))

    def latest_note(self, origin_hex: str) -> str | None:
        """The last cosigned checkpoint of the log whose origin hashes to ``origin_hex``."""
        for origin in self.logs:
            if origin_hash(origin) == origin_hex:
                latest = self.latest(origin)
                return None if latest is None else latest.note
        return None

    def _persist(self, origin: str, latest: _Latest) -> None:
        path = self._path(origin)
        data = json.dumps({"origin": origin, "size": latest.size, "root": b64encode(latest.root),
                           "note": latest.note}).encode("utf-8")
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".log.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def add_checkpoint(self, body: bytes, now: int) -> Answer:
        """Answer one ``add-checkpoint`` request at POSIX time ``now``."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return Answer(400, "the body is not UTF-8\n")
        split = text.find("\n\n")
        if split < 0:
            return Answer(400, "the body needs an old size line, proof lines, a blank line and a checkpoint\n")
        header, note = text[:split].split("\n"), text[split + 2 :]
        old_match = _OLD.fullmatch(header[0])
        if old_match is None:
            return Answer(400, "the first line must be 'old <size>'\n")
        if len(header) - 1 > _MAX_PROOF_LINES:
            return Answer(400, f"at most {_MAX_PROOF_LINES} consistency proof lines\n")
        try:
            proof = [b64decode(line, length=32, what="proof hash") for line in header[1:]]
            note_text, _ = split_note(note)
            checkpoint = parse_checkpoint(note_text)
        except CryptoError as exc:
            return Answer(400, f"{exc.message}\n")
        old = int(old_match.group(1))
        verifier = self.logs.get(checkpoint.origin)
        if verifier is None:
            return Answer(404, "unknown log origin\n")
        try:
            verify_note(note, [verifier])
        except CryptoError:
            return Answer(403, "the checkpoint carries no valid signature by the log's key\n")
        if old > checkpoint.size:
            return Answer(400, f"old size {old} is larger than the checkpoint's size {checkpoint.size}\n")
        with self._lock:
            latest = self.latest(checkpoint.origin)
            cosigned = 0 if latest is None else latest.size
            if old != cosigned:
                return Answer(409, f"{cosigned}\n", "text/x.tlog.size")
            problem = self._inconsistency(old, proof, checkpoint.size, checkpoint.root_hash, latest)
            if problem is not None:
                # Signed by the log and inconsistent with what it cosigned: evidence of a fork.
                log.error("witness %s refused %s at tree size %d: %s", self.name, checkpoint.origin,
                          checkpoint.size, problem)
                return Answer(422, f"{problem}\n")
            line = cosign(note_text, self.name, self.key, now)
            self._persist(checkpoint.origin, _Latest(checkpoint.size, checkpoint.root_hash, note + line))
        return Answer(200, line)

    @staticmethod
    def _inconsistency(old: int, proof: list[bytes], size: int, root: bytes, latest: _Latest | None) -> str | None:
        if size == 0 and root != merkle.empty_root():
            return "a checkpoint of size 0 must have the empty tree's root"
        if old == 0:
            return "a proof from the empty tree must be empty" if proof else None
        assert latest is not None
        try:
            merkle.verify_consistency(old, size, proof, latest.root, root)
        except CryptoError:
            return f"not consistent with the checkpoint at tree size {old} this witness cosigned"
        return None

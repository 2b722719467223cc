"""Which checkpoint key signs which tree sizes, across signing-key rotations (docs/PROTOCOL.md §13).

Each key signs from a tree size on: an earlier key from ``from_size`` until ``until_size`` (the
size of the log when it was rotated out), the current one from the size at which it took over.
What matters for security is the upper bound: a retired key, however it leaked, cannot sign a
checkpoint of a size past ``until_size``. The current key may also sign an older size (a proof
against an earlier tree, signed today), so a checkpoint of size S verifies with the current key or
with an earlier key whose ``until_size`` is at least S. The gateway's ``audit verify`` and an
outsider's ``check-proof`` and monitor read the same schedule (discovery's
``checkpoint_verifier_keys``), so it lives here, below both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crypto.errors import NoteError, RetiredKeyError
from crypto.note import Checkpoint, NoteVerifier, verifier_key_string, verify_checkpoint

__all__ = ["ScheduledVerifier", "single", "verify_by_size"]


@dataclass(frozen=True)
class ScheduledVerifier:
    verifier: NoteVerifier
    from_size: int = 0
    until_size: int | None = None  # None: the current key

    def covers(self, size: int) -> bool:
        return self.until_size is None or size <= self.until_size

    def describe(self) -> dict[str, object]:
        """As discovery lists it: the verifier key and the sizes it signs."""
        return {"verifier_key": verifier_key_string(self.verifier.name, self.verifier.public_key),
                "from_size": self.from_size, "until_size": self.until_size}


def single(verifier: NoteVerifier) -> list[ScheduledVerifier]:
    """One key trusted for every size (a verifier key given on the command line)."""
    return [ScheduledVerifier(verifier)]


def _claimed_size(note: str) -> int | None:
    lines = note.split("\n", 2)
    return int(lines[1]) if len(lines) > 2 and lines[1].isdigit() else None


def verify_by_size(note: str, schedule: Sequence[ScheduledVerifier], *, origin: str | None = None) -> Checkpoint:
    """The checkpoint, verified with a key valid at its tree size; :class:`NoteError` otherwise.

    The size is read from the note before its signature is checked only to choose keys: the
    checkpoint returned is parsed from the verified text, and its size must fall in the range of
    the key that verified it."""
    size = _claimed_size(note)
    candidates = [s for s in schedule if size is not None and s.covers(size)]
    failure: NoteError | None = None
    for scheduled in candidates:
        try:
            checkpoint = verify_checkpoint(note, scheduled.verifier, origin=origin)
        except NoteError as exc:
            failure = exc
            continue
        if scheduled.covers(checkpoint.size):
            return checkpoint
    _name_retired_signer(note, schedule, origin)
    if not candidates:
        raise NoteError(f"no checkpoint key of this gateway signs tree size {size}: earlier keys sign only up "
                        "to the size at which they were rotated out")
    raise failure or NoteError("the checkpoint is signed by a key outside its tree size range")


def _name_retired_signer(note: str, schedule: Sequence[ScheduledVerifier], origin: str | None) -> None:
    """Raise :class:`RetiredKeyError` if an earlier key whose range ends before the note's size
    signed it: the failure then has a cause an operator can act on, not just "does not verify"."""
    for scheduled in schedule:
        if scheduled.until_size is None:
            continue
        try:
            checkpoint = verify_checkpoint(note, scheduled.verifier, origin=origin)
        except NoteError:
            continue
        if scheduled.covers(checkpoint.size):
            continue  # pragma: no cover - verify_by_size returned it already
        key = verifier_key_string(scheduled.verifier.name, scheduled.verifier.public_key)
        raise RetiredKeyError(f"it is signed by the retired key {key}, whose end is tree size {scheduled.until_size} "
                              f"(it signs tree sizes {scheduled.from_size}..{scheduled.until_size} only), for tree "
                              f"size {checkpoint.size}: a retired key cannot sign past its end")

"""The AEAD contexts of every sealed row (``gateway.keys.vault``), in one place: each names the row
a ciphertext belongs to, so a ciphertext copied onto another row, or into another table, does not
open. Key rotation re-seals every row under the same context it was sealed with."""

from __future__ import annotations

__all__ = ["hold_context", "request_context", "subject_context", "subject_event_context"]


def subject_context(subject_id: str) -> bytes:
    """A subject's sealed record."""
    return b"subject:" + subject_id.encode("ascii")


def subject_event_context(subject_id: str, kind: str, first_seen: int, last_seen: int) -> bytes:
    """One stored event of a subject (``subject_events``): bound to its subject, its kind and the times
    its row is found by, so a row moved to another subject, kind or window does not open."""
    return b"subject-event:%s\x00%s\x00%d\x00%d" % (subject_id.encode("ascii"), kind.encode("ascii"),
                                                     first_seen, last_seen)


def request_context(request_id: str) -> bytes:
    """A legal request's sealed selectors and free texts."""
    return b"request:" + request_id.encode("utf-8")


def hold_context(hold_id: str) -> bytes:
    """A preservation request's sealed selectors."""
    return b"preservation:" + hold_id.encode("ascii")

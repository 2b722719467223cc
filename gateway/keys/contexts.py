"""The AEAD contexts of every sealed row (``gateway.keys.vault``), in one place: each names the row
a ciphertext belongs to, so a ciphertext copied onto another row, or into another table, does not
open. Key rotation re-seals every row under the same context it was sealed with."""

from __future__ import annotations

__all__ = ["hold_context", "request_context", "subject_context"]


def subject_context(subject_id: str) -> bytes:
    """A subject's sealed record."""
    return b"subject:" + subject_id.encode("ascii")


def request_context(request_id: str) -> bytes:
    """A legal request's sealed selectors and free texts."""
    return b"request:" + request_id.encode("utf-8")


def hold_context(hold_id: str) -> bytes:
    """A preservation request's sealed selectors."""
    return b"preservation:" + hold_id.encode("ascii")

"""The one error tree of the crypto recipes layer.

Every failure in ``crypto`` raises a subclass of :class:`CryptoError`; none of the libraries'
own exceptions escape. Each class carries the stable docs/PROTOCOL.md §6 ``code`` that the gateway's
edge puts on the wire, so the edge never has to guess::

    CryptoError                      BAD_REQUEST
    ├── EncodingError                BAD_REQUEST   malformed base64 / hex / JSON
    ├── InvalidKeyError              BAD_REQUEST   wrong length, wrong kind, unparsable key
    ├── KeyFileError                 BAD_REQUEST   missing, unreadable or group/world-readable key file
    ├── SignatureError               BAD_REQUEST   a detached signature that does not verify
    ├── SealedValueError             BAD_REQUEST   a sealed value that does not open or verify (one message)
    ├── ProofError                   BAD_REQUEST   a Merkle proof, size or index that does not hold
    ├── NoteError                    BAD_REQUEST   a signed note or checkpoint that does not parse or verify
    └── TokenError                   TOKEN_INVALID
        ├── TokenExpiredError        TOKEN_EXPIRED
        ├── TokenLifetimeError       TOKEN_LIFETIME_TOO_LONG
        ├── TokenBodyMismatchError   TOKEN_BODY_MISMATCH
        ├── TokenAudienceError       TOKEN_AUDIENCE_MISMATCH
        └── UnknownIssuerError       UNKNOWN_PRINCIPAL
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CryptoError",
    "EncodingError",
    "InvalidKeyError",
    "KeyFileError",
    "NoteError",
    "ProofError",
    "RetiredKeyError",
    "SealedValueError",
    "SignatureError",
    "TokenAudienceError",
    "TokenBodyMismatchError",
    "TokenError",
    "TokenExpiredError",
    "TokenLifetimeError",
    "UnknownIssuerError",
]


class CryptoError(Exception):
    """Base of every error raised by ``crypto``; ``code`` is the docs/PROTOCOL.md §6 code."""

    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EncodingError(CryptoError):
    """Input that is not the encoding it claims to be (base64, hex, JSON)."""


class InvalidKeyError(CryptoError):
    """Key material of the wrong length or kind."""


class KeyFileError(CryptoError):
    """A key file that is missing, malformed, or readable by anyone but its owner."""


class SignatureError(CryptoError):
    """A detached signature that does not verify over the expected bytes."""


class SealedValueError(CryptoError):
    """A sealed value that could not be opened or whose inner signature does not verify.

    Deliberately one error with one message, whatever went wrong, so that a caller learns
    nothing about which check failed.
    """


class ProofError(CryptoError):
    """A Merkle inclusion or consistency proof (or its sizes and indexes) that does not hold."""


class NoteError(CryptoError):
    """A C2SP signed note or checkpoint that does not parse or does not verify."""


class RetiredKeyError(NoteError):
    """A checkpoint signed by an earlier key of the gateway for a tree size past that key's end:
    whoever holds a retired key cannot speak for the log after it (docs/PROTOCOL.md §13)."""


class TokenError(CryptoError):
    """A request token that does not parse, names another alg or kid, lacks a claim, or fails its signature."""

    code: ClassVar[str] = "TOKEN_INVALID"


class TokenExpiredError(TokenError):
    """A token whose ``exp`` (plus leeway) has passed."""

    code: ClassVar[str] = "TOKEN_EXPIRED"


class TokenLifetimeError(TokenError):
    """A token whose ``exp - iat`` exceeds the maximum lifetime."""

    code: ClassVar[str] = "TOKEN_LIFETIME_TOO_LONG"


class TokenBodyMismatchError(TokenError):
    """A token whose ``body_sha256`` is not the SHA-256 of the request body."""

    code: ClassVar[str] = "TOKEN_BODY_MISMATCH"


class TokenAudienceError(TokenError):
    """A token addressed to another gateway."""

    code: ClassVar[str] = "TOKEN_AUDIENCE_MISMATCH"


class UnknownIssuerError(TokenError):
    """A token whose ``iss`` is not a registered, active principal."""

    code: ClassVar[str] = "UNKNOWN_PRINCIPAL"

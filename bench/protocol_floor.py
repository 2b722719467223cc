"""The cryptography docs/PROTOCOL.md fixes for one disclosure, timed on its own (issue 12).

Whatever else a gateway does or skips, serving a disclosure of two fields takes at least:
- one Ed25519 verification of the request token (§2);
- for each field, one Ed25519 signature over its record and one sealed box (an ephemeral X25519
  key and a key exchange each, §4) to the authority's key.

This module times those libsodium calls through PyNaCl, as the gateway makes them, at the sizes of
a real response. Set beside the peer's whole request, the time bounds the ratio any gateway on
this stack can reach against that peer.
"""

from __future__ import annotations

import json
import time
from typing import Any

from nacl.public import PrivateKey, SealedBox
from nacl.signing import SigningKey, VerifyKey

from crypto.encoding import b64decode, b64url_decode

__all__ = ["SEALED_BOX_OVERHEAD", "SIGNATURE_WRAPPING", "protocol_cryptography_ms", "ratio_bound",
           "sealed_plaintext_sizes"]

SEALED_BOX_OVERHEAD = 48
"""Bytes a sealed box adds to its plaintext: the ephemeral public key (32) and the MAC (16)."""
SIGNATURE_WRAPPING = len(b'{"record":' + b',"signature":"' + b"A" * 88 + b'"}')
"""Bytes of a sealed plaintext that are not the signed record: the JSON around it and the signature
(64 bytes as 88 base64 characters). The domain prefix the signature also covers is left out, so
the signed message timed here is a few bytes shorter than the gateway's, never longer."""


def sealed_plaintext_sizes(response: bytes) -> list[int]:
    """The plaintext length of every sealed value in a GraphQL response, from its ciphertext's length."""
    sizes: list[int] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("ciphertext"), str):
                sizes.append(len(b64decode(value["ciphertext"], what="ciphertext")) - SEALED_BOX_OVERHEAD)
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(json.loads(response))
    if not sizes:
        raise ValueError("the response holds no sealed value")
    return sizes


def protocol_cryptography_ms(token: str, verify_key: VerifyKey, plaintext_sizes: list[int], repeats: int) -> float:
    """Milliseconds of this thread's CPU, averaged over ``repeats``, for one disclosure's fixed cryptography:
    verify ``token`` with ``verify_key``, then for each of ``plaintext_sizes`` sign a record of the
    size it wraps and seal a plaintext of that size.

    The keys are made here: their making is not part of a request."""
    signing_input, _, signature_segment = token.rpartition(".")
    message = signing_input.encode("ascii")
    signature = b64url_decode(signature_segment)
    gateway_key = SigningKey.generate()
    recipient = PrivateKey.generate().public_key
    values = [(b"x" * (size - SIGNATURE_WRAPPING), b"x" * size) for size in plaintext_sizes]
    started = time.thread_time()
    for _ in range(repeats):
        verify_key.verify(message, signature)
        for record, plaintext in values:
            gateway_key.sign(record)
            SealedBox(recipient).encrypt(plaintext)
    return (time.thread_time() - started) * 1000 / repeats


def ratio_bound(peer_ms: float, cryptography_ms: float) -> float:
    """The best requests/s ratio against the peer on one core: a gateway that did the peer's whole
    work plus the protocol's cryptography, and nothing else (no parsing of the token's claims, no
    replay check, no order, no subject, no audit entry, no commit)."""
    return peer_ms / (peer_ms + cryptography_ms)

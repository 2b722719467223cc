"""C2SP tlog-cosignature v1: the key ID and signed message as the spec writes them, and refusals."""

from __future__ import annotations

import base64
import hashlib
import struct

import nacl.signing
import pytest

from crypto.cosignature import (
    CosignerVerifier,
    cosign,
    cosigner_key_string,
    parse_cosigner_key,
    split_note,
    verify_cosignatures,
)
from crypto.errors import NoteError
from crypto.merkle import empty_root
from crypto.note import sign_checkpoint

NAME = "witness.example/w1"
KEY = nacl.signing.SigningKey(bytes(range(32)))
LOG_KEY = nacl.signing.SigningKey(bytes(range(1, 33)))


def checkpoint() -> str:
    return sign_checkpoint("example.com/log", 0, empty_root(), "example.com/log", LOG_KEY)


def test_a_cosignature_is_the_spec_structure_over_the_spec_message() -> None:
    note = checkpoint()
    text, _ = split_note(note)
    line = cosign(text, NAME, KEY, 1679315147)
    name, encoded = line.removeprefix("\u2014 ").removesuffix("\n").split(" ")
    raw = base64.b64decode(encoded)
    public = bytes(KEY.verify_key)
    # Rebuilt from the spec text, not from the module: key ID with type byte 0x04, u64 big-endian time.
    assert name == NAME
    assert raw[:4] == hashlib.sha256(NAME.encode() + b"\n\x04" + public).digest()[:4]
    assert struct.unpack(">Q", raw[4:12]) == (1679315147,)
    message = b"cosignature/v1\ntime 1679315147\n" + text.encode()
    KEY.verify_key.verify(message, raw[12:])
    assert len(raw) == 4 + 8 + 64


def test_cosignatures_verify_and_unknown_keys_are_ignored() -> None:
    note = checkpoint()
    text, lines = split_note(note)
    other = nacl.signing.SigningKey.generate()
    mine = cosign(text, NAME, KEY, 100)
    theirs = cosign(text, "witness.example/w2", other, 200)
    trusted = [parse_cosigner_key(cosigner_key_string(NAME, bytes(KEY.verify_key)))]
    found = verify_cosignatures(text, [*lines, mine, theirs], trusted)
    assert [(c.name, c.timestamp, c.line) for c in found] == [(NAME, 100, mine)]
    # The log's own Ed25519 (type 0x01) signature never counts as a cosignature of the same key.
    as_log = [CosignerVerifier.for_key("example.com/log", bytes(LOG_KEY.verify_key))]
    assert verify_cosignatures(text, lines, as_log) == []


def test_a_cosignature_over_another_checkpoint_or_time_is_refused() -> None:
    text, _ = split_note(checkpoint())
    trusted = [CosignerVerifier.for_key(NAME, bytes(KEY.verify_key))]
    line = cosign(text, NAME, KEY, 100)
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignatures(text.replace("\n0\n", "\n1\n"), [line], trusted)
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[11] ^= 1  # another timestamp
    forged = f"\u2014 {NAME} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignatures(text, [forged], trusted)


@pytest.mark.parametrize("timestamp", [0, -1, 2**63])
def test_a_timestamp_outside_the_spec_range_is_refused(timestamp: int) -> None:
    with pytest.raises(NoteError, match="timestamp"):
        cosign("o\n0\nAAAA\n", NAME, KEY, timestamp)


@pytest.mark.parametrize("vkey", [
    cosigner_key_string(NAME, bytes(KEY.verify_key)).replace("+", "+0", 1)[:-1],
    cosigner_key_string(NAME, bytes(KEY.verify_key)).replace("BA", "AQ", 1),
    f"{NAME}+00000000+" + base64.b64encode(b"\x04" + bytes(KEY.verify_key)).decode(),
    "no-plus-signs",
])
def test_malformed_or_mismatched_cosigner_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_cosigner_key(vkey)

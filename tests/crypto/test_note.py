"""C2SP signed notes and tlog checkpoints: the Go known answer, refusals, round trips."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import nacl.signing
import pytest

from crypto.errors import InvalidKeyError, NoteError
from crypto.merkle import MemoryTree, empty_root, leaf_hash, root
from crypto.note import (
    Checkpoint,
    NoteVerifier,
    checkpoint_text,
    parse_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verifier_key_string,
    verify_checkpoint,
    verify_note,
)

NAME = "PeterNeumann"
EM_DASH = "\u2014"


@pytest.fixture
def vector(load_vector: Callable[[str], Any]) -> dict[str, str]:
    loaded: dict[str, str] = load_vector("signed_note.json")
    return loaded


@pytest.fixture
def signing_key(vector: dict[str, str]) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes.fromhex(vector["ed25519_seed_hex"]))


@pytest.fixture
def verifier(vector: dict[str, str]) -> NoteVerifier:
    return parse_verifier_key(vector["verifier_key"])


@pytest.fixture
def other_verifier(vector: dict[str, str]) -> NoteVerifier:
    return parse_verifier_key(vector["other_verifier_key"])


def _signature_line(note: str) -> tuple[str, bytes]:
    """The name and decoded signature of the last signature line of ``note``."""
    line = note.rstrip("\n").split("\n")[-1]
    prefix, name, encoded = line.split(" ")
    assert prefix == EM_DASH
    return name, base64.b64decode(encoded)


def _with_signature(note: str, name: str, raw: bytes) -> str:
    """``note`` with its last signature line replaced by one for ``name`` and ``raw``."""
    head = note.rstrip("\n").rsplit("\n", 1)[0]
    return f"{head}\n{EM_DASH} {name} {base64.b64encode(raw).decode()}\n"


# --- the Go known answer -------------------------------------------------------------------------


def test_sign_note_reproduces_the_go_note_byte_for_byte(
    vector: dict[str, str], signing_key: nacl.signing.SigningKey
) -> None:
    assert sign_note(vector["text"], NAME, signing_key) == vector["signed_note"]


def test_verifier_key_string_reproduces_the_go_verifier_key(
    vector: dict[str, str], signing_key: nacl.signing.SigningKey
) -> None:
    assert verifier_key_string(NAME, bytes(signing_key.verify_key)) == vector["verifier_key"]


def test_parse_verifier_key_reads_both_vector_keys(
    vector: dict[str, str], signing_key: nacl.signing.SigningKey
) -> None:
    peter = parse_verifier_key(vector["verifier_key"])
    assert peter == NoteVerifier(NAME, bytes.fromhex("c74f20a3"), bytes(signing_key.verify_key))
    assert peter == NoteVerifier.for_key(NAME, bytes(signing_key.verify_key))
    enoch = parse_verifier_key(vector["other_verifier_key"])
    assert (enoch.name, enoch.key_hash.hex()) == ("EnochRoot", "af0cfe78")
    assert verifier_key_string(enoch.name, enoch.public_key) == vector["other_verifier_key"]


def test_verify_note_returns_the_text(vector: dict[str, str], verifier: NoteVerifier) -> None:
    assert verify_note(vector["signed_note"], [verifier]) == vector["text"]
    assert verify_note(vector["signed_note"].encode("utf-8"), [verifier]) == vector["text"]


def test_signatures_from_unknown_keys_are_ignored(vector: dict[str, str], verifier: NoteVerifier) -> None:
    extra = vector["other_signature_line_unknown_key"]
    assert verify_note(vector["signed_note"] + extra, [verifier]) == vector["text"]
    text, signature_line = vector["signed_note"].split("\n\n")
    assert verify_note(f"{text}\n\n{extra}{signature_line}", [verifier]) == vector["text"]


def test_the_other_signature_in_the_vector_verifies_under_its_own_key(
    vector: dict[str, str], verifier: NoteVerifier, other_verifier: NoteVerifier
) -> None:
    both = vector["signed_note"] + vector["other_signature_line_unknown_key"]
    assert verify_note(both, [other_verifier]) == vector["text"]
    assert verify_note(both, [verifier, other_verifier]) == vector["text"]


def test_a_note_signed_only_by_unknown_keys_is_refused(
    vector: dict[str, str], other_verifier: NoteVerifier
) -> None:
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_note(vector["signed_note"], [other_verifier])
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_note(vector["signed_note"], [])


# --- tampering -----------------------------------------------------------------------------------


def test_altering_any_byte_of_the_text_is_refused(vector: dict[str, str], verifier: NoteVerifier) -> None:
    note = vector["signed_note"].encode("utf-8")
    text_length = len(vector["text"].encode("utf-8"))
    for position in range(text_length):
        altered = bytearray(note)
        altered[position] ^= 0x20 if altered[position] >= 0x40 else 0x01
        with pytest.raises(NoteError):
            verify_note(bytes(altered), [verifier])


def test_altering_a_letter_of_the_text_fails_the_signature(
    vector: dict[str, str], verifier: NoteVerifier
) -> None:
    altered = vector["signed_note"].replace("cryptography", "cryptographY", 1)
    with pytest.raises(NoteError, match="signature by 'PeterNeumann' does not verify"):
        verify_note(altered, [verifier])


def test_altering_any_bit_of_the_signature_is_refused(vector: dict[str, str], verifier: NoteVerifier) -> None:
    name, raw = _signature_line(vector["signed_note"])
    assert len(raw) == 68
    for bit in range(len(raw) * 8):
        altered = bytearray(raw)
        altered[bit // 8] ^= 1 << (bit % 8)
        # A changed key ID makes the signature one from an unknown key; a changed signature fails.
        message = "no signature from a known key" if bit < 32 else "does not verify"
        with pytest.raises(NoteError, match=message):
            verify_note(_with_signature(vector["signed_note"], name, bytes(altered)), [verifier])


@pytest.mark.parametrize(
    ("length", "message"),
    [(4, "too short"), (5, "does not verify"), (67, "does not verify"), (69, "does not verify")],
)
def test_a_signature_of_the_wrong_length_is_refused(
    vector: dict[str, str], verifier: NoteVerifier, length: int, message: str
) -> None:
    name, raw = _signature_line(vector["signed_note"])
    resized = (raw + b"\x00")[:length]
    with pytest.raises(NoteError, match=message):
        verify_note(_with_signature(vector["signed_note"], name, resized), [verifier])


def test_a_bad_signature_from_a_known_key_spoils_the_note_even_beside_a_good_one(
    vector: dict[str, str], verifier: NoteVerifier, other_verifier: NoteVerifier
) -> None:
    name, raw = _signature_line(vector["other_signature_line_unknown_key"])
    broken_line = f"{EM_DASH} {name} {base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()}\n"
    note = vector["signed_note"] + broken_line
    assert verify_note(note, [verifier]) == vector["text"]  # unknown to this verifier: ignored
    with pytest.raises(NoteError, match="signature by 'EnochRoot' does not verify"):
        verify_note(note, [verifier, other_verifier])


def test_a_repeated_signature_line_is_checked_each_time(
    vector: dict[str, str], verifier: NoteVerifier
) -> None:
    note = vector["signed_note"]
    assert verify_note(note + note.split("\n\n")[1], [verifier]) == vector["text"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda note: note[:-1], "must end in a newline"),
        (lambda note: note + "\n", "no signature lines"),
        (lambda note: note.replace("\n\n", "\n\n\n"), "does not verify"),
        (lambda note: note.replace("\n\n", "\n"), "no blank line"),
        (lambda note: note.split("\n\n")[0] + "\n\n", "no signature lines"),
        (lambda note: note.split("\n\n")[0] + "\n", "no blank line"),
        (lambda note: note.replace(EM_DASH, "-"), "must start with an em dash"),
        (lambda note: note.replace(f"{EM_DASH} ", EM_DASH), "must start with an em dash"),
        (lambda note: note.replace(f" {NAME} ", f" {NAME}  "), "not valid standard base64"),
        (lambda note: note.replace(f" {NAME} ", f" {NAME}\t"), "control character"),
        (lambda note: note.replace(f" {NAME} ", f" {NAME}+x "), "key name must not contain"),
        (lambda note: note.replace(f" {NAME} ", " "), "key name must not contain|must be '"),
        (lambda note: note.replace("=\n", "\n"), "not valid standard base64"),
        (lambda note: note.replace("problem,", "problem,\r"), "control character"),
        (lambda note: note + f"{EM_DASH} {NAME}\n", "must be '"),
    ],
    ids=[
        "missing-final-newline", "extra-trailing-blank-line", "extra-blank-line-before-signatures",
        "no-blank-line", "signature-lines-removed", "signature-block-removed", "ascii-dash",
        "no-space-after-dash", "two-spaces", "tab-after-name", "plus-in-name", "no-name",
        "unpadded-base64", "carriage-return", "signature-line-without-signature",
    ],
)
def test_malformed_notes_are_refused(
    vector: dict[str, str], verifier: NoteVerifier, change: Callable[[str], str], message: str
) -> None:
    with pytest.raises(NoteError, match=message):
        verify_note(change(vector["signed_note"]), [verifier])


def test_invalid_utf8_is_refused(vector: dict[str, str], verifier: NoteVerifier) -> None:
    note = vector["signed_note"].encode("utf-8")
    with pytest.raises(NoteError, match="not valid UTF-8"):
        verify_note(note.replace(b"problem", b"probl\xffm", 1), [verifier])
    with pytest.raises(NoteError, match="not valid UTF-8"):
        verify_note(vector["signed_note"].replace("problem", "probl\udcffm", 1), [verifier])


def test_at_most_one_hundred_signatures_are_read(vector: dict[str, str], verifier: NoteVerifier) -> None:
    extra = vector["other_signature_line_unknown_key"]
    assert verify_note(vector["signed_note"] + extra * 99, [verifier]) == vector["text"]
    with pytest.raises(NoteError, match="more than 100 signatures"):
        verify_note(vector["signed_note"] + extra * 100, [verifier])


def test_verifiers_sharing_name_and_key_id_but_not_key_are_refused(
    vector: dict[str, str], verifier: NoteVerifier
) -> None:
    assert verify_note(vector["signed_note"], [verifier, verifier]) == vector["text"]
    impostor = object.__new__(NoteVerifier)  # bypasses the constructor's key ID check
    object.__setattr__(impostor, "name", verifier.name)
    object.__setattr__(impostor, "key_hash", verifier.key_hash)
    object.__setattr__(impostor, "public_key", bytes(32))
    with pytest.raises(NoteError, match="share the name 'PeterNeumann'"):
        verify_note(vector["signed_note"], [verifier, impostor])


# --- signing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "non-empty"),
        ("no final newline", "end in a newline"),
        ("bell\a\n", "control character"),
        ("lone \udc80 surrogate\n", "not valid UTF-8"),
    ],
)
def test_sign_note_refuses_malformed_text(
    signing_key: nacl.signing.SigningKey, text: str, message: str
) -> None:
    with pytest.raises(NoteError, match=message):
        sign_note(text, NAME, signing_key)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "tab\tname", "nbsp\u00a0name", "zero\u200bwidth"])
def test_sign_note_refuses_malformed_names(signing_key: nacl.signing.SigningKey, name: str) -> None:
    with pytest.raises(NoteError, match="key name"):
        sign_note("text\n", name, signing_key)


def test_sign_note_refuses_a_key_that_is_not_a_signing_key(signing_key: nacl.signing.SigningKey) -> None:
    with pytest.raises(InvalidKeyError, match="SigningKey"):
        sign_note("text\n", NAME, bytes(signing_key))  # type: ignore[arg-type]


def test_text_with_blank_lines_round_trips(signing_key: nacl.signing.SigningKey, verifier: NoteVerifier) -> None:
    for text in ("\n", "a\n\nb\n", "a\n\n", f"a\n\n{EM_DASH} {NAME} AAAA\n", "ed è subito sera.\n"):
        assert verify_note(sign_note(text, NAME, signing_key), [verifier]) == text


# --- verifier keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda key: key.replace("c74f20a3", "c74f20a4"), "does not match"),
        (lambda key: key.replace("c74f20a3", "C74F20A3"), "8 lowercase hex digits"),
        (lambda key: key.replace("c74f20a3", "c74f20a"), "8 lowercase hex digits"),
        (lambda key: key.replace("PeterNeumann", ""), "non-empty"),
        (lambda key: key.replace("PeterNeumann", "Peter Neumann"), "key name must not contain"),
        (lambda key: key.replace("PeterNeumann", "Peter\u0000Neumann"), "key name must not contain"),
        (lambda key: key.replace("PeterNeumann", "Peter+Neumann"), "8 lowercase hex digits"),
        (lambda key: key.replace("+ARpc", "+Apc"), "not valid standard base64"),
        (lambda key: key + " ", "not valid standard base64"),
        (lambda key: key.rsplit("+", 1)[0], "<name>\\+<key ID>\\+<key>"),
        (lambda key: key.replace("+ARpc", "+AhpcAA"), "not valid standard base64"),
    ],
)
def test_malformed_verifier_keys_are_refused(
    vector: dict[str, str], change: Callable[[str], str], message: str
) -> None:
    with pytest.raises(NoteError, match=message):
        parse_verifier_key(change(vector["verifier_key"]))


def test_verifier_keys_of_another_algorithm_or_length_are_refused(vector: dict[str, str]) -> None:
    name, key_id, encoded = vector["verifier_key"].split("+", 2)
    key = base64.b64decode(encoded)
    for raw, message in [
        (b"\x02" + key[1:], "not an Ed25519"),
        (b"", "not an Ed25519"),
        (key + b"\x00", "must hold 32 key bytes"),
        (key[:-1], "must hold 32 key bytes"),
    ]:
        with pytest.raises(NoteError, match=message):
            parse_verifier_key(f"{name}+{key_id}+{base64.b64encode(raw).decode()}")


def test_verifiers_are_consistent_by_construction(verifier: NoteVerifier) -> None:
    with pytest.raises(NoteError, match="key ID does not match"):
        NoteVerifier(verifier.name, b"\x00\x00\x00\x00", verifier.public_key)
    with pytest.raises(NoteError, match="key ID does not match"):
        NoteVerifier("SomeoneElse", verifier.key_hash, verifier.public_key)
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        NoteVerifier.for_key(verifier.name, verifier.public_key[:31])
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        verifier_key_string(verifier.name, verifier.public_key + b"\x00")
    with pytest.raises(NoteError, match="key name"):
        verifier_key_string("bad name", verifier.public_key)


# --- checkpoints ---------------------------------------------------------------------------------


@pytest.fixture
def tree_root() -> bytes:
    return root(MemoryTree(leaf_hash(bytes([i])) for i in range(5)), 5)


def test_checkpoint_text_has_the_c2sp_layout(tree_root: bytes) -> None:
    encoded = base64.b64encode(tree_root).decode()
    assert checkpoint_text("gw.example/log", 5, tree_root) == f"gw.example/log\n5\n{encoded}\n"
    assert checkpoint_text("o", 0, empty_root(), ["ext one", "ext two"]) == (
        "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next one\next two\n"
    )


@pytest.mark.parametrize("extensions", [(), ("first extension", "second")])
def test_checkpoints_round_trip(tree_root: bytes, extensions: tuple[str, ...]) -> None:
    text = checkpoint_text("gw.example/log", 5, tree_root, extensions)
    assert parse_checkpoint(text) == Checkpoint("gw.example/log", 5, tree_root, extensions)


def test_signed_checkpoints_round_trip(
    signing_key: nacl.signing.SigningKey, verifier: NoteVerifier, tree_root: bytes
) -> None:
    note = sign_checkpoint("gw.example/log", 5, tree_root, NAME, signing_key)
    assert note.startswith(checkpoint_text("gw.example/log", 5, tree_root) + "\n" + EM_DASH + " ")
    expected = Checkpoint("gw.example/log", 5, tree_root)
    assert verify_checkpoint(note, verifier) == expected
    assert verify_checkpoint(note, verifier, origin="gw.example/log") == expected
    with pytest.raises(NoteError, match=r"origin 'gw\.example/log' is not 'gw\.example/other'"):
        verify_checkpoint(note, verifier, origin="gw.example/other")
    empty = sign_checkpoint("gw.example/log", 0, empty_root(), NAME, signing_key, extensions=["x"])
    assert verify_checkpoint(empty, verifier) == Checkpoint("gw.example/log", 0, empty_root(), ("x",))


def test_a_checkpoint_signed_by_another_key_is_refused(
    vector: dict[str, str], signing_key: nacl.signing.SigningKey, other_verifier: NoteVerifier
) -> None:
    note = sign_checkpoint("gw.example/log", 0, empty_root(), NAME, signing_key)
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_checkpoint(note, other_verifier)


def test_a_signed_note_that_is_not_a_checkpoint_is_refused(
    vector: dict[str, str], verifier: NoteVerifier
) -> None:
    with pytest.raises(NoteError, match="needs an origin, a tree size and a root hash"):
        verify_checkpoint(vector["signed_note"], verifier)


@pytest.mark.parametrize(
    ("size_line", "root_line", "message"),
    [
        ("007", "ROOT", "without leading zeros"),
        ("00", "ROOT", "without leading zeros"),
        ("+5", "ROOT", "decimal number"),
        ("-1", "ROOT", "decimal number"),
        (" 5", "ROOT", "decimal number"),
        ("5 ", "ROOT", "decimal number"),
        ("1_000", "ROOT", "decimal number"),
        ("\u0665", "ROOT", "decimal number"),  # ARABIC-INDIC DIGIT FIVE: int() would take it
        ("", "ROOT", "decimal number"),
        ("18446744073709551616", "ROOT", "between 0 and 2\\*\\*64 - 1"),
        ("5", "not base64!", "not valid standard base64"),
        ("5", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", "not valid standard base64"),
        ("5", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=", "not canonical"),
        ("5", "AAAA", "must decode to 32 bytes"),
        ("5", base64.b64encode(bytes(33)).decode(), "must decode to 32 bytes"),
    ],
)
def test_malformed_checkpoint_fields_are_refused(size_line: str, root_line: str, message: str) -> None:
    root_line = root_line.replace("ROOT", base64.b64encode(bytes(32)).decode())
    with pytest.raises(NoteError, match=message):
        parse_checkpoint(f"origin\n{size_line}\n{root_line}\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("origin\n5\n", "needs an origin, a tree size and a root hash"),
        ("origin\n5\nROOT", "end in a newline"),
        ("\n5\nROOT\n", "origin must be a non-empty string"),
        ("origin\n5\nROOT\n\n", "extension line must be a non-empty string"),
        ("origin\n5\nROOT\next\n\n", "extension line must be a non-empty string"),
        ("origin\n\n5\nROOT\n", "decimal number"),
        ("ori\tgin\n5\nROOT\n", "control character"),
        ("origin\n5\nROOT\next\x7f\x1b\n", "control character"),
        ("", "end in a newline"),
    ],
)
def test_malformed_checkpoints_are_refused(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_checkpoint(text.replace("ROOT", base64.b64encode(bytes(32)).decode()))


@pytest.mark.parametrize(
    ("origin", "size", "root_hash", "extensions", "message"),
    [
        ("", 1, bytes(32), (), "origin must be a non-empty string"),
        ("two\nlines", 1, bytes(32), (), "origin must be a single line"),
        ("o", -1, bytes(32), (), "between 0 and 2"),
        ("o", 2**64, bytes(32), (), "between 0 and 2"),
        ("o", True, bytes(32), (), "must be an integer"),
        ("o", 1, bytes(31), (), "root hash must be 32 bytes"),
        ("o", 1, bytes(32), ("",), "extension line must be a non-empty string"),
        ("o", 1, bytes(32), ("a\nb",), "extension line must be a single line"),
        ("o", 1, bytes(32), "ext", "not one string"),
    ],
)
def test_checkpoint_text_refuses_malformed_fields(
    origin: str, size: int, root_hash: bytes, extensions: Any, message: str
) -> None:
    with pytest.raises(NoteError, match=message):
        checkpoint_text(origin, size, root_hash, extensions)


def test_the_largest_tree_size_is_accepted() -> None:
    text = checkpoint_text("o", 2**64 - 1, bytes(32))
    assert parse_checkpoint(text).size == 2**64 - 1

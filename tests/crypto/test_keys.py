from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from crypto.errors import EncodingError, InvalidKeyError, KeyFileError
from crypto.keys import (
    PublicKeyInfo,
    decode_sealing_public_key,
    decode_signing_public_key,
    encode_public_key,
    generate_sealing_key,
    generate_secret,
    generate_signing_key,
    key_id,
    public_key_info,
    read_sealing_key,
    read_secret_key,
    read_signing_key,
    write_key_file,
)

# RFC 7748 §5 / libsodium's blocklist: X25519 points of small order.
X25519_SMALL_ORDER = [
    bytes(32),
    b"\x01" + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]
# Ed25519 encodings that are no usable public key: the identity (order 1), a point of order 4,
# y = 2 (not on the curve), and y = p (non-canonical).
ED25519_BAD_POINTS = [
    b"\x01" + bytes(31),
    bytes(32),
    b"\x02" + bytes(31),
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def write_raw(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing arbitrary key-file content with a chosen mode, bypassing write_key_file."""

    def factory(content: str | bytes, mode: int = 0o600, name: str = "k.key") -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(mode)
        return path

    return factory


@pytest.fixture
def zero_umask() -> Iterator[None]:
    """Run with umask 0, so a created file's mode is exactly what the code asked for."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- key ids and public keys -------------------------------------------------------------------


def test_key_id_is_lowercase_hex_of_first_8_bytes_of_sha256(vectors_dir: Path) -> None:
    vectors = json.loads((vectors_dir / "ed25519_rfc8032.json").read_text())["vectors"]
    for vector in vectors:
        raw = bytes.fromhex(vector["public_key_hex"])
        kid = key_id(raw)
        assert re.fullmatch(r"[0-9a-f]{16}", kid)
        assert kid == hashlib.sha256(raw).digest()[:8].hex()


def test_key_id_is_the_same_for_raw_bytes_and_key_objects() -> None:
    verify_key = SigningKey.generate().verify_key
    public_key = PrivateKey.generate().public_key
    assert key_id(verify_key) == key_id(bytes(verify_key))
    assert key_id(public_key) == key_id(bytes(public_key))


@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33), "a" * 32])
def test_key_id_refuses_anything_but_32_bytes(raw: object) -> None:
    with pytest.raises(InvalidKeyError, match="32 raw bytes"):
        key_id(raw)  # type: ignore[arg-type]


def test_signing_public_key_round_trips_through_standard_base64() -> None:
    verify_key = generate_signing_key().verify_key
    text = encode_public_key(verify_key)
    assert text == base64.b64encode(bytes(verify_key)).decode()
    assert text.endswith("=")  # 32 bytes: padded standard base64 (PROTOCOL §1)
    assert decode_signing_public_key(text) == verify_key


def test_sealing_public_key_round_trips_through_standard_base64() -> None:
    public_key = generate_sealing_key().public_key
    text = encode_public_key(bytes(public_key))
    assert decode_sealing_public_key(text) == public_key


def test_public_key_info_reduces_private_keys_to_their_public_half() -> None:
    signing_key = generate_signing_key()
    sealing_key = generate_sealing_key()
    info = public_key_info(signing_key)
    assert info == public_key_info(signing_key.verify_key)
    assert info == PublicKeyInfo(public_key=encode_public_key(signing_key.verify_key),
                                 kid=key_id(signing_key.verify_key))
    assert public_key_info(sealing_key) == public_key_info(sealing_key.public_key)
    assert info.as_dict() == {"public_key": info.public_key, "kid": info.kid}


@pytest.mark.parametrize("decode", [decode_signing_public_key, decode_sealing_public_key])
@pytest.mark.parametrize(
    "text",
    [
        "not base64!",
        b64(bytes(range(32))).rstrip("="),  # unpadded
        base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),  # base64url alphabet
        " " + b64(bytes(range(32))),
        b64(bytes(range(32))) + "\n",
        b64(bytes(range(32)))[:-2] + "B=",  # non-canonical trailing bits
        "ü" * 44,
    ],
)
def test_public_key_that_is_not_standard_base64_is_an_encoding_error(
        decode: Callable[[str], object], text: str) -> None:
    with pytest.raises(EncodingError) as caught:
        decode(text)
    assert caught.value.code == "BAD_REQUEST"


@pytest.mark.parametrize("decode", [decode_signing_public_key, decode_sealing_public_key])
@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_public_key_of_wrong_length_is_an_invalid_key(decode: Callable[[str], object], length: int) -> None:
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        decode(b64(b"\x07" * length))


@pytest.mark.parametrize("decode", [decode_signing_public_key, decode_sealing_public_key])
def test_public_key_that_is_not_a_string_is_an_encoding_error(decode: Callable[[object], object]) -> None:
    with pytest.raises(EncodingError):
        decode(bytes(32))


@pytest.mark.parametrize("raw", ED25519_BAD_POINTS)
def test_signing_public_key_that_is_no_valid_point_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidKeyError, match="valid Ed25519 point"):
        decode_signing_public_key(b64(raw))


@pytest.mark.parametrize("raw", X25519_SMALL_ORDER)
def test_sealing_public_key_of_small_order_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidKeyError, match="small-order"):
        decode_sealing_public_key(b64(raw))


def test_encode_public_key_refuses_wrong_length() -> None:
    with pytest.raises(InvalidKeyError):
        encode_public_key(bytes(31))


def test_generated_keys_and_secrets_are_fresh() -> None:
    assert generate_signing_key() != generate_signing_key()
    assert bytes(generate_sealing_key()) != bytes(generate_sealing_key())
    first, second = generate_secret(), generate_secret()
    assert len(first) == len(second) == 32
    assert first != second


# --- key files ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("zero_umask")
def test_signing_key_file_is_owner_only_and_round_trips(tmp_path: Path) -> None:
    key = generate_signing_key()
    path = tmp_path / "reviewer.sign.key"
    write_key_file(path, "ed25519-signing", bytes(key))
    assert mode_of(path) == 0o600
    text = path.read_text()
    assert text.endswith("\n")
    assert json.loads(text) == {"kind": "ed25519-signing", "key": b64(bytes(key)),
                                "kid": key_id(key.verify_key)}
    assert read_signing_key(path) == key


@pytest.mark.usefixtures("zero_umask")
def test_sealing_key_file_round_trips(tmp_path: Path) -> None:
    key = generate_sealing_key()
    path = tmp_path / "authority.seal.key"
    write_key_file(str(path), "x25519-sealing", bytes(key))
    assert mode_of(path) == 0o600
    assert json.loads(path.read_text())["kid"] == key_id(key.public_key)
    assert bytes(read_sealing_key(path)) == bytes(key)


@pytest.mark.usefixtures("zero_umask")
def test_secret_key_file_has_no_kid_and_round_trips(tmp_path: Path) -> None:
    secret = generate_secret()
    path = tmp_path / "at-rest.key"
    write_key_file(path, "secretbox", secret)
    assert mode_of(path) == 0o600
    assert json.loads(path.read_text()) == {"kind": "secretbox", "key": b64(secret)}
    assert read_secret_key(path) == secret


def test_existing_key_file_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    write_key_file(path, "secretbox", generate_secret())
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        write_key_file(path, "secretbox", generate_secret())
    assert path.read_bytes() == before


def test_existing_file_of_any_content_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("precious\n")
    with pytest.raises(KeyFileError, match="already exists"):
        write_key_file(path, "secretbox", generate_secret())
    assert path.read_text() == "precious\n"


def test_symlink_at_the_target_is_not_followed_when_creating(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "k.key"
    link.symlink_to(victim)
    with pytest.raises(KeyFileError):
        write_key_file(link, "secretbox", generate_secret())
    assert victim.read_text() == "precious\n"


@pytest.mark.usefixtures("zero_umask")
def test_overwrite_replaces_atomically_and_stays_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    path.write_text("old\n")
    path.chmod(0o644)
    secret = generate_secret()
    write_key_file(path, "secretbox", secret, overwrite=True)
    assert mode_of(path) == 0o600
    assert read_secret_key(path) == secret
    assert [p.name for p in tmp_path.iterdir()] == ["k.key"]  # no temporary file left behind


def test_writing_into_a_missing_directory_is_a_key_file_error(tmp_path: Path) -> None:
    for overwrite in (False, True):
        with pytest.raises(KeyFileError, match="could not be written"):
            write_key_file(tmp_path / "missing" / "k.key", "secretbox", generate_secret(),
                           overwrite=overwrite)


def test_writing_refuses_unknown_kind_and_wrong_length(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="unknown key kind"):
        write_key_file(tmp_path / "a.key", "rsa", generate_secret())  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError, match="32 raw bytes"):
        write_key_file(tmp_path / "b.key", "secretbox", bytes(31))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o700 | 0o004])
def test_key_file_readable_or_writable_by_others_is_refused_with_the_fix(
        tmp_path: Path, mode: int) -> None:
    path = tmp_path / "x.key"
    write_key_file(path, "ed25519-signing", bytes(generate_signing_key()))
    path.chmod(mode)
    with pytest.raises(KeyFileError, match=re.escape(f"(mode {mode:04o}); run: chmod 600 {path}")) as caught:
        read_signing_key(path)
    assert "group or others" in caught.value.message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_modes_are_accepted(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "x.key"
    secret = generate_secret()
    write_key_file(path, "secretbox", secret)
    path.chmod(mode)
    assert read_secret_key(path) == secret


def test_wrong_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.key"
    write_key_file(path, "ed25519-signing", bytes(generate_signing_key()))
    with pytest.raises(KeyFileError, match="'ed25519-signing' key, not the 'x25519-sealing'"):
        read_sealing_key(path)
    with pytest.raises(KeyFileError, match="not the 'secretbox'"):
        read_secret_key(path)


def test_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        read_signing_key(tmp_path / "nope.key")


def test_directory_is_not_a_key_file(tmp_path: Path) -> None:
    directory = tmp_path / "d.key"
    directory.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        read_secret_key(directory)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "f.key"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(KeyFileError, match="not a regular file"):
        read_secret_key(fifo)


def test_symlink_to_an_owner_only_key_file_is_read(tmp_path: Path) -> None:
    # Secret mounts (e.g. Kubernetes) present keys through symlinks; the target's mode decides.
    target = tmp_path / "real.key"
    secret = generate_secret()
    write_key_file(target, "secretbox", secret)
    link = tmp_path / "link.key"
    link.symlink_to(target)
    assert read_secret_key(link) == secret
    target.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read_secret_key(link)


def test_oversized_key_file_is_refused(write_raw: Callable[..., Path]) -> None:
    with pytest.raises(KeyFileError, match="too large"):
        read_secret_key(write_raw(" " * 5000))


VALID_SECRET = b64(bytes(range(32)))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not a JSON object"),
        ("not json", "not a JSON object"),
        ("[]", "not a JSON object"),
        ('"secretbox"', "not a JSON object"),
        ('{"kind": "secretbox", "kind": "secretbox", "key": "' + VALID_SECRET + '"}', "duplicate key"),
        ('{"kind": "secretbox", "key": NaN}', "not a JSON object"),
        (b'{"kind": "secretbox", "key": "\xff"}', "not a JSON object"),
        ('{"key": "' + VALID_SECRET + '"}', "has no kind"),
        ('{"kind": "secretbox", "key": "' + VALID_SECRET + '", "kid": "00112233"}', "exactly the fields"),
        ('{"kind": "secretbox", "key": "' + VALID_SECRET + '", "note": "x"}', "exactly the fields"),
        ('{"kind": "secretbox"}', "exactly the fields"),
        ('{"kind": "secretbox", "key": 5}', "base64 string"),
        ('{"kind": "secretbox", "key": "!!!"}', "not valid standard base64"),
        ('{"kind": "secretbox", "key": "' + b64(bytes(31)) + '"}', "32 bytes"),
        ('{"kind": "secretbox", "key": "' + b64(bytes(33)) + '"}', "32 bytes"),
        ('{"kind": "secretbox", "key": "' + VALID_SECRET.rstrip("=") + '"}', "base64"),
    ],
)
def test_malformed_secret_key_file_is_refused(write_raw: Callable[..., Path], content: str | bytes,
                                              message: str) -> None:
    with pytest.raises(KeyFileError, match=re.escape(message)):
        read_secret_key(write_raw(content))


def test_signing_key_file_whose_kid_does_not_match_is_refused(write_raw: Callable[..., Path]) -> None:
    key, other = generate_signing_key(), generate_signing_key()
    content = json.dumps({"kind": "ed25519-signing", "key": b64(bytes(key)), "kid": key_id(other.verify_key)})
    with pytest.raises(KeyFileError, match="kid does not match"):
        read_signing_key(write_raw(content))


def test_signing_key_file_without_kid_is_refused(write_raw: Callable[..., Path]) -> None:
    content = json.dumps({"kind": "ed25519-signing", "key": b64(bytes(generate_signing_key()))})
    with pytest.raises(KeyFileError, match="exactly the fields"):
        read_signing_key(write_raw(content))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.binary(min_size=0, max_size=40).map(b64))
def test_arbitrary_text_is_only_ever_an_encoding_or_key_error(text: str) -> None:
    for decode in (decode_signing_public_key, decode_sealing_public_key):
        # Any other exception fails the test.
        with contextlib.suppress(EncodingError, InvalidKeyError):
            decode(text)

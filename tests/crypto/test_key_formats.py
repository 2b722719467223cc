"""Key files as RFC 8037 JWKs and RFC 8410 PKCS#8 PEM, checked against independent implementations
(pyca/cryptography for PEM, joserfc for JWK)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from joserfc.jwk import OKPKey

from crypto.errors import KeyFileError
from crypto.keys import generate_sealing_key, generate_signing_key, read_sealing_key, read_signing_key, write_key_file

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def test_pem_signing_key_is_pkcs8_that_cryptography_reads(tmp_path: Path) -> None:
    key = generate_signing_key()
    write_key_file(tmp_path / "k.pem", "ed25519-signing", bytes(key), key_format="pem")
    loaded = serialization.load_pem_private_key((tmp_path / "k.pem").read_bytes(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    assert loaded.public_key().public_bytes(*RAW) == bytes(key.verify_key)
    assert read_signing_key(tmp_path / "k.pem") == key
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600


def test_pem_written_by_cryptography_is_read(tmp_path: Path) -> None:
    theirs = X25519PrivateKey.generate()
    pem = theirs.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    path = tmp_path / "seal.pem"
    path.write_bytes(pem)
    path.chmod(0o600)
    assert bytes(read_sealing_key(path).public_key) == theirs.public_key().public_bytes(*RAW)
    with pytest.raises(KeyFileError, match="not a PKCS#8"):
        read_signing_key(path)  # an X25519 key is not a signing key


@pytest.mark.parametrize(("kind", "curve"), [("ed25519-signing", "Ed25519"), ("x25519-sealing", "X25519")])
def test_jwk_is_rfc8037_okp_that_joserfc_reads(tmp_path: Path, kind: str, curve: str) -> None:
    key = generate_signing_key() if kind == "ed25519-signing" else generate_sealing_key()
    write_key_file(tmp_path / "k.jwk", kind, bytes(key), key_format="jwk")  # type: ignore[arg-type]
    document = json.loads((tmp_path / "k.jwk").read_text())
    assert document["kty"] == "OKP" and document["crv"] == curve
    imported = OKPKey.import_key(document)
    assert imported.is_private
    reader = read_signing_key if kind == "ed25519-signing" else read_sealing_key
    assert bytes(reader(tmp_path / "k.jwk")) == bytes(key)


def test_jwk_whose_public_half_does_not_match_is_refused(tmp_path: Path) -> None:
    write_key_file(tmp_path / "k.jwk", "ed25519-signing", bytes(generate_signing_key()), key_format="jwk")
    document = json.loads((tmp_path / "k.jwk").read_text())
    other = json.loads(_jwk_of(tmp_path))
    document["x"] = other["x"]
    (tmp_path / "k.jwk").write_text(json.dumps(document))
    with pytest.raises(KeyFileError, match="x is not the public half of d"):
        read_signing_key(tmp_path / "k.jwk")


def _jwk_of(tmp_path: Path) -> str:
    write_key_file(tmp_path / "other.jwk", "ed25519-signing", bytes(generate_signing_key()), key_format="jwk")
    return (tmp_path / "other.jwk").read_text()


def test_standard_formats_are_owner_only_too(tmp_path: Path) -> None:
    write_key_file(tmp_path / "k.pem", "ed25519-signing", bytes(generate_signing_key()), key_format="pem")
    (tmp_path / "k.pem").chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read_signing_key(tmp_path / "k.pem")


def test_secrets_have_no_standard_form(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="only in the gateway's own format"):
        write_key_file(tmp_path / "s", "secretbox", bytes(32), key_format="jwk")

from __future__ import annotations

import base64
import json
import types
from pathlib import Path
from typing import Any

import nacl.exceptions
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey, VerifyKey

from crypto.encoding import b64decode
from crypto.errors import CryptoError, EncodingError, InvalidKeyError, SignatureError
from crypto.keys import decode_signing_public_key, encode_public_key, key_id
from crypto.signing import (
    DISCLOSURE_DOMAIN,
    ORDER_DOMAIN,
    sign_document,
    sign_over,
    signing_payload,
    verify_document_signature,
    verify_signature_over,
)

ORDER: dict[str, Any] = {
    "v": 1,
    "order_id": "ord-91c2",
    "request_id": "req-7f3a",
    "authority_id": "bka-de",
    "case_reference": "AZ 123/26",
    "jurisdiction": "DE",
    "legal_basis": "§ 100g StPO",
    "offense_category": "fraud",
    "subjects": ["subj-0042"],
    "fields": ["phoneNumber", "ipAddresses"],
    "data_window": {"from": "2026-09-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
    "valid_from": "2026-11-22T00:00:00Z",
    "valid_until": "2026-12-22T00:00:00Z",
    "max_queries": 10,
    "issued_at": "2026-11-22T09:30:00Z",
}


@pytest.fixture(scope="module")
def reviewer_key() -> SigningKey:
    return SigningKey.generate()


def rfc8032_vectors(vectors_dir: Path) -> list[dict[str, str]]:
    vectors: list[dict[str, str]] = json.loads((vectors_dir / "ed25519_rfc8032.json").read_text())["vectors"]
    assert len(vectors) >= 3
    return vectors


# --- RFC 8032 §7.1 known answers ---------------------------------------------------------------


def test_rfc8032_signatures_are_reproduced_exactly(vectors_dir: Path) -> None:
    for vector in rfc8032_vectors(vectors_dir):
        key = SigningKey(bytes.fromhex(vector["secret_key_hex"]))
        assert bytes(key.verify_key).hex() == vector["public_key_hex"]
        signature = key.sign(bytes.fromhex(vector["message_hex"])).signature
        assert signature.hex() == vector["signature_hex"]


def test_rfc8032_signatures_verify_under_the_decoded_public_key(vectors_dir: Path) -> None:
    for vector in rfc8032_vectors(vectors_dir):
        raw = bytes.fromhex(vector["public_key_hex"])
        # Through crypto.keys: base64 travel form, point check, kid.
        verify_key = decode_signing_public_key(encode_public_key(raw))
        assert key_id(verify_key) == key_id(raw)
        message = bytes.fromhex(vector["message_hex"])
        assert verify_key.verify(message, bytes.fromhex(vector["signature_hex"])) == message


def test_rfc8032_signatures_do_not_verify_an_altered_message(vectors_dir: Path) -> None:
    for vector in rfc8032_vectors(vectors_dir):
        verify_key = VerifyKey(bytes.fromhex(vector["public_key_hex"]))
        signature = bytes.fromhex(vector["signature_hex"])
        message = bytes.fromhex(vector["message_hex"])
        for altered in (message + b"\x00", b"\x01" + message[1:] if message else b"\x01"):
            with pytest.raises(nacl.exceptions.BadSignatureError):
                verify_key.verify(altered, signature)


# --- domain-separated signatures ---------------------------------------------------------------


def test_signing_payload_is_domain_nul_jcs() -> None:
    assert signing_payload(ORDER_DOMAIN, {"b": [2, 1], "a": "ü"}) == (
        b"disclosure-gateway/order/v1\x00" + '{"a":"ü","b":[2,1]}'.encode()
    )
    assert DISCLOSURE_DOMAIN == b"disclosure-gateway/disclosure/v1"


def test_signature_is_independent_ed25519_over_the_payload(reviewer_key: SigningKey) -> None:
    signature = sign_document(ORDER_DOMAIN, ORDER, reviewer_key)
    raw = base64.b64decode(signature, validate=True)
    assert len(raw) == 64
    # Checked with PyNaCl and rfc8785 directly, not through crypto.
    reviewer_key.verify_key.verify(ORDER_DOMAIN + b"\x00" + rfc8785.dumps(ORDER), raw)


def test_document_signature_round_trips(reviewer_key: SigningKey) -> None:
    signature = sign_document(ORDER_DOMAIN, ORDER, reviewer_key)
    # Returns None or raises.
    verify_document_signature(ORDER_DOMAIN, ORDER, signature, reviewer_key.verify_key)


def test_order_signature_does_not_verify_in_the_disclosure_domain(reviewer_key: SigningKey) -> None:
    signature = sign_document(ORDER_DOMAIN, ORDER, reviewer_key)
    with pytest.raises(SignatureError, match="does not verify") as caught:
        verify_document_signature(DISCLOSURE_DOMAIN, ORDER, signature, reviewer_key.verify_key)
    assert caught.value.code == "BAD_REQUEST"
    assert isinstance(caught.value.__cause__, nacl.exceptions.CryptoError)


def test_key_order_does_not_matter_because_of_jcs(reviewer_key: SigningKey) -> None:
    signature = sign_document(ORDER_DOMAIN, ORDER, reviewer_key)
    reordered = dict(reversed(list(ORDER.items())))
    reordered["data_window"] = {"until": ORDER["data_window"]["until"], "from": ORDER["data_window"]["from"]}
    verify_document_signature(ORDER_DOMAIN, reordered, signature, reviewer_key.verify_key)
    # Any Mapping will do at the top level.
    proxy = types.MappingProxyType(reordered)
    verify_document_signature(ORDER_DOMAIN, proxy, signature, reviewer_key.verify_key)


@pytest.mark.parametrize(
    "change",
    [
        {"max_queries": 11},
        {"subjects": ["subj-0042", "subj-0043"]},
        {"fields": ["ipAddresses", "phoneNumber"]},  # list order is meaningful in JSON
        {"valid_until": "2027-12-22T00:00:00Z"},
        {"extra": "x"},
        {"max_queries": 10.5},
        {"v": True},
    ],
)
def test_any_change_of_the_document_fails(reviewer_key: SigningKey, change: dict[str, Any]) -> None:
    signature = sign_document(ORDER_DOMAIN, ORDER, reviewer_key)
    with pytest.raises(SignatureError):
        verify_document_signature(ORDER_DOMAIN, {**ORDER, **change}, signature, reviewer_key.verify_key)


def test_removed_key_fails(reviewer_key: SigningKey) -> None:
    signature = sign_document(ORDER_DOMAIN, ORDER, reviewer_key)
    smaller = {k: v for k, v in ORDER.items() if k != "jurisdiction"}
    with pytest.raises(SignatureError):
        verify_document_signature(ORDER_DOMAIN, smaller, signature, reviewer_key.verify_key)


def test_another_keys_signature_fails(reviewer_key: SigningKey) -> None:
    signature = sign_document(ORDER_DOMAIN, ORDER, SigningKey.generate())
    with pytest.raises(SignatureError, match="does not verify"):
        verify_document_signature(ORDER_DOMAIN, ORDER, signature, reviewer_key.verify_key)


def signature_of_length(length: int) -> str:
    return base64.b64encode(b"\x01" * length).decode()


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "!!!!",
        "AAAA",
        signature_of_length(63),
        signature_of_length(65),
        signature_of_length(64),
        signature_of_length(64).rstrip("="),
        base64.urlsafe_b64encode(b"\xfb\xff" * 32).decode(),
        " " + signature_of_length(64),
        "é" * 88,
    ],
)
def test_garbage_signature_is_a_signature_error(reviewer_key: SigningKey, signature: str) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_document_signature(ORDER_DOMAIN, ORDER, signature, reviewer_key.verify_key)
    assert caught.value.code == "BAD_REQUEST"


@pytest.mark.parametrize("signature", [None, 5, b"x" * 88, ["a"]])
def test_signature_that_is_not_a_string_is_a_signature_error(reviewer_key: SigningKey,
                                                             signature: object) -> None:
    with pytest.raises(SignatureError, match="base64 string"):
        verify_document_signature(ORDER_DOMAIN, ORDER, signature, reviewer_key.verify_key)  # type: ignore[arg-type]


def test_verify_key_of_another_type_is_an_invalid_key(reviewer_key: SigningKey) -> None:
    signature = sign_document(ORDER_DOMAIN, ORDER, reviewer_key)
    with pytest.raises(InvalidKeyError):
        verify_document_signature(ORDER_DOMAIN, ORDER, signature, bytes(reviewer_key.verify_key))  # type: ignore[arg-type]


def test_signing_key_of_another_type_is_an_invalid_key(reviewer_key: SigningKey) -> None:
    with pytest.raises(InvalidKeyError):
        sign_document(ORDER_DOMAIN, ORDER, bytes(reviewer_key))  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError):
        sign_over(ORDER_DOMAIN, b"{}", reviewer_key.verify_key)  # type: ignore[arg-type]


def test_signature_over_stored_canonical_bytes(reviewer_key: SigningKey) -> None:
    stored = rfc8785.dumps(ORDER)
    signature = sign_document(ORDER_DOMAIN, ORDER, reviewer_key)
    verify_signature_over(ORDER_DOMAIN, stored, signature, reviewer_key.verify_key)
    assert sign_over(ORDER_DOMAIN, stored, reviewer_key) == signature
    with pytest.raises(SignatureError):
        verify_signature_over(DISCLOSURE_DOMAIN, stored, signature, reviewer_key.verify_key)


def test_signature_over_bytes_is_exact_not_recanonicalised(reviewer_key: SigningKey) -> None:
    signature = sign_document(ORDER_DOMAIN, ORDER, reviewer_key)
    pretty = json.dumps(ORDER, sort_keys=True, indent=1).encode()
    with pytest.raises(SignatureError):
        verify_signature_over(ORDER_DOMAIN, pretty, signature, reviewer_key.verify_key)
    with pytest.raises(SignatureError, match="must be bytes"):
        verify_signature_over(ORDER_DOMAIN, pretty.decode(), signature, reviewer_key.verify_key)  # type: ignore[arg-type]


@pytest.mark.parametrize("domain", [b"", b"disclosure-gateway/order/v1\x00", b"a\x00b", "text"])
def test_malformed_domain_is_refused(reviewer_key: SigningKey, domain: Any) -> None:
    with pytest.raises(CryptoError, match="signing domain"):
        sign_document(domain, ORDER, reviewer_key)
    with pytest.raises(CryptoError, match="signing domain"):
        verify_document_signature(domain, ORDER, "A" * 88, reviewer_key.verify_key)


@pytest.mark.parametrize("document", [{"x": float("nan")}, {"x": {1, 2}}, {1: "x"}, ["not", "a", "mapping"]])
def test_document_that_is_no_json_object_is_an_encoding_error(reviewer_key: SigningKey,
                                                              document: Any) -> None:
    with pytest.raises(EncodingError):
        sign_document(ORDER_DOMAIN, document, reviewer_key)
    with pytest.raises(EncodingError):
        verify_document_signature(ORDER_DOMAIN, document, "A" * 86 + "==", reviewer_key.verify_key)


def test_signature_is_standard_padded_base64(reviewer_key: SigningKey) -> None:
    signature = sign_document(DISCLOSURE_DOMAIN, {"a": 1}, reviewer_key)
    assert len(b64decode(signature)) == 64
    assert signature.endswith("==")


FUZZ_KEY = SigningKey.generate()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120) | st.binary(max_size=80).map(lambda raw: base64.b64encode(raw).decode()))
def test_arbitrary_signature_text_is_only_ever_a_signature_error(signature: str) -> None:
    with pytest.raises(SignatureError):
        verify_document_signature(ORDER_DOMAIN, ORDER, signature, FUZZ_KEY.verify_key)

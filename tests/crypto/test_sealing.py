from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import nacl.bindings
import nacl.exceptions
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey

from crypto.encoding import B64, KeyId
from crypto.errors import CryptoError, EncodingError, InvalidKeyError, SealedValueError, SignatureError
from crypto.keys import key_id
from crypto.sealing import RECORD_FIELDS, SEALING_ALGORITHM, SealedValue, open_record, seal_record
from crypto.signing import DISCLOSURE_DOMAIN, ORDER_DOMAIN, sign_document

RecordFactory = Callable[..., dict[str, Any]]
ONE_ERROR = r"^sealed value could not be opened or verified$"


@pytest.fixture
def make_record() -> RecordFactory:
    """Factory of valid PROTOCOL §4 disclosure records; keyword arguments override fields."""

    def factory(**overrides: Any) -> dict[str, Any]:
        record: dict[str, Any] = {
            "v": 1,
            "request_id": "req-7f3a",
            "order_id": "ord-91c2",
            "subject_id": "subj-0042",
            "field": "phoneNumber",
            "value": "+4915112345678",
            "disclosed_at": "2026-11-22T10:00:00.123456Z",
        }
        record.update(overrides)
        return record

    return factory


@pytest.fixture(scope="module")
def gateway_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def authority_key() -> PrivateKey:
    return PrivateKey.generate()


def b64(data: bytes) -> B64:
    return B64(base64.b64encode(data).decode())


def reseal(sealed: SealedValue, recipient: PublicKey, plaintext: bytes) -> SealedValue:
    """The same sealed value with another plaintext, sealed independently of crypto.sealing."""
    return dataclasses.replace(sealed, ciphertext=b64(bytes(SealedBox(recipient).encrypt(plaintext))))


def assert_one_error(sealed: SealedValue, recipient_key: PrivateKey, gateway_key: SigningKey, *,
                     cause: type[BaseException] = BaseException, **kwargs: Any) -> None:
    """open_record fails with the one error; ``cause`` pins which check failed underneath."""
    with pytest.raises(SealedValueError, match=ONE_ERROR) as caught:
        open_record(sealed, recipient_key, gateway_key.verify_key, **kwargs)
    assert caught.value.message == "sealed value could not be opened or verified"
    assert caught.value.code == "BAD_REQUEST"
    assert isinstance(caught.value.__cause__, cause), repr(caught.value.__cause__)


# --- sealing -----------------------------------------------------------------------------------


def test_sealed_record_opens_with_low_level_libsodium_and_its_signature_verifies(
        make_record: RecordFactory, gateway_key: SigningKey, authority_key: PrivateKey) -> None:
    record = make_record()
    sealed = seal_record(record, gateway_key, authority_key.public_key)
    assert sealed.algorithm == SEALING_ALGORITHM == "x25519-xsalsa20poly1305-sealedbox"
    assert sealed.recipient_key_id == key_id(authority_key.public_key)
    ciphertext = base64.b64decode(sealed.ciphertext, validate=True)
    plaintext = nacl.bindings.crypto_box_seal_open(
        ciphertext, bytes(authority_key.public_key), bytes(authority_key)
    )
    inner = json.loads(plaintext)
    assert set(inner) == {"record", "signature"}
    assert inner["record"] == record
    # The plaintext is exactly JCS of {"record": R, "signature": S} (PROTOCOL §4).
    assert plaintext == rfc8785.dumps(inner)
    gateway_key.verify_key.verify(DISCLOSURE_DOMAIN + b"\x00" + rfc8785.dumps(record),
                                  base64.b64decode(inner["signature"], validate=True))


def test_sealed_record_round_trips(make_record: RecordFactory, gateway_key: SigningKey,
                                   authority_key: PrivateKey) -> None:
    value = [
        {"ip": "192.0.2.1", "port": 443, "first_seen": "2026-09-01T00:00:00Z",
         "last_seen": "2026-10-01T00:00:00Z"},
        {"ip": "2001:db8::1", "first_seen": "2026-09-02T00:00:00Z", "last_seen": "2026-09-03T00:00:00Z"},
    ]
    record = make_record(field="ipAddresses", value=value)
    sealed = seal_record(record, gateway_key, authority_key.public_key)
    expect = {"order_id": "ord-91c2", "subject_id": "subj-0042", "field": "ipAddresses",
              "request_id": "req-7f3a"}
    assert open_record(sealed, authority_key, gateway_key.verify_key, expect=expect) == record


def test_each_seal_is_a_different_ciphertext(make_record: RecordFactory, gateway_key: SigningKey,
                                             authority_key: PrivateKey) -> None:
    record = make_record()
    first = seal_record(record, gateway_key, authority_key.public_key)
    second = seal_record(record, gateway_key, authority_key.public_key)
    assert first.ciphertext != second.ciphertext


@pytest.mark.parametrize("missing", sorted(RECORD_FIELDS))
def test_record_missing_a_field_is_not_sealed(make_record: RecordFactory, gateway_key: SigningKey,
                                              authority_key: PrivateKey, missing: str) -> None:
    record = make_record()
    del record[missing]
    with pytest.raises(EncodingError, match=f"missing \\['{missing}'\\]"):
        seal_record(record, gateway_key, authority_key.public_key)


@pytest.mark.parametrize(
    "override",
    [
        {"extra": 1},
        {"v": 2},
        {"v": True},
        {"v": 1.0},
        {"v": "1"},
        {"order_id": ""},
        {"subject_id": 42},
        {"field": None},
        {"disclosed_at": "2026-11-22T10:00:00+00:00"},
        {"disclosed_at": "2026-11-22 10:00:00Z"},
        {"disclosed_at": "2026-02-30T10:00:00Z"},
        {"value": float("nan")},
        {"value": {1, 2}},
    ],
)
def test_record_of_another_shape_is_not_sealed(make_record: RecordFactory, gateway_key: SigningKey,
                                               authority_key: PrivateKey, override: dict[str, Any]) -> None:
    with pytest.raises(EncodingError):
        seal_record(make_record(**override), gateway_key, authority_key.public_key)


def test_sealing_refuses_wrong_key_types_and_small_order_recipients(
        make_record: RecordFactory, gateway_key: SigningKey, authority_key: PrivateKey) -> None:
    record = make_record()
    with pytest.raises(InvalidKeyError):
        seal_record(record, gateway_key, bytes(authority_key.public_key))  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError):
        seal_record(record, authority_key, authority_key.public_key)  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError, match="refused"):
        seal_record(record, gateway_key, PublicKey(bytes(32)))


# --- opening: one error, whatever went wrong ---------------------------------------------------


@pytest.fixture
def sealed(make_record: RecordFactory, gateway_key: SigningKey,
           authority_key: PrivateKey) -> SealedValue:
    return seal_record(make_record(), gateway_key, authority_key.public_key)


def test_sealed_for_one_key_does_not_open_with_another(sealed: SealedValue, gateway_key: SigningKey) -> None:
    other = PrivateKey.generate()
    assert_one_error(sealed, other, gateway_key, cause=SealedValueError)
    # Even when the kid is made to name the other key, the box itself does not open.
    relabelled = dataclasses.replace(sealed, recipient_key_id=key_id(other.public_key))
    assert_one_error(relabelled, other, gateway_key, cause=nacl.exceptions.CryptoError)


def test_wrong_gateway_key_is_the_one_error(sealed: SealedValue, authority_key: PrivateKey) -> None:
    assert_one_error(sealed, authority_key, SigningKey.generate(), cause=SignatureError)


def test_wrong_algorithm_is_the_one_error(sealed: SealedValue, authority_key: PrivateKey,
                                          gateway_key: SigningKey) -> None:
    for algorithm in ("", "x25519-xsalsa20poly1305", "X25519-XSALSA20POLY1305-SEALEDBOX", None):
        assert_one_error(dataclasses.replace(sealed, algorithm=algorithm),  # type: ignore[arg-type]
                         authority_key, gateway_key)


def test_wrong_kid_is_the_one_error(sealed: SealedValue, authority_key: PrivateKey,
                                    gateway_key: SigningKey) -> None:
    for kid in ("0000000000000000", "", sealed.recipient_key_id.upper()):
        assert_one_error(dataclasses.replace(sealed, recipient_key_id=KeyId(kid)), authority_key, gateway_key)


def test_truncated_or_altered_ciphertext_is_the_one_error(sealed: SealedValue, authority_key: PrivateKey,
                                                          gateway_key: SigningKey) -> None:
    raw = base64.b64decode(sealed.ciphertext)
    candidates = [raw[:-1], raw[:48], raw[:16], b"", raw + b"\x00"]
    for position in (0, 31, 32, 47, 48, len(raw) - 1):  # ephemeral key, MAC, body, last byte
        flipped = bytearray(raw)
        flipped[position] ^= 0x01
        candidates.append(bytes(flipped))
    for ciphertext in candidates:
        assert_one_error(dataclasses.replace(sealed, ciphertext=b64(ciphertext)), authority_key, gateway_key,
                         cause=nacl.exceptions.CryptoError)


@pytest.mark.parametrize("ciphertext", ["!!!!", "AAA", "A" * 200 + "\n", None, 42, "é"])
def test_ciphertext_that_is_not_base64_is_the_one_error(sealed: SealedValue, authority_key: PrivateKey,
                                                        gateway_key: SigningKey, ciphertext: Any) -> None:
    assert_one_error(dataclasses.replace(sealed, ciphertext=ciphertext), authority_key, gateway_key)


def test_tampered_record_resealed_with_the_same_signature_is_the_one_error(
        sealed: SealedValue, authority_key: PrivateKey, gateway_key: SigningKey) -> None:
    plaintext = SealedBox(authority_key).decrypt(base64.b64decode(sealed.ciphertext))
    inner = json.loads(plaintext)
    for change in ({"value": "+4915199999999"}, {"subject_id": "subj-0043"}, {"field": "devices"},
                   {"order_id": "ord-other"}, {"disclosed_at": "2026-11-23T10:00:00Z"}):
        tampered = {"record": {**inner["record"], **change}, "signature": inner["signature"]}
        assert_one_error(reseal(sealed, authority_key.public_key, rfc8785.dumps(tampered)),
                         authority_key, gateway_key, cause=SignatureError)
    # The untampered plaintext, resealed independently, still opens: the checks above are meaningful.
    resealed = reseal(sealed, authority_key.public_key, plaintext)
    assert open_record(resealed, authority_key, gateway_key.verify_key) == inner["record"]


def test_record_signed_in_the_order_domain_is_the_one_error(
        make_record: RecordFactory, sealed: SealedValue, authority_key: PrivateKey,
        gateway_key: SigningKey) -> None:
    record = make_record()
    inner: dict[str, Any] = {"record": record, "signature": sign_document(ORDER_DOMAIN, record, gateway_key)}
    resealed = reseal(sealed, authority_key.public_key, rfc8785.dumps(inner))
    assert_one_error(resealed, authority_key, gateway_key, cause=SignatureError)


def test_malformed_plaintext_is_the_one_error(make_record: RecordFactory, sealed: SealedValue,
                                              authority_key: PrivateKey, gateway_key: SigningKey) -> None:
    record = make_record()
    signature = sign_document(DISCLOSURE_DOMAIN, record, gateway_key)
    record_json = rfc8785.dumps(record).decode()
    bad_extra = make_record(extra="x")
    bad_extra_signature = sign_document(DISCLOSURE_DOMAIN, bad_extra, gateway_key)
    plaintexts = [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        rfc8785.dumps({"record": record}),
        rfc8785.dumps({"signature": signature}),
        rfc8785.dumps({"record": record, "signature": signature, "extra": 1}),
        rfc8785.dumps({"record": [record], "signature": signature}),
        rfc8785.dumps({"record": record, "signature": 5}),
        rfc8785.dumps({"record": record, "signature": signature.rstrip("=")}),
        # A well-signed record of the wrong shape.
        rfc8785.dumps({"record": bad_extra, "signature": bad_extra_signature}),
        # Duplicate keys: a parser that kept the last one would see another record.
        f'{{"record":{record_json},"record":{record_json},"signature":"{signature}"}}'.encode(),
        b'{"record":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        f'{{"record":{record_json},"signature":"{signature}"}} trailing'.encode(),
        f'{{"record":{record_json},"signature":"{signature}"}}'.encode("utf-16"),
        b"\xef\xbb\xbf" + f'{{"record":{record_json},"signature":"{signature}"}}'.encode(),
    ]
    for plaintext in plaintexts:
        assert_one_error(reseal(sealed, authority_key.public_key, plaintext), authority_key, gateway_key)


def test_expectation_mismatch_is_the_one_error(sealed: SealedValue, authority_key: PrivateKey,
                                               gateway_key: SigningKey) -> None:
    for expect in ({"order_id": "ord-other"}, {"subject_id": "subj-0043"}, {"field": "devices"},
                   {"request_id": "req-other"}, {"order_id": "ord-91c2", "field": "devices"}):
        assert_one_error(sealed, authority_key, gateway_key, expect=expect)


def test_expectation_naming_another_field_is_a_programming_error(
        sealed: SealedValue, authority_key: PrivateKey, gateway_key: SigningKey) -> None:
    with pytest.raises(CryptoError, match="expect may only name") as caught:
        open_record(sealed, authority_key, gateway_key.verify_key, expect={"value": "+4915112345678"})
    assert not isinstance(caught.value, SealedValueError)


def test_wrong_key_types_are_the_one_error(sealed: SealedValue, authority_key: PrivateKey,
                                           gateway_key: SigningKey) -> None:
    with pytest.raises(SealedValueError, match=ONE_ERROR):
        open_record(sealed, bytes(authority_key), gateway_key.verify_key)  # type: ignore[arg-type]
    with pytest.raises(SealedValueError, match=ONE_ERROR):
        open_record(sealed, authority_key, bytes(gateway_key.verify_key))  # type: ignore[arg-type]


# --- nothing but the one error escapes ---------------------------------------------------------

FUZZ_GATEWAY = SigningKey.generate()
FUZZ_AUTHORITY = PrivateKey.generate()
FUZZ_KID = key_id(FUZZ_AUTHORITY.public_key)


@settings(max_examples=200, deadline=None)
@given(ciphertext=st.binary(max_size=200).map(b64) | st.text(max_size=100))
def test_arbitrary_ciphertext_is_only_ever_the_one_error(ciphertext: str) -> None:
    sealed = SealedValue(algorithm=SEALING_ALGORITHM, recipient_key_id=FUZZ_KID, ciphertext=B64(ciphertext))
    with pytest.raises(SealedValueError, match=ONE_ERROR):
        open_record(sealed, FUZZ_AUTHORITY, FUZZ_GATEWAY.verify_key)


@settings(max_examples=200, deadline=None)
@given(plaintext=st.binary(max_size=300) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
).map(lambda value: json.dumps({"record": value, "signature": "AAAA"}).encode()))
def test_arbitrary_sealed_plaintext_is_only_ever_the_one_error(plaintext: bytes) -> None:
    ciphertext = b64(bytes(SealedBox(FUZZ_AUTHORITY.public_key).encrypt(plaintext)))
    sealed = SealedValue(algorithm=SEALING_ALGORITHM, recipient_key_id=FUZZ_KID, ciphertext=ciphertext)
    with pytest.raises(SealedValueError, match=ONE_ERROR):
        open_record(sealed, FUZZ_AUTHORITY, FUZZ_GATEWAY.verify_key)

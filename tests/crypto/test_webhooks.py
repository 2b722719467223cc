"""Standard Webhooks v1a, byte for byte as the spec fixes it: an Ed25519 signature over
``{id}.{timestamp}.{body}``, sent as ``v1a,<standard base64>`` in a space-delimited list."""

from __future__ import annotations

import base64

import pytest
from nacl.signing import SigningKey

from crypto.errors import CryptoError
from crypto.webhooks import sign_v1a, signed_content, verify_v1a, whpk, whpk_decode

# The spec's own example id, timestamp and minified body.
ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
STAMP = 1674087231
BODY = (b'{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z",'
        b'"data":{"id":"1f81eb52-5198-4599-803e-771906343485"}}')
KEY = SigningKey(bytes(range(32)))


def test_the_signed_content_is_id_dot_timestamp_dot_body() -> None:
    assert signed_content(ID, STAMP, BODY) == b"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1674087231." + BODY


def test_the_signature_is_ed25519_over_those_bytes_in_standard_base64() -> None:
    item = sign_v1a(KEY, ID, STAMP, BODY)
    scheme, encoded = item.split(",")
    assert scheme == "v1a" and len(encoded) == 88 and encoded.endswith("==")
    # Checked with PyNaCl directly, as any receiver would, not through verify_v1a.
    KEY.verify_key.verify(ID.encode() + b"." + str(STAMP).encode() + b"." + BODY, base64.b64decode(encoded))


def test_verify_takes_any_v1a_item_of_the_list_and_skips_other_schemes() -> None:
    good = sign_v1a(KEY, ID, STAMP, BODY)
    other = SigningKey.generate()
    header = f"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= {sign_v1a(other, ID, STAMP, BODY)} {good}"
    assert verify_v1a([KEY.verify_key], ID, str(STAMP), BODY, header)
    assert not verify_v1a([KEY.verify_key], ID, str(STAMP), BODY + b" ", header)  # a stray space breaks it
    assert not verify_v1a([KEY.verify_key], ID, str(STAMP + 1), BODY, header)
    assert not verify_v1a([KEY.verify_key], "msg_other", str(STAMP), BODY, header)
    assert not verify_v1a([KEY.verify_key], ID, str(STAMP), BODY, "v1a,not-base64 v1a,")


@pytest.mark.parametrize(("webhook_id", "stamp"), [("msg.1", 1), ("msg_1", "1.5"), ("", 1), ("msg_1", "-1")])
def test_an_id_or_timestamp_that_could_move_the_dots_is_refused(webhook_id: str, stamp: object) -> None:
    with pytest.raises(CryptoError):
        signed_content(webhook_id, stamp, BODY)  # type: ignore[arg-type]
    assert not verify_v1a([KEY.verify_key], webhook_id, str(stamp), BODY, sign_v1a(KEY, "msg_1", 1, BODY))


def test_public_keys_serialize_with_the_whpk_prefix() -> None:
    text = whpk(KEY.verify_key)
    assert text == "whpk_" + base64.b64encode(bytes(KEY.verify_key)).decode()
    assert whpk_decode(text) == KEY.verify_key
    for bad in ("whsk_" + text[5:], text[5:], "whpk_AAAA"):
        with pytest.raises(CryptoError):
            whpk_decode(bad)

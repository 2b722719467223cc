"""The report's signature (§10.4): a detached Ed25519 signature by the gateway's checkpoint key over
``"disclosure-gateway/transparency/v1" || 0x00 || JCS(report without "signature")``.

The same key signs the checkpoint note the report carries, so one verifier key (the discovery
document's ``checkpoint_verifier_key``) checks both.
"""

from __future__ import annotations

from typing import Any, Final

from nacl.signing import SigningKey, VerifyKey

from crypto.errors import CryptoError
from crypto.keys import key_id
from crypto.signing import sign_document, verify_document_signature
from gateway.errors import ReportSignatureError

__all__ = ["TRANSPARENCY_DOMAIN", "sign_report", "verify_report_signature"]

TRANSPARENCY_DOMAIN: Final = b"disclosure-gateway/transparency/v1"
_ALGORITHM = "ed25519"


def sign_report(body: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """``body`` with its ``signature``: ``{"algorithm","key_id","value"}``, value standard base64."""
    if "signature" in body:
        raise ValueError("the report body is signed already")
    signature = sign_document(TRANSPARENCY_DOMAIN, body, key)
    return body | {"signature": {"algorithm": _ALGORITHM, "key_id": key_id(key.verify_key), "value": signature}}


def verify_report_signature(report: dict[str, Any], key: VerifyKey) -> None:
    """Return None if ``report["signature"]`` is ``key``'s over the rest; raise :class:`ReportSignatureError`."""
    signature = report.get("signature")
    if not isinstance(signature, dict) or signature.get("algorithm") != _ALGORITHM:
        raise ReportSignatureError("the report has no ed25519 signature")
    body = {k: v for k, v in report.items() if k != "signature"}
    try:
        verify_document_signature(TRANSPARENCY_DOMAIN, body, str(signature.get("value")), key)
    except CryptoError as exc:
        raise ReportSignatureError(f"the report's signature does not verify with the verifier key: {exc.message}") \
            from exc
